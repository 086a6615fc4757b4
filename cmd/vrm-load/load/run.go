package load

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/brand"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
)

// Bounds of the run's loops.
const (
	// pickTries is how many random brands or vaults a worker tries
	// without waiting before it waits for one.
	pickTries = 8
	// maxReopens bounds how often one watcher opens its stream again.
	maxReopens = 100_000
	// watchBackoff is the pause before a watcher reopens a stream that
	// failed for a reason other than a revocation.
	watchBackoff = 100 * time.Millisecond
	// readFields is what a read returns: the profile's fields that
	// brandScopes cover.
	readFields = 5
)

// workload runs a mix of operations against a fleet.
type workload struct {
	f       *fleet
	mix     Mix
	rec     *recorder
	timeout time.Duration
	count   int64 // measured operations to run; 0 means no limit
	issued  atomic.Int64
	// signedLive counts reads that signed their own proof although the
	// run presigned (the slot's proofs ran out or grew old).
	signedLive atomic.Int64
}

// runResult is what run measured, besides the recorder's figures.
type runResult struct {
	elapsed time.Duration // measured time: from the end of warm-up to the last operation's end
	cpu     time.Duration // the process's CPU time over the measured time; 0 if unknown
}

// run runs cfg's mix: watchers first, then cfg.Concurrency workers for
// cfg.Warmup (not recorded) and cfg.Duration (or until cfg.Count
// operations), printing a progress line a second to progress. ctx ends
// the run early; operations in flight finish (each bounded by
// cfg.Timeout).
func (w *workload) run(ctx context.Context, cfg Config, progress io.Writer) runResult {
	runCtx, finish := context.WithCancel(ctx)
	defer finish()

	var watchers sync.WaitGroup
	for i := range cfg.Watchers {
		s := w.f.slots[i%len(w.f.slots)]
		watchers.Add(1)
		go func() { defer watchers.Done(); w.watch(runCtx, s) }()
	}

	var tickets chan time.Time
	if cfg.Rate > 0 {
		tickets = make(chan time.Time, cfg.Concurrency)
		go pace(runCtx, cfg.Rate, tickets)
	}
	var workers sync.WaitGroup
	for i := range cfg.Concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			w.worker(ctx, runCtx, finish, tickets, rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano()))))
		}()
	}

	progressDone := make(chan struct{})
	stopProgress := make(chan struct{})
	go func() { defer close(progressDone); w.progress(progress, stopProgress) }()

	wait := func(d time.Duration) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-runCtx.Done():
		}
	}
	if cfg.Warmup > 0 {
		wait(cfg.Warmup)
	}
	start := time.Now()
	cpu0, cpuOK := processCPU()
	w.rec.on.Store(true)
	wait(cfg.Duration)
	finish()
	workers.Wait()
	w.rec.on.Store(false)
	res := runResult{elapsed: time.Since(start)}
	if cpu1, ok := processCPU(); ok && cpuOK {
		res.cpu = cpu1 - cpu0
	}
	watchers.Wait()
	close(stopProgress)
	<-progressDone
	return res
}

// pace sends the scheduled start time of each operation, rate a second,
// until ctx ends. When the workers fall behind, the schedule does not
// move: an operation's latency counts from when it should have started.
func pace(ctx context.Context, rate float64, tickets chan<- time.Time) {
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for i := int64(0); ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
		select {
		case tickets <- at:
		case <-ctx.Done():
			return
		}
	}
}

// worker runs operations until runCtx ends or the count is reached. Each
// call runs under opCtx (the caller's context, not the run's), so the
// end of the run does not cancel operations in flight.
func (w *workload) worker(opCtx, runCtx context.Context, finish func(), tickets <-chan time.Time, rng *rand.Rand) {
	for runCtx.Err() == nil {
		var start time.Time
		if tickets != nil {
			select {
			case start = <-tickets:
			case <-runCtx.Done():
				return
			}
		}
		measured := w.rec.on.Load()
		if w.count > 0 && measured && w.issued.Add(1) > w.count {
			finish()
			return
		}
		o := op{start: start, measured: measured}
		switch w.mix.pick(rng) {
		case OpRead:
			w.read(opCtx, rng, o)
		case OpWrite:
			w.write(opCtx, rng, o)
		case OpRevoke:
			w.revoke(opCtx, rng, o)
		}
	}
}

// op is one operation a worker runs.
type op struct {
	// start is its scheduled start with --rate; zero otherwise.
	start time.Time
	// measured is true when it was issued after the warm-up.
	measured bool
}

// queued returns how long o waited for a worker: from its scheduled start
// to now; zero without a schedule.
func (o op) queued(now time.Time) time.Duration {
	if o.start.IsZero() {
		return 0
	}
	return now.Sub(o.start)
}

