// Command vrm-load loads a vrmvault host with consented reads, owner
// writes, revocations and watch streams, and prints throughput and
// latency percentiles; "vrm-load floor" measures the floor under a
// consented read. The logic is in package load; main only wires the
// process (arguments, standard streams, signals) to it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vrmvault/vrmvault/cmd/vrm-load/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := load.Main(ctx, os.Args[1:], load.Env{Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
