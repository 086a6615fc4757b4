package server_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// TestConcurrentReadsOfOneVault: reads of one vault that arrive together
// share a transaction, so 32 concurrent readers of one vault all succeed
// (they used to conflict on the audit chain and some got ABORTED), each
// read has its own audit entry, and the chain verifies.
func TestConcurrentReadsOfOneVault(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	o := setupProfile(t, v)
	bkey := vaulttest.NewKey(t)
	b, _ := grantedBrandKey(t, v, o, bkey, time.Hour, nameEmailRequest.Scopes...)

	const readers, reads = 32, 10
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range reads {
				r, err := b.Read(ctx, "name.given")
				if err == nil && len(r.GetFields()) != 1 {
					err = status.Errorf(codes.Internal, "read returned %d fields, want 1", len(r.GetFields()))
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d concurrent reads failed, first: %v", len(errs), readers*reads, errs[0])
	}

	entries := 0
	var after uint64
	for {
		page, err := o.AuditPage(ctx, &vrmv1.ListAuditEntriesRequest{AfterSeq: after, CallerJkt: bkey.Thumbprint(), PageSize: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.GetEntries() {
			if e.GetMethod() == vrmv1.BrandService_ReadProfile_FullMethodName {
				entries++
			}
		}
		if after = page.GetNextAfterSeq(); after == 0 {
			break
		}
	}
	if entries != readers*reads {
		t.Errorf("audit holds %d read entries for %d reads", entries, readers*reads)
	}
	if _, err := o.Verify(ctx, consent.Head{}, "", nil); err != nil {
		t.Fatalf("verify after concurrent reads: %v", err)
	}
}

// TestReadProofUsedOnceUnderConcurrency: the same read proof sent by 8
// callers at once (they may share one group transaction) is served once;
// the others are refused as replays with nothing returned.
func TestReadProofUsedOnceUnderConcurrency(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	o := setupProfile(t, v)
	bkey := vaulttest.NewKey(t)
	grantedBrandKey(t, v, o, bkey, time.Hour, nameEmailRequest.Scopes...)
	raw := vrmv1.NewBrandServiceClient(publicConn(t, v))

	for round := range 5 {
		proof, err := consent.NewProof(bkey, v.Address.VaultID, vrmv1.BrandService_ReadProfile_FullMethodName, time.Now(), rand.Reader, false)
		if err != nil {
			t.Fatal(err)
		}
		const callers = 8
		var (
			wg             sync.WaitGroup
			mu             sync.Mutex
			served, replay int
		)
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := raw.ReadProfile(withProof(ctx, proof), &vrmv1.ReadProfileRequest{VaultId: v.Address.VaultID})
				mu.Lock()
				defer mu.Unlock()
				switch st := status.Convert(err); {
				case err == nil && len(resp.GetFields()) > 0:
					served++
				case st.Code() == codes.Unauthenticated && resp == nil && st.Message() == "invalid proof: jti already used":
					replay++
				default:
					t.Errorf("round %d: unexpected answer %v, %v", round, resp, err)
				}
			}()
		}
		wg.Wait()
		if served != 1 || replay != callers-1 {
			t.Fatalf("round %d: one proof served %d times and refused as a replay %d times, want 1 and %d", round, served, replay, callers-1)
		}
	}
}

// TestProofOfAFailedCallIsSpent: reads and owner writes record their
// proof's jti in their own transaction; a call that fails (a bad argument
// before the transaction, a version conflict in it) still spends its jti,
// so the proof cannot be used again for another call.
func TestProofOfAFailedCallIsSpent(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	o, okey := v.Owner(t)
	if _, err := o.SetFields(ctx, []profile.Field{{Path: "name.given", Value: profile.StringValue("Ada")}}); err != nil {
		t.Fatal(err)
	}
	bkey := vaulttest.NewKey(t)
	grantedBrandKey(t, v, o, bkey, time.Hour, nameEmailRequest.Scopes...)
	conn := publicConn(t, v)
	owners, brands := vrmv1.NewOwnerServiceClient(conn), vrmv1.NewBrandServiceClient(conn)
	id := v.Address.VaultID
	proof := func(k *consent.PrivateKey, method string) string {
		p, err := consent.NewProof(k, id, method, time.Now(), rand.Reader, false)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	set := func(path string, version *uint64) *vrmv1.UpdateProfileRequest {
		return &vrmv1.UpdateProfileRequest{VaultId: id, Changes: []*vrmv1.FieldChange{{
			Path: path, ExpectedVersion: version,
			Change: &vrmv1.FieldChange_Set{Set: &vrmv1.Value{Kind: &vrmv1.Value_StringValue{StringValue: "Grace"}}},
		}}}
	}
	wrong := uint64(999)

	updates := []struct {
		name string
		req  *vrmv1.UpdateProfileRequest
		code codes.Code
	}{
		{"bad path", set("name..given", nil), codes.InvalidArgument},
		{"version conflict", set("name.given", &wrong), codes.Aborted},
		{"accepted", set("name.given", nil), codes.OK},
	}
	for _, tc := range updates {
		p := proof(okey, vrmv1.OwnerService_UpdateProfile_FullMethodName)
		_, err := owners.UpdateProfile(withProof(ctx, p), tc.req)
		if status.Code(err) != tc.code {
			t.Fatalf("%s: first use: %v, want %s", tc.name, err, tc.code)
		}
		_, err = owners.UpdateProfile(withProof(ctx, p), set("name.given", nil))
		wantCode(t, err, codes.Unauthenticated, "jti already used")
	}

	p := proof(bkey, vrmv1.BrandService_ReadProfile_FullMethodName)
	_, err := brands.ReadProfile(withProof(ctx, p), &vrmv1.ReadProfileRequest{VaultId: id, Paths: []string{"name..*"}})
	wantCode(t, err, codes.InvalidArgument, "")
	resp, err := brands.ReadProfile(withProof(ctx, p), &vrmv1.ReadProfileRequest{VaultId: id})
	if resp != nil {
		t.Fatalf("replayed read returned %v", resp)
	}
	wantCode(t, err, codes.Unauthenticated, "jti already used")
}

// publicConn is a connection to v that sends no proof of its own.
func publicConn(t *testing.T, v *vaulttest.Vault) *grpc.ClientConn {
	t.Helper()
	conn, err := vaultconn.DialPublic(vaultconn.Config{Address: v.Address})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestManyWatchesStartAtOnce: watch starts of one vault append to its
// audit chain; started together they share a transaction instead of
// conflicting, so 64 streams opened at the same moment all start (run
// apart, about half of them used to run out of conflict retries and get
// ABORTED).
func TestManyWatchesStartAtOnce(t *testing.T) {
	v := vaulttest.Start(t, vaulttest.Options{MaxStreamsPerBrand: 128})
	o := setupProfile(t, v)
	b, _ := grantedBrand(t, v, o, 0, "watch:name.*")
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	const streams = 64
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		mu    sync.Mutex
		errs  []error
	)
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, err := b.Watch(ctx, 0)
			if err == nil {
				var first *vrmv1.WatchProfileResponse
				if first, err = s.Recv(); err == nil && len(first.GetFields()) != 2 {
					err = status.Errorf(codes.Internal, "first event has %d fields, want 2", len(first.GetFields()))
				}
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d watch starts failed, first: %v", len(errs), streams, errs[0])
	}
}

// TestManyOwnerWritersOfOneVault: every write of a vault touches its
// audit chain and change sequence, so 32 writers of one vault used to run
// out of conflict retries (ABORTED); the vault's writes now run one after
// another in shared transactions, and every batch is stored once.
func TestManyOwnerWritersOfOneVault(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	o, _ := v.Owner(t)
	const writers, batches = 32, 5
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				_, err := o.SetFields(ctx, []profile.Field{{
					Path:  fmt.Sprintf("notes.w%d.b%d", w, b),
					Value: profile.StringValue(fmt.Sprintf("batch %d of writer %d", b, w)),
				}})
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d concurrent writes failed, first: %v", len(errs), writers*batches, errs[0])
	}
	st, err := o.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetFieldCount() != writers*batches {
		t.Errorf("%d fields stored, want %d", st.GetFieldCount(), writers*batches)
	}
	if _, err := o.Verify(ctx, consent.Head{}, "", nil); err != nil {
		t.Fatalf("verify after concurrent writes: %v", err)
	}
}
