package main

import (
	"context"
	cryptorand "crypto/rand"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/audit"
	"github.com/vrmvault/vrmvault/vault/profile"
)

// The crash suite starts the real vaultd, drives it from several concurrent
// clients (owner profile batches, brand contributions, access requests,
// grants, denials and revocations, and reads whose proofs it keeps), kills
// it with SIGKILL at a random moment, restarts it on the same data, and
// checks the vault against the crash log (crashlog_test.go): every
// acknowledged write is there, no batch is half applied, the consent
// ledger and the audit log verify end to end and extend what was seen
// before, and proofs accepted before the kill are refused when sent again.
//
// The CI form runs 20 kill cycles; the long form takes a flag:
//
//	go test -run TestCrashCycles -v -timeout 60m ./cmd/vaultd/ -args -crash.cycles=200
//
// With VAULTTEST_ENGINE=postgres (and VAULT_PG_DSN, see .ci/postgres.sh)
// vaultd runs on PostgreSQL instead of badger.
var (
	crashCycles = flag.Int("crash.cycles", 20, "TestCrashCycles: how many times vaultd is killed and restarted")
	crashSeed   = flag.Int64("crash.seed", 0, "TestCrashCycles: seed of the random choices (0: from the clock; the seed is logged)")
	crashDir    = flag.String("crash.dir", "", "TestCrashCycles: keep the data and the crash log in this new or empty directory (default: a temporary one, removed)")
)

// Shape and bounds of the crash suite's load.
const (
	// crashOwnerWriters is how many owner clients write profile batches,
	// each to its own fields.
	crashOwnerWriters = 3
	// crashChurners is how many clients make access requests that the
	// owner grants, denies and revokes.
	crashChurners = 2
	// crashFields is how many fields each batch writer owns.
	crashFields = 6
	// crashMinRun and crashMaxRun bound the random time vaultd serves the
	// load before it is killed.
	crashMinRun = 100 * time.Millisecond
	crashMaxRun = 1200 * time.Millisecond
	// crashFirstCall bounds how long a run goes on past its time for
	// vaultd to accept a first call.
	crashFirstCall = 10 * time.Second
	// crashMaxOps bounds each client's calls in one run.
	crashMaxOps = 20_000
	// crashCallTimeout bounds each call of the load.
	crashCallTimeout = 20 * time.Second
	// crashCheckTimeout bounds the checks after a restart, which read the
	// whole ledger and audit log.
	crashCheckTimeout = 2 * time.Minute
	// crashWorkerExit bounds how long the clients take to stop after the
	// kill.
	crashWorkerExit = 60 * time.Second
	// crashChurnPause bounds the random pause between two access requests
	// of a churner, so that the ledger grows by tens of entries a cycle,
	// not thousands.
	crashChurnPause = 200 * time.Millisecond
	// crashProbePause is the pause between two reads of the prober.
	crashProbePause = 20 * time.Millisecond
	// crashReplayMargin is how far inside vaultd's proof window (its
	// default --proof-skew) an old proof must still be when it is sent
	// again, so that its refusal is for the reused jti, not its age.
	crashReplayMargin = 10 * time.Second
	// crashReplayWindow is vaultd's default --proof-skew.
	crashReplayWindow = consent.DefaultProofSkew
)

// TestCrashCycles kills vaultd with SIGKILL under concurrent load
// -crash.cycles times, restarting it on the same data each time, and
// fails if an acknowledged write is lost, a batch is half applied, a chain
// does not verify, or a proof is accepted twice.
func TestCrashCycles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds, kills and restarts a real vaultd")
	}
	if *crashCycles < 1 || *crashCycles > 100_000 {
		t.Fatalf("-crash.cycles must be 1 to 100000, not %d", *crashCycles)
	}
	seed := *crashSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (run again with -args -crash.seed=%d)", seed, seed)
	dir := *crashDir
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatalf("-crash.dir: %v", err)
	}

	// Bounded in time as a whole: a generous allowance per cycle.
	deadline := time.Now().Add(5*time.Minute + time.Duration(*crashCycles)*time.Minute)
	if d, ok := t.Deadline(); ok && d.Before(deadline) {
		deadline = d.Add(-10 * time.Second) // leave time to report
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	h := newCrashHarness(t, dir, seed)
	start := time.Now()
	defer func() { h.report(time.Since(start)) }()

	p, addr := h.start()
	h.setup(ctx, p, addr)
	for cycle := 1; cycle <= *crashCycles; cycle++ {
		t0 := time.Now()
		killedAfter := h.run(ctx, cycle, p, addr)
		t1 := time.Now()
		p, addr = h.start()
		t2 := time.Now()
		h.check(ctx, cycle, addr)
		t.Logf("cycle %d: killed after %s, clients stopped %s later; restart %s; check %s",
			cycle, killedAfter.Round(time.Millisecond), t1.Sub(t0.Add(killedAfter)).Round(time.Millisecond),
			t2.Sub(t1).Round(time.Millisecond), time.Since(t2).Round(time.Millisecond))
		if t.Failed() {
			t.Logf("stopping after cycle %d: vaultd's data is in %s, the crash log is %s (keep them with -args -crash.dir=DIR)", cycle, h.dir, h.log.path)
			return
		}
	}
	// Stop the last vaultd like the others, so that nothing graceful runs.
	killVaultd(t, p)
}

// crashHarness holds what the crash suite keeps across kill cycles.
type crashHarness struct {
	t     *testing.T
	bin   string
	dir   string
	store []string
	log   *crashLog
	rng   *rand.Rand

	ownerKey *consent.PrivateKey
	brandKey *consent.PrivateKey
	vaultID  string
	enrolled bool

	// What the last check saw: the next must extend it.
	ledgerHead consent.Head
	auditHead  audit.Head
	vaultJKT   string
	// feedCursor is the change feed's cursor after the last check's
	// sentinel batch: the next check reads the feed from there.
	feedCursor uint64
	// models are the batch writers' fields as the last check found them,
	// where the next run's writers start from.
	models map[string]fieldModel
	// replays are calls vaultd accepted in the last run, to send again.
	replays []crashAcceptedCall

	stats crashStats
}

