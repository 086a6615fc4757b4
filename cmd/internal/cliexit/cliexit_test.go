package cliexit

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestDescribe(t *testing.T) {
	root := &cobra.Command{Use: "vrm"}
	set := &cobra.Command{Use: "set"}
	profile := &cobra.Command{Use: "profile"}
	profile.AddCommand(set)
	root.AddCommand(profile)

	code, msg := Describe(root, Usagef(set, "bad path %q", "a..b"))
	if code != ExitUsage || msg != `profile set: bad path "a..b" (see vrm profile set --help)` {
		t.Errorf("usage error: %d %q", code, msg)
	}
	failing := Run(func(*cobra.Command, []string) error { return errors.New("vault unreachable") })
	code, msg = Describe(set, failing(set, nil))
	if code != ExitFailure || msg != "vault unreachable" {
		t.Errorf("failure: %d %q", code, msg)
	}
	usage := Run(func(cmd *cobra.Command, _ []string) error { return Usagef(cmd, "missing PATH") })
	if code, _ := Describe(set, usage(set, nil)); code != ExitUsage {
		t.Errorf("a usage error through Run is exit %d", code)
	}
	if code, msg := Describe(set, errors.New("accepts 1 arg(s)")); code != ExitUsage || !strings.HasSuffix(msg, "(see vrm profile set --help)") {
		t.Errorf("cobra's own error: %d %q", code, msg)
	}
}

func TestGroup(t *testing.T) {
	root := &cobra.Command{Use: "vrm"}
	keys := &cobra.Command{Use: "keys"}
	keys.AddCommand(&cobra.Command{Use: "list", Run: func(*cobra.Command, []string) {}}, &cobra.Command{Use: "add", Run: func(*cobra.Command, []string) {}})
	root.AddCommand(keys)
	if err := Group(keys, nil); err == nil || !strings.Contains(err.Error(), "missing command: one of add, list") {
		t.Errorf("no subcommand: %v", err)
	}
	if err := Group(keys, []string{"lst"}); err == nil || !strings.Contains(err.Error(), "did you mean list?") {
		t.Errorf("typo: %v", err)
	}
}

func TestOneLine(t *testing.T) {
	if got := OneLine(" a\nb\tc\x1b[2J\u202e "); got != "a b c?[2J?" {
		t.Errorf("OneLine = %q", got)
	}
}
