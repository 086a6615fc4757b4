package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/audit"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/profile/profilepb"
	"github.com/vrmvault/vrmvault/vault/store"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// End-to-end tests of the consent commands: vrm against a real vault, and
// a brand asking for access with the brand client.

var shopRequest = brand.Request{
	Name:     "Example Shop",
	URL:      "https://shop.example.com",
	Scopes:   []string{"read:name.*", "read:email.*"},
	Purposes: []string{"ServiceProvision", "CustomerCare"},
	Duration: 90 * 24 * time.Hour,
	Reason:   "To address your orders to you.",
}

// consentFixture is an initialised vrm with a profile, and a brand that
// has asked for access.
type consentFixture struct {
	v         *vaulttest.Vault
	e         *testEnv
	bkey      *consent.PrivateKey
	b         *brand.Client
	requestID string
}

func newConsentFixture(t *testing.T) *consentFixture {
	t.Helper()
	v := vaulttest.Start(t)
	e := initVault(t, v)
	e.mustRun("profile", "set", "name.given=Ada", "name.family=Lovelace", "email.home=ada@example.org", "phone.mobile=+447700900123")
	bkey := vaulttest.NewKey(t)
	b := v.Brand(t, bkey)
	req, err := b.RequestAccess(testCtx(t), shopRequest)
	if err != nil {
		t.Fatal(err)
	}
	return &consentFixture{v: v, e: e, bkey: bkey, b: b, requestID: req.GetRequestId()}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// cfg reads e's config.json.
func (e *testEnv) cfg() *config {
	e.t.Helper()
	c, err := loadConfig(e.home)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// editConfig changes e's config.json as a user with an editor would.
func (e *testEnv) editConfig(change func(c *config)) {
	e.t.Helper()
	c := e.cfg()
	change(c)
	if err := saveConfig(e.home, c); err != nil {
		e.t.Fatal(err)
	}
}

// grant grants the fixture's request with args and returns the result.
func (f *consentFixture) grant(t *testing.T, args ...string) decisionResult {
	t.Helper()
	r := f.e.mustRun(append([]string{"grant", f.requestID, "-o", "json"}, args...)...)
	var res decisionResult
	decodeJSON(t, r, &res)
	return res
}

// tamper changes the value at key in the vault's store.
func (f *consentFixture) tamper(t *testing.T, key string, change func([]byte) []byte) {
	t.Helper()
	err := f.v.Store().Update(testCtx(t), f.v.Address.VaultID, func(tx store.Tx) error {
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

func readPaths(resp *vrmv1.ReadProfileResponse) []string {
	var out []string
	for _, f := range resp.GetFields() {
		out = append(out, f.GetPath())
	}
	return out
}

func TestE2ERequestsGrantReadRevoke(t *testing.T) {
	f := newConsentFixture(t)
	e, ctx := f.e, testCtx(t)

	// vrm requests lists the pending request.
	r := e.mustRun("requests")
	var list requestsResult
	decodeJSON(t, r, &list)
	if list.State != "pending" || len(list.Requests) != 1 {
		t.Fatalf("requests: %+v", list)
	}
	got := list.Requests[0]
	if got.RequestID != f.requestID || got.BrandJKT != f.bkey.Thumbprint() || got.BrandName != "Example Shop" ||
		got.BrandURL != "https://shop.example.com" || got.State != "pending" || got.DurationSeconds != 90*24*3600 ||
		!slices.Equal(got.Scopes, shopRequest.Scopes) || !slices.Equal(got.Purposes, shopRequest.Purposes) ||
		got.Reason != shopRequest.Reason || got.Created == "" || got.Expires == "" {
		t.Errorf("request %+v", got)
	}
	// The JSON member names are the documented ones.
	var raw struct {
		Requests []map[string]any `json:"requests"`
	}
	decodeJSON(t, r, &raw)
	for _, k := range []string{"request_id", "state", "brand_name", "brand_url", "brand_jkt", "scopes", "purposes", "duration_seconds", "reason", "created", "expires"} {
		if _, ok := raw.Requests[0][k]; !ok {
			t.Errorf("request JSON lacks %q: %v", k, raw.Requests[0])
		}
	}
	r = e.mustRun("-o", "table", "requests")
	for _, want := range []string{f.requestID, "Example Shop", "https://shop.example.com", f.bkey.Thumbprint(), "(self-asserted)", "read:name.*, read:email.*", "90d", "To address your orders to you."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("requests table lacks %q:\n%s", want, r.stdout)
		}
	}

	// vrm requests show: everything, the self-asserted parts said so.
	r = e.mustRun("-o", "table", "requests", "show", f.requestID)
	for _, want := range []string{"Example Shop (self-asserted)", "https://shop.example.com (self-asserted)", f.bkey.Thumbprint(),
		"ServiceProvision: to provide a service or product", "CustomerCare: to help the customer", "Subject:", "90d", "Reason:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("requests show table lacks %q:\n%s", want, r.stdout)
		}
	}
	r = e.mustRun("requests", "show", f.requestID)
	var show requestDetail
	decodeJSON(t, r, &show)
	if len(show.Subject) != 22 || show.RequestID != f.requestID || len(show.PurposeDetails) != 2 || show.PurposeDetails[0].Description == "" || show.BrandJWK == "" {
		t.Errorf("requests show: %+v", show)
	}
	r = e.run("requests", "show", "AAAAAAAAAAAAAAAAAAAAAA")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "request not found") {
		t.Errorf("show of a missing request: exit %d, %q", r.code, line)
	}

	// Widening and lengthening are refused, and nothing is signed.
	before := e.cfg().ledgerHead()
	r = e.run("grant", f.requestID, "--only", "read:name.given,read:phone.*")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "read:phone.*") || !strings.Contains(line, "broader than the request") || strings.Contains(line, "--help") {
		t.Errorf("widening grant: exit %d, %q", r.code, line)
	}
	r = e.run("grant", f.requestID, "--expires", "180d")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "longer than the 90d the brand asked for") {
		t.Errorf("lengthening grant: exit %d, %q", r.code, line)
	}
	if _, err := f.b.Read(ctx); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("brand read before any grant: %v", err)
	}

	// A narrower, shorter grant: the brand reads only that field.
	start := time.Now()
	g := f.grant(t, "--only", "read:name.given", "--expires", "30d")
	c := g.Consent
	if c.ConsentID == "" || c.RequestID != f.requestID || c.State != "granted" || !slices.Equal(c.Scopes, []string{"read:name.given"}) ||
		c.BrandJKT != f.bkey.Thumbprint() || c.Subject != show.Subject {
		t.Errorf("grant: %+v", g)
	}
	exp, err := time.Parse(time.RFC3339, c.Expires)
	if err != nil || exp.Before(start.Add(30*24*time.Hour-time.Minute)) || exp.After(time.Now().Add(30*24*time.Hour+time.Minute)) {
		t.Errorf("grant expires %q, want 30 days from now", c.Expires)
	}
	if g.LedgerHead.Seq != before.Seq+1 || g.LedgerHead.Hash == "" {
		t.Errorf("grant ledger head %+v after %+v", g.LedgerHead, before)
	}
	if h := e.cfg().ledgerHead(); h.Seq != g.LedgerHead.Seq || h.Hash != g.LedgerHead.Hash {
		t.Errorf("saved ledger head %+v, want %+v", h, g.LedgerHead)
	}
	read, err := f.b.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p := readPaths(read); !slices.Equal(p, []string{"name.given"}) {
		t.Errorf("brand read %v, want only name.given", p)
	}
	if r := e.run("grant", f.requestID); r.code != ExitFailure || !strings.Contains(oneErrorLine(t, r), "not pending") {
		t.Errorf("second grant: exit %d, %q", r.code, r.stderr)
	}

	// vrm consents.
	r = e.mustRun("consents")
	var cs consentsResult
	decodeJSON(t, r, &cs)
	if cs.State != "all" || cs.LastSeq == 0 || len(cs.Consents) != 1 {
		t.Fatalf("consents: %+v", cs)
	}
	if it := cs.Consents[0]; it.ConsentID != c.ConsentID || it.State != "granted" || it.BrandName != "Example Shop" ||
		it.AcknowledgedCursor != 0 || it.Delivery != deliveryUnknown || it.NotBefore == "" || it.Expires != c.Expires {
		t.Errorf("consent %+v", it)
	}
	r = e.mustRun("-o", "table", "consents")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "DELIVERY") || !strings.Contains(lines[1], c.ConsentID) ||
		!strings.Contains(lines[1], "granted") || !strings.HasSuffix(lines[1], " -") {
		t.Errorf("consents table:\n%s", r.stdout)
	}

	// Revoke: the brand is refused at once.
	r = e.mustRun("revoke", c.ConsentID)
	var rv decisionResult
	decodeJSON(t, r, &rv)
	if rv.Consent.State != "revoked" || rv.LedgerHead.Seq != g.LedgerHead.Seq+1 {
		t.Errorf("revoke: %+v", rv)
	}
	if h := e.cfg().ledgerHead(); h.Seq != rv.LedgerHead.Seq || h.Hash != rv.LedgerHead.Hash {
		t.Errorf("saved ledger head %+v, want %+v", h, rv.LedgerHead)
	}
	_, err = f.b.Read(ctx)
	if status.Code(err) != codes.PermissionDenied || status.Convert(err).Message() != "consent revoked" {
		t.Fatalf("brand read after revoke: %v", err)
	}
	r = e.run("revoke", c.ConsentID)
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "revoked") {
		t.Errorf("second revoke: exit %d, %q", r.code, line)
	}
	decodeJSON(t, e.mustRun("consents", "--state", "revoked"), &cs)
	if len(cs.Consents) != 1 || cs.Consents[0].State != "revoked" {
		t.Errorf("consents --state revoked: %+v", cs.Consents)
	}
	decodeJSON(t, e.mustRun("consents", "--state", "granted"), &cs)
	if len(cs.Consents) != 0 {
		t.Errorf("consents --state granted: %+v", cs.Consents)
	}
	if r := e.mustRun("-o", "table", "consents", "--state", "granted"); r.stdout != "No consents (state granted).\n" {
		t.Errorf("empty consents table %q", r.stdout)
	}
	decodeJSON(t, e.mustRun("requests"), &list)
	if len(list.Requests) != 0 {
		t.Errorf("pending requests after the grant: %+v", list.Requests)
	}
	decodeJSON(t, e.mustRun("requests", "--state", "all"), &list)
	if len(list.Requests) != 1 || list.Requests[0].ConsentID != c.ConsentID {
		t.Errorf("requests --state all: %+v", list.Requests)
	}

	// vrm audit --brand: the brand's calls only, named.
	r = e.mustRun("audit", "--brand", f.bkey.Thumbprint())
	var au auditResult
	decodeJSON(t, r, &au)
	var ok, refused int
	for _, en := range au.Entries {
		if en.CallerJKT != f.bkey.Thumbprint() || en.Role != audit.RoleBrand || en.CallerName != "Example Shop" {
			t.Errorf("audit --brand returned %+v", en)
		}
		if en.Method == vrmv1.BrandService_ReadProfile_FullMethodName {
			if en.Outcome == audit.OutcomeOK {
				ok++
				if !slices.Equal(en.Paths, []string{"name.given"}) || !slices.Equal(en.ConsentIDs, []string{c.ConsentID}) {
					t.Errorf("audited read %+v", en)
				}
			} else {
				refused++
			}
		}
	}
	if ok != 1 || refused != 2 || au.More {
		t.Errorf("audit --brand: %d reads, %d refusals, more %v; want 1, 2, false: %+v", ok, refused, au.More, au.Entries)
	}
	decodeJSON(t, e.mustRun("audit"), &au)
	var owners int
	for i, en := range au.Entries {
		if i > 0 && en.Seq <= au.Entries[i-1].Seq {
			t.Errorf("audit not in order: %d after %d", en.Seq, au.Entries[i-1].Seq)
		}
		if en.Role == audit.RoleOwner {
			owners++
			if !strings.Contains(en.CallerName, "(this device)") {
				t.Errorf("owner entry caller name %q", en.CallerName)
			}
		}
	}
	if owners == 0 {
		t.Errorf("audit lists no owner calls: %+v", au.Entries)
	}
	all := len(au.Entries)
	decodeJSON(t, e.mustRun("audit", "--limit", "2"), &au)
	if len(au.Entries) != 2 || !au.More {
		t.Errorf("audit --limit 2: %d entries, more %v", len(au.Entries), au.More)
	}
	decodeJSON(t, e.mustRun("audit", "--since", "1h"), &au)
	if len(au.Entries) != all {
		t.Errorf("audit --since 1h: %d entries, want %d", len(au.Entries), all)
	}
	decodeJSON(t, e.mustRun("audit", "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), &au)
	if len(au.Entries) != 0 {
		t.Errorf("audit --since in an hour: %d entries", len(au.Entries))
	}
	decodeJSON(t, e.mustRun("audit", "--path", "name.*"), &au)
	if len(au.Entries) == 0 {
		t.Error("audit --path name.* found nothing")
	}
	r = e.mustRun("-o", "table", "audit", "--brand", f.bkey.Thumbprint())
	for _, want := range []string{"SEQ", "ReadProfile", "RequestAccess", "Example Shop", f.bkey.Thumbprint()[:8] + "…", "consent_revoked"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("audit table lacks %q:\n%s", want, r.stdout)
		}
	}

	// vrm verify on an honest vault: passes, saves the heads.
	e.editConfig(func(c *config) { c.LedgerHead, c.AuditHead = nil, nil })
	r = e.mustRun("verify")
	if r.stderr != "" {
		t.Errorf("verify of an honest vault warned: %s", r.stderr)
	}
	var vr verifyResult
	decodeJSON(t, r, &vr)
	if vr.Ledger.Entries != 3 || vr.Ledger.Head != rv.LedgerHead || vr.Consents.Revoked != 1 || vr.Consents.Granted != 0 ||
		vr.Audit.Entries == 0 || len(vr.OwnerKeys) != 1 || !vr.OwnerKeys[0].ThisDevice || len(vr.Warnings) != 0 || vr.VaultKey == "" {
		t.Errorf("verify: %+v", vr)
	}
	saved := e.cfg()
	if saved.ledgerHead() != (consent.Head{Seq: vr.Ledger.Head.Seq, Hash: vr.Ledger.Head.Hash}) || saved.AuditHead == nil ||
		saved.AuditHead.Seq != vr.Audit.Head.Seq || saved.VaultKeyJKT != vr.VaultKey {
		t.Errorf("after verify, config %+v", saved)
	}
	r = e.mustRun("-o", "table", "verify")
	for _, want := range []string{"3 entries: signatures and hash chain verified", "(this device)", "0 granted (0 active), 1 revoked, 0 denied", "hash chain verified", "(pinned)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify table lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestE2EDeny(t *testing.T) {
	f := newConsentFixture(t)
	e := f.e
	r := e.mustRun("-o", "table", "deny", f.requestID)
	if !strings.Contains(r.stdout, "Denied:") || !strings.Contains(r.stdout, "denied") {
		t.Errorf("deny table:\n%s", r.stdout)
	}
	var cs consentsResult
	decodeJSON(t, e.mustRun("consents"), &cs)
	if len(cs.Consents) != 1 || cs.Consents[0].State != "denied" || cs.Consents[0].RequestID != f.requestID || cs.Consents[0].Expires != "" {
		t.Errorf("consents after deny: %+v", cs.Consents)
	}
	if h := e.cfg().ledgerHead(); h.Seq != 2 {
		t.Errorf("saved ledger head after deny: %+v", h)
	}
	if r := e.mustRun("-o", "table", "requests"); r.stdout != "No pending requests.\n" {
		t.Errorf("requests after deny: %q", r.stdout)
	}
	var list requestsResult
	decodeJSON(t, e.mustRun("requests", "--state", "denied"), &list)
	if len(list.Requests) != 1 || list.Requests[0].State != "denied" {
		t.Errorf("requests --state denied: %+v", list.Requests)
	}
	r = e.run("grant", f.requestID)
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "not pending") {
		t.Errorf("grant after deny: exit %d, %q", r.code, line)
	}
	resp, err := f.b.Consent(testCtx(t), f.requestID)
	if err != nil || resp.GetRequest().GetState() != vrmv1.ConsentState_CONSENT_STATE_DENIED {
		t.Errorf("the brand sees %v, %v", resp.GetRequest().GetState(), err)
	}
	var vr verifyResult
	decodeJSON(t, e.mustRun("verify"), &vr)
	if vr.Consents.Denied != 1 {
		t.Errorf("verify after deny: %+v", vr.Consents)
	}
}

