package bench_test

import (
	"fmt"
	"testing"

	"github.com/vrmvault/vrmvault/cmd/vrm-load/bench"
)

// BenchmarkFloor measures the parts of a consented read and the full
// path, one operation at a time. vrm-load floor runs the same functions
// and prints the ratios; by hand:
//
//	go test -run='^$' -bench='^BenchmarkFloor$' -count=5 ./bench/
func BenchmarkFloor(b *testing.B) {
	for _, p := range bench.Parts() {
		b.Run(p.Name, p.Bench)
	}
}

// BenchmarkFloorParallel measures the same under b.RunParallel: ns/op is
// the inverse of the throughput.
//
//	go test -run='^$' -bench='^BenchmarkFloorParallel$' -count=5 ./bench/
func BenchmarkFloorParallel(b *testing.B) {
	for _, p := range bench.ParallelParts() {
		b.Run(p.Name, p.Bench)
	}
}

// BenchmarkFanOut measures one change reaching 100 and 1,000 open watch
// streams, with percentiles of each watcher's delivery time:
//
//	go test -run='^$' -bench='^BenchmarkFanOut$' -benchtime=50x ./bench/
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("watchers=%d", n), func(b *testing.B) { bench.FanOut(b, n) })
	}
}
