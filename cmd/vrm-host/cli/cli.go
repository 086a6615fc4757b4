// Package cli is vrm-host, the command line of the operator of a
// multi-vault host (a privacy intermediary running vaultd --host): it
// creates the host admin key (vrm-host keygen), saves where the host is
// (vrm-host config), creates vaults and hands out their one-time enrolment
// codes (vrm-host create), lists them with usage (vrm-host list), suspends
// and resumes them (vrm-host suspend, resume), sets their quotas
// (vrm-host quota) and deletes them (vrm-host delete). It speaks only
// HostService, through package clients/host: the operator manages vaults
// and never sees their content.
//
// The package exists so that the whole command line can be driven from
// tests: Main takes the arguments, the standard streams, the environment,
// the clock and the randomness as values (Env) and returns the exit
// status; cmd/vrm-host only wires the process to it. The cobra command
// tree is built afresh by every call of Main and closes over one app
// value, so there is no package-level mutable state. Its conventions are
// those of vrm, the owner's client (cmd/vrm/cli), and vrm-brand.
//
// # Files
//
// The key and the settings live in $VRM_HOST_HOME, by default the
// vrm-host directory of the user's configuration directory
// (os.UserConfigDir, read through Env.Getenv: $XDG_CONFIG_HOME/vrm-host or
// ~/.config/vrm-host on Unix). It holds:
//
//   - admin.jwk, the private host admin key as a JWK (mode 0600);
//   - admin.pub.jwk, its public JWK, the file to give vaultd
//     (vaultd --host --admin-key FILE);
//   - config.json, the admin key's thumbprint and the settings saved by
//     vrm-host config: the host's address and id, and the transport
//     settings.
//
// Each is written atomically (a temporary file in the same directory,
// fsync, rename, fsync of the directory), the private key and the
// configuration with mode 0600, the public key with mode 0644; a directory
// vrm-host creates has mode 0700. A key file that group or others may
// access is refused, as ssh refuses one.
//
// # Which host
//
// Every command but keygen and config calls the host named by --host
// HOST:PORT and --host-id ID (the "aud" of the admin proofs, vaultd's host
// id). Each is taken from its flag, else from $VRM_HOST_ADDR or
// $VRM_HOST_ID, else from config.json; a command that finds none is a
// usage error. --tls-ca and --insecure, when not given, also come from
// config.json.
//
// # Output
//
// Every command takes -o table|json. The default is table when standard
// output is a terminal and json otherwise; $VRM_HOST_FORMAT overrides the
// default and the flag overrides both. JSON output is one document with
// stable, snake_case member names.
//
// # Errors and exit status
//
// An error is one line on standard error, "vrm-host: <message>". The exit
// status is 0 on success, 1 when an operation was refused or failed (the
// host's refusals, an unreachable host, a missing key), and 2 when the
// command line itself is wrong (unknown command or flag, missing or
// malformed arguments, no host given, delete without --yes); usage errors
// end with a pointer to --help. Every call to the host has a deadline
// (--timeout, 10 s by default); list --all gives each page its own.
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
	"github.com/vrmvault/vrmvault/consent"
)

// programName prefixes every error line.
const programName = "vrm-host"

// Exit statuses returned by Main.
const (
	// ExitOK means the command did what was asked.
	ExitOK = 0
	// ExitFailure means the operation was refused or failed: the host
	// said no or could not be reached, or there is no admin key yet.
	ExitFailure = cliexit.ExitFailure
	// ExitUsage means the command line was wrong and nothing was tried.
	ExitUsage = cliexit.ExitUsage
)

// DefaultTimeout is the default deadline of each call to the host.
const DefaultTimeout = 10 * time.Second

// Env is the process environment a command runs in. Main reads and writes
// only through it, so tests can run commands in-process.
type Env struct {
	// Stdout receives the command's output. Nil discards it. Table output
	// is chosen by default only when it is an *os.File on a terminal.
	Stdout io.Writer
	// Stderr receives errors, warnings and notes. Nil discards them.
	Stderr io.Writer
	// Getenv looks up environment variables (VRM_HOST_HOME,
	// VRM_HOST_FORMAT, VRM_HOST_ADDR, VRM_HOST_ID and those that locate
	// the user's configuration directory). Nil means an empty environment.
	Getenv func(key string) string
	// Rand is the source of key material for keygen and of proof ids.
	// Nil means crypto/rand.Reader.
	Rand io.Reader
	// Now is the clock of the proofs. Nil means time.Now.
	Now func() time.Time
}

// Main runs the vrm-host command line args (without the program name) in
// env and returns the exit status: ExitOK, ExitFailure or ExitUsage.
// Errors are reported on env.Stderr as one line. Cancelling ctx (on a
// signal) cancels the call in flight.
func Main(ctx context.Context, args []string, env Env) int {
	a := newApp(env)
	root := a.rootCommand()
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code, msg := cliexit.Describe(cmd, err)
	fmt.Fprintf(a.env.Stderr, "%s: %s\n", programName, cliexit.OneLine(msg))
	return code
}

