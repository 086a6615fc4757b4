// Command vrm-brand is a brand's command-line client of vrmvault: it
// creates the brand's key, asks customers' vaults for scoped access,
// follows the customer's decision, reads the consented fields and watches
// them change, writes the brand's own records, and saves and verifies the
// customer-signed receipt. The commands live in package
// cli; main only wires the process (arguments, standard streams,
// environment, signals) to it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vrmvault/vrmvault/cmd/vrm-brand/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}
