package server_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// headDetail returns the LedgerHead detail of a FAILED_PRECONDITION
// status, failing the test if there is none.
func headDetail(t *testing.T, err error) consent.Head {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.FailedPrecondition {
		t.Fatalf("error = %v, want FAILED_PRECONDITION with the ledger head", err)
	}
	for _, d := range st.Details() {
		if h, ok := d.(*vrmv1.LedgerHead); ok {
			return consent.Head{Seq: h.GetSeq(), Hash: h.GetHash()}
		}
	}
	t.Fatalf("FAILED_PRECONDITION %q carries no LedgerHead detail", st.Message())
	return consent.Head{}
}

// ledgerHead returns the vault's ledger head as o sees it.
func ledgerHead(t *testing.T, o *owner.Client) consent.Head {
	t.Helper()
	_, head, err := o.Ledger(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return head
}

// ownerJKTs returns the thumbprints of the vault's owner keys.
func ownerJKTs(t *testing.T, o *owner.Client) []string {
	t.Helper()
	keys, err := o.OwnerKeys(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		out = append(out, k.GetJkt())
	}
	slices.Sort(out)
	return out
}

// secondDevice enrols a fresh key with a code that device a issues and
// returns its client and key.
func secondDevice(t *testing.T, v *vaulttest.Vault, a *owner.Client, device string) (*owner.Client, *consent.PrivateKey) {
	t.Helper()
	ctx := ctxT(t)
	code, err := a.CreateEnrollmentCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := vaulttest.NewKey(t)
	b := v.Client(t, key)
	if _, err := b.Enroll(ctx, code.GetCode(), device); err != nil {
		t.Fatalf("enrol with a code an owner issued: %v", err)
	}
	return b, key
}

// signRemove signs a remove entry of jkt with key against head.
func signRemove(t *testing.T, key *consent.PrivateKey, jkt string, head consent.Head) string {
	t.Helper()
	e, err := consent.SignKeyEntry(key, consent.KeyEntryClaims{Op: consent.KeyOpRemove, JKT: jkt, Iat: time.Now().Unix(), Seq: head.Seq + 1, Prev: head.Hash})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestOwnerKeysAddListRemove walks a second device through its life: a
// code issued by device A enrols device B; both keys are listed; A removes
// B, whose next call is an unknown key; the ledger, with its add and
// remove entries, verifies end to end; every change is audited.
func TestOwnerKeysAddListRemove(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	a, keyA := v.Owner(t)

	code, err := a.CreateEnrollmentCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exp := code.GetExpireTime().AsTime()
	if code.GetCode() == "" || exp.Before(time.Now().Add(vault.DefaultEnrollmentTTL-time.Minute)) || exp.After(time.Now().Add(vault.DefaultEnrollmentTTL+time.Minute)) {
		t.Fatalf("code %q expiring %v, want one valid for %s", code.GetCode(), exp, vault.DefaultEnrollmentTTL)
	}
	keyB := vaulttest.NewKey(t)
	b := v.Client(t, keyB)
	enr, err := b.Enroll(ctx, code.GetCode(), "phone")
	if err != nil {
		t.Fatalf("enrol device B with A's code: %v", err)
	}
	if enr.GetLedgerHead().GetSeq() != 2 {
		t.Errorf("B's add entry is ledger entry %d, want 2", enr.GetLedgerHead().GetSeq())
	}

	// The code is single use.
	_, err = v.Client(t, vaulttest.NewKey(t)).Enroll(ctx, code.GetCode(), "third")
	wantCode(t, err, codes.PermissionDenied, "enrolment code invalid, used or expired")

	// Both keys listed, with their devices, by either device.
	want := []string{keyA.Thumbprint(), keyB.Thumbprint()}
	slices.Sort(want)
	for name, o := range map[string]*owner.Client{"A": a, "B": b} {
		if got := ownerJKTs(t, o); !slices.Equal(got, want) {
			t.Errorf("device %s lists owner keys %v, want %v", name, got, want)
		}
	}
	keys, err := a.OwnerKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		wantDevice := map[string]string{keyA.Thumbprint(): "test", keyB.Thumbprint(): "phone"}[k.GetJkt()]
		if k.GetDeviceName() != wantDevice || k.GetEnrollTime() == nil {
			t.Errorf("owner key %s: device %q enrolled %v, want %q", k.GetJkt(), k.GetDeviceName(), k.GetEnrollTime(), wantDevice)
		}
	}

	// A removes B.
	resp, err := a.RemoveOwnerKey(ctx, keyB.Thumbprint())
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetLedgerHead().GetSeq() != 3 {
		t.Errorf("remove entry is ledger entry %d, want 3", resp.GetLedgerHead().GetSeq())
	}
	_, err = b.Status(ctx)
	wantCode(t, err, codes.Unauthenticated, "unknown key")
	if got := ownerJKTs(t, a); !slices.Equal(got, []string{keyA.Thumbprint()}) {
		t.Errorf("after the removal: owner keys %v", got)
	}
	// Removing it again: no such key.
	_, err = a.RemoveOwnerKey(ctx, keyB.Thumbprint())
	wantCode(t, err, codes.NotFound, "no such owner key")

	// The ledger verifies, and says which keys are in force.
	rep, err := a.Verify(ctx, consent.Head{}, "", nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.DescriptorMismatch {
		t.Error("the descriptor's owner keys differ from the ledger's")
	}
	if len(rep.Ledger.Owners) != 1 || rep.Ledger.Owners[0].Key.Thumbprint() != keyA.Thumbprint() {
		t.Errorf("owner keys in force: %+v", rep.Ledger.Owners)
	}
	entries, _, err := a.Ledger(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, e := range entries {
		le, err := consent.ParseLedgerEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, le.Key.Op+" "+le.Key.JKT+" by "+le.KID)
	}
	wantOps := []string{
		"add " + keyA.Thumbprint() + " by " + keyA.Thumbprint(),
		"add " + keyB.Thumbprint() + " by " + keyB.Thumbprint(),
		"remove " + keyB.Thumbprint() + " by " + keyA.Thumbprint(),
	}
	if !slices.Equal(ops, wantOps) {
		t.Errorf("ledger entries:\n got %q\nwant %q", ops, wantOps)
	}

	// Audited: the code A issued, B's enrolment, the removal.
	page, err := a.AuditPage(ctx, &vrmv1.ListAuditEntriesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var audited []string
	for _, e := range page.GetEntries() {
		switch e.GetMethod() {
		case vrmv1.OwnerService_CreateEnrollmentCode_FullMethodName, vrmv1.OwnerService_Enroll_FullMethodName, vrmv1.OwnerService_RemoveOwnerKey_FullMethodName:
			audited = append(audited, e.GetMethod()+" "+e.GetCallerJkt()+" "+e.GetOutcome())
		}
	}
	wantAudit := []string{
		vrmv1.OwnerService_Enroll_FullMethodName + " " + keyA.Thumbprint() + " ok",
		vrmv1.OwnerService_CreateEnrollmentCode_FullMethodName + " " + keyA.Thumbprint() + " ok",
		vrmv1.OwnerService_Enroll_FullMethodName + " " + keyB.Thumbprint() + " ok",
		vrmv1.OwnerService_RemoveOwnerKey_FullMethodName + " " + keyA.Thumbprint() + " ok",
	}
	if !slices.Equal(audited, wantAudit) {
		t.Errorf("audit entries:\n got %q\nwant %q", audited, wantAudit)
	}
}

// TestRemoveOwnerKeySelf: a device may remove its own key while another
// remains; it is locked out at once.
func TestRemoveOwnerKeySelf(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	a, keyA := v.Owner(t)
	b, _ := secondDevice(t, v, a, "phone")
	if _, err := a.RemoveOwnerKey(ctx, keyA.Thumbprint()); err != nil {
		t.Fatal(err)
	}
	_, err := a.Status(ctx)
	wantCode(t, err, codes.Unauthenticated, "unknown key")
	if _, err := b.Verify(ctx, consent.Head{}, "", nil); err != nil {
		t.Fatalf("verify after a self-removal: %v", err)
	}
}

// TestRemoveLastOwnerKeyRefused: the last key stays, and the ledger is
// unchanged.
func TestRemoveLastOwnerKeyRefused(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	a, keyA := v.Owner(t)
	before := ledgerHead(t, a)
	_, err := a.RemoveOwnerKey(ctx, keyA.Thumbprint())
	wantCode(t, err, codes.FailedPrecondition, "cannot remove the last owner key")
	if after := ledgerHead(t, a); after != before {
		t.Errorf("ledger head moved from %v to %v", before, after)
	}
	// A second device, then both removed in turn: the second removal is
	// of the last key.
	b, keyB := secondDevice(t, v, a, "phone")
	if _, err := b.RemoveOwnerKey(ctx, keyA.Thumbprint()); err != nil {
		t.Fatal(err)
	}
	_, err = b.RemoveOwnerKey(ctx, keyB.Thumbprint())
	wantCode(t, err, codes.FailedPrecondition, "cannot remove the last owner key")
	if _, err := b.Status(ctx); err != nil {
		t.Fatalf("the last owner key was locked out: %v", err)
	}
}

// TestRemoveOwnerKeyRefusedEntries: an entry that is not a valid removal
// signed by an owner key in force is refused, with the ledger and the
// keys unchanged.
func TestRemoveOwnerKeyRefusedEntries(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	a, keyA := v.Owner(t)
	b, keyB := secondDevice(t, v, a, "phone")
	head := ledgerHead(t, a)
	stranger := vaulttest.NewKey(t)
	add, err := consent.SignKeyEntry(stranger, consent.KeyEntryClaims{Op: consent.KeyOpAdd, Iat: time.Now().Unix(), Seq: head.Seq + 1, Prev: head.Hash})
	if err != nil {
		t.Fatal(err)
	}
	revocation, err := consent.SignRevocation(keyA, consent.RevocationClaims{CID: "c0nsent-id-000000000", Iat: time.Now().Unix(), Seq: head.Seq + 1, Prev: head.Hash})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		jkt   string
		entry string
		code  codes.Code
		msg   string
	}{
		{"signed by a key that is no owner key", keyB.Thumbprint(), signRemove(t, stranger, keyB.Thumbprint(), head), codes.InvalidArgument, "signed by a key that is not an owner key"},
		{"jkt other than the entry's", keyA.Thumbprint(), signRemove(t, keyA, keyB.Thumbprint(), head), codes.InvalidArgument, "the key entry removes"},
		{"an add entry", stranger.Thumbprint(), add, codes.InvalidArgument, "not an owner-key entry with op remove"},
		{"a revocation", keyB.Thumbprint(), revocation, codes.InvalidArgument, "not an owner-key entry with op remove"},
		{"no entry", keyB.Thumbprint(), "", codes.InvalidArgument, "needs its ledger entry"},
		{"not a JWS", keyB.Thumbprint(), "x", codes.InvalidArgument, "invalid consent record"},
		{"a jkt prefix", keyB.Thumbprint()[:10], signRemove(t, keyA, keyB.Thumbprint(), head), codes.InvalidArgument, "jkt must be a key thumbprint"},
		{"no such key", stranger.Thumbprint(), signRemove(t, keyA, stranger.Thumbprint(), head), codes.NotFound, "no such owner key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Service().RemoveOwnerKey(ctx, &vrmv1.RemoveOwnerKeyRequest{VaultId: v.Address.VaultID, Jkt: tc.jkt, KeyEntry: tc.entry})
			wantCode(t, err, tc.code, tc.msg)
			if after := ledgerHead(t, a); after != head {
				t.Errorf("ledger head moved from %v to %v", head, after)
			}
			if _, err := b.Status(ctx); err != nil {
				t.Errorf("device B locked out: %v", err)
			}
		})
	}

	// A key removed earlier authorises nothing: once A removed B, an
	// entry B signed against the new head is refused.
	if _, err := a.RemoveOwnerKey(ctx, keyB.Thumbprint()); err != nil {
		t.Fatal(err)
	}
	head = ledgerHead(t, a)
	_, err = a.Service().RemoveOwnerKey(ctx, &vrmv1.RemoveOwnerKeyRequest{VaultId: v.Address.VaultID, Jkt: keyA.Thumbprint(), KeyEntry: signRemove(t, keyB, keyA.Thumbprint(), head)})
	wantCode(t, err, codes.InvalidArgument, "signed by a key that is not an owner key")
	if after := ledgerHead(t, a); after != head {
		t.Errorf("ledger head moved from %v to %v", head, after)
	}
}

// TestRemoveOwnerKeyStaleHead: an entry signed against an old head is
// refused with FAILED_PRECONDITION carrying the head, changes nothing,
// and the client signs again and succeeds.
func TestRemoveOwnerKeyStaleHead(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	a, keyA := v.Owner(t)
	old := ledgerHead(t, a)
	b, keyB := secondDevice(t, v, a, "phone")
	head := ledgerHead(t, a)
	if head.Seq != old.Seq+1 {
		t.Fatalf("head %v after enrolling B on %v", head, old)
	}

	_, err := a.Service().RemoveOwnerKey(ctx, &vrmv1.RemoveOwnerKeyRequest{VaultId: v.Address.VaultID, Jkt: keyB.Thumbprint(), KeyEntry: signRemove(t, keyA, keyB.Thumbprint(), old)})
	got := headDetail(t, err)
	if got != head {
		t.Errorf("the refusal carries head %v, want %v", got, head)
	}
	if after := ledgerHead(t, a); after != head {
		t.Errorf("ledger head moved from %v to %v", head, after)
	}
	if _, err := b.Status(ctx); err != nil {
		t.Fatalf("device B locked out by a refused removal: %v", err)
	}
	// Signed again against the head the refusal named: accepted.
	resp, err := a.Service().RemoveOwnerKey(ctx, &vrmv1.RemoveOwnerKeyRequest{VaultId: v.Address.VaultID, Jkt: keyB.Thumbprint(), KeyEntry: signRemove(t, keyA, keyB.Thumbprint(), got)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetLedgerHead().GetSeq() != head.Seq+1 {
		t.Errorf("head after the removal %v, want seq %d", resp.GetLedgerHead(), head.Seq+1)
	}
	if _, err := a.Verify(ctx, consent.Head{}, "", nil); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

// TestOwnerEnrollmentCodeLimits: an owner holds at most
// MaxLiveEnrollmentCodes unused codes, and gets none once the vault has
// MaxOwnerKeys keys; spending a code makes room for another.
func TestOwnerEnrollmentCodeLimits(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	a, _ := v.Owner(t)
	var spare []string
	for i := 0; i < vault.MaxLiveEnrollmentCodes; i++ {
		c, err := a.CreateEnrollmentCode(ctx)
		if err != nil {
			t.Fatalf("code %d: %v", i+1, err)
		}
		spare = append(spare, c.GetCode())
	}
	_, err := a.CreateEnrollmentCode(ctx)
	wantCode(t, err, codes.ResourceExhausted, "enrolment codes")

	// A spent code makes room for another.
	if _, err := v.Client(t, vaulttest.NewKey(t)).Enroll(ctx, spare[0], "device"); err != nil {
		t.Fatal(err)
	}
	c, err := a.CreateEnrollmentCode(ctx)
	if err != nil {
		t.Fatalf("a code after one was spent: %v", err)
	}
	spare = append(spare[1:], c.GetCode())

	// The vault fills up to MaxOwnerKeys (two keys so far).
	for i := 2; i < vault.MaxOwnerKeys; i++ {
		if _, err := v.Client(t, vaulttest.NewKey(t)).Enroll(ctx, spare[i-2], "device"); err != nil {
			t.Fatalf("enrol device %d: %v", i+1, err)
		}
	}
	_, err = a.CreateEnrollmentCode(ctx)
	wantCode(t, err, codes.ResourceExhausted, "too many owner keys")
	// The code still unused cannot enrol a key beyond the limit either.
	_, err = v.Client(t, vaulttest.NewKey(t)).Enroll(ctx, spare[len(spare)-1], "one too many")
	wantCode(t, err, codes.ResourceExhausted, "too many owner keys")
	if n := len(ownerJKTs(t, a)); n != vault.MaxOwnerKeys {
		t.Errorf("%d owner keys, want %d", n, vault.MaxOwnerKeys)
	}
}

// TestRemovedKeyCodesDie: the enrolment codes a device issued die with
// its key; the codes other devices issued still enrol.
func TestRemovedKeyCodesDie(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	a, _ := v.Owner(t)
	b, keyB := secondDevice(t, v, a, "phone")
	byB, err := b.CreateEnrollmentCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byA, err := a.CreateEnrollmentCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.RemoveOwnerKey(ctx, keyB.Thumbprint()); err != nil {
		t.Fatal(err)
	}
	_, err = v.Client(t, vaulttest.NewKey(t)).Enroll(ctx, byB.GetCode(), "stolen phone's code")
	wantCode(t, err, codes.PermissionDenied, "enrolment code invalid, used or expired")
	if _, err := v.Client(t, vaulttest.NewKey(t)).Enroll(ctx, byA.GetCode(), "laptop"); err != nil {
		t.Fatalf("enrol with a code of a device still in force: %v", err)
	}
}
