package server_test

import (
	"crypto/rand"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// TestRememberedKeySuspended: a brand's and an owner's keys, remembered
// by the host from earlier calls, do not admit a read or a write once the
// vault is suspended, and do again once it is resumed: the calls'
// transactions confirm what the host remembered.
func TestRememberedKeySuspended(t *testing.T) {
	v, hc, _ := startHost(t, vaulttest.Options{})
	ctx := ctxT(t)
	addr, o := createVault(t, v, hc)
	b, _ := grantedBrandAt(t, v, addr, o, "read:name.*")
	set := func() error {
		_, err := o.SetFields(ctx, []profile.Field{{Path: "name.given", Value: profile.StringValue("Ada")}})
		return err
	}
	for range 2 { // the second calls find the keys remembered
		if err := set(); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := hc.Suspend(ctx, addr.VaultID); err != nil {
		t.Fatal(err)
	}
	_, err := b.Read(ctx)
	wantCode(t, err, codes.FailedPrecondition, "vault suspended")
	wantCode(t, set(), codes.FailedPrecondition, "vault suspended")
	if err := hc.Resume(ctx, addr.VaultID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read(ctx); err != nil {
		t.Fatalf("read after resume: %v", err)
	}
	if err := set(); err != nil {
		t.Fatalf("write after resume: %v", err)
	}
}

// TestRememberedKeyRemoved: an owner key the host remembers admits no
// write once another device removed it.
func TestRememberedKeyRemoved(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	a, _ := v.Owner(t)
	b, keyB := secondDevice(t, v, a, "phone")
	set := func() error {
		_, err := b.SetFields(ctx, []profile.Field{{Path: "name.given", Value: profile.StringValue("Ada")}})
		return err
	}
	for range 2 {
		if err := set(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.RemoveOwnerKey(ctx, keyB.Thumbprint()); err != nil {
		t.Fatal(err)
	}
	wantCode(t, set(), codes.Unauthenticated, "unknown key")
}

// TestRememberedKeyRetrySpendsProofOnce: a read admitted with a
// remembered key whose vault's settings changed since runs again from
// the store, and its proof is spent once: the same proof is refused
// afterwards.
func TestRememberedKeyRetrySpendsProofOnce(t *testing.T) {
	v, hc, _ := startHost(t, vaulttest.Options{})
	ctx := ctxT(t)
	addr, o := createVault(t, v, hc)
	key := vaulttest.NewKey(t)
	b := v.BrandAt(t, addr, key)
	r, err := b.RequestAccess(ctx, nameEmailRequest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Grant(ctx, r.GetRequestId(), owner.Grant{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read(ctx); err != nil { // the host remembers the key
		t.Fatal(err)
	}
	// Suspended and resumed: the settings' bytes are not those the key
	// was remembered with.
	if err := hc.Suspend(ctx, addr.VaultID); err != nil {
		t.Fatal(err)
	}
	if err := hc.Resume(ctx, addr.VaultID); err != nil {
		t.Fatal(err)
	}
	conn, err := vaultconn.DialHost(vaultconn.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw := vrmv1.NewBrandServiceClient(conn.Unsigned())
	proof, err := consent.NewProof(key, addr.VaultID, vrmv1.BrandService_ReadProfile_FullMethodName, time.Now(), rand.Reader, false)
	if err != nil {
		t.Fatal(err)
	}
	pctx := metadata.AppendToOutgoingContext(ctx, consent.ProofMetadataKey, proof)
	if _, err := raw.ReadProfile(pctx, &vrmv1.ReadProfileRequest{VaultId: addr.VaultID}); err != nil {
		t.Fatalf("read with a remembered key gone stale: %v", err)
	}
	_, err = raw.ReadProfile(pctx, &vrmv1.ReadProfileRequest{VaultId: addr.VaultID})
	wantCode(t, err, codes.Unauthenticated, "jti already used")
}

// TestRememberedKeyVaultDestroyed: a brand whose key the host remembers
// gets, once the vault is destroyed, exactly the answer of a vault that
// never existed, as a stranger does.
func TestRememberedKeyVaultDestroyed(t *testing.T) {
	v, hc, _ := startHost(t, vaulttest.Options{})
	ctx := ctxT(t)
	addr, o := createVault(t, v, hc)
	b, _ := grantedBrandAt(t, v, addr, o, "read:name.*")
	for range 2 {
		if _, err := b.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := hc.Destroy(ctx, addr.VaultID); err != nil {
		t.Fatal(err)
	}
	_, err := b.Read(ctx)
	wantCode(t, err, codes.Unauthenticated, "unknown key")
	_, err = v.BrandAt(t, addr, vaulttest.NewKey(t)).Read(ctx)
	wantCode(t, err, codes.Unauthenticated, "unknown key")
}

// TestRememberedKeyRetryCountsUnderNewQuota: a read admitted with a
// remembered key after the vault's quota changed is admitted again from
// the store and counts against the new rate limit.
func TestRememberedKeyRetryCountsUnderNewQuota(t *testing.T) {
	v, hc, _ := startHost(t, vaulttest.Options{})
	ctx := ctxT(t)
	addr, o := createVault(t, v, hc)
	b, _ := grantedBrandAt(t, v, addr, o, "read:name.*")
	if _, err := b.Read(ctx); err != nil { // the host remembers the key
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a fresh second for the limiter
	if _, err := hc.SetQuota(ctx, addr.VaultID, &vrmv1.VaultQuota{BrandCallsPerSecond: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read(ctx); err != nil {
		t.Fatalf("first read under the new quota: %v", err)
	}
	_, err := b.Read(ctx)
	wantCode(t, err, codes.ResourceExhausted, "calls per second per brand")
}