// crashStats are the figures the suite reports.
type crashStats struct {
	cycles          int
	checks          int
	ackedChecked    int // acknowledged writes in the log at the last check
	ackChecks       int // acknowledged writes checked, summed over the checks
	unknown         int
	unknownApplied  int
	unknownAbsent   int
	unknownRequests int
	lost            int
	halfApplied     int
	replaysRefused  int
	feedEvents      int
	refused         int
	maxCheck        time.Duration
	ledgerEntries   uint64
	auditEntries    uint64
}

func newCrashHarness(t *testing.T, dir string, seed int64) *crashHarness {
	t.Helper()
	if ents, err := os.ReadDir(dir); err != nil || len(ents) > 0 {
		t.Fatalf("the crash suite needs a new or empty directory; %s: %d entries, %v", dir, len(ents), err)
	}
	l, err := openCrashLog(filepath.Join(dir, "crash.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.close(); err != nil {
			t.Error(err)
		}
	})
	return &crashHarness{
		t:        t,
		bin:      buildVaultd(t),
		dir:      filepath.Join(dir, "data"),
		store:    storeArgs(t),
		log:      l,
		rng:      rand.New(rand.NewPCG(uint64(seed), 0x5eed)),
		ownerKey: crashKey(t),
		brandKey: crashKey(t),
		models:   map[string]fieldModel{},
	}
}

// report logs the suite's figures.
func (h *crashHarness) report(wall time.Duration) {
	s := h.stats
	h.t.Logf("crash cycles: %d kills and restarts in %s (slowest check %s)", s.cycles, wall.Round(time.Millisecond), s.maxCheck.Round(time.Millisecond))
	h.t.Logf("acknowledged writes checked: %d (%d checks of them over %d restarts)", s.ackedChecked, s.ackChecks, s.checks)
	h.t.Logf("unknown-outcome writes: %d (%d found applied, %d absent, %d access requests whose id was never learnt)",
		s.unknown, s.unknownApplied, s.unknownAbsent, s.unknownRequests)
	h.t.Logf("lost writes: %d; half-applied batches: %d; proofs refused when sent again after a restart: %d; change events checked: %d",
		s.lost, s.halfApplied, s.replaysRefused, s.feedEvents)
	h.t.Logf("final ledger: %d entries; final audit log: %d entries; calls refused with ABORTED or a moved ledger head and made again: %d",
		s.ledgerEntries, s.auditEntries, s.refused)
	if s.lost > 0 || s.halfApplied > 0 {
		h.t.Fatalf("%d acknowledged writes lost and %d batches half applied across kill -9", s.lost, s.halfApplied)
	}
}

