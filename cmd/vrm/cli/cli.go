// Package cli is vrm, the vault owner's command-line companion: it creates
// and enrols the customer's owner key (vrm init), reads and edits the
// profile in the vault (vrm profile get|set|rm), moves it in and out as
// JSON or vCard (vrm profile import|export), shows the vault's state (vrm
// status: its host, quota and usage), lists, adds and removes the owner
// keys of the owner's devices (vrm keys list|add|rm), answers brands'
// access requests (vrm requests, grant, deny), lists and revokes consents
// (vrm consents, revoke), reads the audit log (vrm audit) and checks the
// vault end to end (vrm verify).
//
// Consent records, revocations and owner-key removals are signed here,
// with the owner key, by package clients/owner: the vault never holds the
// key. vrm remembers the last head of the vault's consent ledger it saw,
// the audit head and the vault key in config.json, and vrm verify fails
// loudly when the vault no longer extends what was seen (PROTOCOL.md
// section 6).
//
// The package exists so that the whole command line can be driven from
// tests: Main takes the arguments, the standard streams and the
// environment as values (Env) and returns the exit status; cmd/vrm only
// wires the process to it. The cobra command tree is built afresh by every
// call of Main and closes over one app value, so there is no package-level
// mutable state.
//
// # Files
//
// Configuration and keys live in $VRM_HOME, by default the vrm directory
// of the user's configuration directory (os.UserConfigDir, read through
// Env.Getenv: $XDG_CONFIG_HOME/vrm or ~/.config/vrm on Unix). It holds
// config.json (the vault address, the owner key's thumbprint, the
// transport settings, and what vrm saw of the vault: the ledger and audit
// heads, the pinned vault key, the owner keys of other devices) and
// owner.jwk (the private key as a JWK). Both are
// written atomically (a temporary file in the same directory, fsync,
// rename, fsync of the directory) with mode 0600; a directory vrm creates
// has mode 0700. A key file that group or others may access is refused,
// as ssh refuses one. vrm init generates the key in memory and writes
// nothing until the vault has accepted it, so a failed enrolment leaves no
// half-written configuration behind.
//
// # Output
//
// Every command takes -o table|json. The default is table when standard
// output is a terminal and json otherwise; $VRM_FORMAT overrides the
// default and the flag overrides both. JSON output is one document with
// stable, snake_case member names; values keep their natural JSON type.
//
// # Errors and exit status
//
// An error is one line on standard error, "vrm: <message>". The exit
// status is 0 on success, 1 when an operation was refused or failed
// (including the vault's validation errors, whose messages name the path
// and the rule, and a vrm that is not yet initialised), and 2 when the
// command line itself is wrong (unknown command or flag, missing or
// malformed arguments); usage errors end with a pointer to --help. Every
// call to the vault has a deadline (--timeout, 10 s by default).
package cli

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
)

// Exit statuses returned by Main.
const (
	// ExitOK means the command did what was asked.
	ExitOK = 0
	// ExitFailure means the operation was refused or failed: the vault
	// said no, could not be reached, or vrm is not initialised.
	ExitFailure = cliexit.ExitFailure
	// ExitUsage means the command line was wrong and nothing was tried.
	ExitUsage = cliexit.ExitUsage
)

// DefaultTimeout is the default deadline of each call to the vault.
const DefaultTimeout = 10 * time.Second

// Env is the process environment a command runs in. Main reads and writes
// only through it, so tests can run commands in-process.
type Env struct {
	// Stdin is read by commands given "-" as a file name, and by
	// "vrm init --code -". Nil reads as empty.
	Stdin io.Reader
	// Stdout receives the command's output. Nil discards it. Table output
	// is chosen by default only when it is an *os.File on a terminal.
	Stdout io.Writer
	// Stderr receives errors, warnings and notes. Nil discards them.
	Stderr io.Writer
	// Getenv looks up environment variables (VRM_HOME, VRM_FORMAT and
	// those that locate the user's configuration directory). Nil means an
	// empty environment.
	Getenv func(key string) string
	// Rand is the source of key material for vrm init. Nil means
	// crypto/rand.Reader.
	Rand io.Reader
	// Now is the clock, for times given relative to now (vrm audit
	// --since 24h) and to tell active consents. Nil means time.Now.
	Now func() time.Time
}

