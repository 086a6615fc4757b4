// Package cli is vrm-brand, a brand's command-line client of vrmvault: it
// creates the brand's key (vrm-brand keygen), asks a customer's vault for
// scoped access (vrm-brand request), follows the customer's decision
// (vrm-brand status, vrm-brand watch-consent), reads the consented fields
// (vrm-brand read) and follows their changes live (vrm-brand watch),
// writes the brand's own records into the vault (vrm-brand write), and
// saves and checks the customer-signed receipt (vrm-brand receipt,
// vrm-brand descriptor, vrm-brand verify-receipt).
//
// The package exists so that the whole command line can be driven from
// tests: Main takes the arguments, the standard streams, the environment
// and the clock as values (Env) and returns the exit status;
// cmd/vrm-brand only wires the process to it. The cobra command tree is
// built afresh by every call of Main and closes over one app value, so
// there is no package-level mutable state. Its conventions are those of
// vrm, the owner's client (cmd/vrm/cli).
//
// # Files
//
// Keys and state live in $VRM_BRAND_HOME, by default the vrm-brand
// directory of the user's configuration directory (os.UserConfigDir, read
// through Env.Getenv: $XDG_CONFIG_HOME/vrm-brand or ~/.config/vrm-brand
// on Unix). It holds:
//
//   - brand.jwk, the brand's private key as a JWK;
//   - config.json, the key's thumbprint and the default brand name and
//     URL given to keygen;
//   - state.json, what vrm-brand remembers of each vault, by address: the
//     thumbprint of the vault key pinned on first contact, the access
//     requests made from this home, and the last change cursor watch
//     received, from which the next watch resumes (see vaultState).
//
// Each is written atomically (a temporary file in the same directory,
// fsync, rename, fsync of the directory) with mode 0600; a directory
// vrm-brand creates has mode 0700. A key file that group or others may
// access is refused, as ssh refuses one.
//
// # Trust in the vault key
//
// A vault descriptor is signed by the vault key it carries, so on its
// own it proves nothing about who runs the vault. The first time
// vrm-brand fetches a vault's descriptor from the vault (request,
// receipt, descriptor, verify-receipt), it pins the vault key's
// thumbprint in state.json (trust on first use) and says so on standard
// error; from then on every descriptor of that vault, fetched or read
// from a file, must be signed by the pinned key. A receipt is checked
// against the owner keys of a descriptor verified that way.
//
// # Output
//
// Every command takes -o table|json. The default is table when standard
// output is a terminal and json otherwise; $VRM_BRAND_FORMAT overrides
// the default and the flag overrides both. JSON output is one document
// with stable, snake_case member names, except that watch and
// watch-consent, which run until stopped, print one compact JSON object a
// line (JSON Lines), each written as soon as it is known. receipt and
// descriptor print the compact JWS and a newline whatever the format, so
// that their output can be redirected to a file and checked later.
//
// # Errors and exit status
//
// An error is one line on standard error, "vrm-brand: <message>". The exit
// status is 0 on success, 1 when an operation was refused or failed (the
// vault's refusals, an unreachable vault, a receipt or descriptor that
// does not verify, a missing key), and 2 when the command line itself is
// wrong (unknown command or flag, missing or malformed arguments); usage
// errors end with a pointer to --help. Every call to the vault has a
// deadline (--timeout, 10 s by default); status --wait waits up to
// --wait-timeout; the streams of watch and watch-consent have none, and
// an interrupted watch (SIGINT, a cancelled context) exits 0.
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

// programName prefixes every error line.
const programName = "vrm-brand"

// Exit statuses returned by Main.
const (
	// ExitOK means the command did what was asked.
	ExitOK = 0
	// ExitFailure means the operation was refused or failed: the vault
	// said no or could not be reached, a signature did not verify, or
	// there is no brand key yet.
	ExitFailure = cliexit.ExitFailure
	// ExitUsage means the command line was wrong and nothing was tried.
	ExitUsage = cliexit.ExitUsage
)

// DefaultTimeout is the default deadline of each call to the vault.
const DefaultTimeout = 10 * time.Second

