// Package bench measures the floor under a consented read: the pieces
// every signed read must pay (verifying one proof, reading the profile
// from badger, one gRPC round trip over loopback), the whole path through
// a real vault (proof check, consent check, read, audit append, response),
// and the latency of one change fanned out to many watchers.
//
// Each measurement is a func(*testing.B), so the same code runs under
// `go test -bench` (bench_test.go wraps them as BenchmarkFloor and
// BenchmarkFanOut) and in-process under testing.Benchmark, which RunFloor
// uses to measure every part and the full path in one run and report the
// full path's cost as a ratio of the sum of its parts (`vrm-load floor`).
// Ratios are computed per run, from figures measured seconds apart on the
// same machine, and summarised by their median: absolute figures on a
// shared machine are noisy, same-run ratios much less so.
//
// Nothing here asserts a timing. Benchmarks run only with -bench; the
// package's tests check that each measurement runs and that the report's
// arithmetic is right.
package bench