// Main runs the vrm command line args (without the program name) in env
// and returns the exit status: ExitOK, ExitFailure or ExitUsage. Errors
// are reported on env.Stderr as one line. Cancelling ctx (on a signal)
// cancels the call in flight.
func Main(ctx context.Context, args []string, env Env) int {
	a := newApp(env)
	root := a.rootCommand()
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root.SetArgs(protectDashIDs(root, args))
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code, msg := cliexit.Describe(cmd, err)
	fmt.Fprintf(a.env.Stderr, "vrm: %s\n", cliexit.OneLine(msg))
	return code
}

// app is the state of one run of Main: the environment and the values of
// the root's persistent flags.
type app struct {
	env     Env
	output  string        // -o as given
	format  cliout.Format // resolved before any command runs
	timeout time.Duration // --timeout
}

func newApp(env Env) *app {
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Rand == nil {
		env.Rand = rand.Reader
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	return &app{env: env}
}

// rootCommand builds the command tree.
func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "vrm",
		Short: "Manage your personal data vault",
		Long: `vrm is the vault owner's companion: it enrols this device's owner key in
your vault, reads and edits your profile, imports and exports it as JSON or
vCard, shows the vault's state, host, quota and usage (status), and enrols
and removes your other devices (keys). Brands ask for access with signed
requests; you answer them (requests, grant, deny), see and revoke what you
granted (consents, revoke), see who read what (audit), and check that the
vault's records are intact and signed by you (verify). Your owner key signs
every decision on this device; it never leaves it.

Configuration and keys are kept in $VRM_HOME (default: the vrm directory in
your user configuration directory, e.g. ~/.config/vrm).

Output is a table on a terminal and JSON otherwise; set $VRM_FORMAT or pass
-o to choose.`,
		Args:              cobra.ArbitraryArgs,
		RunE:              cliexit.Group,
		PersistentPreRunE: a.prepare,
		SilenceUsage:      true,
		SilenceErrors:     true,
	}
	root.SetIn(a.env.Stdin)
	root.SetOut(a.env.Stdout)
	root.SetErr(a.env.Stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &cliexit.UsageError{Cmd: cmd, Msg: err.Error()}
	})

	pf := root.PersistentFlags()
	pf.StringVarP(&a.output, "output", "o", "", "output format: table or json (default: table on a terminal, else json; or $VRM_FORMAT)")
	pf.DurationVar(&a.timeout, "timeout", DefaultTimeout, "deadline of each call to the vault")
	_ = root.RegisterFlagCompletionFunc("output", cliexit.FixedCompletions(string(cliout.Table), string(cliout.JSON)))

	root.AddCommand(a.initCommand(), a.statusCommand(), a.keysCommand(), a.profileCommand(),
		a.requestsCommand(), a.grantCommand(), a.denyCommand(), a.revokeCommand(),
		a.consentsCommand(), a.auditCommand(), a.verifyCommand())

	// Add cobra's completion command now rather than at Execute, so that
	// it reports a missing or unknown shell as the other groups do.
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Args = cobra.ArbitraryArgs
			c.RunE = cliexit.Group
		}
	}
	return root
}

// prepare runs before every command: it checks the persistent flags and
// resolves the output format.
func (a *app) prepare(cmd *cobra.Command, _ []string) error {
	if cliexit.IsMeta(cmd) {
		return nil // help and shell completion print no results
	}
	if a.timeout <= 0 {
		return cliexit.Usagef(cmd, "--timeout must be positive, got %s", a.timeout)
	}
	f, err := resolveFormat(a.output, a.env.Getenv(envFormat), a.env.Stdout)
	if err != nil {
		return &cliexit.UsageError{Cmd: cmd, Msg: err.Error()}
	}
	a.format = f
	return nil
}

// argsAtLeast returns an Args check requiring n or more arguments.
func argsAtLeast(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return cliexit.Usagef(cmd, "missing %s", what)
		}
		return nil
	}
}

// argsExactly returns an Args check requiring exactly n arguments.
func argsExactly(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < n:
			return cliexit.Usagef(cmd, "missing %s", what)
		case len(args) > n:
			return cliexit.Usagef(cmd, "unexpected argument %q", args[n])
		}
		return nil
	}
}

// noArgs is an Args check refusing any argument.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return cliexit.Usagef(cmd, "unexpected argument %q", args[0])
	}
	return nil
}

// callContext returns ctx bounded by the --timeout deadline.
func (a *app) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.timeout)
}
