// Command vrm-host is the operator's command line of a multi-vault
// vrmvault host (vaultd --host): it creates the host admin key, creates
// vaults with their one-time enrolment codes, lists them with usage,
// suspends and resumes them, sets their quotas and deletes them, without
// ever reading their content. The commands live in package cli; main
// only wires the process (arguments, standard streams, environment,
// signals) to it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vrmvault/vrmvault/cmd/vrm-host/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}
