package badgerstore

import (
	"errors"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/vault/store"
)

// TestPacer: a group waits only after a group of several calls, with the
// cores backlogged, and while its waits gather calls; once they stop
// gathering, it waits again only to probe.
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

	// Waits that gather nothing stop the waiting.
	waits := 0
	for range 10 * paceProbeEvery {
		if p.wait(8, true) {
			waits++
			p.gathered(0)
		}
	}
	if waits < 1 || waits > 10+10 {
		t.Errorf("%d waits in %d chances while waits gather nothing, want a few, then one in %d", waits, 10*paceProbeEvery, paceProbeEvery)
	}
	// ... but one chance in paceProbeEvery still waits.
	probes := 0
	for range 3 * (paceProbeEvery + 1) {
		if p.wait(8, true) {
			probes++
			p.gathered(0)
		}
	}
	if probes != 3 {
		t.Errorf("%d probes in %d chances, want 3", probes, 3*(paceProbeEvery+1))
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

// TestCoreLoadMetric: the runtime still has the metric the pacer reads
// (without it, groups would never wait, silently).
func TestCoreLoadMetric(t *testing.T) {
	l := newCoreLoad()
	l.backlogged()
	if k := l.sample[0].Value.Kind(); k != metrics.KindUint64 {
		t.Fatalf("metric %s has kind %v, want uint64", l.sample[0].Name, k)
	}
}

// TestCommitDelayConfig: the default, and a negative delay turning the
// waits off.
func TestCommitDelayConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  time.Duration
		want time.Duration
	}{{0, DefaultCommitDelay}, {-1, 0}, {time.Millisecond, time.Millisecond}} {
		s := openTest(t, Config{CommitDelay: c.cfg})
		if s.combiner.delay != c.want {
			t.Errorf("CommitDelay %v: delay %v, want %v", c.cfg, s.combiner.delay, c.want)
		}
	}
}

// TestCombinedWaitGathers: a call that arrives while the group waits
// commits in the same transaction as the leader's.
func TestCombinedWaitGathers(t *testing.T) {
	s := openTest(t, Config{})
	createVaults(t, s, "a", "b")
	sleeping := make(chan struct{})
	proceed := make(chan struct{})
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
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = put("a") })
	<-sleeping
	wg.Go(func() { errs[1] = put("b") })
	waitQueued(t, s, 2)
	close(proceed)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if va, vb := version(t, s, "a", "k"), version(t, s, "b", "k"); va != vb {
		t.Errorf("a and b committed at versions %d and %d, want the wait to gather b", va, vb)
	}
}
