package load

import (
	"math/bits"
	"time"
)

// histSubBuckets is the number of linear buckets per power of two: a
// recorded latency is known to within 1/64 (1.6%).
const (
	histSubBits    = 6
	histSubBuckets = 1 << histSubBits
	// histBuckets covers every int64 of nanoseconds.
	histBuckets = (64-histSubBits-1)*histSubBuckets + 2*histSubBuckets
)

// hist is a log-linear histogram of latencies in fixed memory, so a run
// of any length records every sample without keeping it.
type hist struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
}

func histIndex(v uint64) int {
	if v < 2*histSubBuckets {
		return int(v)
	}
	e := bits.Len64(v) - histSubBits - 1
	return e*histSubBuckets + int(v>>e)
}

// histUpper returns the largest value that falls in bucket i.
func histUpper(i int) uint64 {
	if i < 2*histSubBuckets {
		return uint64(i)
	}
	e := i/histSubBuckets - 1
	m := uint64(i%histSubBuckets + histSubBuckets)
	return (m+1)<<e - 1
}

func (h *hist) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[histIndex(uint64(d))]++
	h.n++
	h.max = max(h.max, d)
}

// quantile returns the p-th percentile (0 < p <= 100): the upper bound of
// the bucket holding the sample of that rank, never more than the
// largest sample. Zero when nothing was recorded.
func (h *hist) quantile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(p/100*float64(h.n) + 0.999999999)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(histUpper(i)), h.max)
		}
	}
	return h.max
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}