func crashKey(t *testing.T) *consent.PrivateKey {
	t.Helper()
	k, err := consent.GenerateKey(consent.EdDSA, cryptorand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// start starts vaultd on the suite's data and checks that it serves the
// same vault as before.
func (h *crashHarness) start() (*vaultdProc, vaultconn.Address) {
	h.t.Helper()
	p := startVaultd(h.t, h.bin, h.dir, h.store...)
	addr, err := vaultconn.ParseAddress(p.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	if h.vaultID == "" {
		h.vaultID = addr.VaultID
	} else if addr.VaultID != h.vaultID {
		h.t.Fatalf("vault id changed across a restart: %s -> %s", h.vaultID, addr.VaultID)
	}
	if h.enrolled && p.code != "" {
		h.t.Fatal("a restart of the enrolled vault printed a new enrolment code")
	}
	return p, addr
}

// killVaultd stops vaultd with SIGKILL and reaps it.
func killVaultd(t *testing.T, p *vaultdProc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill vaultd: %v", err)
	}
	_ = p.cmd.Wait() // "signal: killed"
}

// setup enrols the owner and gives the contributing brand a consent to
// write its namespace and to watch the owner's batches (the change feed
// check reads them as that brand).
func (h *crashHarness) setup(ctx context.Context, p *vaultdProc, addr vaultconn.Address) {
	t := h.t
	t.Helper()
	if p.code == "" {
		t.Fatal("first start printed no enrolment code")
	}
	o, err := owner.Dial(vaultconn.Config{Address: addr, Key: h.ownerKey})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	cctx, cancel := context.WithTimeout(ctx, crashCallTimeout)
	defer cancel()
	if _, err := o.Enroll(cctx, p.code, "crash-owner"); err != nil {
		t.Fatalf("enrol: %v", err)
	}
	h.enrolled = true
	b, err := brand.Dial(vaultconn.Config{Address: addr, Key: h.brandKey})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	req, err := b.RequestAccess(cctx, brand.Request{
		Name: "Crash Shop", URL: "https://crash.example.com", Scopes: []string{"write:" + b.Namespace() + ".*", "watch:crash.*"},
		Purposes: []string{"ServiceProvision"}, Duration: 30 * 24 * time.Hour, Reason: "To record your orders.",
	})
	if err != nil {
		t.Fatalf("request write access: %v", err)
	}
	h.append(crashRecord{Kind: recRequest, Outcome: outAck, Client: "setup", ID: req.GetRequestId()})
	g, err := o.Grant(cctx, req.GetRequestId(), owner.Grant{})
	if err != nil {
		t.Fatalf("grant write access: %v", err)
	}
	h.append(crashRecord{Kind: recGrant, Outcome: outAck, Client: "setup", ID: g.GetConsent().GetConsentId(), RequestID: req.GetRequestId(),
		HeadSeq: g.GetLedgerHead().GetSeq(), HeadHash: g.GetLedgerHead().GetHash()})
	st, err := o.Status(cctx)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	h.feedCursor = st.GetLastSeq()
}

// append appends r to the crash log, failing the test if it cannot.
func (h *crashHarness) append(r crashRecord) {
	if err := h.log.append(r); err != nil {
		h.t.Fatal(err) // only called from the test's goroutine
	}
}

// writerPrefix returns the path below which a batch writer owns its
// fields.
func (h *crashHarness) writerPrefix(kind, client string) string {
	if kind == recContrib {
		return consent.BrandNamespace(h.brandKey.Thumbprint()) + ".crash"
	}
	return "crash." + client
}

// crashRun is one run of the load against one vaultd process.
type crashRun struct {
	h     *crashHarness
	cycle int
	addr  vaultconn.Address
	// killed is set just before vaultd is killed: a call that fails after
	// it has an unknown outcome; before it, a failure is the vault's.
	killed atomic.Bool
	// failures counts calls that failed before the kill.
	failures atomic.Int64
	// refused counts calls refused with "try again" and made again.
	refused atomic.Int64

	mu   sync.Mutex
	taps []*crashProofTap
}

// record appends r to the crash log from a client's goroutine.
func (rs *crashRun) record(r crashRecord) bool {
	r.Cycle = rs.cycle
	if err := rs.h.log.append(r); err != nil {
		rs.h.t.Errorf("cycle %d: %v", rs.cycle, err)
		return false
	}
	return true
}

// failed handles a failed call: it is of unknown outcome, and if vaultd
// was not being killed, a failure of the vault.
func (rs *crashRun) failed(who, what string, err error) {
	if rs.killed.Load() {
		return
	}
	rs.failures.Add(1)
	rs.h.t.Errorf("cycle %d: %s: %s failed before the kill: %v", rs.cycle, who, what, err)
}

// stopped reports whether a client must make no further call.
func (rs *crashRun) stopped(ctx context.Context) bool {
	return rs.killed.Load() || ctx.Err() != nil
}

// tap returns a dial option that keeps the last call vaultd accepted on
// the connection, to be sent again after the restart.
func (rs *crashRun) tap() grpc.DialOption {
	p := &crashProofTap{}
	rs.mu.Lock()
	rs.taps = append(rs.taps, p)
	rs.mu.Unlock()
	return grpc.WithChainUnaryInterceptor(p.unary)
}

// anyAccepted reports whether vaultd accepted a call of this run (one a
// tap kept).
func (rs *crashRun) anyAccepted() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, p := range rs.taps {
		p.mu.Lock()
		ok := p.last != nil
		p.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// crashAcceptedCall is a call vaultd accepted, with its proof.
type crashAcceptedCall struct {
	method string
	proof  string
	req    proto.Message
	reply  proto.Message // a new, empty message of the reply's type
	sent   time.Time     // no later than the proof's iat + 1 s
}

// crashProofTap is a client interceptor, placed after the one that signs
// proofs, that keeps the last call the server accepted.
type crashProofTap struct {
	mu   sync.Mutex
	last *crashAcceptedCall
}

func (p *crashProofTap) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	sent := time.Now()
	if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
		return err
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	proofs := md.Get(consent.ProofMetadataKey)
	rq, ok1 := req.(proto.Message)
	rp, ok2 := reply.(proto.Message)
	if len(proofs) == 1 && ok1 && ok2 {
		p.mu.Lock()
		p.last = &crashAcceptedCall{method: method, proof: proofs[0], req: proto.Clone(rq), reply: rp.ProtoReflect().New().Interface(), sent: sent}
		p.mu.Unlock()
	}
	return nil
}

// run drives vaultd from concurrent clients, kills it at a random moment
// within [crashMinRun, crashMaxRun), and waits for the clients to stop. It
// returns how long vaultd served the load.
func (h *crashHarness) run(ctx context.Context, cycle int, p *vaultdProc, addr vaultconn.Address) time.Duration {
	t := h.t
	t.Helper()
	rs := &crashRun{h: h, cycle: cycle, addr: addr}
	var (
		wg      sync.WaitGroup
		closers []func() error
	)
	// Clients are dialled here, on the test's goroutine; each runs on its
	// own goroutine with its own connection and its own random source.
	launch := func(fn func(rng *rand.Rand)) {
		rng := rand.New(rand.NewPCG(h.rng.Uint64(), h.rng.Uint64()))
		wg.Add(1)
		go func() { defer wg.Done(); fn(rng) }()
	}
	dialOwner := func() *owner.Client {
		o, err := owner.Dial(vaultconn.Config{Address: addr, Key: h.ownerKey, DialOptions: []grpc.DialOption{rs.tap()}})
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, o.Close)
		return o
	}
	dialBrand := func(k *consent.PrivateKey) *brand.Client {
		b, err := brand.Dial(vaultconn.Config{Address: addr, Key: k, DialOptions: []grpc.DialOption{rs.tap()}})
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, b.Close)
		return b
	}

	for i := range crashOwnerWriters {
		name := fmt.Sprintf("w%d", i)
		o := dialOwner()
		model := h.models[name]
		launch(func(rng *rand.Rand) { rs.ownerWriter(ctx, o, name, model, rng) })
	}
	{
		b := dialBrand(h.brandKey)
		model := h.models["brand"]
		launch(func(rng *rand.Rand) { rs.brandWriter(ctx, b, "brand", model, rng) })
	}
	for i := range crashChurners {
		// A new brand each run: one left with a pending request by the
		// kill does not reach its limit of pending requests.
		b := dialBrand(crashKey(t))
		o := dialOwner()
		name := fmt.Sprintf("churn%d", i)
		launch(func(rng *rand.Rand) { rs.churner(ctx, o, b, name, rng) })
	}
	{
		o := dialOwner()
		launch(func(rng *rand.Rand) { rs.prober(ctx, o, rng) })
	}

	delay := crashMinRun + time.Duration(h.rng.Int64N(int64(crashMaxRun-crashMinRun)))
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		t.Fatalf("cycle %d: %v", cycle, ctx.Err())
	}
	// The kill comes once vaultd accepted a call, so that there is a
	// proof to send again after the restart: on a slow store (PostgreSQL
	// on a busy machine) the first answers can take longer than the
	// shortest run.
	for wait := time.Now().Add(crashFirstCall); !rs.anyAccepted() && time.Now().Before(wait); {
		time.Sleep(5 * time.Millisecond)
	}
	rs.killed.Store(true)
	killVaultd(t, p)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(crashWorkerExit):
		t.Fatalf("cycle %d: clients still busy %s after the kill", cycle, crashWorkerExit)
	}
	for _, c := range closers {
		_ = c() // the server is gone; nothing to flush
	}
	h.replays = h.replays[:0]
	for _, tp := range rs.taps {
		if tp.last != nil {
			h.replays = append(h.replays, *tp.last)
		}
	}
	h.stats.cycles++
	h.stats.refused += int(rs.refused.Load())
	return delay
}

