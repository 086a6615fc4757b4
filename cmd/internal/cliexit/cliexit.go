// Package cliexit is how the command-line tools (vrm, vrm-brand, vrm-host)
// end: every error becomes one line on stderr and an exit status, 2 for a
// command line that cannot run (nothing was tried) and 1 for an operation
// that was tried and failed. It also holds the cobra plumbing the three
// share: commands that only group subcommands, help and completion
// detection, and fixed completions.
package cliexit

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
)

// Exit statuses.
const (
	// ExitFailure: the operation was tried and refused or failed.
	ExitFailure = 1
	// ExitUsage: the command line was wrong and nothing was tried.
	ExitUsage = 2
)

// UsageError is a command line that cannot run: exit status 2.
type UsageError struct {
	// Cmd is the command whose line it is; its help is named.
	Cmd *cobra.Command
	// Msg says what is wrong.
	Msg string
}

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a UsageError of cmd.
func Usagef(cmd *cobra.Command, format string, args ...any) error {
	return &UsageError{Cmd: cmd, Msg: fmt.Sprintf(format, args...)}
}

// Failure is an operation that was tried and failed: exit status 1.
type Failure struct{ Err error }

func (e *Failure) Error() string { return e.Err.Error() }
func (e *Failure) Unwrap() error { return e.Err }

// Run wraps a command's logic so that any error it returns, other than a
// UsageError, is reported as a failure (exit status 1). Errors that do not
// pass through Run come from cobra's own parsing and are usage errors.
func Run(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := fn(cmd, args)
		var ue *UsageError
		if err == nil || errors.As(err, &ue) {
			return err
		}
		return &Failure{Err: err}
	}
}

// Describe returns the exit status and the message for an error returned
// by the command tree; cmd is the command it came from.
func Describe(cmd *cobra.Command, err error) (int, string) {
	var (
		ue *UsageError
		f  *Failure
	)
	switch {
	case errors.As(err, &ue):
		return ExitUsage, usageLine(ue.Cmd, ue.Msg)
	case errors.As(err, &f):
		return ExitFailure, f.Err.Error()
	default: // cobra's own checks: arguments, required flags
		return ExitUsage, usageLine(cmd, err.Error())
	}
}

// usageLine formats a usage error of cmd as
// `profile set: <msg> (see vrm profile set --help)`.
func usageLine(cmd *cobra.Command, msg string) string {
	if cmd == nil {
		return msg
	}
	path := cmd.CommandPath()
	if name, ok := strings.CutPrefix(path, cmd.Root().Name()+" "); ok {
		msg = name + ": " + msg
	}
	return fmt.Sprintf("%s (see %s --help)", msg, path)
}

// Group is the RunE of a command that only holds subcommands: any call of
// it is a usage error that names the subcommands.
func Group(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		var names []string
		for _, c := range cmd.Commands() {
			if c.IsAvailableCommand() {
				names = append(names, c.Name())
			}
		}
		return Usagef(cmd, "missing command: one of %s", strings.Join(names, ", "))
	}
	msg := fmt.Sprintf("unknown command %q", cliout.Short(args[0]))
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %s?", strings.Join(s, " or "))
	}
	return &UsageError{Cmd: cmd, Msg: msg}
}

// IsMeta reports whether cmd is cobra's help or a shell completion
// command, which work whatever the output settings.
func IsMeta(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		switch c.Name() {
		case "help", "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
			return c.HasParent()
		}
	}
	return false
}

// OneLine makes s safe to print as one line on a terminal: line breaks and
// tabs become spaces, and other control and format characters (escape
// sequences, bidirectional overrides) become '?'. Messages of a vault or a
// host pass through it, so a hostile server cannot write to the terminal.
func OneLine(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case r == ' ' || unicode.IsGraphic(r):
			return r
		}
		return '?'
	}, strings.TrimSpace(s))
}

// FixedCompletions completes a flag's value from a fixed list.
func FixedCompletions(values ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}
