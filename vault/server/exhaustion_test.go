package server_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/audit"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/server"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// Bad input and resource exhaustion over the wire: what is not already
// covered by TestLimitsOverTheWire (application limits), TestStreamLimits
// (streams per brand), TestSlowConsumerIsEnded (one slow consumer),
// TestPendingLimitAndRequestValidation (pending requests per brand) and
// TestQuotasAndRates (per-vault quotas).

// exhWaitFor polls cond until it holds or d passes.
func exhWaitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMessageOverSizeLimit sends requests larger than the server's
// message limit (server.DefaultMaxRecvMsgSize, 1 MiB): each is refused
// with RESOURCE_EXHAUSTED before any handler runs, and the server, the
// connection and the vault go on serving.
func TestMessageOverSizeLimit(t *testing.T) {
	v := vaulttest.Start(t)
	o := setupProfile(t, v)
	ctx := ctxT(t)
	huge := strings.Repeat("x", server.DefaultMaxRecvMsgSize+1)

	// An owner write, one byte over: the value limit (4 KiB) would refuse
	// it too, but the transport refuses it first, without decoding it.
	_, err := o.SetFields(ctx, []profile.Field{{Path: "notes.big", Value: profile.StringValue(huge)}})
	wantCode(t, err, codes.ResourceExhausted, "larger than max")

	// A brand's first call, before any proof is checked, at 4 MiB.
	b := v.Brand(t, vaulttest.NewKey(t))
	big := nameEmailRequest
	big.Reason = strings.Repeat("y", 4*server.DefaultMaxRecvMsgSize)
	_, err = b.RequestAccess(ctx, big)
	wantCode(t, err, codes.ResourceExhausted, "larger than max")

	// Many at once, from several connections.
	var wg sync.WaitGroup
	var refused atomic.Int32
	for i := 0; i < 8; i++ {
		c := v.Brand(t, vaulttest.NewKey(t))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 4; j++ {
				if _, err := c.RequestAccess(ctx, big); status.Code(err) == codes.ResourceExhausted {
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if refused.Load() != 32 {
		t.Fatalf("%d of 32 oversized requests refused with RESOURCE_EXHAUSTED", refused.Load())
	}

	// The same connections still serve: the owner reads and writes, the
	// brand asks within the limits.
	if _, err := o.SetFields(ctx, []profile.Field{{Path: "notes.small", Value: profile.StringValue("ok")}}); err != nil {
		t.Fatalf("write after oversized messages: %v", err)
	}
	got, err := o.GetProfile(ctx, "notes.*")
	if err != nil || len(got.GetFields()) != 1 || got.GetFields()[0].GetPath() != "notes.small" {
		t.Fatalf("profile after oversized messages: %v, %v", got.GetFields(), err)
	}
	if _, err := b.RequestAccess(ctx, nameEmailRequest); err != nil {
		t.Fatalf("request after an oversized one: %v", err)
	}
}

// TestStreamsPerVaultLimit fills a vault's stream slots from two brands
// (WatchProfile and WatchConsent both count), checks that the next is
// refused naming the per-vault limit, and that slots come back when
// streams end, however many times they are opened and closed.
func TestStreamsPerVaultLimit(t *testing.T) {
	const perVault, perBrand = 6, 4
	v := vaulttest.Start(t, vaulttest.Options{MaxStreamsPerVault: perVault, MaxStreamsPerBrand: perBrand})
	o := setupProfile(t, v)
	a, _ := grantedBrand(t, v, o, 0, "watch:name.*")
	b, _ := grantedBrand(t, v, o, 0, "watch:name.*")
	ctx := ctxT(t)

	open := func(c interface {
		Watch(context.Context, uint64, ...string) (grpc.ServerStreamingClient[vrmv1.WatchProfileResponse], error)
	}) (context.CancelFunc, error) {
		sctx, cancel := context.WithCancel(ctx)
		s, err := c.Watch(sctx, 0)
		if err == nil {
			_, err = s.Recv()
		}
		if err != nil {
			cancel()
		}
		return cancel, err
	}
	var cancels []context.CancelFunc
	for i := 0; i < perBrand; i++ {
		cancel, err := open(a)
		if err != nil {
			t.Fatalf("brand a stream %d: %v", i, err)
		}
		cancels = append(cancels, cancel)
	}
	_, err := open(a)
	wantCode(t, err, codes.ResourceExhausted, "(open streams per brand)")
	for i := perBrand; i < perVault; i++ {
		cancel, err := open(b)
		if err != nil {
			t.Fatalf("brand b stream %d: %v", i, err)
		}
		cancels = append(cancels, cancel)
	}
	_, err = open(b)
	wantCode(t, err, codes.ResourceExhausted, fmt.Sprintf("limit is %d (open streams per vault)", perVault))
	// A third brand, with no stream yet, is refused too: the vault is full.
	c, _ := grantedBrand(t, v, o, 0, "watch:name.*")
	_, err = open(c)
	wantCode(t, err, codes.ResourceExhausted, "(open streams per vault)")
	// A consent stream takes a slot as well.
	r, err := c.RequestAccess(ctx, nameEmailRequest)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := c.WatchConsent(ctx, r.GetRequestId())
	if err == nil {
		_, err = ws.Recv()
	}
	wantCode(t, err, codes.ResourceExhausted, "(open streams per vault)")
	if n := v.Server.OpenStreams(); n != perVault {
		t.Fatalf("%d open streams, want %d", n, perVault)
	}

	// Ending a stream frees its slot, for any brand; opening and closing
	// many times leaks none.
	cancels[0]()
	exhWaitFor(t, 5*time.Second, "slot freed", func() bool { return v.Server.OpenStreams() == perVault-1 })
	for i := 0; i < 50; i++ {
		cancel, err := open(c)
		if err != nil {
			t.Fatalf("churn %d: %v", i, err)
		}
		cancel()
		exhWaitFor(t, 5*time.Second, "slot freed after churn", func() bool { return v.Server.OpenStreams() == perVault-1 })
	}
	for _, cancel := range cancels[1:] {
		cancel()
	}
	exhWaitFor(t, 5*time.Second, "all slots freed", func() bool { return v.Server.OpenStreams() == 0 })
}

// TestNeverReadingStreamsAreEnded opens every stream four brands may have
// and never reads from any of them, while the owner writes far more than
// the transport buffers. The server must not buffer what the consumers do
// not take: memory stays flat, and every stream ends (RESOURCE_EXHAUSTED,
// resume from the last cursor) once its consumer has taken nothing for
// the send timeout, giving back its slot and its goroutines.
func TestNeverReadingStreamsAreEnded(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 64 streams, writes 2.4 MB and waits for a 15 s timeout")
	}
	const (
		brands  = 4
		each    = server.DefaultMaxStreamsPerBrand
		fill    = 200 // more than the transport buffers for a stream
		more    = 400
		valSize = 4000
		timeout = 15 * time.Second // longer than the writes take
	)
	v := vaulttest.Start(t, vaulttest.Options{SendTimeout: timeout})
	o := setupProfile(t, v)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var streams []grpc.ServerStreamingClient[vrmv1.WatchProfileResponse]
	for i := 0; i < brands; i++ {
		b, _ := grantedBrand(t, v, o, 0, "watch:notes.*")
		for j := 0; j < each; j++ {
			// The first event says the stream is under way (opened one
			// at a time: streams that start together conflict on the
			// vault's audit chain, ABORTED after the store's retries);
			// after it the consumer reads nothing more.
			s, err := b.Watch(ctx, 0)
			if err == nil {
				_, err = recvWithin(t, s, 5*time.Second)
			}
			if err != nil {
				t.Fatalf("brand %d stream %d: %v", i, j, err)
			}
			streams = append(streams, s)
		}
	}
	if n := v.Server.OpenStreams(); n != brands*each {
		t.Fatalf("%d streams open, want %d", n, brands*each)
	}
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	baseHeap, baseG := heap(), runtime.NumGoroutine()

	// Fill every stream's transport buffers (client and server), then
	// write twice as much again: 1.6 MB more for each of 64 streams, 100
	// MB if the server kept what it cannot send. The heap must not
	// follow.
	big := strings.Repeat("x", valSize)
	var last uint64
	for i := 0; i < fill; i++ {
		last = set(t, o, "notes.n", fmt.Sprint(i, big))
	}
	filled := heap()
	for i := 0; i < more; i++ {
		last = set(t, o, "notes.n", fmt.Sprint(i, big))
	}
	after := heap()
	if n := v.Server.OpenStreams(); n != brands*each {
		t.Fatalf("only %d of %d streams still open after the writes: the send timeout is too short for this machine", n, brands*each)
	}
	t.Logf("heap %+d KiB once %d unread streams were full, %+d KiB more after %d more writes (%d MB for them to take)",
		(filled-baseHeap)>>10, len(streams), (after-filled)>>10, more, int64(more*valSize*len(streams))>>20)
	if after-filled > 8<<20 || after-baseHeap > 64<<20 {
		t.Fatalf("heap grew by %d MiB, then %d MiB with unread streams: something buffers what consumers do not take",
			(filled-baseHeap)>>20, (after-filled)>>20)
	}

	exhWaitFor(t, timeout+20*time.Second, "unread streams ended", func() bool { return v.Server.OpenStreams() == 0 })
	// Their goroutines are gone too (client side included, once read to
	// the end below); allow for the test's own and the runtime's.
	ended := 0
	for i, s := range streams {
		var got uint64
		for {
			ev, err := s.Recv()
			if err != nil {
				if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), "resume from the last cursor") {
					t.Fatalf("stream %d ended with %v", i, err)
				}
				ended++
				break
			}
			got = ev.GetCursor()
		}
		if got >= last {
			t.Fatalf("stream %d received everything (cursor %d of %d): it was never behind", i, got, last)
		}
	}
	exhWaitFor(t, 10*time.Second, "goroutines back", func() bool { return runtime.NumGoroutine() <= baseG+8 })
	t.Logf("%d of %d never-read streams ended by the server; goroutines %d -> %d", ended, len(streams), baseG, runtime.NumGoroutine())

	// The slots are free: a brand that reads gets everything from a cursor.
	b, _ := grantedBrand(t, v, o, 0, "watch:notes.*")
	s, err := b.Watch(ctx, last-1)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := recvWithin(t, s, 5*time.Second); err != nil || ev.GetCursor() != last {
		t.Fatalf("resumed stream: %v, %v", ev, err)
	}
}