// app is the state of one run of Main: the environment and the values of
// the root's persistent flags.
type app struct {
	env      Env
	output   string        // -o as given
	format   cliout.Format // resolved before any command runs
	timeout  time.Duration // --timeout
	host     string        // --host
	hostID   string        // --host-id
	tlsCA    string        // --tls-ca
	insecure bool          // --insecure
}

func newApp(env Env) *app {
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
		Use:   programName,
		Short: "Manage the vaults of a vrmvault host, as its operator",
		Long: `vrm-host is the operator's client of a multi-vault vrmvault host (vaultd --host).
It creates vaults and their one-time enrolment codes for customers, lists them
with usage, suspends and resumes them, sets their quotas and deletes them. It
never sees what is in a vault.

A typical session:

  vrm-host keygen
  # give the printed admin.pub.jwk to vaultd: vaultd --host --admin-key FILE
  vrm-host config --host vaults.example.net:443 --host-id h_7Qx2
  vrm-host create --max-fields 500
  vrm-host list --all
  vrm-host quota v_3kq9 --calls-per-second 20
  vrm-host suspend v_3kq9
  vrm-host resume v_3kq9
  vrm-host delete v_3kq9 --yes

The admin key and the saved settings are kept in $VRM_HOST_HOME (default: the
vrm-host directory in your user configuration directory, e.g.
~/.config/vrm-host). The host is --host and --host-id, else $` + envAddr + ` and
$` + envHostID + `, else what vrm-host config saved.

Output is a table on a terminal and JSON otherwise; set $` + envFormat + ` or
pass -o to choose.`,
		Args:              cobra.ArbitraryArgs,
		RunE:              cliexit.Group,
		PersistentPreRunE: a.prepare,
		SilenceUsage:      true,
		SilenceErrors:     true,
	}
	root.SetIn(strings.NewReader(""))
	root.SetOut(a.env.Stdout)
	root.SetErr(a.env.Stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &cliexit.UsageError{Cmd: cmd, Msg: err.Error()}
	})

	pf := root.PersistentFlags()
	pf.StringVarP(&a.output, "output", "o", "", "output format: table or json (default: table on a terminal, else json; or $"+envFormat+")")
	pf.DurationVar(&a.timeout, "timeout", DefaultTimeout, "deadline of each call to the host")
	pf.StringVar(&a.host, "host", "", "the host's vaultd, HOST:PORT (default: $"+envAddr+", else config)")
	pf.StringVar(&a.hostID, "host-id", "", "the host's id, as vaultd has it (default: $"+envHostID+", else config)")
	pf.StringVar(&a.tlsCA, "tls-ca", "", "PEM file of CA certificates to trust instead of the system's (default: config)")
	pf.BoolVar(&a.insecure, "insecure", false, "connect without TLS even to a host that is not on this machine (default: config)")
	_ = root.RegisterFlagCompletionFunc("output", cliexit.FixedCompletions(string(cliout.Table), string(cliout.JSON)))
	_ = root.MarkPersistentFlagFilename("tls-ca", "pem", "crt")

	root.AddCommand(a.keygenCommand(), a.configCommand(), a.createCommand(), a.listCommand(),
		a.suspendCommand(), a.resumeCommand(), a.quotaCommand(), a.deleteCommand())

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
	if a.host != "" {
		if err := checkHostPort(a.host); err != nil {
			return cliexit.Usagef(cmd, "--host: %v", err)
		}
	}
	if a.hostID != "" && !consent.ValidID(a.hostID) {
		return cliexit.Usagef(cmd, "--host-id: %q is not a host id (1 to 64 of A-Z a-z 0-9 _ -)", cliout.Short(a.hostID))
	}
	f, err := resolveFormat(a.output, a.env.Getenv(envFormat), a.env.Stdout)
	if err != nil {
		return &cliexit.UsageError{Cmd: cmd, Msg: err.Error()}
	}
	a.format = f
	return nil
}

// warnf writes a one-line note to standard error.
func (a *app) warnf(format string, args ...any) {
	fmt.Fprintf(a.env.Stderr, "%s: %s\n", programName, cliexit.OneLine(fmt.Sprintf(format, args...)))
}

// vaultIDArg is the Args check of a command taking one VAULT_ID.
func vaultIDArg(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return cliexit.Usagef(cmd, "missing VAULT_ID")
	case len(args) > 1:
		return cliexit.Usagef(cmd, "unexpected argument %q", cliout.Short(args[1]))
	case !consent.ValidID(args[0]):
		return cliexit.Usagef(cmd, "%q is not a vault id (1 to 64 of A-Z a-z 0-9 _ -)", cliout.Short(args[0]))
	}
	return nil
}

// noArgs is an Args check refusing any argument.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return cliexit.Usagef(cmd, "unexpected argument %q", cliout.Short(args[0]))
	}
	return nil
}

// callContext returns ctx bounded by the --timeout deadline.
func (a *app) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.timeout)
}
