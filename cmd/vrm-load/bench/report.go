package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"testing"
)

// DefaultRuns is how many times RunFloor measures every part.
const DefaultRuns = 5

// FloorConfig configures RunFloor.
type FloorConfig struct {
	// Runs is how many times each part is measured; zero means
	// DefaultRuns. The parts are interleaved: run 1 of every part, then
	// run 2, so that a noisy minute spreads over all of them.
	Runs int
	// Parallel also measures ParallelParts and the throughput ratios.
	Parallel bool
	// Progress receives one line per measurement; nil discards.
	Progress io.Writer
	// Benchtime is how long (or, as "100x", how many times) each
	// measurement runs, as go test's -benchtime; empty leaves
	// testing.Benchmark's (1s). Shorter measurements and more runs put
	// the parts of one run closer in time on a noisy machine.
	Benchtime string
	// Measure runs one part and returns its cost in ns/op, or false when
	// it failed. Nil means Measure (testing.Benchmark).
	Measure func(Part) (float64, bool)
}

// SetBenchtime sets the -benchtime of testing.Benchmark for this process:
// a duration ("300ms") or a count ("100x"). testing.Benchmark reads it
// from the testing package's flags, so this registers them (testing.Init)
// and sets test.benchtime: it changes process-wide state, for commands
// that measure in-process, like vrm-load floor.
func SetBenchtime(s string) error {
	testing.Init()
	if err := flag.Set("test.benchtime", s); err != nil {
		return fmt.Errorf("benchtime %q: %w", s, err)
	}
	return nil
}

// Measurement is one part's figures over the runs.
type Measurement struct {
	// Name is the part's name.
	Name string `json:"name"`
	// What says what one operation is.
	What string `json:"what"`
	// NsPerOp holds one figure per run.
	NsPerOp []float64 `json:"ns_per_op"`
	// Median and Min are the median and the least of NsPerOp. On a
	// shared machine noise only adds time, so Min is the least disturbed
	// figure.
	Median float64 `json:"median_ns_per_op"`
	Min    float64 `json:"min_ns_per_op"`
}