// crashBatch picks a random batch of a writer: a set of at least two of its
// fields set to one token, and, when del is true, maybe one other of its
// existing fields deleted.
func crashBatch(rng *rand.Rand, model fieldModel, del bool) (set, deleted []string) {
	perm := rng.Perm(crashFields)
	n := 2 + rng.IntN(crashFields-1)
	for _, i := range perm[:n] {
		set = append(set, fmt.Sprintf("f%d", i))
	}
	if del && rng.IntN(4) == 0 {
		for _, i := range perm[n:] {
			f := fmt.Sprintf("f%d", i)
			if _, ok := model[f]; ok {
				deleted = append(deleted, f)
				break
			}
		}
	}
	slices.Sort(set)
	return set, deleted
}

// ownerWriter writes batches to its own profile fields until the kill.
func (rs *crashRun) ownerWriter(ctx context.Context, o *owner.Client, name string, model fieldModel, rng *rand.Rand) {
	prefix := rs.h.writerPrefix(recProfile, name)
	for i := 0; i < crashMaxOps && !rs.stopped(ctx); i++ {
		set, del := crashBatch(rng, model, true)
		r := crashRecord{Kind: recProfile, Client: name, Token: fmt.Sprintf("%s.c%d.b%d", name, rs.cycle, i), Set: set, Del: del}
		var changes []*vrmv1.FieldChange
		for _, f := range set {
			changes = append(changes, owner.SetChange(profile.Field{Path: prefix + "." + f, Value: profile.StringValue(r.Token)}))
		}
		for _, f := range del {
			changes = append(changes, owner.DeleteChange(prefix+"."+f))
		}
		var resp *vrmv1.UpdateProfileResponse
		err := rs.call(ctx, rng, func(ctx context.Context) (err error) {
			resp, err = o.Update(ctx, changes)
			return err
		})
		if err != nil {
			r.Outcome = outUnknown
			rs.record(r)
			rs.failed(name, "profile batch "+r.Token, err)
			return
		}
		r.Outcome, r.Seq = outAck, resp.GetSeq()
		if !rs.record(r) {
			return
		}
		model = model.apply(r)
	}
}

// brandWriter writes batches of contributions to the brand's own fields
// until the kill.
func (rs *crashRun) brandWriter(ctx context.Context, b *brand.Client, name string, model fieldModel, rng *rand.Rand) {
	prefix := rs.h.writerPrefix(recContrib, name)
	for i := 0; i < crashMaxOps && !rs.stopped(ctx); i++ {
		set, _ := crashBatch(rng, model, false)
		r := crashRecord{Kind: recContrib, Client: name, Token: fmt.Sprintf("%s.c%d.b%d", name, rs.cycle, i), Set: set}
		var fields []profile.Field
		for _, f := range set {
			fields = append(fields, profile.Field{Path: prefix + "." + f, Value: profile.StringValue(r.Token)})
		}
		var seq uint64
		err := rs.call(ctx, rng, func(ctx context.Context) (err error) {
			seq, err = b.Write(ctx, fields...)
			return err
		})
		if err != nil {
			r.Outcome = outUnknown
			rs.record(r)
			rs.failed(name, "contribution batch "+r.Token, err)
			return
		}
		r.Outcome, r.Seq = outAck, seq
		if !rs.record(r) {
			return
		}
		model = model.apply(r)
	}
}

// crashMaxRefusals bounds how often a client makes a call again after the
// vault refused it with "try again".
const crashMaxRefusals = 10

// refusedTryAgain reports whether err is a refusal by the vault after
// which nothing was written and the call may be made again: ABORTED (its
// transaction kept conflicting with concurrent writes of the vault), or
// FAILED_PRECONDITION with the ledger head (another owner client extended
// the ledger more often than the owner client's own retries allow).
func refusedTryAgain(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Aborted:
		return true
	case codes.FailedPrecondition:
		for _, d := range st.Details() {
			if _, ok := d.(*vrmv1.LedgerHead); ok {
				return true
			}
		}
	}
	return false
}

// call makes a call, each attempt bounded by crashCallTimeout, and makes
// it again, after a short random pause, while the vault refuses it with
// "try again", at most crashMaxRefusals times and never once vaultd is
// being killed.
func (rs *crashRun) call(ctx context.Context, rng *rand.Rand, fn func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, crashCallTimeout)
		err := fn(cctx)
		cancel()
		if err == nil || !refusedTryAgain(err) || attempt == crashMaxRefusals || rs.killed.Load() {
			return err
		}
		rs.refused.Add(1)
		select {
		case <-time.After(time.Duration(1+rng.IntN(20)) * time.Millisecond):
		case <-ctx.Done():
			return err
		}
	}
}

