package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/cmd/vrm-load/bench"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// runCLI runs vrm-load with args and returns its exit status and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := Main(ctx, args, Env{Stdout: &stdout, Stderr: &stderr})
	return code, stdout.String(), stderr.String()
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--vaults", "0"}, "--vaults must be from 1 to"},
		{[]string{"--vaults", fmt.Sprint(MaxVaults + 1)}, "--vaults must be from 1 to"},
		{[]string{"--brands", fmt.Sprint(MaxBrands + 1)}, "--brands must be from 1 to"},
		{[]string{"--vaults", fmt.Sprint(MaxConnections), "--brands", "1"}, "client connections (an owner"},
		{[]string{"--watchers", fmt.Sprint(MaxWatchers + 1)}, "--watchers must be from 0 to"},
		{[]string{"--concurrency", "0"}, "--concurrency must be from 1 to"},
		{[]string{"--concurrency", fmt.Sprint(MaxConcurrency + 1)}, "--concurrency must be from 1 to"},
		{[]string{"--idle-vaults", fmt.Sprint(MaxIdleVaults + 1)}, "--idle-vaults must be from 0 to"},
		{[]string{"--count", fmt.Sprint(MaxCount + 1)}, "--count must be from 0 to"},
		{[]string{"--duration", "0s"}, "--duration must be positive"},
		{[]string{"--duration", (MaxDuration + time.Second).String()}, "--duration must be positive"},
		{[]string{"--warmup", "-1s"}, "--warmup must be from 0"},
		{[]string{"--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"--rate", fmt.Sprint(MaxRate + 1)}, "--rate must be from 0 to"},
		{[]string{"--commit-delay", "11ms"}, "--commit-delay must be at most"},
		{[]string{"--addr", "127.0.0.1:7443/abc", "--code", "X", "--commit-delay", "1ms"}, "not with --addr"},
		{[]string{"-o", "xml"}, "-o must be table or json"},
		{[]string{"--mix", "read=90,delete=10"}, `unknown operation "delete"`},
		{[]string{"--mix", "read=0"}, "every weight is 0"},
		{[]string{"--mix", "read"}, "is not op=weight"},
		{[]string{"--mix", "read=-1"}, "must be an integer from 0"},
		{[]string{"--mix", "read=1,read=2"}, "given twice"},
		{[]string{"--addr", "127.0.0.1:7443/abc"}, "--addr needs --code"},
		{[]string{"--addr", "127.0.0.1:7443"}, "--addr:"},
		{[]string{"--addr", "192.0.2.1:7443/abc", "--code", "X"}, "must be a loopback address"},
		{[]string{"--addr", "127.0.0.1:7443/abc", "--code", "X", "--vaults", "2"}, "runs with one vault"},
		{[]string{"--addr", "127.0.0.1:7443/abc", "--code", "X", "--idle-vaults", "2"}, "not with --addr"},
		{[]string{"--code", "X"}, "--code goes with --addr"},
		{[]string{"--no-such-flag"}, "flag provided but not defined"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"floor", "--runs", "0"}, "--runs must be from 1 to"},
		{[]string{"floor", "--runs", fmt.Sprint(MaxRuns + 1)}, "--runs must be from 1 to"},
		{[]string{"floor", "-o", "yaml"}, "-o must be table or json"},
		{[]string{"floor", "extra"}, `unexpected argument "extra"`},
		{[]string{"floor", "--benchtime", "0s"}, "must be a positive duration"},
		{[]string{"floor", "--benchtime", "0x"}, "a count must be from 1x"},
		{[]string{"floor", "--benchtime", "soon"}, "must be a positive duration"},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 ||
			!strings.HasPrefix(stderr, "vrm-load: ") || !strings.Contains(stderr, "--help") || stdout != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 and one line with %q", tc.args, code, stderr, stdout, tc.want)
		}
	}
}

