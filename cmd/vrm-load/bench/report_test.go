package bench

import (
	"context"
	"flag"
	"math"
	"strings"
	"testing"
	"time"
)

// onceEach makes testing.Benchmark run a function for a single
// iteration, for the duration of the test.
func onceEach(t *testing.T) {
	t.Helper()
	f := flag.Lookup("test.benchtime")
	if f == nil {
		t.Fatal("no test.benchtime flag")
	}
	old := f.Value.String()
	if err := f.Value.Set("1x"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Value.Set(old) })
}

// TestPartsRun runs every measurement once, so that a broken setup is
// found by go test rather than by the next person who runs -bench.
func TestPartsRun(t *testing.T) {
	onceEach(t)
	for _, set := range [][]Part{Parts(), ParallelParts()} {
		for _, p := range set {
			if testing.Short() && p.Name == FullRead {
				continue // sets up ParallelVaults vaults
			}
			if r := testing.Benchmark(p.Bench); r.N == 0 {
				t.Errorf("%s failed: run go test -run='^$' -bench=Floor ./bench/ to see why", p.Name)
			}
		}
	}
	fanOut := func(b *testing.B) { FanOut(b, 3) }
	if r := testing.Benchmark(fanOut); r.N == 0 {
		t.Error("FanOut failed: run go test -run='^$' -bench=FanOut ./bench/ to see why")
	}
}

func TestRunFloorRatios(t *testing.T) {
	// Run r costs r times the base figures, so every ratio is the same in
	// every run.
	base := map[string]float64{
		VerifyEdDSAJose: 60e3, VerifyEdDSACrypto: 40e3, VerifyES256Jose: 120e3, VerifyES256Crypto: 90e3,
		SignEdDSA: 30e3, StoreGet: 3e3, StoreScan: 10e3, SealedGet: 4e3, SealedScan: 14e3, StoreSyncedWrite: 1e6, GRPCEmpty: 50e3, FullRead: 2e6, BadgerSyncedBatch: 1e6,
	}
	calls := map[string]int{}
	measure := func(p Part) (float64, bool) {
		calls[p.What]++ // What tells a sequential part from its parallel twin
		v, ok := base[p.Name]
		return v * float64(calls[p.What]), ok
	}
	var progress strings.Builder
	rep, err := RunFloor(context.Background(), FloorConfig{Runs: 3, Parallel: true, Measure: measure, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(progress.String(), "\n"); got != 3*(len(Parts())+len(ParallelParts())) {
		t.Errorf("%d progress lines", got)
	}
	if m, _ := Figure(rep.Sequential, FullRead); m != 4e6 {
		t.Errorf("median of full-read = %v, want 4e6 (runs 2e6, 4e6, 6e6)", m)
	}
	want := map[string]float64{
		"full-read latency / floor":                       2e6 / 100e3,
		"full-read latency / floor-jose":                  2e6 / 120e3,
		"full-read latency / durable-floor":               2e6 / 1130e3,
		"full-read throughput / floor throughput":         100e3 / 2e6,
		"full-read throughput / durable-floor throughput": 1e6 / 2e6, // max(130e3 of CPU, 1e6 of commit)
		"full-read throughput / floor-jose throughput":    120e3 / 2e6,
	}
	if len(rep.Ratios) != len(want) {
		t.Fatalf("%d ratios, want %d: %+v", len(rep.Ratios), len(want), rep.Ratios)
	}
	for _, r := range rep.Ratios {
		w, ok := want[r.Name]
		if !ok || len(r.PerRun) != 3 || math.Abs(r.Median-w) > 1e-9 {
			t.Errorf("ratio %s = %v (runs %v), want %v", r.Name, r.Median, r.PerRun, w)
		}
	}
	var out strings.Builder
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "full-read latency / floor") {
		t.Errorf("text report lacks the ratio:\n%s", out.String())
	}
}

func TestRunFloorNamesFailedPart(t *testing.T) {
	measure := func(p Part) (float64, bool) { return 1, p.Name != StoreScan }
	_, err := RunFloor(context.Background(), FloorConfig{Runs: 1, Measure: measure})
	if err == nil || !strings.Contains(err.Error(), StoreScan) || !strings.Contains(err.Error(), "go test") {
		t.Fatalf("err = %v, want one naming %s and the command to see why", err, StoreScan)
	}
}

func TestMedianPercentileFormat(t *testing.T) {
	if m := Median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("Median odd = %v", m)
	}
	if m := Median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("Median even = %v", m)
	}
	if m := Median(nil); m != 0 {
		t.Errorf("Median nil = %v", m)
	}
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for p, want := range map[float64]time.Duration{50: 50, 90: 90, 99: 99, 100: 100, 1: 1} {
		if got := Percentile(d, p); got != want {
			t.Errorf("Percentile(1..100, %v) = %v, want %v", p, got, want)
		}
	}
	if Percentile(nil, 50) != 0 || Percentile(d[:1], 99) != 1 {
		t.Error("Percentile of empty or single-element slice")
	}
	for ns, want := range map[float64]string{812: "812ns", 41_300: "41.3µs", 2_050_000: "2.05ms", 150e6: "150ms", 3e9: "3.00s"} {
		if got := FormatNs(ns); got != want {
			t.Errorf("FormatNs(%v) = %q, want %q", ns, got, want)
		}
	}
}