// churner asks for access as its brand; the owner grants (or denies) each
// request and revokes most grants, until the kill.
func (rs *crashRun) churner(ctx context.Context, o *owner.Client, b *brand.Client, name string, rng *rand.Rand) {
	for i := 0; i < crashMaxOps && !rs.stopped(ctx); i++ {
		if !rs.churn(ctx, o, b, name, rng) {
			return
		}
		select {
		case <-time.After(time.Duration(rng.Int64N(int64(crashChurnPause)))):
		case <-ctx.Done():
			return
		}
	}
}

// churn makes one request and decides it; false means stop.
func (rs *crashRun) churn(ctx context.Context, o *owner.Client, b *brand.Client, name string, rng *rand.Rand) bool {
	var req *vrmv1.AccessRequest
	err := rs.call(ctx, rng, func(ctx context.Context) (err error) {
		req, err = b.RequestAccess(ctx, brand.Request{
			Name: "Churn " + name, URL: "https://churn.example.com", Scopes: []string{"read:crash.*"},
			Purposes: []string{"ServiceProvision"}, Duration: 24 * time.Hour, Reason: "To test revocation.",
		})
		return err
	})
	if err != nil {
		rs.record(crashRecord{Kind: recRequest, Outcome: outUnknown, Client: name})
		rs.failed(name, "access request", err)
		return false
	}
	rid := req.GetRequestId()
	if !rs.record(crashRecord{Kind: recRequest, Outcome: outAck, Client: name, ID: rid}) {
		return false
	}
	kind := recGrant
	if rng.IntN(5) == 0 {
		kind = recDeny
	}
	// Grants the churner keeps expire within a minute: the vault counts
	// the undelivered changes of every active consent when it lists them,
	// which would make each check slower than the last. Not much sooner:
	// the vault refuses a record whose exp has passed when it arrives.
	expires := time.Duration(20+rng.IntN(40)) * time.Second
	var resp *vrmv1.SubmitConsentResponse
	err = rs.call(ctx, rng, func(ctx context.Context) (err error) {
		if kind == recGrant {
			resp, err = o.Grant(ctx, rid, owner.Grant{Expires: expires})
		} else {
			resp, err = o.Deny(ctx, rid)
		}
		return err
	})
	if err != nil {
		rs.record(crashRecord{Kind: kind, Outcome: outUnknown, Client: name, RequestID: rid})
		rs.failed(name, kind+" of request "+rid, err)
		return false
	}
	cid := resp.GetConsent().GetConsentId()
	if !rs.record(crashRecord{Kind: kind, Outcome: outAck, Client: name, ID: cid, RequestID: rid,
		HeadSeq: resp.GetLedgerHead().GetSeq(), HeadHash: resp.GetLedgerHead().GetHash()}) {
		return false
	}
	if kind != recGrant || rng.IntN(10) >= 7 {
		return true // keep 30% of the grants
	}
	var rev *vrmv1.SubmitRevocationResponse
	err = rs.call(ctx, rng, func(ctx context.Context) (err error) {
		rev, err = o.Revoke(ctx, cid)
		return err
	})
	if err != nil {
		rs.record(crashRecord{Kind: recRevoke, Outcome: outUnknown, Client: name, ID: cid})
		rs.failed(name, "revocation of consent "+cid, err)
		return false
	}
	return rs.record(crashRecord{Kind: recRevoke, Outcome: outAck, Client: name, ID: cid,
		HeadSeq: rev.GetLedgerHead().GetSeq(), HeadHash: rev.GetLedgerHead().GetHash()})
}

// prober reads the vault's status until the kill, so that a read's proof,
// accepted just before the kill, is among those sent again.
func (rs *crashRun) prober(ctx context.Context, o *owner.Client, rng *rand.Rand) {
	for i := 0; i < crashMaxOps && !rs.stopped(ctx); i++ {
		err := rs.call(ctx, rng, func(ctx context.Context) error {
			_, err := o.Status(ctx)
			return err
		})
		if err != nil {
			rs.failed("prober", "status", err)
			return
		}
		select {
		case <-time.After(crashProbePause):
		case <-ctx.Done():
			return
		}
	}
}

