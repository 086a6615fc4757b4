package badgerstore

import (
	"errors"
	"fmt"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/vault/store"
)

// TestPacer: a group waits only after a group of several calls, with the
// cores backlogged, and while its waits gather calls; once they stop
// gathering, one chance in paceProbeEvery waits.
func TestPacer(t *testing.T) {
	var p pacer
	if p.wait(1, true) {
		t.Error("waits after a group of one call")
	}
	if p.wait(8, false) {
		t.Error("waits with the cores not backlogged")
	}
	if !p.wait(paceMinGroup, true) {
		t.Fatal("zero pacer does not wait after a group of several calls, cores backlogged")
	}
	p.gathered(0)

	// Waits that gathered nothing: from now on, only probes.
	probes := 0
	for range 3 * paceProbeEvery {
		if p.wait(8, true) {
			probes++
			p.gathered(0)
		}
	}
	if probes != 3 {
		t.Errorf("%d probes in %d chances while waits gather nothing, want 3", probes, 3*paceProbeEvery)
	}

	// Probes that gather calls again bring the waiting back.
	for i := 0; p.gain < 0; i++ {
		if i > 100*paceProbeEvery {
			t.Fatal("waiting never came back while its waits gather calls")
		}
		if p.wait(8, true) {
			p.gathered(4)
		}
	}
	for i := range 10 {
		if !p.wait(8, true) {
			t.Fatalf("chance %d after waits gathering 4 calls each: does not wait", i)
		}
		p.gathered(4)
	}
}

func TestBacklogged(t *testing.T) {
	for _, c := range []struct {
		runnable, procs uint64
		want            bool
	}{{0, 2, false}, {2, 2, false}, {7, 2, false}, {8, 2, true}, {15, 2, true}, {31, 8, false}, {32, 8, true}} {
		if got := backlogged(c.runnable, c.procs); got != c.want {
			t.Errorf("backlogged(%d runnable, %d cores) = %v, want %v", c.runnable, c.procs, got, c.want)
		}
	}
}

// TestCoreLoadMetric: the runtime still has the metric the pacer reads
// (without it, groups would never wait, silently).
func TestCoreLoadMetric(t *testing.T) {
	l := newCoreLoad()
	l.backlogged()
	if k := l.sample[0].Value.Kind(); k != metrics.KindUint64 {
		t.Fatalf("metric %s has kind %v, want uint64", l.sample[0].Name, k)
	}
}

// TestCommitDelayConfig: the default, a negative delay turning the waits
// off, and a delay above the limit refused.
func TestCommitDelayConfig(t *testing.T) {
	for _, c := range []struct {
		cfg, want time.Duration
	}{{0, DefaultCommitDelay}, {-1, 0}, {MaxCommitDelay, MaxCommitDelay}} {
		s := openTest(t, Config{CommitDelay: c.cfg})
		if s.combiner.delay != c.want {
			t.Errorf("CommitDelay %v: delay %v, want %v", c.cfg, s.combiner.delay, c.want)
		}
	}
	_, err := Open(Config{Dir: t.TempDir(), CommitDelay: MaxCommitDelay + 1})
	if err == nil || !strings.Contains(err.Error(), "commit delay") {
		t.Errorf("Open with CommitDelay above MaxCommitDelay = %v, want a refusal naming the commit delay", err)
	}
}

// pacingCombiner is a combiner without a store, whose cores are always
// backlogged and whose waits call arrive (if set) and count.
type pacingCombiner struct {
	*combiner
	arrive func() // queues calls during a wait
	waits  int
}

func newPacingCombiner() *pacingCombiner {
	p := &pacingCombiner{combiner: &combiner{delay: DefaultCommitDelay, backlog: func() bool { return true }}}
	p.sleep = func(time.Duration) {
		p.waits++
		if p.arrive != nil {
			p.mu.Lock()
			p.arrive()
			p.mu.Unlock()
		}
	}
	return p
}

// queue queues a call of each vault. c.mu must be held.
func (p *pacingCombiner) queue(vaults ...string) {
	for _, v := range vaults {
		p.pending = append(p.pending, &updateOp{vault: v, wake: make(chan struct{})})
	}
}

// turn is one leader's turn: it takes its group (waiting, if the pacer
// says so), then, its group durable, the calls of next have queued and
// it hands off. It returns the group's size.
func (p *pacingCombiner) turn(backlogged bool, next ...string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.busy = true
	group := p.nextGroup()
	p.queue(next...)
	p.handOff(backlogged)
	return len(group)
}