func (w *workload) read(ctx context.Context, rng *rand.Rand, o op) {
	s := w.readSlot(rng)
	if s == nil {
		w.rec.done(OpRead, 0, status.Error(codes.FailedPrecondition, "no brand holds a consent"), o.measured)
		time.Sleep(watchBackoff)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	t0 := time.Now()
	var (
		resp *vrmv1.ReadProfileResponse
		err  error
	)
	if proof, ok := s.presignedProof(t0); ok {
		resp, err = s.presigned.read(ctx, s.v.addr.VaultID, proof)
	} else {
		if s.presigned != nil {
			w.signedLive.Add(1)
		}
		resp, err = s.client.Read(ctx)
	}
	s.mu.RUnlock()
	d := time.Since(t0) + o.queued(t0)
	if err == nil && len(resp.GetFields()) != readFields {
		err = &resultError{fmt.Sprintf("read returned %d fields, want %d", len(resp.GetFields()), readFields)}
	}
	w.rec.done(OpRead, d, err, o.measured)
}

// readSlot returns a brand that holds a consent, read-locked.
func (w *workload) readSlot(rng *rand.Rand) *slot {
	slots := w.f.slots
	for range pickTries {
		s := slots[rng.IntN(len(slots))]
		if s.alive.Load() && s.mu.TryRLock() {
			return s
		}
	}
	for range len(slots) {
		s := slots[rng.IntN(len(slots))]
		if !s.alive.Load() {
			continue
		}
		s.mu.RLock()
		if s.alive.Load() {
			return s
		}
		s.mu.RUnlock()
	}
	return nil
}

func (w *workload) write(ctx context.Context, rng *rand.Rand, o op) {
	v := w.f.vaults[rng.IntN(len(w.f.vaults))]
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	t0 := time.Now()
	_, err := v.owner.SetFields(ctx, []profile.Field{{Path: watchPath, Value: profile.StringValue(strconv.FormatInt(t0.UnixNano(), 10))}})
	w.rec.done(OpWrite, time.Since(t0)+o.queued(t0), err, o.measured)
}

// revoke revokes one brand's consent, then has the brand ask again and
// the owner grant it. Reads of that brand wait meanwhile; its watch
// streams end and reopen after the grant.
func (w *workload) revoke(ctx context.Context, rng *rand.Rand, o op) {
	v := w.lockLedger(rng)
	defer v.ledger.Unlock()
	var s *slot
	for _, i := range rng.Perm(len(v.slots)) {
		if v.slots[i].alive.Load() {
			s = v.slots[i]
			break
		}
	}
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	regranted := make(chan struct{})
	defer close(regranted)
	s.gmu.Lock()
	s.regranted = regranted
	s.gmu.Unlock()

	cctx, cancel := context.WithTimeout(ctx, w.timeout)
	t0 := time.Now()
	s.revokeStart.Store(t0.UnixNano())
	_, err := v.owner.Revoke(cctx, s.consentID)
	cancel()
	w.rec.done(OpRevoke, time.Since(t0)+o.queued(t0), err, o.measured)
	if err != nil {
		return
	}
	t1 := time.Now()
	id, err := grant(ctx, v, s, w.timeout)
	w.rec.done(OpRegrant, time.Since(t1), err, o.measured)
	if err != nil {
		s.alive.Store(false)
		return
	}
	s.consentID = id
}

// lockLedger returns a vault with its ledger lock held, preferring one
// no other worker is revoking in.
func (w *workload) lockLedger(rng *rand.Rand) *vaultState {
	vaults := w.f.vaults
	for range pickTries {
		v := vaults[rng.IntN(len(vaults))]
		if v.ledger.TryLock() {
			return v
		}
	}
	v := vaults[rng.IntN(len(vaults))]
	v.ledger.Lock()
	return v
}

// watch keeps a watch stream of s open until ctx ends, recording each
// change's delivery time and, when a revocation ends the stream, how long
// that took; it reopens the stream from its last cursor after the
// regrant.
func (w *workload) watch(ctx context.Context, s *slot) {
	var cursor uint64
	for range maxReopens {
		if ctx.Err() != nil || !s.alive.Load() {
			return
		}
		st, err := s.client.Watch(ctx, cursor)
		if err == nil {
			fresh := cursor == 0 // the first event holds the current values, not a change
			for {
				ev, rerr := st.Recv()
				if rerr != nil {
					err = rerr
					break
				}
				now := time.Now()
				if !fresh {
					for _, f := range ev.GetFields() {
						if f.GetPath() != watchPath {
							continue
						}
						ns, perr := strconv.ParseInt(f.GetValue().GetStringValue(), 10, 64)
						if perr != nil {
							w.rec.done(OpWatch, 0, &resultError{"watched value is not a time: " + perr.Error()}, w.rec.on.Load())
							continue
						}
						w.rec.done(OpWatch, now.Sub(time.Unix(0, ns)), nil, w.rec.on.Load())
					}
				}
				fresh = false
				cursor = ev.GetCursor()
			}
		}
		if ctx.Err() != nil {
			return
		}
		if brand.IsRevoked(err) {
			if ns := s.revokeStart.Load(); ns != 0 {
				w.rec.done(OpRevokeClose, time.Since(time.Unix(0, ns)), nil, w.rec.on.Load())
			}
			select {
			case <-s.regrantedCh():
			case <-ctx.Done():
				return
			}
			continue
		}
		w.rec.done(OpWatch, 0, err, w.rec.on.Load())
		t := time.NewTimer(watchBackoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// progress prints, once a second until stop is closed, the operations
// completed in that second.
func (w *workload) progress(out io.Writer, stop <-chan struct{}) {
	if out == nil {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := map[string]int64{}
	var lastFailed int64
	begin := time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			line := fmt.Sprintf("vrm-load: %3.0fs", now.Sub(begin).Seconds())
			if !w.rec.on.Load() {
				line += " (warm-up)"
			}
			var failed int64
			for _, op := range opOrder {
				s := w.rec.ops[op]
				n := s.done.Load()
				failed += s.failed.Load()
				if n == 0 {
					continue
				}
				line += fmt.Sprintf("  %s %d/s", op, n-last[op])
				last[op] = n
			}
			line += fmt.Sprintf("  errors %d", failed-lastFailed)
			lastFailed = failed
			fmt.Fprintln(out, line)
		}
	}
}