// check compares the restarted vault with the crash log.
func (h *crashHarness) check(ctx context.Context, cycle int, addr vaultconn.Address) {
	t := h.t
	t.Helper()
	began := time.Now()
	// First, while the proofs are freshest.
	h.checkReplays(ctx, cycle, addr)

	o, err := owner.Dial(vaultconn.Config{Address: addr, Key: h.ownerKey})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	cctx, cancel := context.WithTimeout(ctx, crashCheckTimeout)
	defer cancel()

	// The ledger and the audit log, exactly as vrm verify checks them.
	rep, err := o.Verify(cctx, h.ledgerHead, h.vaultJKT, []string{h.ownerKey.Thumbprint()})
	if err != nil {
		t.Errorf("cycle %d: the vault does not verify after kill -9 and restart: %v", cycle, err)
		return
	}
	if rep.DescriptorMismatch || len(rep.UnknownOwnerKeys) > 0 {
		t.Errorf("cycle %d: descriptor mismatch %v, unknown owner keys %v", cycle, rep.DescriptorMismatch, rep.UnknownOwnerKeys)
	}
	h.checkAuditExtends(cctx, cycle, o, rep.AuditHead)
	h.ledgerHead, h.vaultJKT, h.auditHead = rep.Ledger.Head, rep.VaultKey, rep.AuditHead
	h.stats.ledgerEntries, h.stats.auditEntries = rep.Ledger.Head.Seq, rep.AuditHead.Seq

	recs, err := readCrashLog(h.log.path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := replayCrashLog(recs)
	if err != nil {
		t.Fatal(err)
	}
	h.checkLedgerWrites(cctx, cycle, o, rep.Ledger, m)
	applied := h.checkProfiles(cctx, cycle, o, m)
	if !t.Failed() {
		h.checkFeed(cctx, cycle, addr, o, recs, applied)
	}

	// Count what the log held before this check's decisions.
	h.stats.checks++
	h.stats.ackedChecked = m.acked
	h.stats.ackChecks += m.acked
	h.stats.unknown = m.unknown
	h.stats.maxCheck = max(h.stats.maxCheck, time.Since(began))
}

// checkReplays sends again the proofs vaultd accepted before the kill:
// each must be refused, UNAUTHENTICATED, for its reused jti.
func (h *crashHarness) checkReplays(ctx context.Context, cycle int, addr vaultconn.Address) {
	t := h.t
	t.Helper()
	if len(h.replays) == 0 {
		t.Errorf("cycle %d: no call was accepted before the kill, so no proof to send again", cycle)
		return
	}
	conn, err := vaultconn.DialPublic(vaultconn.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, c := range h.replays {
		if age := time.Since(c.sent); age > crashReplayWindow-crashReplayMargin {
			t.Errorf("cycle %d: proof of %s is %s old when sent again: the restart took too long to test the replay cache", cycle, c.method, age.Round(time.Millisecond))
			continue
		}
		cctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, consent.ProofMetadataKey, c.proof), crashCallTimeout)
		err := conn.Invoke(cctx, c.method, c.req, c.reply)
		cancel()
		st := status.Convert(err)
		if st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), "jti already used") {
			t.Errorf("cycle %d: a proof of %s accepted before the kill, sent again after the restart: got %v, want UNAUTHENTICATED for the reused jti", cycle, c.method, err)
			continue
		}
		h.stats.replaysRefused++
	}
}

// checkAuditExtends checks that the audit log still holds the head the
// last check saw, with the same hash.
func (h *crashHarness) checkAuditExtends(ctx context.Context, cycle int, o *owner.Client, now audit.Head) {
	t := h.t
	t.Helper()
	saved := h.auditHead
	if saved.Seq == 0 {
		return
	}
	if now.Seq < saved.Seq {
		t.Errorf("cycle %d: the audit log ends at entry %d, but held entry %d before", cycle, now.Seq, saved.Seq)
		return
	}
	page, err := o.AuditPage(ctx, &vrmv1.ListAuditEntriesRequest{AfterSeq: saved.Seq - 1, PageSize: 1})
	if err != nil {
		t.Errorf("cycle %d: read audit entry %d: %v", cycle, saved.Seq, err)
		return
	}
	es := page.GetEntries()
	if len(es) != 1 || es[0].GetSeq() != saved.Seq || audit.Hash(es[0].GetCanonical()) != saved.Hash {
		t.Errorf("cycle %d: audit entry %d is not the one seen before the kill", cycle, saved.Seq)
	}
}

// checkLedgerWrites checks the acknowledged requests, grants, denials and
// revocations against the verified ledger and the vault's consents and
// pending requests, and decides the ledger writes of unknown outcome.
func (h *crashHarness) checkLedgerWrites(ctx context.Context, cycle int, o *owner.Client, ledger *consent.LedgerState, m *crashModel) {
	t := h.t
	t.Helper()
	byRequest := map[string]*consent.ConsentState{}
	for _, c := range ledger.Consents {
		byRequest[c.Record.RID] = c
	}
	pending, err := o.ListRequests(ctx, vrmv1.ConsentState_CONSENT_STATE_PENDING)
	if err != nil {
		t.Errorf("cycle %d: list pending requests: %v", cycle, err)
		return
	}
	pendingIDs := map[string]bool{}
	for _, r := range pending {
		pendingIDs[r.GetRequestId()] = true
	}
	lost := func(r crashRecord, why string) {
		h.stats.lost++
		t.Errorf("cycle %d: LOST acknowledged %s (client %s, cycle %d, id %s, request %s): %s", cycle, r.Kind, r.Client, r.Cycle, r.ID, r.RequestID, why)
	}
	for _, r := range m.ledger.acked {
		if r.HeadSeq > 0 && !ledger.Extends(consent.Head{Seq: r.HeadSeq, Hash: r.HeadHash}) {
			lost(r, fmt.Sprintf("the ledger does not hold the head %d the vault acknowledged it with", r.HeadSeq))
			continue
		}
		switch r.Kind {
		case recRequest:
			if byRequest[r.ID] == nil && !pendingIDs[r.ID] {
				lost(r, "neither decided in the ledger nor pending")
			}
		case recGrant, recDeny:
			c := ledger.Consents[r.ID]
			want := consent.StatusGranted
			if r.Kind == recDeny {
				want = consent.StatusDenied
			}
			if c == nil || c.Record.RID != r.RequestID || c.Record.Status != want {
				lost(r, "no such consent record in the ledger")
			}
		case recRevoke:
			if c := ledger.Consents[r.ID]; c == nil || !c.Revoked() {
				lost(r, "the consent is not revoked in the ledger")
			}
		}
	}
	for _, r := range m.ledger.pending {
		d := r
		switch r.Kind {
		case recRevoke:
			d.Outcome = outAbsent
			if c := ledger.Consents[r.ID]; c != nil && c.Revoked() {
				d.Outcome = outApplied
			}
		default:
			d.Outcome = outAbsent
			if c := byRequest[r.RequestID]; c != nil {
				d.Outcome, d.ID = outApplied, c.Record.CID
			} else if !pendingIDs[r.RequestID] {
				lost(r, "its request is neither decided in the ledger nor pending")
			}
		}
		d.HeadSeq, d.HeadHash = 0, ""
		h.decided(d)
	}
	h.stats.unknownRequests = m.ledger.unknownRequests

	// The consents the vault lists are exactly the ledger's, in the same
	// state: a consent and its ledger entry commit together.
	list, err := o.Consents(ctx, vrmv1.ConsentState_CONSENT_STATE_UNSPECIFIED)
	if err != nil {
		t.Errorf("cycle %d: list consents: %v", cycle, err)
		return
	}
	if n := len(list.GetConsents()); n != len(ledger.Consents) {
		t.Errorf("cycle %d: the vault lists %d consents, its ledger holds %d", cycle, n, len(ledger.Consents))
	}
	for _, c := range list.GetConsents() {
		lc := ledger.Consents[c.GetConsentId()]
		if lc == nil {
			t.Errorf("cycle %d: consent %s is listed but not in the ledger", cycle, c.GetConsentId())
			continue
		}
		var want []vrmv1.ConsentState
		switch {
		case lc.Record.Status == consent.StatusDenied:
			want = []vrmv1.ConsentState{vrmv1.ConsentState_CONSENT_STATE_DENIED}
		case lc.Revoked():
			want = []vrmv1.ConsentState{vrmv1.ConsentState_CONSENT_STATE_REVOKED}
		default:
			want = []vrmv1.ConsentState{vrmv1.ConsentState_CONSENT_STATE_GRANTED, vrmv1.ConsentState_CONSENT_STATE_EXPIRED}
		}
		if !slices.Contains(want, c.GetState()) {
			t.Errorf("cycle %d: consent %s is listed %s, but the ledger says %s (revoked %v)", cycle, c.GetConsentId(), c.GetState(), lc.Record.Status, lc.Revoked())
		}
	}
}

