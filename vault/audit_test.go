package vault_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/audit"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/store"
	"github.com/vrmvault/vrmvault/vault/store/badgerstore"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := badgerstore.Open(badgerstore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// enrolled returns a host with one vault and its enrolled owner key.
func enrolled(t *testing.T, st store.Store) (*vault.Host, string, *consent.PrivateKey) {
	t.Helper()
	h, err := vault.NewHost(vault.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, enr, err := h.CreateVault(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key, err := consent.GenerateKey(consent.EdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := consent.SignKeyEntry(key, consent.KeyEntryClaims{Op: consent.KeyOpAdd, Iat: time.Now().Unix(), Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := vault.Caller{JKT: key.Thumbprint(), Role: audit.RoleOwner, Method: "/vrm.v1.OwnerService/Enroll"}
	if _, err := h.Enroll(ctx, id, enr.Code, key.Public(), "test", entry, c); err != nil {
		t.Fatal(err)
	}
	return h, id, key
}

func TestAuditCheckpointEvery1000(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1,000 synced batches")
	}
	h, id, key := enrolled(t, openStore(t))
	ctx := context.Background()
	c := vault.Caller{JKT: key.Thumbprint(), Role: audit.RoleOwner, Method: "/vrm.v1.OwnerService/UpdateProfile"}
	// Entry 1 is the enrolment; 1,000 more updates cross seq 1,000.
	for i := 0; i < audit.CheckpointEvery; i++ {
		f := vault.FieldChange{Path: "notes.n", Value: profile.IntValue(int64(i))}
		if _, _, err := h.UpdateProfile(ctx, id, c, []vault.FieldChange{f}); err != nil {
			t.Fatal(err)
		}
	}
	desc, err := h.Descriptor(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	v := audit.NewVerifier()
	checkpoints := 0
	var after uint64
	for {
		page, err := h.ListAudit(ctx, id, vault.AuditFilter{After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			if _, err := v.Add(r.Canonical); err != nil {
				t.Fatal(err)
			}
		}
		for i, cp := range page.Checkpoints {
			c, err := v.CheckCheckpoint(cp, page.CheckpointSeqs[i], id, desc.VaultKey)
			if err != nil {
				t.Fatal(err)
			}
			if c.Seq != audit.CheckpointEvery {
				t.Fatalf("checkpoint at %d, want %d", c.Seq, audit.CheckpointEvery)
			}
			checkpoints++
		}
		if page.Next == 0 {
			break
		}
		after = page.Next
	}
	if v.Head().Seq != audit.CheckpointEvery+1 || checkpoints != 1 {
		t.Fatalf("audit head %d with %d checkpoints; want %d and 1", v.Head().Seq, checkpoints, audit.CheckpointEvery+1)
	}
	// Shutdown signs the head that the last checkpoint does not cover.
	if err := h.CheckpointAll(ctx); err != nil {
		t.Fatal(err)
	}
	page, err := h.ListAudit(ctx, id, vault.AuditFilter{After: audit.CheckpointEvery})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Checkpoints) != 1 || page.CheckpointSeqs[0] != audit.CheckpointEvery+1 {
		t.Fatalf("checkpoints after shutdown %v", page.CheckpointSeqs)
	}
}

// failingAudit is a store whose transactions refuse to write audit
// entries: the fault a full disk or a broken engine would cause.
type failingAudit struct{ store.Store }

var errAuditWrite = errors.New("injected: audit entry cannot be written")

func (s failingAudit) Update(ctx context.Context, vaultID string, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, vaultID, func(tx store.Tx) error { return fn(failingTx{tx}) })
}

type failingTx struct{ store.Tx }

func (tx failingTx) Put(key string, value []byte) error {
	if strings.HasPrefix(key, "a/") {
		return errAuditWrite
	}
	return tx.Tx.Put(key, value)
}

func TestReadRefusedWhenAuditFails(t *testing.T) {
	st := openStore(t)
	h, id, key := enrolled(t, st)
	ctx := context.Background()
	brandKey, err := consent.GenerateKey(consent.EdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// A brand with a granted consent on name.given.
	scopes, err := consent.ParseScopes([]string{"read:name.*"})
	if err != nil {
		t.Fatal(err)
	}
	bc := vault.Caller{JKT: brandKey.Thumbprint(), Role: audit.RoleBrand, Method: "/vrm.v1.BrandService/RequestAccess"}
	req, err := h.RequestAccess(ctx, id, bc, brandKey.Public(), consent.AccessRequest{
		BrandName: "Shop", BrandURL: "https://shop.example", Scopes: scopes,
		Purposes: []string{"ServiceProvision"}, Duration: 24 * time.Hour, Reason: "orders",
	})
	if err != nil {
		t.Fatal(err)
	}
	_, head, sub, err := h.OwnerRequest(ctx, id, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	cid, _ := consent.NewID(rand.Reader)
	now := time.Now()
	rec, err := consent.SignRecord(key, consent.RecordClaims{
		CID: cid, RID: req.ID, Vault: id, Brand: brandKey.Thumbprint(), Sub: sub, Status: consent.StatusGranted,
		Scopes: []string{"read:name.*"}, Purposes: []string{"ServiceProvision"},
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(time.Hour).Unix(), Seq: head.Seq + 1, Prev: head.Hash,
	})
	if err != nil {
		t.Fatal(err)
	}
	oc := vault.Caller{JKT: key.Thumbprint(), Role: audit.RoleOwner, Method: "/vrm.v1.OwnerService/SubmitConsent"}
	if _, _, err := h.SubmitConsent(ctx, id, oc, rec); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.UpdateProfile(ctx, id, oc, []vault.FieldChange{{Path: "name.given", Value: profile.StringValue("Ada")}}); err != nil {
		t.Fatal(err)
	}
	rc := vault.Caller{JKT: brandKey.Thumbprint(), Role: audit.RoleBrand, Method: "/vrm.v1.BrandService/ReadProfile"}
	if fields, _, err := h.ReadProfile(ctx, id, rc, nil); err != nil || len(fields) != 1 {
		t.Fatalf("read with a working audit log: %v, %v", fields, err)
	}

	// The same host over a store that cannot write audit entries.
	broken, err := vault.NewHost(vault.Config{Store: failingAudit{st}})
	if err != nil {
		t.Fatal(err)
	}
	fields, _, err := broken.ReadProfile(ctx, id, rc, nil)
	if !errors.Is(err, errAuditWrite) || fields != nil {
		t.Fatalf("read without an audit entry returned %v, %v; want nothing and the audit error", fields, err)
	}
	_, _, err = broken.UpdateProfile(ctx, id, oc, []vault.FieldChange{{Path: "name.given", Value: profile.StringValue("Eve")}})
	if !errors.Is(err, errAuditWrite) {
		t.Fatalf("owner change without an audit entry: %v", err)
	}
	got, _, err := h.GetProfile(ctx, id, nil)
	if err != nil || len(got) != 1 || got[0].Value.Str != "Ada" {
		t.Fatalf("profile after a refused change: %v, %v", got, err)
	}
}