func TestRunChecksConfig(t *testing.T) {
	cfg := Config{Vaults: 1, Brands: 1, Concurrency: 1, Duration: time.Second, Timeout: time.Second, Output: "table"}
	if _, err := Run(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "--mix") {
		t.Errorf("Run with an empty mix: %v", err)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"run", "-h"}, {"floor", "--help"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != ExitOK || !strings.Contains(stdout, "Usage: vrm-load") || !strings.Contains(stdout, "-o") || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

// decode parses a -o json report.
func decode(t *testing.T, stdout string) Report {
	t.Helper()
	var rep Report
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("report is not one JSON document: %v\n%s", err, stdout)
	}
	if dec.More() {
		t.Fatalf("more than one JSON document:\n%s", stdout)
	}
	return rep
}

func opOf(rep Report, name string) OpReport {
	for _, op := range rep.Ops {
		if op.Op == name {
			return op
		}
	}
	return OpReport{Op: name}
}

// TestRunMix runs every operation against an in-process host, with
// watchers, and checks that each happened without error and that the
// percentiles are ordered.
func TestRunMix(t *testing.T) {
	code, stdout, stderr := runCLI(t, "--vaults", "2", "--brands", "2", "--watchers", "3", "--concurrency", "2",
		"--mix", "read=60,write=30,revoke=10", "--warmup", "200ms", "--duration", "1500ms", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rep := decode(t, stdout)
	if rep.Mode != "in-process" || rep.Vaults != 2 || rep.Brands != 2 || rep.Mix != "read=60,write=30,revoke=10" || rep.Machine.CPUs == 0 {
		t.Errorf("report header %+v", rep)
	}
	for _, name := range []string{OpRead, OpWrite, OpRevoke, OpRegrant, OpWatch} {
		op := opOf(rep, name)
		if op.Count == 0 || op.Errors != 0 || op.PerSecond <= 0 {
			t.Errorf("%s: %+v, want some operations and no errors", name, op)
		}
		if !(op.P50 <= op.P90 && op.P90 <= op.P99 && op.P99 <= op.Max) {
			t.Errorf("%s: percentiles out of order: %+v", name, op)
		}
	}
	if !strings.Contains(stderr, "vrm-load:   1s") {
		t.Errorf("no progress line on stderr:\n%s", stderr)
	}
}

// TestRunCount stops after exactly --count measured operations.
func TestRunCount(t *testing.T) {
	code, stdout, stderr := runCLI(t, "--vaults", "1", "--brands", "1", "--watchers", "0", "--concurrency", "3",
		"--mix", "read=3,write=1", "--warmup", "0s", "--count", "25", "-q", "-o", "json")
	if code != ExitOK || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rep := decode(t, stdout)
	var total int64
	for _, op := range rep.Ops {
		total += int64(op.Count) + op.Errors
	}
	if total != 25 {
		t.Errorf("%d operations measured, want 25: %+v", total, rep.Ops)
	}
}

// TestRunRecordings: --cpuprofile and --trace write a CPU profile and an
// execution trace of the run; a file that cannot be created fails the
// run before it starts.
func TestRunRecordings(t *testing.T) {
	dir := t.TempDir()
	prof, tr := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "run.trace")
	code, _, stderr := runCLI(t, "--vaults", "1", "--brands", "1", "--watchers", "0", "--concurrency", "2",
		"--mix", "read=1", "--warmup", "0s", "--count", "20", "-q", "-o", "json", "--cpuprofile", prof, "--trace", tr, "--commit-delay", "-1ns")
	if code != ExitOK || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for name, magic := range map[string]string{prof: "\x1f\x8b", tr: "go 1."} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte(magic)) {
			t.Errorf("%s starts %q, want %q", name, b[:min(len(b), 8)], magic)
		}
	}
	// The trace cannot be written: the run fails, and the CPU profile
	// started before it is stopped (the next run can start its own).
	code, _, stderr = runCLI(t, "--vaults", "1", "--brands", "1", "--watchers", "0",
		"--mix", "read=1", "--warmup", "0s", "--count", "5", "-q", "--cpuprofile", prof, "--trace", filepath.Join(dir, "missing", "run.trace"))
	if code == ExitOK || !strings.Contains(stderr, "--trace") {
		t.Errorf("trace into a missing directory: exit %d, stderr %q; want a failure naming --trace", code, stderr)
	}
	code, _, stderr = runCLI(t, "--vaults", "1", "--brands", "1", "--watchers", "0",
		"--mix", "read=1", "--warmup", "0s", "--count", "5", "-q", "--cpuprofile", prof)
	if code != ExitOK {
		t.Errorf("CPU profile after a failed trace: exit %d: %s", code, stderr)
	}
}