// Env is the process environment a command runs in. Main reads and writes
// only through it, so tests can run commands in-process.
type Env struct {
	// Stdin is read by verify-receipt given "-" as the receipt file. Nil
	// reads as empty.
	Stdin io.Reader
	// Stdout receives the command's output. Nil discards it. Table output
	// is chosen by default only when it is an *os.File on a terminal.
	Stdout io.Writer
	// Stderr receives errors, warnings and notes. Nil discards them.
	Stderr io.Writer
	// Getenv looks up environment variables (VRM_BRAND_HOME,
	// VRM_BRAND_FORMAT and those that locate the user's configuration
	// directory). Nil means an empty environment.
	Getenv func(key string) string
	// Rand is the source of key material for keygen and of proof ids.
	// Nil means crypto/rand.Reader.
	Rand io.Reader
	// Now is the clock: proof times, receipt expiry, timestamps in the
	// state file. Nil means time.Now.
	Now func() time.Time
}

// Main runs the vrm-brand command line args (without the program name) in
// env and returns the exit status: ExitOK, ExitFailure or ExitUsage.
// Errors are reported on env.Stderr as one line. Cancelling ctx (on a
// signal) cancels the call in flight.
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
	tlsCA    string        // --tls-ca
	insecure bool          // --insecure
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
		Use:   programName,
		Short: "Ask customers' vaults for consented access, as a brand",
		Long: `vrm-brand is a brand's client of vrmvault. It creates the brand's key, asks a
customer's vault for scoped access, follows the customer's decision, reads the
fields the customer consented to, and saves and verifies the customer-signed
receipt of the consent.

A typical session:

  vrm-brand keygen --name "Example Shop" --url https://shop.example.com
  vrm-brand request --vault vault.example.net:443/v_3kq9 \
      --scope read:name.* --scope read:email.* --purpose ServiceProvision \
      --duration 90d --reason "To address your orders to you."
  vrm-brand status --vault vault.example.net:443/v_3kq9 --wait
  vrm-brand read --vault vault.example.net:443/v_3kq9
  vrm-brand watch --vault vault.example.net:443/v_3kq9
  vrm-brand receipt --vault vault.example.net:443/v_3kq9 > receipt.jws
  vrm-brand descriptor --vault vault.example.net:443/v_3kq9 > vault.jws
  vrm-brand verify-receipt receipt.jws --vault vault.example.net:443/v_3kq9 --descriptor vault.jws

The key, the defaults and what vrm-brand remembers of each vault (the pinned
vault key, the requests made) are kept in $VRM_BRAND_HOME (default: the
vrm-brand directory in your user configuration directory, e.g.
~/.config/vrm-brand).

Output is a table on a terminal and JSON otherwise; set $VRM_BRAND_FORMAT or
pass -o to choose.`,
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
	pf.StringVarP(&a.output, "output", "o", "", "output format: table or json (default: table on a terminal, else json; or $"+envFormat+")")
	pf.DurationVar(&a.timeout, "timeout", DefaultTimeout, "deadline of each call to the vault")
	pf.StringVar(&a.tlsCA, "tls-ca", "", "PEM file of CA certificates to trust instead of the system's")
	pf.BoolVar(&a.insecure, "insecure", false, "connect without TLS even to a vault that is not on this machine")
	_ = root.RegisterFlagCompletionFunc("output", cliexit.FixedCompletions(string(cliout.Table), string(cliout.JSON)))
	_ = root.MarkPersistentFlagFilename("tls-ca", "pem", "crt")

	root.AddCommand(a.keygenCommand(), a.requestCommand(), a.statusCommand(), a.readCommand(),
		a.receiptCommand(), a.descriptorCommand(), a.verifyReceiptCommand(),
		a.watchCommand(), a.watchConsentCommand(), a.writeCommand())

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

// warnf writes a one-line note to standard error.
func (a *app) warnf(format string, args ...any) {
	fmt.Fprintf(a.env.Stderr, "%s: %s\n", programName, cliexit.OneLine(fmt.Sprintf(format, args...)))
}

// argsExactly returns an Args check requiring exactly n arguments.
func argsExactly(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < n:
			return cliexit.Usagef(cmd, "missing %s", what)
		case len(args) > n:
			return cliexit.Usagef(cmd, "unexpected argument %q", cliout.Short(args[n]))
		}
		return nil
	}
}

// argsAtMost returns an Args check allowing at most n arguments.
func argsAtMost(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return cliexit.Usagef(cmd, "unexpected argument %q", cliout.Short(args[n]))
		}
		return nil
	}
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
