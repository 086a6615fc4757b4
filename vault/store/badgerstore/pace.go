package badgerstore

import (
	"runtime"
	"runtime/metrics"
	"time"
)

// DefaultCommitDelay is how long a shared transaction waits for more
// Update calls before it starts, when the cores are busy (see pacer).
//
// Every shared commit costs a write-ahead-log sync, and a sync costs CPU
// as well as time: about 80 µs of kernel CPU on the 2-core test machine,
// whatever the size of the commit. With the cores busy, a group started as
// soon as the last one is durable holds the few calls that arrived
// meanwhile (6 to 8 of 64 readers), so syncs took a tenth of the host's
// CPU. Waiting first gathers bigger groups, and the CPU the syncs no
// longer take goes to more calls (BENCHMARKS.md, "commits wait for more
// calls").
const DefaultCommitDelay = 300 * time.Microsecond

// MaxCommitDelay bounds Config.CommitDelay: a tenth of the time a queued
// call waits for its group before it runs alone (maxCombineWait), so that
// waits for more calls never send calls off to pay a sync each.
const MaxCommitDelay = maxCombineWait / 10

// Pacing bounds (see pacer).
const (
	// paceMinGroup: after a group of fewer calls than this the next one
	// does not wait: a lone writer pays no delay.
	paceMinGroup = 2
	// paceMinGain: groups go on waiting while a wait gathers at least
	// this many more calls, on average.
	paceMinGain = 1.0
	// paceProbeEvery: while waiting does not pay, one chance in this many
	// waits anyway, to notice when waiting would pay again.
	paceProbeEvery = 32
	// paceWeight is the weight of the newest wait in the average.
	paceWeight = 1.0 / 8
	// paceBacklogPerCore: the cores count as backlogged when at least
	// this many goroutines per core (GOMAXPROCS) wait for one. The count
	// is approximate and is seldom below 2 even with idle cores; 64
	// readers on 2 cores keep it above 14.
	paceBacklogPerCore = 4
)

// pacer decides whether the next shared transaction waits for more calls
// before it starts, as PostgreSQL's commit_delay does with
// commit_siblings, but from what it observes. A group waits only when
//
//   - the last group held several calls (there are concurrent writers),
//   - the cores are backlogged: goroutines wait for a core, so that the
//     wait costs no CPU and the calls about to arrive are queued there
//     (with idle cores a wait only adds latency: 4 readers lost a third
//     of their reads/s to one), and
//   - waiting has been gathering calls: on average at least paceMinGain
//     more calls per wait that join the group (a call of a vault already
//     in it, or beyond maxCombined, does not), checked again now and
//     then once it stops.
//
// Its zero value is ready. It is not safe for concurrent use: the
// combiner calls it under its mutex.
type pacer struct {
	gain  float64 // moving average of the calls a wait gathered, less paceMinGain
	since int     // chances to wait since the last wait
}

// wait reports whether the next group waits, given the size of the last
// group and whether the cores were backlogged when it was durable.
func (p *pacer) wait(lastGroup int, backlogged bool) bool {
	if lastGroup < paceMinGroup || !backlogged {
		return false
	}
	if p.gain >= 0 || p.since+1 >= paceProbeEvery {
		p.since = 0
		return true
	}
	p.since++
	return false
}

// gathered records that a wait gathered n more calls.
func (p *pacer) gathered(n int) {
	p.gain += paceWeight * (float64(max(n, 0)) - paceMinGain - p.gain)
}

// coreLoad reads whether the process's cores are backlogged. It is not
// safe for concurrent use.
type coreLoad struct {
	sample [1]metrics.Sample
}

// newCoreLoad returns a coreLoad of this process.
func newCoreLoad() *coreLoad {
	l := &coreLoad{}
	l.sample[0].Name = "/sched/goroutines/runnable:goroutines"
	return l
}

// backlogged reports whether the cores are backlogged now (see
// backlogged). Reading the metric took 92 ns on the test machine.
func (l *coreLoad) backlogged() bool {
	metrics.Read(l.sample[:])
	if l.sample[0].Value.Kind() != metrics.KindUint64 {
		return false // not supported by this runtime: never wait
	}
	return backlogged(l.sample[0].Value.Uint64(), uint64(runtime.GOMAXPROCS(0)))
}

// backlogged reports whether runnable goroutines, waiting for one of
// procs cores, are at least paceBacklogPerCore a core.
func backlogged(runnable, procs uint64) bool {
	return runnable >= paceBacklogPerCore*procs
}