// TestRunPresign: with --presign the reads use the proofs signed before
// the run (two brands over three vaults, each brand on one shared
// connection), and a read whose brand has run out signs its own.
func TestRunPresign(t *testing.T) {
	code, stdout, stderr := runCLI(t, "--vaults", "3", "--brands", "2", "--watchers", "0", "--concurrency", "4",
		"--mix", "read=1", "--warmup", "0s", "--count", "60", "--presign", "36", "-q", "-o", "json")
	if code != ExitOK || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rep := decode(t, stdout)
	read := opOf(rep, OpRead)
	if read.Count != 60 || read.Errors != 0 {
		t.Fatalf("reads %+v, want 60 without errors", read)
	}
	// 36 proofs over 6 slots, so at most 36 reads used one; reads pick
	// slots at random, so how many more signed their own varies.
	if rep.Presigned != 36 || rep.ReadsSignedLive < 60-36 || rep.ReadsSignedLive == 60 {
		t.Errorf("presigned %d, signed live %d; want 36, and 24 to 59 signed live", rep.Presigned, rep.ReadsSignedLive)
	}
	code, _, stderr = runCLI(t, "--presign", "10", "--conn-per-vault")
	if code != ExitUsage || !strings.Contains(stderr, "drop --conn-per-vault") {
		t.Errorf("--presign with --conn-per-vault: exit %d, %s", code, stderr)
	}
}

// TestRunTableAndIdleVaults checks the table output, with idle vaults.
func TestRunTableAndIdleVaults(t *testing.T) {
	code, stdout, stderr := runCLI(t, "--vaults", "1", "--brands", "1", "--idle-vaults", "5", "--watchers", "0",
		"--mix", "read=1", "--warmup", "0s", "--count", "5", "-q")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"vrm-load: in-process", "(+5 idle)", "p99 ms", "\nread ", "machine: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
}

// TestRunRemote targets a running vault server with its enrolment code.
func TestRunRemote(t *testing.T) {
	v := vaulttest.Start(t)
	code, stdout, stderr := runCLI(t, "--addr", v.Addr, "--code", v.Code, "--brands", "2", "--watchers", "1",
		"--concurrency", "2", "--mix", "read=8,write=2", "--warmup", "0s", "--count", "20", "-q", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rep := decode(t, stdout)
	if rep.Mode != "remote" || rep.Target != v.Addr || rep.Vaults != 1 {
		t.Errorf("report header %+v", rep)
	}
	if op := opOf(rep, OpRead); op.Count == 0 || op.Errors != 0 {
		t.Errorf("reads: %+v", op)
	}
	// The code is spent: a second run cannot enrol.
	code, _, stderr = runCLI(t, "--addr", v.Addr, "--code", v.Code, "--brands", "1", "--count", "1", "-q")
	if code != ExitFailure || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "enrol owner") {
		t.Errorf("second run with a spent code: exit %d, stderr %q", code, stderr)
	}
}

func TestDataDirMustBeNew(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "--data", dir, "--count", "1", "-q")
	if code != ExitFailure || !strings.Contains(stderr, "is not empty") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	fresh := filepath.Join(dir, "new")
	code, _, stderr = runCLI(t, "--data", fresh, "--vaults", "1", "--brands", "1", "--watchers", "0", "--warmup", "0s", "--count", "3", "-q")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, sub := range []string{"data", "keys"} {
		if _, err := os.Stat(filepath.Join(fresh, sub)); err != nil {
			t.Errorf("--data kept no %s store: %v", sub, err)
		}
	}
}

func TestInterruptedRunReportsAndFails(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr bytes.Buffer
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"--vaults", "1", "--brands", "1", "--watchers", "0", "--warmup", "0s", "--duration", "1m", "-q"}, Env{Stdout: &stdout, Stderr: &stderr})
	}()
	time.Sleep(700 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != ExitFailure || !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not end after its context was cancelled")
	}
}

