package server_test

import (
	"crypto/rand"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/audit"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/store"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

var nameEmailRequest = brand.Request{
	Name:     "Example Shop",
	URL:      "https://shop.example.com",
	Scopes:   []string{"read:name.*", "read:email.*"},
	Purposes: []string{"ServiceProvision"},
	Duration: 90 * 24 * time.Hour,
	Reason:   "To address your orders to you.",
}

// setupProfile enrols an owner and stores a small profile.
func setupProfile(t *testing.T, v *vaulttest.Vault) *owner.Client {
	t.Helper()
	o, _ := v.Owner(t)
	_, err := o.SetFields(ctxT(t), []profile.Field{
		{Path: "name.given", Value: profile.StringValue("Ada")},
		{Path: "name.family", Value: profile.StringValue("Lovelace")},
		{Path: "email.home", Value: profile.StringValue("ada@example.org")},
		{Path: "phone.mobile", Value: profile.StringValue("+447700900123")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func paths(fields []*vrmv1.Field) []string {
	var out []string
	for _, f := range fields {
		out = append(out, f.GetPath())
	}
	return out
}

func TestGrantNarrowReadRevoke(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	o := setupProfile(t, v)
	bkey := vaulttest.NewKey(t)
	b := v.Brand(t, bkey)

	req, err := b.RequestAccess(ctx, nameEmailRequest)
	if err != nil {
		t.Fatal(err)
	}
	if req.GetState() != vrmv1.ConsentState_CONSENT_STATE_PENDING {
		t.Fatalf("new request state %s", req.GetState())
	}
	// Before a decision: no active consent.
	_, err = b.Read(ctx)
	wantCode(t, err, codes.PermissionDenied, "no active consent")

	pending, err := o.ListRequests(ctx, vrmv1.ConsentState_CONSENT_STATE_UNSPECIFIED)
	if err != nil || len(pending) != 1 || pending[0].GetBrandJkt() != bkey.Thumbprint() {
		t.Fatalf("pending requests %v, %v", pending, err)
	}
	// Widening is refused by the client before anything is signed.
	if _, err := o.Grant(ctx, req.GetRequestId(), owner.Grant{Only: []string{"read:phone.*"}}); !errors.Is(err, owner.ErrWidens) {
		t.Fatalf("widening grant: %v", err)
	}
	granted, err := o.Grant(ctx, req.GetRequestId(), owner.Grant{Only: []string{"read:name.given"}, Expires: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cid := granted.GetConsent().GetConsentId()

	read, err := b.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(read.GetFields()); len(got) != 1 || got[0] != "name.given" || read.GetFields()[0].GetValue().GetStringValue() != "Ada" {
		t.Fatalf("brand read %v", got)
	}
	// Asking for more returns no more, and no error that reveals it exists.
	read, err = b.Read(ctx, "name.*", "email.home", "phone.mobile", "birthdate")
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(read.GetFields()); len(got) != 1 || got[0] != "name.given" {
		t.Fatalf("brand read of more paths %v", got)
	}

	// The receipt verifies offline against the descriptor's owner keys.
	receipt, claims, err := b.Receipt(ctx, req.GetRequestId())
	if err != nil {
		t.Fatal(err)
	}
	if claims.CID != cid || len(claims.Scopes) != 1 || claims.Scopes[0] != "read:name.given" {
		t.Fatalf("receipt claims %+v", claims)
	}
	if _, err := b.VerifyReceipt(ctx, receipt); err != nil {
		t.Fatal(err)
	}

	if _, err := o.Revoke(ctx, cid); err != nil {
		t.Fatal(err)
	}
	_, err = b.Read(ctx)
	wantCode(t, err, codes.PermissionDenied, "consent revoked")
	if status.Convert(err).Message() != "consent revoked" {
		t.Fatalf("message %q", status.Convert(err).Message())
	}
	st, err := b.Consent(ctx, req.GetRequestId())
	if err != nil {
		t.Fatal(err)
	}
	if st.GetConsent().GetState() != vrmv1.ConsentState_CONSENT_STATE_REVOKED || st.GetConsent().GetRevocation() == "" {
		t.Fatalf("consent after revoke %v", st.GetConsent())
	}

	// The owner's verification passes and the audit log shows the reads.
	rep, err := o.Verify(ctx, consent.Head{}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ledger.Head.Seq != 3 { // key add, grant, revocation
		t.Fatalf("ledger head %d, want 3", rep.Ledger.Head.Seq)
	}
	page, err := o.AuditPage(ctx, &vrmv1.ListAuditEntriesRequest{CallerJkt: bkey.Thumbprint()})
	if err != nil {
		t.Fatal(err)
	}
	var reads, denied int
	for _, e := range page.GetEntries() {
		if e.GetMethod() == vrmv1.BrandService_ReadProfile_FullMethodName {
			if e.GetOutcome() == audit.OutcomeOK {
				reads++
			} else {
				denied++
			}
		}
	}
	if reads != 2 || denied != 2 {
		t.Fatalf("audit: %d reads, %d refusals; want 2 and 2", reads, denied)
	}
}

func TestDenyAndStateMachine(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	o := setupProfile(t, v)
	b := v.Brand(t, vaulttest.NewKey(t))
	req, err := b.RequestAccess(ctx, nameEmailRequest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Deny(ctx, req.GetRequestId()); err != nil {
		t.Fatal(err)
	}
	st, err := b.Consent(ctx, req.GetRequestId())
	if err != nil {
		t.Fatal(err)
	}
	if st.GetRequest().GetState() != vrmv1.ConsentState_CONSENT_STATE_DENIED {
		t.Fatalf("state %s", st.GetRequest().GetState())
	}
	_, err = o.Grant(ctx, req.GetRequestId(), owner.Grant{})
	wantCode(t, err, codes.FailedPrecondition, "not pending")
	_, err = b.Read(ctx)
	wantCode(t, err, codes.PermissionDenied, "no active consent")
}

func TestPendingLimitAndRequestValidation(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	setupProfile(t, v)
	b := v.Brand(t, vaulttest.NewKey(t))
	for i := 0; i < 5; i++ {
		if _, err := b.RequestAccess(ctx, nameEmailRequest); err != nil {
			t.Fatal(err)
		}
	}
	_, err := b.RequestAccess(ctx, nameEmailRequest)
	wantCode(t, err, codes.ResourceExhausted, "pending requests per brand")

	other := v.Brand(t, vaulttest.NewKey(t))
	bad := nameEmailRequest
	bad.Scopes = []string{"write:name.given"}
	_, err = other.RequestAccess(ctx, bad)
	wantCode(t, err, codes.InvalidArgument, "write")
	bad = nameEmailRequest
	bad.Purposes = []string{"Surveillance"}
	_, err = other.RequestAccess(ctx, bad)
	wantCode(t, err, codes.InvalidArgument, "Surveillance")
	bad = nameEmailRequest
	bad.Reason = strings.Repeat("x", 501)
	_, err = other.RequestAccess(ctx, bad)
	wantCode(t, err, codes.InvalidArgument, "500")
}

func TestTenantIsolation(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	setupProfile(t, v)
	bkey := vaulttest.NewKey(t)
	bA := v.Brand(t, bkey)
	reqA, err := bA.RequestAccess(ctx, nameEmailRequest)
	if err != nil {
		t.Fatal(err)
	}
	// A brand of this vault addressing another vault on the same host,
	// for every RPC: TestIsolationEveryRPC.

	// In its own vault, another brand's request is "not found", like a
	// request that does not exist.
	stranger := v.Brand(t, vaulttest.NewKey(t))
	if _, err := stranger.RequestAccess(ctx, nameEmailRequest); err != nil {
		t.Fatal(err)
	}
	_, errOther := stranger.Consent(ctx, reqA.GetRequestId())
	_, errNone := stranger.Consent(ctx, "AAAAAAAAAAAAAAAAAAAAAA")
	wantCode(t, errOther, codes.NotFound, "request not found")
	if status.Convert(errOther).Message() != status.Convert(errNone).Message() {
		t.Fatalf("another brand's request %v vs missing %v", errOther, errNone)
	}
	// A brand key calling the owner's service: a valid proof, no right.
	ob := v.ClientAt(t, v.Address, bkey)
	_, err = ob.GetProfile(ctx)
	wantCode(t, err, codes.PermissionDenied, "owner")
}

func TestPairwiseSubject(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	o := setupProfile(t, v)
	subs := map[string]string{}
	for _, name := range []string{"one", "two"} {
		b := v.Brand(t, vaulttest.NewKey(t))
		req, err := b.RequestAccess(ctx, nameEmailRequest)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Grant(ctx, req.GetRequestId(), owner.Grant{}); err != nil {
			t.Fatal(err)
		}
		r1, err := b.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := b.Read(ctx, "name.given")
		if err != nil {
			t.Fatal(err)
		}
		if r1.GetSubject() == "" || r1.GetSubject() != r2.GetSubject() || len(r1.GetSubject()) != 22 {
			t.Fatalf("brand %s subjects %q, %q", name, r1.GetSubject(), r2.GetSubject())
		}
		subs[name] = r1.GetSubject()
	}
	if subs["one"] == subs["two"] {
		t.Fatal("two brands received the same pairwise subject")
	}
}

// submitRaw signs claims with key and submits them as a consent record.
func submitRaw(t *testing.T, o *owner.Client, key *consent.PrivateKey, c consent.RecordClaims) error {
	t.Helper()
	rec, err := consent.SignRecord(key, c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.Service().SubmitConsent(ctxT(t), &vrmv1.SubmitConsentRequest{VaultId: o.Address().VaultID, Record: rec})
	return err
}

func TestBadConsentRecordsLeaveLedgerUnchanged(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	o, okey := v.Owner(t)
	b := v.Brand(t, vaulttest.NewKey(t))
	req, err := b.RequestAccess(ctx, nameEmailRequest)
	if err != nil {
		t.Fatal(err)
	}
	info, err := o.Request(ctx, req.GetRequestId())
	if err != nil {
		t.Fatal(err)
	}
	cid, _ := consent.NewID(rand.Reader)
	now := time.Now()
	base := func() consent.RecordClaims {
		return consent.RecordClaims{
			CID: cid, RID: req.GetRequestId(), Vault: v.Address.VaultID, Brand: req.GetBrandJkt(),
			Sub: info.GetSubject(), Status: consent.StatusGranted, Scopes: []string{"read:name.given"},
			Purposes: []string{"ServiceProvision"}, Iat: now.Unix(), Nbf: now.Unix(),
			Exp: now.Add(24 * time.Hour).Unix(), Seq: info.GetLedgerHead().GetSeq() + 1, Prev: info.GetLedgerHead().GetHash(),
		}
	}
	_, headBefore, err := o.Ledger(ctx)
	if err != nil {
		t.Fatal(err)
	}

	widen := base()
	widen.Scopes = []string{"read:phone.*"}
	wantCode(t, submitRaw(t, o, okey, widen), codes.InvalidArgument, "scope read:phone.* is broader than the request")

	noExp := base()
	noExp.Exp = 0
	if _, err := consent.SignRecord(okey, noExp); err == nil {
		t.Fatal("SignRecord accepted a grant without exp")
	}
	// Sign it by hand past the client-side check: the vault refuses too.
	forged, err := okey.Sign(consent.RecordType, []byte(`{"cid":"`+cid+`","rid":"`+req.GetRequestId()+`","vault":"`+v.Address.VaultID+`","brand":"`+req.GetBrandJkt()+`","sub":"`+info.GetSubject()+`","status":"granted","scopes":["read:name.given"],"purposes":["ServiceProvision"],"iat":`+itoa(now.Unix())+`,"nbf":`+itoa(now.Unix())+`,"exp":0,"seq":`+itoa(int64(info.GetLedgerHead().GetSeq()+1))+`,"prev":"`+info.GetLedgerHead().GetHash()+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.Service().SubmitConsent(ctx, &vrmv1.SubmitConsentRequest{VaultId: v.Address.VaultID, Record: forged})
	wantCode(t, err, codes.InvalidArgument, "a grant needs exp")

	wantCode(t, submitRaw(t, o, vaulttest.NewKey(t), base()), codes.InvalidArgument, "not an owner key")

	stale := base()
	stale.Seq, stale.Prev = 1, ""
	wantCode(t, submitRaw(t, o, okey, stale), codes.FailedPrecondition, "does not extend the ledger head")

	longer := base()
	longer.Exp = now.Add(200 * 24 * time.Hour).Unix()
	wantCode(t, submitRaw(t, o, okey, longer), codes.InvalidArgument, "beyond the requested duration")

	_, headAfter, err := o.Ledger(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if headAfter != headBefore {
		t.Fatalf("ledger changed by refused records: %v -> %v", headBefore, headAfter)
	}
	// The genuine record is accepted.
	if err := submitRaw(t, o, okey, base()); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestReceiptTamperAndForeignSigner(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	o := setupProfile(t, v)
	bkey := vaulttest.NewKey(t)
	b := v.Brand(t, bkey)
	req, err := b.RequestAccess(ctx, nameEmailRequest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Grant(ctx, req.GetRequestId(), owner.Grant{}); err != nil {
		t.Fatal(err)
	}
	receipt, _, err := b.Receipt(ctx, req.GetRequestId())
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := b.Descriptor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(receipt); i++ {
		if receipt[i] == '.' {
			continue
		}
		mut := []byte(receipt)
		if mut[i] == 'A' {
			mut[i] = 'B'
		} else {
			mut[i] = 'A'
		}
		if _, err := consent.VerifyReceipt(string(mut), d.OwnerKeys, v.Address.VaultID, bkey.Thumbprint(), time.Now()); err == nil {
			t.Fatalf("receipt with byte %d changed verified", i)
		}
	}
	// A record signed by a key that is not an owner of this vault.
	stranger := vaulttest.NewKey(t)
	var claims consent.RecordClaims
	e, err := consent.ParseLedgerEntry(receipt)
	if err != nil {
		t.Fatal(err)
	}
	claims = *e.Record
	forged, err := consent.SignRecord(stranger, claims)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := consent.VerifyReceipt(forged, d.OwnerKeys, v.Address.VaultID, bkey.Thumbprint(), time.Now()); err == nil {
		t.Fatal("receipt signed by a non-owner verified")
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	o := setupProfile(t, v)
	b := v.Brand(t, vaulttest.NewKey(t))
	req, err := b.RequestAccess(ctx, nameEmailRequest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Grant(ctx, req.GetRequestId(), owner.Grant{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := o.Verify(ctx, consent.Head{}, "", nil)
	if err != nil {
		t.Fatalf("honest vault: %v", err)
	}
	saved := rep.Ledger.Head

	tamper := func(key string, change func([]byte) []byte) {
		t.Helper()
		err := v.Store().Update(ctx, v.Address.VaultID, func(tx store.Tx) error {
			b, err := tx.Get(key)
			if err != nil {
				return err
			}
			return tx.Put(key, change(append([]byte(nil), b...)))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Change one character inside the payload of ledger entry 2.
	tamper("l/00000000000000000002", func(b []byte) []byte {
		i := strings.IndexByte(string(b), '.') + 5
		b[i] ^= 1
		return b
	})
	_, err = o.Verify(ctx, saved, "", nil)
	var ce *consent.ChainError
	if !errors.As(err, &ce) || ce.Seq != 2 {
		t.Fatalf("tampered ledger: %v, want a chain error at entry 2", err)
	}
	tamper("l/00000000000000000002", func(b []byte) []byte {
		i := strings.IndexByte(string(b), '.') + 5
		b[i] ^= 1
		return b
	})
	if _, err := o.Verify(ctx, saved, "", nil); err != nil {
		t.Fatalf("restored ledger: %v", err)
	}
	// Change the caller of audit entry 3.
	tamper("a/00000000000000000003", func(b []byte) []byte {
		return []byte(strings.Replace(string(b), `"role":"`, `"role":"x`, 1))
	})
	_, err = o.Verify(ctx, saved, "", nil)
	var ae *audit.ChainError
	if !errors.As(err, &ae) || (ae.Seq != 3 && ae.Seq != 4) {
		t.Fatalf("tampered audit log: %v, want an audit chain error naming entry 3 or 4", err)
	}
}

func TestVerifyWarnsOnRewrittenHistory(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	o := setupProfile(t, v)
	rep, err := o.Verify(ctx, consent.Head{}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	fake := rep.Ledger.Head
	first := "x" // a head that differs from the ledger's, whatever its hash
	if fake.Hash[0] == 'x' {
		first = "y"
	}
	fake.Hash = first + fake.Hash[1:]
	if _, err := o.Verify(ctx, fake, "", nil); !errors.Is(err, owner.ErrHistoryRewritten) {
		t.Fatalf("verify against a head the ledger does not hold: %v", err)
	}
}
