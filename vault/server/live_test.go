package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// grantedBrand makes a brand whose request for scopes the owner grants
// (for expires, when not zero); it returns the brand and the consent id.
func grantedBrand(t testing.TB, v *vaulttest.Vault, o *owner.Client, expires time.Duration, scopes ...string) (*brand.Client, string) {
	t.Helper()
	return grantedBrandKey(t, v, o, vaulttest.NewKey(t), expires, scopes...)
}

// grantedBrandKey is grantedBrand with the brand's key given.
func grantedBrandKey(t testing.TB, v *vaulttest.Vault, o *owner.Client, key *consent.PrivateKey, expires time.Duration, scopes ...string) (*brand.Client, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := v.Brand(t, key)
	req := nameEmailRequest
	req.Scopes = scopes
	r, err := b.RequestAccess(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	g, err := o.Grant(ctx, r.GetRequestId(), owner.Grant{Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	return b, g.GetConsent().GetConsentId()
}

func set(t testing.TB, o *owner.Client, kv ...string) uint64 {
	t.Helper()
	var fields []profile.Field
	for i := 0; i < len(kv); i += 2 {
		fields = append(fields, profile.Field{Path: kv[i], Value: profile.StringValue(kv[i+1])})
	}
	resp, err := o.SetFields(context.Background(), fields)
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetSeq()
}

// recvWithin receives one event or fails after d.
func recvWithin(t *testing.T, s grpc.ServerStreamingClient[vrmv1.WatchProfileResponse], d time.Duration) (*vrmv1.WatchProfileResponse, error) {
	t.Helper()
	type res struct {
		m   *vrmv1.WatchProfileResponse
		err error
	}
	ch := make(chan res, 1)
	go func() { m, err := s.Recv(); ch <- res{m, err} }()
	select {
	case r := <-ch:
		return r.m, r.err
	case <-time.After(d):
		t.Fatalf("no event within %s", d)
		return nil, nil
	}
}

func TestWatchSeesConsentedChangesOnly(t *testing.T) {
	v := vaulttest.Start(t)
	o := setupProfile(t, v)
	set(t, o, "address.home.locality", "London", "address.home.country", "GB")
	b, _ := grantedBrand(t, v, o, 0, "watch:address.home.*")
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	s, err := b.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	first, err := recvWithin(t, s, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(first.GetFields()); strings.Join(got, ",") != "address.home.country,address.home.locality" {
		t.Fatalf("first event %v", got)
	}
	// A change the brand may not see, then one it may.
	set(t, o, "email.home", "ada@new.example")
	start := time.Now()
	seq := set(t, o, "address.home.locality", "Leeds")
	ev, err := recvWithin(t, s, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lat := time.Since(start)
	if ev.GetCursor() != seq || len(ev.GetFields()) != 1 || ev.GetFields()[0].GetValue().GetStringValue() != "Leeds" {
		t.Fatalf("event %v, want Leeds at cursor %d", ev, seq)
	}
	t.Logf("change reached the watching brand in %s", lat)
}

func TestWatchResumeExactlyOnce(t *testing.T) {
	v := vaulttest.Start(t)
	o := setupProfile(t, v)
	b, _ := grantedBrand(t, v, o, 0, "watch:notes.*")
	ctx := ctxT(t)
	sctx, cancel := context.WithCancel(ctx)
	s, err := b.Watch(sctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	first, err := recvWithin(t, s, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cursor := first.GetCursor()
	cancel() // the brand's stream dies

	var want []uint64
	for i := 0; i < 100; i++ {
		want = append(want, set(t, o, "notes.n", fmt.Sprint(i)))
		if i%10 == 0 {
			set(t, o, "name.display", fmt.Sprint("A", i)) // not watched
		}
	}
	s, err = b.Watch(ctx, cursor)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		ev, err := recvWithin(t, s, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetCursor() != w || ev.GetFields()[0].GetValue().GetStringValue() != fmt.Sprint(i) {
			t.Fatalf("event %d: cursor %d value %v; want cursor %d value %d", i, ev.GetCursor(), ev.GetFields()[0].GetValue(), w, i)
		}
	}
	// Nothing more: no duplicate arrives.
	extra := make(chan error, 1)
	go func() { _, err := s.Recv(); extra <- err }()
	select {
	case err := <-extra:
		t.Fatalf("unexpected event after the 100 changes (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestRevokeEndsOpenStream(t *testing.T) {
	v := vaulttest.Start(t)
	o := setupProfile(t, v)
	b, cid := grantedBrand(t, v, o, 0, "watch:name.*")
	ctx := ctxT(t)
	s, err := b.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recvWithin(t, s, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Revoke(ctx, cid); err != nil {
		t.Fatal(err)
	}
	returned := time.Now()
	_, err = recvWithin(t, s, 2*time.Second)
	t.Logf("stream ended %s after the revoke returned", time.Since(returned))
	wantCode(t, err, codes.PermissionDenied, "consent revoked")
	// A new stream is refused at once.
	s, err = b.Watch(ctx, 0)
	if err == nil {
		_, err = s.Recv()
	}
	wantCode(t, err, codes.PermissionDenied, "consent revoked")
}

func TestExpiryEndsOpenStream(t *testing.T) {
	v := vaulttest.Start(t)
	o := setupProfile(t, v)
	b, _ := grantedBrand(t, v, o, 2*time.Second, "watch:name.*")
	ctx := ctxT(t)
	s, err := b.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recvWithin(t, s, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	_, err = recvWithin(t, s, 5*time.Second)
	wantCode(t, err, codes.PermissionDenied, "consent expired")
}

func TestWatchNeedsWatchScope(t *testing.T) {
	v := vaulttest.Start(t)
	o := setupProfile(t, v)
	b, _ := grantedBrand(t, v, o, 0, "read:name.*")
	s, err := b.Watch(ctxT(t), 0)
	if err == nil {
		_, err = s.Recv()
	}
	wantCode(t, err, codes.PermissionDenied, "watch scope")
}

func TestContributions(t *testing.T) {
	v := vaulttest.Start(t)
	o := setupProfile(t, v)
	ctx := ctxT(t)
	bkey := vaulttest.NewKey(t)
	b := v.Brand(t, bkey)
	ns := b.Namespace()
	req := nameEmailRequest
	req.Scopes = []string{"write:" + ns + ".*", "read:name.given"}
	r, err := b.RequestAccess(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	g, err := o.Grant(ctx, r.GetRequestId(), owner.Grant{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(ctx, profile.Field{Path: ns + ".orders.o1.total", Value: profile.StringValue("42.00 GBP")},
		profile.Field{Path: ns + ".loyalty.tier", Value: profile.StringValue("gold")}); err != nil {
		t.Fatal(err)
	}
	before, err := o.GetProfile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := grantedBrand(t, v, o, 0, "read:name.given")
	for _, path := range []string{other.Namespace() + ".x", "name.given"} {
		_, err := b.Write(ctx, profile.Field{Path: ns + ".ok", Value: profile.StringValue("1")}, profile.Field{Path: path, Value: profile.StringValue("x")})
		wantCode(t, err, codes.PermissionDenied, "")
	}
	after, err := o.GetProfile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.GetFields()) != len(before.GetFields()) {
		t.Fatalf("refused writes stored something: %d -> %d fields", len(before.GetFields()), len(after.GetFields()))
	}
	// The owner sees them with provenance and can delete one.
	mine, err := o.GetProfile(ctx, "brands.*")
	if err != nil {
		t.Fatal(err)
	}
	if len(mine.GetFields()) != 2 {
		t.Fatalf("owner sees %d contributed fields", len(mine.GetFields()))
	}
	for _, f := range mine.GetFields() {
		p := f.GetProvenance()
		if p.GetBrandJkt() != bkey.Thumbprint() || p.GetBrandName() != req.Name || p.GetConsentId() != g.GetConsent().GetConsentId() {
			t.Fatalf("provenance %v", p)
		}
	}
	if _, err := o.DeleteFields(ctx, ns+".loyalty.tier"); err != nil {
		t.Fatal(err)
	}
	// The owner shares one brand's contribution with another brand.
	third, _ := grantedBrand(t, v, o, 0, "read:"+ns+".orders.*")
	got, err := third.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p := paths(got.GetFields()); len(p) != 1 || p[0] != ns+".orders.o1.total" {
		t.Fatalf("shared contribution read %v", p)
	}
}

func TestWatchConsentStream(t *testing.T) {
	v := vaulttest.Start(t)
	o := setupProfile(t, v)
	ctx := ctxT(t)
	b := v.Brand(t, vaulttest.NewKey(t))
	r, err := b.RequestAccess(ctx, nameEmailRequest)
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.WatchConsent(ctx, r.GetRequestId())
	if err != nil {
		t.Fatal(err)
	}
	var states []vrmv1.ConsentState
	next := func() {
		m, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		st := m.GetRequest().GetState()
		states = append(states, st)
	}
	next()
	g, err := o.Grant(ctx, r.GetRequestId(), owner.Grant{})
	if err != nil {
		t.Fatal(err)
	}
	next()
	if _, err := o.Revoke(ctx, g.GetConsent().GetConsentId()); err != nil {
		t.Fatal(err)
	}
	next()
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the final state: %v, want the end of the stream", err)
	}
	want := []vrmv1.ConsentState{vrmv1.ConsentState_CONSENT_STATE_PENDING, vrmv1.ConsentState_CONSENT_STATE_GRANTED, vrmv1.ConsentState_CONSENT_STATE_REVOKED}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Fatalf("states %v, want %v", states, want)
	}
}

func TestDeliveryState(t *testing.T) {
	v := vaulttest.Start(t)
	o := setupProfile(t, v)
	ctx := ctxT(t)
	b, cid := grantedBrand(t, v, o, 0, "watch:address.*")
	behind := func() int64 {
		t.Helper()
		cs, err := o.Consents(ctx, vrmv1.ConsentState_CONSENT_STATE_UNSPECIFIED)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs.GetConsents() {
			if c.GetConsentId() == cid {
				return c.GetChangesBehind()
			}
		}
		t.Fatal("consent not listed")
		return 0
	}
	seq := set(t, o, "address.home.locality", "Leeds")
	set(t, o, "email.home", "x@example.org") // not the brand's
	if n := behind(); n != 1 {
		t.Fatalf("before the brand acknowledges: %d behind, want 1", n)
	}
	if err := b.Acknowledge(ctx, seq); err != nil {
		t.Fatal(err)
	}
	if n := behind(); n != 0 {
		t.Fatalf("after acknowledging: %d behind, want 0", n)
	}
	err := b.Acknowledge(ctx, seq+1000)
	wantCode(t, err, codes.InvalidArgument, "ahead")
}

func TestStreamLimits(t *testing.T) {
	v := vaulttest.Start(t)
	o := setupProfile(t, v)
	b, _ := grantedBrand(t, v, o, 0, "watch:name.*")
	ctx := ctxT(t)
	for i := 0; i < 16; i++ { // the limit's worth of open streams, kept open by ctx
		s, err := b.Watch(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := recvWithin(t, s, 5*time.Second); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	s, err := b.Watch(ctx, 0)
	if err == nil {
		_, err = s.Recv()
	}
	wantCode(t, err, codes.ResourceExhausted, "open streams per brand")
}

func TestFanOutThousandStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 streams")
	}
	const n = 1000
	v := vaulttest.Start(t, vaulttest.Options{MaxStreamsPerBrand: n})
	o := setupProfile(t, v)
	b, _ := grantedBrand(t, v, o, 0, "watch:address.*")
	ctx := ctxT(t)
	streams := make([]grpc.ServerStreamingClient[vrmv1.WatchProfileResponse], n)
	for i := range streams {
		s, err := b.Watch(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		streams[i] = s
	}
	start := time.Now()
	seq := set(t, o, "address.home.locality", "York")
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		slowest time.Duration
		failed  int
	)
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev, err := s.Recv()
			d := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || ev.GetCursor() != seq {
				failed++
			}
			slowest = max(slowest, d)
		}()
	}
	wg.Wait()
	if failed > 0 {
		t.Fatalf("%d of %d streams did not receive the change", failed, n)
	}
	t.Logf("one change reached all %d streams; the last one after %s", n, slowest)
}

func TestSlowConsumerIsEnded(t *testing.T) {
	v := vaulttest.Start(t, vaulttest.Options{SendTimeout: 300 * time.Millisecond})
	o := setupProfile(t, v)
	b, _ := grantedBrand(t, v, o, 0, "watch:notes.*")
	ctx := ctxT(t)
	s, err := b.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	// Fill the transport's flow-control windows without reading.
	big := strings.Repeat("x", 4000)
	var want uint64
	for i := 0; i < 200; i++ {
		want = set(t, o, "notes.n", fmt.Sprint(i, big))
	}
	time.Sleep(time.Second)
	last := first.GetCursor()
	for {
		ev, err := s.Recv()
		if err != nil {
			wantCode(t, err, codes.ResourceExhausted, "resume from the last cursor")
			break
		}
		last = ev.GetCursor()
	}
	// Resuming from the last cursor received delivers the rest.
	s, err = b.Watch(ctx, last)
	if err != nil {
		t.Fatal(err)
	}
	for last < want {
		ev, err := recvWithin(t, s, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetCursor() <= last {
			t.Fatalf("cursor %d after %d: a duplicate", ev.GetCursor(), last)
		}
		last = ev.GetCursor()
	}
}