// decided appends the decision on an unknown write to the crash log.
func (h *crashHarness) decided(d crashRecord) {
	if d.Outcome == outApplied {
		h.stats.unknownApplied++
	} else {
		h.stats.unknownAbsent++
	}
	h.append(d)
}

// checkProfiles checks every batch writer's fields: they must be exactly
// what the acknowledged batches left, with or without the one batch that
// was in flight at the kill, all of it or none of it. It returns the
// batches of unknown outcome it found applied.
func (h *crashHarness) checkProfiles(ctx context.Context, cycle int, o *owner.Client, m *crashModel) (applied []crashRecord) {
	t := h.t
	t.Helper()
	var maxSeq uint64
	names := make([]string, 0, len(m.writers))
	for name := range m.writers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		w := m.writers[name]
		maxSeq = max(maxSeq, w.maxSeq)
		prefix := h.writerPrefix(w.kind, name)
		got, err := o.GetProfile(ctx, prefix+".*")
		if err != nil {
			t.Errorf("cycle %d: read %s.*: %v", cycle, prefix, err)
			continue
		}
		actual := fieldModel{}
		for _, f := range got.GetFields() {
			actual[strings.TrimPrefix(f.GetPath(), prefix+".")] = f.GetValue().GetStringValue()
		}
		switch {
		case w.pending == nil && actual.equal(w.state):
			h.models[name] = actual
		case w.pending != nil && actual.equal(w.state):
			d := *w.pending
			d.Outcome = outAbsent
			h.decided(d)
			h.models[name] = actual
		case w.pending != nil && actual.equal(w.state.apply(*w.pending)):
			d := *w.pending
			d.Outcome = outApplied
			h.decided(d)
			h.models[name] = actual
			applied = append(applied, d)
		default:
			h.diagnose(cycle, name, w, actual)
		}
	}

	// The usage counters commit with the fields: they must agree.
	st, err := o.Status(ctx)
	if err != nil {
		t.Errorf("cycle %d: status: %v", cycle, err)
		return applied
	}
	all, err := o.GetProfile(ctx)
	if err != nil {
		t.Errorf("cycle %d: read the profile: %v", cycle, err)
		return applied
	}
	if st.GetFieldCount() != int64(len(all.GetFields())) {
		t.Errorf("cycle %d: the vault counts %d fields but holds %d", cycle, st.GetFieldCount(), len(all.GetFields()))
	}
	if st.GetLastSeq() < maxSeq {
		t.Errorf("cycle %d: the vault's last sequence number is %d, but a batch was acknowledged with %d", cycle, st.GetLastSeq(), maxSeq)
	}
	return applied
}

// crashSentinel is the writer of the one-field batch that each check
// makes to find the end of the change feed; it is checked like the others.
const crashSentinel = "sentinel"

// crashFeedSlack bounds the change events a check reads beyond those it
// expects.
const crashFeedSlack = 100