// TestCombinerPacing: the combiner waits for more calls only while the
// cores are backlogged, groups hold several calls and its waits gather
// calls that can join the group; an idle combiner forgets the load.
func TestCombinerPacing(t *testing.T) {
	const turns = 1 + 3*paceProbeEvery
	run := func(backlogged bool, arrive func(p *pacingCombiner, turn int)) *pacingCombiner {
		p := newPacingCombiner()
		turn := 0
		if arrive != nil {
			p.arrive = func() { arrive(p, turn) }
		}
		p.mu.Lock()
		p.queue("a", "b")
		p.mu.Unlock()
		for turn = range turns {
			p.turn(backlogged, "a", "b")
		}
		return p
	}

	// Waits that gather nothing: the first wait, then probes only.
	if p := run(true, nil); p.waits < 2 || p.waits > 5 {
		t.Errorf("gathering nothing: %d waits in %d turns, want the first and about one in %d", p.waits, turns, paceProbeEvery)
	}
	// Calls of a vault already in the group cannot join it: the same.
	hot := func(p *pacingCombiner, _ int) { p.queue("a") }
	if p := run(true, hot); p.waits < 2 || p.waits > 5 {
		t.Errorf("gathering calls of a vault in the group: %d waits in %d turns, want about one in %d", p.waits, turns, paceProbeEvery)
	}
	// Waits that gather calls of other vaults: every turn but the first.
	others := func(p *pacingCombiner, turn int) { p.queue(fmt.Sprint("x", turn), fmt.Sprint("y", turn)) }
	if p := run(true, others); p.waits != turns-1 {
		t.Errorf("gathering 2 calls a wait: %d waits in %d turns, want %d", p.waits, turns, turns-1)
	}
	// Cores not backlogged: no waits, gathering or not.
	if p := run(false, others); p.waits != 0 {
		t.Errorf("cores not backlogged: %d waits", p.waits)
	}

	// After a pause (nothing queued at a hand-off), a lone call does not
	// wait, though the last group was large and the cores backlogged.
	p := newPacingCombiner()
	p.mu.Lock()
	p.queue("a", "b", "c")
	p.mu.Unlock()
	p.turn(true, "a", "b", "c")
	p.arrive = func() { p.queue("x") }
	p.turn(true) // waits (a group of 3 before it, cores backlogged) and gathers x; then nothing is queued
	p.arrive = nil
	if p.busy || p.waits != 1 {
		t.Fatalf("after a burst: busy %v, %d waits; want idle, 1 wait", p.busy, p.waits)
	}
	p.mu.Lock()
	p.queue("d")
	p.mu.Unlock()
	if n := p.turn(true); n != 1 || p.waits != 1 {
		t.Errorf("lone call after a pause: group of %d, %d more waits; want 1, none", n, p.waits-1)
	}

	// A full group does not wait.
	p = newPacingCombiner()
	full := make([]string, maxCombined+1)
	for i := range full {
		full[i] = fmt.Sprint("v", i)
	}
	p.mu.Lock()
	p.queue(full...)
	p.last, p.backlogged = maxCombined, true
	p.mu.Unlock()
	if n := p.turn(true); n != maxCombined || p.waits != 0 {
		t.Errorf("full queue: group of %d, %d waits; want %d, none", n, p.waits, maxCombined)
	}
}

// TestCombinedWaitGathers: through a Store, a call that arrives while
// the group waits commits in the same transaction as the leader's.
func TestCombinedWaitGathers(t *testing.T) {
	s := openTest(t, Config{})
	createVaults(t, s, "a", "b")
	sleeping := make(chan struct{})
	proceed := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(proceed) }) }) // before Close, which waits for the calls
	s.combiner.mu.Lock()
	s.combiner.last = 8
	s.combiner.backlogged = true
	s.combiner.sleep = func(d time.Duration) {
		if d != DefaultCommitDelay {
			t.Errorf("waits %v, want %v", d, DefaultCommitDelay)
		}
		close(sleeping)
		<-proceed
	}
	s.combiner.mu.Unlock()

	put := func(vault string) error {
		return s.Update(t.Context(), vault, func(tx store.Tx) error { return tx.Put("k", []byte(vault)) })
	}
	errs := make([]error, 2)
	doneA := make(chan struct{})
	go func() { errs[0] = put("a"); close(doneA) }()
	select {
	case <-sleeping:
	case <-doneA:
		t.Fatalf("a committed without waiting (%v)", errs[0])
	}
	doneB := make(chan struct{})
	go func() { errs[1] = put("b"); close(doneB) }()
	waitQueued(t, s, 2)
	once.Do(func() { close(proceed) })
	<-doneA
	<-doneB
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if va, vb := version(t, s, "a", "k"), version(t, s, "b", "k"); va != vb {
		t.Errorf("a and b committed at versions %d and %d, want the wait to gather b", va, vb)
	}
}