func TestMeasureFloor(t *testing.T) {
	ns := map[string]float64{
		bench.VerifyEdDSACrypto: 40e3, bench.StoreScan: 10e3, bench.GRPCEmpty: 50e3, bench.BadgerSyncedBatch: 250e3,
	}
	var measured []string
	measure := func(p bench.Part) (float64, bool) {
		measured = append(measured, p.Name)
		v, ok := ns[p.Name]
		return v, ok
	}
	ops := []OpReport{{Op: OpRead, PerSecond: 1000}, {Op: OpWrite, PerSecond: 1000}}
	before, err := measureFloorParts(context.Background(), true, measure)
	if err != nil {
		t.Fatal(err)
	}
	if len(measured) != 4 || len(before) != 4 {
		t.Errorf("measured %v, parts %v", measured, before)
	}
	// After the run the machine is slower by half: a floor of 150 µs a
	// read, and badger at 375 µs a batch.
	after := map[string]float64{}
	for name, v := range before {
		after[name] = v * 1.5
	}
	fl := relateToFloor(ops, before, after)
	// The mean is 125 µs a read: 8,000 reads/s; badger 3,200 batches/s.
	if math.Abs(fl.ReadsPerSecond-8_000) > 1e-6 || math.Abs(fl.ReadFraction-0.125) > 1e-9 ||
		math.Abs(fl.ReadsPerSecondBefore-10_000) > 1e-6 || math.Abs(fl.ReadsPerSecondAfter-10_000/1.5) > 1e-6 ||
		math.Abs(fl.BatchesPerSecond-3_200) > 1e-6 || math.Abs(fl.WriteFraction-1000.0/3200) > 1e-9 {
		t.Errorf("floor figures %+v", fl)
	}
	measured = nil
	if parts, err := measureFloorParts(context.Background(), false, measure); err != nil || len(parts) != 3 || len(measured) != 3 {
		t.Errorf("without writes: measured %v, %v, %v", measured, parts, err)
	}
	if fl := relateToFloor(ops[:1], before, before); fl.BatchesPerSecond != 4_000 || fl.WriteFraction != 0 {
		t.Errorf("reads only: %+v", fl)
	}
	delete(ns, bench.StoreScan)
	if _, err := measureFloorParts(context.Background(), false, measure); err == nil || !strings.Contains(err.Error(), bench.StoreScan) {
		t.Errorf("a failed part: err %v", err)
	}
}

func TestMixPick(t *testing.T) {
	m, err := ParseMix(" read=6 , write=3,revoke=1")
	if err != nil {
		t.Fatal(err)
	}
	if m.String() != "read=6,write=3,revoke=1" {
		t.Errorf("String() = %q", m.String())
	}
	rng := rand.New(rand.NewPCG(1, 2))
	got := map[string]int{}
	for range 10_000 {
		got[m.pick(rng)]++
	}
	for op, want := range map[string]int{OpRead: 6000, OpWrite: 3000, OpRevoke: 1000} {
		if d := got[op] - want; d < -300 || d > 300 {
			t.Errorf("%s picked %d times of 10000, want about %d", op, got[op], want)
		}
	}
	if only, _ := ParseMix("write=5"); only.pick(rng) != OpWrite {
		t.Error("a mix of writes picked something else")
	}
}

func TestHistQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var h hist
	var all []time.Duration
	for range 50_000 {
		d := time.Duration(rng.ExpFloat64() * float64(2*time.Millisecond))
		h.record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, p := range []float64{50, 90, 99, 99.9, 100} {
		exact := all[int(p/100*float64(len(all))+0.999999999)-1]
		got := h.quantile(p)
		if got < exact || float64(got-exact) > float64(exact)/histSubBuckets+1 {
			t.Errorf("p%v = %v, exact %v: more than 1/%d off", p, got, exact, histSubBuckets)
		}
	}
	if h.quantile(100) != all[len(all)-1] || h.max != all[len(all)-1] {
		t.Errorf("max %v, p100 %v, want %v", h.max, h.quantile(100), all[len(all)-1])
	}
	var empty hist
	if empty.quantile(50) != 0 {
		t.Error("quantile of an empty histogram")
	}
	var small hist
	small.record(-time.Second) // a clock step: counted as 0
	small.record(5)
	if small.quantile(50) != 0 || small.quantile(100) != 5 {
		t.Errorf("small: p50 %v p100 %v", small.quantile(50), small.quantile(100))
	}
	small.merge(&h)
	if small.n != h.n+2 || small.max != h.max {
		t.Errorf("merge: n %d max %v", small.n, small.max)
	}
	// Every bucket's upper bound maps back to the bucket, and the next
	// value to the next bucket.
	for i := 0; i < histBuckets-1; i++ {
		u := histUpper(i)
		if histIndex(u) != i || histIndex(u+1) != i+1 {
			t.Fatalf("bucket %d: upper %d maps to %d, next to %d", i, u, histIndex(u), histIndex(u+1))
		}
	}
}
