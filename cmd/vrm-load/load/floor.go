package load

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/vrmvault/vrmvault/cmd/vrm-load/bench"
)

// checkBenchtime returns a usage error for a --benchtime that is neither
// a positive duration up to MaxDuration nor a count "Nx" up to MaxCount.
func checkBenchtime(s string) error {
	if n, ok := strings.CutSuffix(s, "x"); ok {
		if c, err := strconv.Atoi(n); err == nil && c > 0 && c <= MaxCount {
			return nil
		}
		return usageErr("--benchtime %q: a count must be from 1x to %dx", s, MaxCount)
	}
	if d, err := time.ParseDuration(s); err != nil || d <= 0 || d > MaxDuration {
		return usageErr("--benchtime %q: must be a positive duration up to %s, or a count like 100x", s, MaxDuration)
	}
	return nil
}

const floorUsage = `Usage: vrm-load floor [flags]

Measures, in this one process, the pieces every consented read must pay
(verifying one EdDSA and one ES256 proof with go-jose and with crypto/*
directly, a badger point read and a profile scan, an empty gRPC round trip
on loopback) and the full path (a consented ReadProfile through a real
vault over loopback), each --runs times, interleaved. It prints each
part's median and the full path's cost as a ratio of the sum of its
parts, computed within each run. The same measurements run under
go test -bench (package bench). Each measurement takes about --benchtime
plus its set-up; 5 runs take about two minutes.

Flags:
`

// FloorReport is what vrm-load floor prints: the figures and ratios, and
// the machine they were measured on.
type FloorReport struct {
	// Machine is where it ran.
	Machine Machine `json:"machine"`
	bench.FloorReport
}

func floorMain(ctx context.Context, args []string, env Env) error {
	var (
		runs      int
		benchtime string
		parallel  bool
		output    string
		quiet     bool
	)
	fs := flag.NewFlagSet("vrm-load floor", flag.ContinueOnError)
	fs.IntVar(&runs, "runs", bench.DefaultRuns, "times each part is measured; medians are reported")
	fs.StringVar(&benchtime, "benchtime", "1s", "time (or count, \"100x\") of each measurement, as go test -benchtime")
	fs.BoolVar(&parallel, "parallel", true, "also measure the parts in parallel (throughput) and the throughput ratios")
	fs.StringVar(&output, "o", "table", "output format: table or json")
	fs.BoolVar(&quiet, "q", false, "no progress lines on standard error")
	if err := parse(fs, args, floorUsage, env.Stdout); err != nil {
		return err
	}
	switch {
	case runs < 1 || runs > MaxRuns:
		return usageErr("--runs must be from 1 to %d", MaxRuns)
	case output != "table" && output != "json":
		return usageErr("-o must be table or json, not %q", output)
	}
	var progress io.Writer = env.Stderr
	if quiet {
		progress = nil
	}
	if err := checkBenchtime(benchtime); err != nil {
		return err
	}
	rep, err := bench.RunFloor(ctx, bench.FloorConfig{Runs: runs, Parallel: parallel, Progress: progress, Benchtime: benchtime})
	if err != nil {
		return err
	}
	out := FloorReport{Machine: thisMachine(), FloorReport: rep}
	if output == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		return nil
	}
	m := out.Machine
	if _, err := fmt.Fprintf(env.Stdout, "machine: %d CPUs (GOMAXPROCS %d), %s, %s %s/%s; load average %s\n", m.CPUs, m.GOMAXPROCS, orUnknown(m.CPUModel), m.Go, m.OS, m.Arch, orUnknown(m.LoadAvg)); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := rep.WriteText(env.Stdout); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