// Ratio is a quotient of figures computed within each run.
type Ratio struct {
	// Name names the ratio.
	Name string `json:"name"`
	// Formula says how it is computed from the parts' figures.
	Formula string `json:"formula"`
	// PerRun holds the ratio of each run.
	PerRun []float64 `json:"per_run"`
	// Median, Min and Max summarise PerRun.
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// FloorReport is what RunFloor measured.
type FloorReport struct {
	// Runs is the number of runs.
	Runs int `json:"runs"`
	// Sequential are the figures of Parts.
	Sequential []Measurement `json:"sequential"`
	// Parallel are the figures of ParallelParts, when asked for.
	Parallel []Measurement `json:"parallel,omitempty"`
	// Ratios compare the full path with the sums of its parts.
	Ratios []Ratio `json:"ratios"`
}

// The floors the full path is compared with, as sums of parts.
var (
	// floorParts are the pieces every signed read must pay: one signature
	// check, the profile read from the store, one round trip.
	floorParts = []string{VerifyEdDSACrypto, StoreScan, GRPCEmpty}
	// joseFloorParts are the same with our proof verifier (go-jose).
	joseFloorParts = []string{VerifyEdDSAJose, StoreScan, GRPCEmpty}
	// durableFloorParts add what a durable, client-signed read must also
	// pay: the brand signing its proof, and one synced commit (the audit
	// entry is durable before the answer; the replay record can share it).
	durableFloorParts = []string{SignEdDSA, VerifyEdDSACrypto, StoreScan, StoreSyncedWrite, GRPCEmpty}
	// durableCPUParts are the durable floor's parts that keep a CPU busy.
	durableCPUParts = []string{SignEdDSA, VerifyEdDSACrypto, StoreScan, GRPCEmpty}
)

// RunFloor measures every part cfg.Runs times, interleaved, and returns
// the figures with the same-run ratios. It returns an error naming the
// first part that failed; go test -bench on that part shows why.
func RunFloor(ctx context.Context, cfg FloorConfig) (FloorReport, error) {
	runs := cfg.Runs
	if runs <= 0 {
		runs = DefaultRuns
	}
	measure := cfg.Measure
	if measure == nil {
		measure = Measure
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	if cfg.Benchtime != "" {
		if err := SetBenchtime(cfg.Benchtime); err != nil {
			return FloorReport{}, err
		}
	}
	rep := FloorReport{Runs: runs}
	seq, par := Parts(), []Part(nil)
	if cfg.Parallel {
		par = ParallelParts()
	}
	rep.Sequential = measurements(seq)
	rep.Parallel = measurements(par)
	for run := 1; run <= runs; run++ {
		for _, set := range []struct {
			kind  string
			bench string
			parts []Part
			into  []Measurement
		}{{"sequential", "Floor", seq, rep.Sequential}, {"parallel", "FloorParallel", par, rep.Parallel}} {
			for i, p := range set.parts {
				if err := ctx.Err(); err != nil {
					return rep, err
				}
				ns, ok := measure(p)
				if !ok {
					return rep, fmt.Errorf("%s part %s failed; see why with: go test -run='^$' -bench='^Benchmark%s$/^%s$' ./bench/", set.kind, p.Name, set.bench, p.Name)
				}
				set.into[i].NsPerOp = append(set.into[i].NsPerOp, ns)
				fmt.Fprintf(progress, "run %d/%d %s %-20s %s/op\n", run, runs, set.kind, p.Name, FormatNs(ns))
			}
		}
	}
	for _, ms := range [][]Measurement{rep.Sequential, rep.Parallel} {
		for i := range ms {
			ms[i].Median, ms[i].Min = Median(ms[i].NsPerOp), slices.Min(ms[i].NsPerOp)
		}
	}
	rep.Ratios = ratios(rep)
	return rep, nil
}

func measurements(parts []Part) []Measurement {
	if len(parts) == 0 {
		return nil
	}
	out := make([]Measurement, len(parts))
	for i, p := range parts {
		out[i] = Measurement{Name: p.Name, What: p.What}
	}
	return out
}

// IsFloorPart reports whether the named part is one of the floor's: the
// pieces every signed read must pay (one signature check, the profile
// read from the store, one gRPC round trip).
func IsFloorPart(name string) bool { return slices.Contains(floorParts, name) }

// Measure measures p with testing.Benchmark (about a second) and returns
// its ns/op, or false when it failed.
func Measure(p Part) (float64, bool) {
	r := testing.Benchmark(p.Bench)
	if r.N == 0 {
		return 0, false
	}
	return float64(r.T.Nanoseconds()) / float64(r.N), true
}

// ratios computes, within each run, the full path over each floor (a
// latency overhead, >= 1), and with parallel figures the full path's
// throughput as a fraction of each floor's.
func ratios(rep FloorReport) []Ratio {
	var out []Ratio
	add := func(name, formula string, f func(run int) (float64, bool)) {
		r := Ratio{Name: name, Formula: formula}
		for run := range rep.Runs {
			if v, ok := f(run); ok {
				r.PerRun = append(r.PerRun, v)
			}
		}
		if len(r.PerRun) > 0 {
			r.Median, r.Min, r.Max = Median(r.PerRun), slices.Min(r.PerRun), slices.Max(r.PerRun)
			out = append(out, r)
		}
	}
	for _, fl := range []struct {
		name  string
		parts []string
	}{{"floor", floorParts}, {"floor-jose", joseFloorParts}, {"durable-floor", durableFloorParts}} {
		add("full-read latency / "+fl.name, fmt.Sprintf("%s / (%s), sequential", FullRead, joinPlus(fl.parts)), func(run int) (float64, bool) {
			full, ok1 := figure(rep.Sequential, FullRead, run)
			sum, ok2 := sumOf(rep.Sequential, fl.parts, run)
			return full / sum, ok1 && ok2 && sum > 0
		})
	}
	if len(rep.Parallel) == 0 {
		return out
	}
	for _, fl := range []struct {
		name  string
		parts []string
	}{{"floor", floorParts}, {"floor-jose", joseFloorParts}} {
		add("full-read throughput / "+fl.name+" throughput", fmt.Sprintf("(%s) / %s, parallel", joinPlus(fl.parts), FullRead), func(run int) (float64, bool) {
			full, ok1 := figure(rep.Parallel, FullRead, run)
			sum, ok2 := sumOf(rep.Parallel, fl.parts, run)
			return sum / full, ok1 && ok2 && full > 0
		})
	}
	// In parallel, a synced commit waits for the disk while the CPUs do
	// other work: the durable floor is the slower of the CPU's work and
	// badger's group commit, not their sum.
	add("full-read throughput / durable-floor throughput", fmt.Sprintf("max(%s, %s) / %s, parallel", joinPlus(durableCPUParts), StoreSyncedWrite, FullRead), func(run int) (float64, bool) {
		full, ok1 := figure(rep.Parallel, FullRead, run)
		cpu, ok2 := sumOf(rep.Parallel, durableCPUParts, run)
		commit, ok3 := figure(rep.Parallel, StoreSyncedWrite, run)
		return max(cpu, commit) / full, ok1 && ok2 && ok3 && full > 0
	})
	return out
}

func joinPlus(names []string) string {
	s := ""
	for i, n := range names {
		if i > 0 {
			s += " + "
		}
		s += n
	}
	return s
}

// figure returns the named part's figure of one run.
func figure(ms []Measurement, name string, run int) (float64, bool) {
	for _, m := range ms {
		if m.Name == name && run < len(m.NsPerOp) {
			return m.NsPerOp[run], true
		}
	}
	return 0, false
}

// sumOf returns the sum of the named parts' figures of one run.
func sumOf(ms []Measurement, names []string, run int) (float64, bool) {
	var sum float64
	for _, n := range names {
		v, ok := figure(ms, n, run)
		if !ok {
			return 0, false
		}
		sum += v
	}
	return sum, true
}

// Figure returns the median of the named part in ms.
func Figure(ms []Measurement, name string) (float64, bool) {
	for _, m := range ms {
		if m.Name == name && len(m.NsPerOp) > 0 {
			return m.Median, true
		}
	}
	return 0, false
}

// Median returns the median of xs (the mean of the middle two for an even
// count); zero for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// FormatNs formats a duration in nanoseconds with a unit that keeps three
// significant figures: "812ns", "41.3µs", "2.05ms".
func FormatNs(ns float64) string {
	switch {
	case ns < 1e3:
		return fmt.Sprintf("%.0fns", ns)
	case ns < 1e6:
		return sig3(ns/1e3) + "µs"
	case ns < 1e9:
		return sig3(ns/1e6) + "ms"
	default:
		return sig3(ns/1e9) + "s"
	}
}

func sig3(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// WriteText writes rep as a table: each part's median, then the ratios.
func (rep FloorReport) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("Floor of a consented read: medians (and least) of %d runs; ratios computed within each run.\n\n", rep.Runs)
	writeSet := func(title string, ms []Measurement, perSecond bool) {
		if len(ms) == 0 {
			return
		}
		ew.printf("%s\n", title)
		for _, m := range ms {
			rate := ""
			if perSecond {
				rate = fmt.Sprintf("%8.0f/s", 1e9/m.Median)
			}
			ew.printf("  %-20s %10s/op (least %8s) %s  %s\n", m.Name, FormatNs(m.Median), FormatNs(m.Min), rate, m.What)
		}
		ew.printf("\n")
	}
	writeSet("sequential (one at a time; ns/op is latency):", rep.Sequential, false)
	writeSet(fmt.Sprintf("parallel (RunParallel, %d goroutines per CPU; ns/op is 1/throughput):", Parallelism), rep.Parallel, true)
	ew.printf("ratios (median of the per-run ratios, and their range):\n")
	for _, r := range rep.Ratios {
		ew.printf("  %-48s %7.3f  [%.3f .. %.3f]  = %s\n", r.Name, r.Median, r.Min, r.Max, r.Formula)
	}
	return ew.err
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