func TestE2EVerifyDetectsTampering(t *testing.T) {
	f := newConsentFixture(t)
	e := f.e
	f.grant(t)
	if _, err := f.b.Read(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	e.mustRun("verify")
	saved := e.cfg()

	flip := func(b []byte) []byte {
		i := strings.IndexByte(string(b), '.') + 5
		b[i] ^= 1
		return b
	}
	f.tamper(t, "l/00000000000000000002", flip)
	r := e.run("verify")
	if r.code != ExitFailure {
		t.Fatalf("verify of a tampered ledger: exit %d", r.code)
	}
	if line := oneErrorLine(t, r); !strings.Contains(line, "ledger entry 2: ") {
		t.Errorf("error line %q does not name ledger entry 2", line)
	}
	if r.stdout != "" {
		t.Errorf("a failed verify printed %q", r.stdout)
	}
	if after := e.cfg(); after.ledgerHead() != saved.ledgerHead() || *after.AuditHead != *saved.AuditHead {
		t.Errorf("a failed verify changed the config: %+v -> %+v", saved, after)
	}
	f.tamper(t, "l/00000000000000000002", flip)
	e.mustRun("verify")

	// The audit log: an entry changed is named.
	f.tamper(t, "a/00000000000000000003", func(b []byte) []byte {
		return []byte(strings.Replace(string(b), `"role":"`, `"role":"x`, 1))
	})
	r = e.run("verify")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !(strings.Contains(line, "audit entry 3: ") || strings.Contains(line, "audit entry 4: ")) {
		t.Errorf("verify of a tampered audit log: exit %d, %q", r.code, line)
	}
}

func TestE2EVerifyAuditTruncated(t *testing.T) {
	f := newConsentFixture(t)
	e := f.e
	f.grant(t)
	if _, err := f.b.Read(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	e.mustRun("verify")
	saved := *e.cfg().AuditHead
	// The host drops the last audit entry and moves the head back.
	err := f.v.Store().Update(testCtx(t), f.v.Address.VaultID, func(tx store.Tx) error {
		prev, err := tx.Get(seqKeyForTest("a/", saved.Seq-1))
		if err != nil {
			return err
		}
		head, _ := json.Marshal(audit.Head{Seq: saved.Seq - 1, Hash: audit.Hash(prev)})
		if err := tx.Put("m/audit", head); err != nil {
			return err
		}
		return tx.Delete(seqKeyForTest("a/", saved.Seq))
	})
	if err != nil {
		t.Fatal(err)
	}
	r := e.run("verify")
	if r.code != ExitFailure || !strings.HasPrefix(r.stderr, "WARNING: ") || !strings.Contains(r.stderr, "audit") {
		t.Errorf("verify of a truncated audit log: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if *e.cfg().AuditHead != saved {
		t.Error("a failed verify changed the saved audit head")
	}
}

// seqKeyForTest is the store key of entry seq under prefix, as the vault
// writes it: the seq as 20 zero-padded digits.
func seqKeyForTest(prefix string, seq uint64) string { return fmt.Sprintf("%s%020d", prefix, seq) }

func TestE2EVerifyRewrittenHistory(t *testing.T) {
	f := newConsentFixture(t)
	e := f.e
	e.mustRun("verify")
	h := e.cfg().ledgerHead()
	if h.Seq == 0 {
		t.Fatal("no ledger head saved")
	}
	fake := "x" + h.Hash[1:]
	if fake == h.Hash {
		fake = "y" + h.Hash[1:]
	}
	e.editConfig(func(c *config) { c.LedgerHead.Hash = fake })

	r := e.run("verify")
	if r.code != ExitFailure {
		t.Fatalf("verify against a head the ledger does not hold: exit %d", r.code)
	}
	if !strings.HasPrefix(r.stderr, "WARNING: ") || !strings.Contains(r.stderr, "dropped or rewrote history") {
		t.Errorf("no loud warning:\n%s", r.stderr)
	}
	errLines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if last := errLines[len(errLines)-1]; !strings.HasPrefix(last, "vrm: verification failed: ") {
		t.Errorf("last line %q", last)
	}
	if got := e.cfg().ledgerHead(); got.Hash != fake || got.Seq != h.Seq {
		t.Errorf("verify overwrote the saved head: %+v", got)
	}

	// A grant on such a vault is stored, but the saved head is kept.
	r = e.mustRun("grant", f.requestID)
	if !strings.Contains(r.stderr, "WARNING: ") {
		t.Errorf("grant on a rewritten ledger did not warn:\n%s", r.stderr)
	}
	if got := e.cfg().ledgerHead(); got.Hash != fake || got.Seq != h.Seq {
		t.Errorf("grant overwrote the saved head: %+v", got)
	}
	if r := e.run("verify"); r.code != ExitFailure {
		t.Errorf("verify after the grant: exit %d", r.code)
	}
}

func TestE2EVaultKeyAndOwnerKeys(t *testing.T) {
	f := newConsentFixture(t)
	e := f.e
	pinned := e.cfg().VaultKeyJKT
	if !validJKT(pinned) {
		t.Fatalf("vrm init pinned %q", pinned)
	}

	// A pin the descriptor does not match: loud, exit 1, pin kept.
	other := vaulttest.NewKey(t).Thumbprint()
	e.editConfig(func(c *config) { c.VaultKeyJKT = other })
	r := e.run("verify")
	if r.code != ExitFailure || !strings.HasPrefix(r.stderr, "WARNING: ") || !strings.Contains(r.stderr, "vault key") {
		t.Errorf("verify with another pinned vault key: exit %d:\n%s", r.code, r.stderr)
	}
	if e.cfg().VaultKeyJKT != other {
		t.Error("the pinned key was replaced")
	}
	// No pin: verify pins the key it sees.
	e.editConfig(func(c *config) { c.VaultKeyJKT = "" })
	var vr verifyResult
	decodeJSON(t, e.mustRun("verify"), &vr)
	if !vr.VaultKeyPinnedNow || vr.VaultKey != pinned || e.cfg().VaultKeyJKT != pinned {
		t.Errorf("verify without a pin: %+v", vr)
	}

	// Another owner key appears: a warning naming it, until trusted.
	ctx := testCtx(t)
	enr, err := f.v.Host.NewEnrollmentCode(ctx, f.v.Address.VaultID)
	if err != nil {
		t.Fatal(err)
	}
	k2 := vaulttest.NewKey(t)
	if _, err := f.v.Client(t, k2).Enroll(ctx, enr.Code, "phone"); err != nil {
		t.Fatal(err)
	}
	r = e.mustRun("verify")
	decodeJSON(t, r, &vr)
	if len(vr.Warnings) != 1 || !strings.Contains(r.stderr, "vrm: warning: owner key "+k2.Thumbprint()) ||
		!strings.Contains(r.stderr, "vrm verify --trust "+k2.Thumbprint()) || !strings.Contains(r.stderr, `"phone"`) {
		t.Errorf("verify with an unknown owner key: %+v\n%s", vr.Warnings, r.stderr)
	}
	if len(vr.OwnerKeys) != 2 || vr.OwnerKeys[1].Known {
		t.Errorf("owner keys %+v", vr.OwnerKeys)
	}
	r = e.mustRun("verify", "--trust", k2.Thumbprint())
	if r.stderr != "" {
		t.Errorf("verify --trust warned: %s", r.stderr)
	}
	if !slices.Contains(e.cfg().KnownOwnerKeys, k2.Thumbprint()) {
		t.Error("--trust was not remembered")
	}
	r = e.mustRun("verify")
	decodeJSON(t, r, &vr)
	if r.stderr != "" || len(vr.Warnings) != 0 || !vr.OwnerKeys[1].Known {
		t.Errorf("verify after --trust: %+v\n%s", vr, r.stderr)
	}
	r = e.mustRun("verify", "--trust", other)
	if !strings.Contains(r.stderr, "--trust "+other+": not an owner key") || slices.Contains(e.cfg().KnownOwnerKeys, other) {
		t.Errorf("--trust of a key the vault does not have: %s", r.stderr)
	}
}

func TestE2EInitForceKeepsWhatWasSeen(t *testing.T) {
	f := newConsentFixture(t)
	e := f.e
	f.grant(t)
	e.mustRun("verify")
	before := e.cfg()
	enr, err := f.v.Host.NewEnrollmentCode(testCtx(t), f.v.Address.VaultID)
	if err != nil {
		t.Fatal(err)
	}
	e.mustRun("init", "--force", "--vault", f.v.Addr, "--code", enr.Code)
	after := e.cfg()
	if after.OwnerJKT == before.OwnerJKT || after.VaultKeyJKT != before.VaultKeyJKT ||
		after.ledgerHead() != before.ledgerHead() || !slices.Contains(after.KnownOwnerKeys, before.OwnerJKT) {
		t.Errorf("init --force on the same vault: %+v -> %+v", before, after)
	}
	r := e.mustRun("verify")
	if r.stderr != "" {
		t.Errorf("verify after init --force warned: %s", r.stderr)
	}
}

func TestConfigVersions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, configFile)
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	v1 := `{"version": 1, "vault": "127.0.0.1:1/v1", "owner_jkt": "` + jkt + `", "device": "laptop"}`
	if err := os.WriteFile(path, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(dir)
	if err != nil {
		t.Fatalf("a version 1 config: %v", err)
	}
	if c.LedgerHead != nil || c.ledgerHead() != (consent.Head{}) || c.VaultKeyJKT != "" || c.Device != "laptop" {
		t.Errorf("version 1 config read as %+v", c)
	}
	c.setLedgerHead(consent.Head{Seq: 4, Hash: "h4"})
	c.VaultKeyJKT, c.KnownOwnerKeys = jkt, []string{jkt}
	if err := saveConfig(dir, c); err != nil {
		t.Fatal(err)
	}
	again, err := loadConfig(dir)
	if err != nil || again.Version != configVersion || again.ledgerHead() != (consent.Head{Seq: 4, Hash: "h4"}) || again.VaultKeyJKT != jkt || !again.knows(jkt) {
		t.Errorf("round trip: %+v, %v", again, err)
	}
	for name, body := range map[string]string{
		"future version":      `{"version": 3, "vault": "127.0.0.1:1/v1", "owner_jkt": "x"}`,
		"version 0":           `{"vault": "127.0.0.1:1/v1", "owner_jkt": "x"}`,
		"head without hash":   `{"version": 2, "vault": "127.0.0.1:1/v1", "owner_jkt": "x", "ledger_head": {"seq": 3, "hash": ""}}`,
		"hash without head":   `{"version": 2, "vault": "127.0.0.1:1/v1", "owner_jkt": "x", "audit_head": {"seq": 0, "hash": "h"}}`,
		"version 1 with junk": `{"version": 1, "vault": "127.0.0.1:1/v1", "owner_jkt": "x", "ledger_head": {"seq": 0, "hash": "h"}}`,
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadConfig(dir); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30d":   30 * day,
		"1d":    day,
		"90d":   90 * day,
		"12h":   12 * time.Hour,
		"1h30m": 90 * time.Minute,
		"45s":   45 * time.Second,
	} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "0d", "0", "-1d", "-5m", "1.5d", "30 d", "30D", "1w", "soon", "1d12h", "99999999999d", "9223372036854775807d"} {
		if got, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", bad, got)
		}
	}
	for d, want := range map[time.Duration]string{90 * day: "90d", 36 * time.Hour: "36h", 90 * time.Minute: "1h30m0s", 0: "-"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"24h":                       now.Add(-24 * time.Hour),
		"7d":                        now.Add(-7 * day),
		"2025-01-31T09:00:00Z":      time.Date(2025, 1, 31, 9, 0, 0, 0, time.UTC),
		"2025-01-31T10:00:00+01:00": time.Date(2025, 1, 31, 9, 0, 0, 0, time.UTC),
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2025-01-31", "0d", "-24h"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) succeeded", bad)
		}
	}
}