// TestPendingRequestFloodFromFreshKeys floods one vault with access
// requests from brands that each use a new key, so that the per-brand
// limit never applies: the vault caps its pending requests at
// vault.DefaultMaxPendingPerVault, exactly, also when the requests race,
// and refuses the rest with RESOURCE_EXHAUSTED naming the limit. A decided
// or expired request frees its place.
func TestPendingRequestFloodFromFreshKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 1,000 access requests")
	}
	const limit = vault.DefaultMaxPendingPerVault
	clk := newClock()
	v := vaulttest.Start(t, vaulttest.Options{Now: clk.Now})
	o := setupProfile(t, v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Most of the flood goes straight to the domain, to keep the test
	// short; the last places are raced for over the wire.
	const racers, perRacer, wire = 16, 5, 40
	req := consent.AccessRequest{BrandName: "Flood", BrandURL: "https://flood.example", Purposes: []string{"Marketing"},
		Scopes: []consent.Scope{{Action: consent.ActionRead, Path: "name", Wildcard: true}}, Duration: 24 * time.Hour}
	for i := 0; i < limit-wire; i++ {
		k := vaulttest.NewKey(t)
		c := vault.Caller{JKT: k.Thumbprint(), Role: audit.RoleBrand, Method: "/vrm.v1.BrandService/RequestAccess"}
		if _, err := v.Host.RequestAccess(ctx, v.Address.VaultID, c, k.Public(), req); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	var (
		wg       sync.WaitGroup
		admitted atomic.Int32
		mu       sync.Mutex
		refusals []error
	)
	for i := 0; i < racers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perRacer; j++ {
				b := v.Brand(t, vaulttest.NewKey(t))
				for {
					_, err := b.RequestAccess(ctx, nameEmailRequest)
					if status.Code(err) == codes.Aborted {
						continue // too many concurrent writes: the client retries
					}
					if err == nil {
						admitted.Add(1)
					} else {
						mu.Lock()
						refusals = append(refusals, err)
						mu.Unlock()
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	if n := admitted.Load(); n != wire {
		t.Fatalf("%d of %d racing fresh brands admitted for %d free places", n, racers*perRacer, wire)
	}
	for _, err := range refusals {
		wantCode(t, err, codes.ResourceExhausted, fmt.Sprintf("limit is %d (pending requests per vault)", limit))
	}
	pending := func() int {
		rs, err := o.ListRequests(ctx, vrmv1.ConsentState_CONSENT_STATE_PENDING)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	if n := pending(); n != limit {
		t.Fatalf("%d pending requests, want the limit %d", n, limit)
	}

	// The owner is not locked out: she reads, writes and decides.
	if _, err := o.GetProfile(ctx); err != nil {
		t.Fatal(err)
	}
	rs, err := o.ListRequests(ctx, vrmv1.ConsentState_CONSENT_STATE_PENDING)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Deny(ctx, rs[0].GetRequestId()); err != nil {
		t.Fatal(err)
	}
	// One place is free: one fresh brand gets it, the next does not.
	if _, err := v.Brand(t, vaulttest.NewKey(t)).RequestAccess(ctx, nameEmailRequest); err != nil {
		t.Fatalf("after a denial: %v", err)
	}
	_, err = v.Brand(t, vaulttest.NewKey(t)).RequestAccess(ctx, nameEmailRequest)
	wantCode(t, err, codes.ResourceExhausted, "(pending requests per vault)")

	// Pending requests expire after PendingRequestTTL, and with them
	// their places.
	clk.Advance(consent.PendingRequestTTL + time.Minute)
	if _, err := v.Brand(t, vaulttest.NewKey(t)).RequestAccess(ctx, nameEmailRequest); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if n := pending(); n != 1 {
		t.Fatalf("%d pending requests after the flood expired, want 1", n)
	}
}