// checkFeed checks the change feed (the outbox that watches read) against
// the owner's batches: since the last check, every acknowledged batch and
// every batch of unknown outcome found applied has exactly one change
// event, with its seq, fields and deletions, and no other batch has one.
// It ends the feed with a sentinel batch and reads a watch up to it.
func (h *crashHarness) checkFeed(ctx context.Context, cycle int, addr vaultconn.Address, o *owner.Client, recs, applied []crashRecord) {
	t := h.t
	t.Helper()
	bySeq := map[uint64]crashRecord{}
	byToken := map[string]crashRecord{}
	for _, r := range recs {
		if r.Kind == recProfile && r.Outcome == outAck && r.Seq > h.feedCursor {
			bySeq[r.Seq] = r
		}
	}
	for _, r := range applied {
		if r.Kind == recProfile {
			byToken[r.Token] = r
		}
	}

	sentinel := crashRecord{Kind: recProfile, Client: crashSentinel, Cycle: cycle, Token: fmt.Sprintf("%s.c%d", crashSentinel, cycle), Set: []string{"s"}}
	prefix := h.writerPrefix(recProfile, crashSentinel)
	resp, err := o.SetFields(ctx, []profile.Field{{Path: prefix + ".s", Value: profile.StringValue(sentinel.Token)}})
	if err != nil {
		sentinel.Outcome = outUnknown
		h.append(sentinel)
		t.Errorf("cycle %d: sentinel batch: %v", cycle, err)
		return
	}
	sentinel.Outcome, sentinel.Seq = outAck, resp.GetSeq()
	h.append(sentinel)
	h.models[crashSentinel] = fieldModel{"s": sentinel.Token}

	b, err := brand.Dial(vaultconn.Config{Address: addr, Key: h.brandKey})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := b.Watch(wctx, h.feedCursor, "crash.*")
	if err != nil {
		t.Errorf("cycle %d: watch the change feed: %v", cycle, err)
		return
	}
	seen := map[uint64]bool{}
	for n := 0; ; n++ {
		if n == len(bySeq)+len(byToken)+crashFeedSlack {
			t.Errorf("cycle %d: more than %d change events before the sentinel", cycle, n)
			return
		}
		ev, err := stream.Recv()
		if err != nil {
			t.Errorf("cycle %d: change feed: %v", cycle, err)
			return
		}
		if ev.GetCursor() == sentinel.Seq {
			break
		}
		if ev.GetCursor() > sentinel.Seq {
			t.Errorf("cycle %d: change feed went past the sentinel %d to %d", cycle, sentinel.Seq, ev.GetCursor())
			return
		}
		h.stats.feedEvents++
		got := crashFeedBatch{deleted: ev.GetDeletedPaths()}
		for _, f := range ev.GetFields() {
			got.set = append(got.set, f.GetPath()+"="+f.GetValue().GetStringValue())
		}
		r, ok := bySeq[ev.GetCursor()]
		if !ok && len(ev.GetFields()) > 0 {
			// A batch of unknown outcome, found applied: known by its token.
			token := ev.GetFields()[0].GetValue().GetStringValue()
			if r, ok = byToken[token]; ok {
				delete(byToken, token)
			}
		}
		if !ok {
			h.stats.halfApplied++
			t.Errorf("cycle %d: HALF APPLIED: change event %d (%v) is of no acknowledged or applied batch", cycle, ev.GetCursor(), got)
			continue
		}
		seen[ev.GetCursor()] = true
		if want := h.crashFeedBatchOf(r); !want.equal(got) {
			t.Errorf("cycle %d: change event %d of batch %s is %v, want %v", cycle, ev.GetCursor(), r.Token, got, want)
		}
	}
	for seq, r := range bySeq {
		if !seen[seq] {
			h.stats.lost++
			t.Errorf("cycle %d: LOST change event %d of acknowledged batch %s", cycle, seq, r.Token)
		}
	}
	for _, r := range byToken {
		h.stats.halfApplied++
		t.Errorf("cycle %d: HALF APPLIED: batch %s is in the profile but has no change event", cycle, r.Token)
	}
	h.feedCursor = sentinel.Seq
}

// crashFeedBatch is a batch as a change event shows it: "path=value" of the
// fields set, and the paths deleted, each sorted.
type crashFeedBatch struct {
	set, deleted []string
}

func (f crashFeedBatch) equal(o crashFeedBatch) bool {
	slices.Sort(f.set)
	slices.Sort(o.set)
	slices.Sort(f.deleted)
	slices.Sort(o.deleted)
	return slices.Equal(f.set, o.set) && slices.Equal(f.deleted, o.deleted)
}

// crashFeedBatchOf returns the change event a logged batch must make.
func (h *crashHarness) crashFeedBatchOf(r crashRecord) crashFeedBatch {
	prefix := h.writerPrefix(r.Kind, r.Client)
	var f crashFeedBatch
	for _, p := range r.Set {
		f.set = append(f.set, prefix+"."+p+"="+r.Token)
	}
	for _, p := range r.Del {
		f.deleted = append(f.deleted, prefix+"."+p)
	}
	return f
}

// diagnose reports a writer whose fields match neither possible state:
// acknowledged values lost, or the batch in flight half applied.
func (h *crashHarness) diagnose(cycle int, name string, w *writerModel, actual fieldModel) {
	t := h.t
	t.Helper()
	var with fieldModel
	if w.pending != nil {
		with = w.state.apply(*w.pending)
	}
	fields := map[string]bool{}
	for f := range w.state {
		fields[f] = true
	}
	for f := range actual {
		fields[f] = true
	}
	var lost []string
	for f := range fields {
		a, ok := actual[f]
		if e, eok := w.state[f]; (a != e || ok != eok) && (with == nil || a != with[f]) {
			lost = append(lost, fmt.Sprintf("%s=%q (want %q)", f, a, e))
		}
	}
	slices.Sort(lost)
	if len(lost) > 0 {
		h.stats.lost += len(lost)
		t.Errorf("cycle %d: writer %s: LOST acknowledged field values after kill -9: %s", cycle, name, strings.Join(lost, ", "))
	}
	if w.pending != nil {
		var in, out []string
		for _, f := range w.pending.Set {
			if actual[f] == w.pending.Token {
				in = append(in, f)
			} else {
				out = append(out, f)
			}
		}
		if len(in) > 0 && len(out) > 0 {
			h.stats.halfApplied++
			t.Errorf("cycle %d: writer %s: batch %s HALF APPLIED: %v stored, %v not", cycle, name, w.pending.Token, in, out)
		}
	}
	t.Errorf("cycle %d: writer %s holds %v; the crash log allows %v or %v", cycle, name, actual, w.state, with)
}