func TestDelivery(t *testing.T) {
	for _, tt := range []struct {
		ack    uint64
		behind int64
		capped bool
		state  string
		n      int64
		text   string
	}{
		{0, 0, false, deliveryUnknown, 0, "-"},
		{0, 17, false, deliveryUnknown, 0, "-"},
		{0, 1000, true, deliveryUnknown, 0, "-"},
		{17, 0, false, deliveryUpToDate, 0, "up to date"},
		{17, -1, false, deliveryUpToDate, 0, "up to date"},
		{12, 5, false, deliveryBehind, 5, "5 behind"},
		{12, 1000, true, deliveryBehind, 1000, "1000+ behind"},
	} {
		state, n := delivery(tt.ack, tt.behind)
		if text := deliveryText(state, n, tt.capped); state != tt.state || n != tt.n || text != tt.text {
			t.Errorf("delivery(%d, %d) = %s, %d (%q)", tt.ack, tt.behind, state, n, text)
		}
	}
}

func TestFieldsTableNamesContributors(t *testing.T) {
	jkt := "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	fields, err := fieldsOut([]*vrmv1.Field{
		{Path: "brands." + jkt + ".orders.o1.total", Value: profilepb.ToProto(profile.StringValue("42")), Version: 7,
			Provenance: &vrmv1.Provenance{BrandJkt: jkt, BrandName: "Example Shop", ConsentId: "c1"}},
		{Path: "brands." + jkt + ".tier", Value: profilepb.ToProto(profile.StringValue("gold")), Version: 8,
			Provenance: &vrmv1.Provenance{BrandJkt: jkt}},
		{Path: "name.given", Value: profilepb.ToProto(profile.StringValue("Ada")), Version: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeFieldsTable(&buf, fields, "none"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := [][]string{
		{"PATH", "VALUE", "VERSION", "UPDATED", "BY"},
		{"brands." + jkt + ".orders.o1.total", "42", "7", "Example", "Shop", "(0ZcOCORZ…)"},
		{"brands." + jkt + ".tier", "gold", "8", "0ZcOCORZ…"},
		{"name.given", "Ada", "3"},
	}
	if len(lines) != len(want) {
		t.Fatalf("table:\n%s", buf.String())
	}
	for i, l := range lines {
		if got := strings.Fields(l); !slices.Equal(got, want[i]) {
			t.Errorf("line %d = %q, want %q", i, got, want[i])
		}
	}
	// Without contributions, no BY column.
	buf.Reset()
	if err := writeFieldsTable(&buf, fields[2:], "none"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "BY") {
		t.Errorf("BY column without contributions:\n%s", buf.String())
	}
}

func TestShortNames(t *testing.T) {
	if got := shortMethod("/vrm.v1.BrandService/ReadProfile"); got != "ReadProfile" {
		t.Errorf("shortMethod = %q", got)
	}
	if got := shortMethod("odd/"); got != "odd/" {
		t.Errorf("shortMethod(odd/) = %q", got)
	}
	if got := shortJKT("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"); got != "0ZcOCORZ…" {
		t.Errorf("shortJKT = %q", got)
	}
}
