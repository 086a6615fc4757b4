package cli

import (
	"slices"
	"strings"
	"testing"
)

func TestProtectDashIDs(t *testing.T) {
	const id = "-h6u2pUCw8ZJMqp9SS6Auw"
	root := newApp(Env{}).rootCommand()
	tests := []struct{ in, want []string }{
		{[]string{"CMD", id}, []string{"CMD", "--", id}},
		{[]string{"CMD", id, "-o", "json"}, []string{"CMD", "-o", "json", "--", id}},
		{[]string{"-o", "table", "CMD", id}, []string{"-o", "table", "CMD", "--", id}},
		{[]string{"CMD", "--", id}, []string{"CMD", "--", id}},
		{[]string{"CMD", "h6u2pUCw8ZJMqp9SS6Auw"}, []string{"CMD", "h6u2pUCw8ZJMqp9SS6Auw"}},
		{[]string{"CMD", "-o", "json"}, []string{"CMD", "-o", "json"}},
		{[]string{"CMD", "--h6u2pUCw8ZJMqp9SS6Auw"}, []string{"CMD", "--h6u2pUCw8ZJMqp9SS6Auw"}},
		{[]string{"CMD", "-h6u2pUCw8ZJMqp9SS6Au"}, []string{"CMD", "-h6u2pUCw8ZJMqp9SS6Au"}}, // 21 characters
		{[]string{"CMD", "-h6u2pUCw8ZJMqp9SS6Au.w"}, []string{"CMD", "-h6u2pUCw8ZJMqp9SS6Au.w"}},
		{[]string{"CMD", "--timeout", id}, []string{"CMD", "--timeout", id}}, // the value of a flag
		{[]string{"CMD", "-o", id}, []string{"CMD", "-o", id}},
	}
	for _, tt := range tests {
		for _, args := range [][]string{tt.in, tt.want} {
			for i := range args {
				if args[i] == "CMD" {
					args[i] = "revoke"
				}
			}
		}
		if got := protectDashIDs(root, tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("protectDashIDs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDashIDIsAnArgument(t *testing.T) {
	e := newTestEnv(t)
	r := e.run("revoke", "-h6u2pUCw8ZJMqp9SS6Auw")
	if line := oneErrorLine(t, r); r.code != ExitFailure || strings.Contains(line, "flag") {
		t.Errorf("vrm revoke -h6u2...: exit %d, %q", r.code, line)
	}
}

func TestDashJKTIsAnArgument(t *testing.T) {
	const jkt = "-ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	root := newApp(Env{}).rootCommand()
	in := []string{"keys", "rm", jkt, "--yes"}
	if got, want := protectDashIDs(root, in), []string{"keys", "rm", "--yes", "--", jkt}; !slices.Equal(got, want) {
		t.Errorf("protectDashIDs(%q) = %q, want %q", in, got, want)
	}
	e := newTestEnv(t)
	r := e.run(in...)
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "not initialised") {
		t.Errorf("vrm keys rm -ZcO... --yes: exit %d, %q", r.code, line)
	}
}
