// Command vrm is the vault owner's command-line companion: it enrols this
// device's owner key in a vrmvault vault and reads, edits, imports and
// exports the profile. The commands live in package cli; main only wires
// the process (arguments, standard streams, environment, signals) to it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vrmvault/vrmvault/cmd/vrm/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}
