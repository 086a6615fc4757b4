package cli

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// End-to-end tests: vrm-brand against a real vault server (gRPC on
// 127.0.0.1, badger in a temporary directory) started by vaulttest, with
// the owner deciding through the Go owner client.

// ctxT returns a context that ends with the test or after 30 seconds.
func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startVault starts a vault whose owner stored a small profile, and
// returns it with the owner's client.
func startVault(t *testing.T) (*vaulttest.Vault, *owner.Client) {
	t.Helper()
	v := vaulttest.Start(t)
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
	return v, o
}

// Shapes of vrm-brand's JSON output, as a script reads them.
type (
	requestJSON struct {
		RequestID       string   `json:"request_id"`
		State           string   `json:"state"`
		BrandJKT        string   `json:"brand_jkt"`
		BrandName       string   `json:"brand_name"`
		BrandURL        string   `json:"brand_url"`
		Scopes          []string `json:"scopes"`
		Purposes        []string `json:"purposes"`
		DurationSeconds int64    `json:"duration_seconds"`
		Reason          string   `json:"reason"`
		Created         string   `json:"created"`
		Expires         string   `json:"expires"`
		ConsentID       string   `json:"consent_id"`
	}
	consentJSON struct {
		ConsentID string   `json:"consent_id"`
		State     string   `json:"state"`
		Scopes    []string `json:"scopes"`
		Purposes  []string `json:"purposes"`
		NotBefore string   `json:"not_before"`
		Expires   string   `json:"expires"`
		Subject   string   `json:"subject"`
	}
	statusJSON struct {
		Vault   string       `json:"vault"`
		Request requestJSON  `json:"request"`
		Consent *consentJSON `json:"consent"`
	}
	fieldJSON struct {
		Path    string `json:"path"`
		Type    string `json:"type"`
		Value   any    `json:"value"`
		Version uint64 `json:"version"`
		Updated string `json:"updated"`
	}
	readJSON struct {
		Vault   string      `json:"vault"`
		Subject string      `json:"subject"`
		Fields  []fieldJSON `json:"fields"`
	}
	verifyJSON struct {
		Vault          string   `json:"vault"`
		Valid          bool     `json:"valid"`
		ConsentID      string   `json:"consent_id"`
		RequestID      string   `json:"request_id"`
		BrandJKT       string   `json:"brand_jkt"`
		Subject        string   `json:"subject"`
		Status         string   `json:"status"`
		Scopes         []string `json:"scopes"`
		Purposes       []string `json:"purposes"`
		Issued         string   `json:"issued"`
		NotBefore      string   `json:"not_before"`
		Expires        string   `json:"expires"`
		Expired        bool     `json:"expired"`
		Validity       string   `json:"validity"`
		SignedBy       string   `json:"signed_by"`
		VaultJKT       string   `json:"vault_jkt"`
		VaultKeyPinned bool     `json:"vault_key_pinned"`
		Descriptor     string   `json:"descriptor"`
	}
)

// requestArgs are the arguments of a request for name and email.
func requestArgs(addr string, extra ...string) []string {
	return append([]string{"request", "--vault", addr, "--scope", "read:name.*", "--scope", "read:email.*",
		"--purpose", "ServiceProvision", "--duration", "90d", "--reason", "To address your orders to you."}, extra...)
}

// status runs status -o json and returns its output.
func (e *testEnv) status(args ...string) statusJSON {
	e.t.Helper()
	var st statusJSON
	decodeJSON(e.t, e.mustRun(append([]string{"status", "-o", "json"}, args...)...), &st)
	return st
}

// writeFile writes data to name in a fresh temporary directory.
func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestE2EBrandFlow(t *testing.T) {
	v, o := startVault(t)
	ctx := ctxT(t)
	e := newTestEnv(t)
	var kg keygenJSON
	decodeJSON(t, e.mustRun("keygen", "--name", "Example Shop", "--url", "https://shop.example.com"), &kg)

	// request: the id, the vault key pinned on first contact.
	r := e.mustRun(requestArgs(v.Addr, "-o", "json")...)
	var rq struct {
		Vault    string      `json:"vault"`
		VaultJKT string      `json:"vault_jkt"`
		Request  requestJSON `json:"request"`
	}
	decodeJSON(t, r, &rq)
	id := rq.Request.RequestID
	want := requestJSON{
		RequestID: id, State: "pending", BrandJKT: kg.BrandJKT, BrandName: "Example Shop", BrandURL: "https://shop.example.com",
		Scopes: []string{"read:name.*", "read:email.*"}, Purposes: []string{"ServiceProvision"},
		DurationSeconds: 90 * 24 * 3600, Reason: "To address your orders to you.",
		Created: rq.Request.Created, Expires: rq.Request.Expires,
	}
	if !consent.ValidID(id) || rq.Vault != v.Addr || len(rq.VaultJKT) != 43 || !reflect.DeepEqual(rq.Request, want) || rq.Request.Created == "" {
		t.Fatalf("request output %+v", rq)
	}
	if !strings.Contains(r.stderr, "pinned its vault key "+rq.VaultJKT) {
		t.Errorf("first contact not noted: %q", r.stderr)
	}
	st, err := loadState(e.home)
	if err != nil {
		t.Fatal(err)
	}
	if vs := st.Vaults[v.Addr]; vs == nil || vs.VaultJKT != rq.VaultJKT || len(vs.Requests) != 1 || vs.Requests[0].RequestID != id || vs.Requests[0].BrandJKT != kg.BrandJKT {
		t.Fatalf("state after request: %+v", st.Vaults[v.Addr])
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(filepath.Join(e.home, stateFile)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("state file %v, %v", fi, err)
		}
	}
	// A second request prints just its id in a table, and notes nothing.
	r = e.mustRun(requestArgs(v.Addr, "-o", "table")...)
	id2 := strings.TrimSuffix(r.stdout, "\n")
	if !consent.ValidID(id2) || id2 == id || r.stderr != "" {
		t.Fatalf("request table %q, stderr %q", r.stdout, r.stderr)
	}

	// Pending: status says so, --wait gives up after --wait-timeout, and
	// there is no receipt.
	if s := e.status("--vault", v.Addr, id); s.Request.State != "pending" || s.Consent != nil || s.Vault != v.Addr {
		t.Fatalf("status before the decision %+v", s)
	}
	e.fail("request "+id+" is still pending after 300ms (see --wait-timeout)",
		"status", "--vault", v.Addr, id, "--wait", "--wait-timeout", "300ms", "--poll-interval", "50ms")
	e.fail("still pending: there is no receipt yet", "receipt", "--vault", v.Addr, id)
	e.fail("no active consent", "read", "--vault", v.Addr)

	// The owner grants a narrower consent while status --wait waits.
	done := make(chan error, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		_, err := o.Grant(ctx, id, owner.Grant{Only: []string{"read:name.given", "read:email.*"}, Expires: 30 * 24 * time.Hour})
		done <- err
	}()
	var s statusJSON
	decodeJSON(t, e.mustRun("status", "--vault", v.Addr, id, "--wait", "--poll-interval", "50ms"), &s)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c := s.Consent
	if c == nil || c.State != "granted" || !reflect.DeepEqual(c.Scopes, []string{"read:name.given", "read:email.*"}) ||
		len(c.Subject) != consent.SubjectLen || c.Expires == "" || c.NotBefore == "" || s.Request.ConsentID != c.ConsentID {
		t.Fatalf("status after the grant %+v / %+v", s, c)
	}
	// The table names the state and the consent.
	r = e.mustRun("status", "--vault", v.Addr, id, "-o", "table")
	for _, want := range []string{"State:", "granted", c.ConsentID, "read:name.given read:email.*", "Example Shop <https://shop.example.com>", "90d"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status table lacks %q:\n%s", want, r.stdout)
		}
	}

	// read returns only the consented paths.
	var rd readJSON
	decodeJSON(t, e.mustRun("read", "--vault", v.Addr, "-o", "json"), &rd)
	if rd.Vault != v.Addr || rd.Subject != c.Subject || len(rd.Fields) != 2 ||
		rd.Fields[0].Path != "email.home" || rd.Fields[0].Value != "ada@example.org" || rd.Fields[0].Type != "string" ||
		rd.Fields[1].Path != "name.given" || rd.Fields[1].Value != "Ada" || rd.Fields[1].Version == 0 || rd.Fields[1].Updated == "" {
		t.Fatalf("read %+v", rd)
	}
	decodeJSON(t, e.mustRun("read", "--vault", v.Addr, "-o", "json", "name.*", "phone.mobile"), &rd)
	if len(rd.Fields) != 1 || rd.Fields[0].Path != "name.given" {
		t.Fatalf("read of more than consented %+v", rd.Fields)
	}
	r = e.mustRun("read", "--vault", v.Addr, "-o", "table", "name.given")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 ||
		strings.Join(strings.Fields(lines[0]), " ") != "PATH VALUE VERSION UPDATED" || !strings.HasPrefix(lines[1], "name.given  Ada  ") {
		t.Errorf("read table:\n%s", r.stdout)
	}
	r = e.mustRun("read", "--vault", v.Addr, "-o", "table", "phone.*")
	if r.stdout != "No consented fields.\n" {
		t.Errorf("read of nothing consented: %q", r.stdout)
	}

	// receipt prints the JWS and a newline whatever -o says; without an
	// id it takes the latest request, which is still pending.
	r = e.mustRun("receipt", "--vault", v.Addr, id, "-o", "table")
	receipt := r.stdout
	if strings.Count(receipt, ".") != 2 || !strings.HasSuffix(receipt, "\n") || strings.Count(receipt, "\n") != 1 || r.stderr != "" {
		t.Fatalf("receipt output %q, stderr %q", receipt, r.stderr)
	}
	if r2 := e.mustRun("receipt", "--vault", v.Addr, id, "-o", "json"); r2.stdout != receipt {
		t.Errorf("receipt -o json differs: %q", r2.stdout)
	}
	e.fail("request "+id2+" is still pending", "receipt", "--vault", v.Addr)
	receiptFile := writeFile(t, "receipt.jws", receipt)
	r = e.mustRun("descriptor", "--vault", v.Addr, "-o", "json")
	descFile := writeFile(t, "vault.jws", r.stdout)
	if _, err := consent.VerifyDescriptor(strings.TrimSuffix(r.stdout, "\n"), v.Address.VaultID, rq.VaultJKT); err != nil {
		t.Fatalf("descriptor output: %v", err)
	}

	// verify-receipt, online and offline, JSON and table.
	var vr verifyJSON
	decodeJSON(t, e.mustRun("verify-receipt", receiptFile, "--vault", v.Addr), &vr)
	wantV := verifyJSON{
		Vault: v.Addr, Valid: true, ConsentID: c.ConsentID, RequestID: id, BrandJKT: kg.BrandJKT, Subject: c.Subject,
		Status: "granted", Scopes: c.Scopes, Purposes: []string{"ServiceProvision"},
		Issued: vr.Issued, NotBefore: c.NotBefore, Expires: c.Expires, Validity: "active",
		SignedBy: vr.SignedBy, VaultJKT: rq.VaultJKT, VaultKeyPinned: true, Descriptor: "vault",
	}
	if !reflect.DeepEqual(vr, wantV) || len(vr.SignedBy) != 43 || vr.Issued == "" {
		t.Fatalf("verify-receipt:\n got %+v\nwant %+v", vr, wantV)
	}
	decodeJSON(t, e.mustRun("verify-receipt", receiptFile, "--vault", v.Addr, "--descriptor", descFile), &vr)
	if wantV.Descriptor = "file"; !reflect.DeepEqual(vr, wantV) {
		t.Fatalf("verify-receipt --descriptor:\n got %+v\nwant %+v", vr, wantV)
	}
	e.stdin = receipt
	r = e.mustRun("verify-receipt", "-", "--vault", v.Addr, "--descriptor", descFile, "-o", "table")
	for _, want := range []string{"valid: signed by owner key " + vr.SignedBy, c.ConsentID, c.Subject, "(active)", "(pinned)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify-receipt table lacks %q:\n%s", want, r.stdout)
		}
	}
	// Later, offline, the receipt has expired: it still verifies.
	e.now = func() time.Time { return time.Now().Add(31 * 24 * time.Hour) }
	decodeJSON(t, e.mustRun("verify-receipt", receiptFile, "--vault", v.Addr, "--descriptor", descFile), &vr)
	if !vr.Expired || vr.Validity != "expired" {
		t.Errorf("verify-receipt a month on: expired %v, validity %q", vr.Expired, vr.Validity)
	}
	e.now = nil

	// Any one byte changed, the trailing newline included, is refused.
	for i := range len(receipt) {
		mut := []byte(receipt)
		if mut[i] == 'A' {
			mut[i] = 'B'
		} else {
			mut[i] = 'A'
		}
		if err := os.WriteFile(receiptFile, mut, 0o600); err != nil {
			t.Fatal(err)
		}
		r := e.run("verify-receipt", receiptFile, "--vault", v.Addr, "--descriptor", descFile)
		if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.HasPrefix(line, "vrm-brand: receipt: ") || r.stdout != "" {
			t.Fatalf("receipt with byte %d changed: exit %d, %q", i, r.code, line)
		}
	}
	mut := []byte(receipt)
	mut[len(mut)/2] ^= 1
	if err := os.WriteFile(receiptFile, mut, 0o600); err != nil {
		t.Fatal(err)
	}
	e.fail("vrm-brand: receipt: ", "verify-receipt", receiptFile, "--vault", v.Addr)

	// The same claims signed by a key that is not an owner key.
	entry, err := consent.ParseLedgerEntry(strings.TrimSuffix(receipt, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := consent.SignRecord(newKey(t), *entry.Record)
	if err != nil {
		t.Fatal(err)
	}
	forgedFile := writeFile(t, "forged.jws", forged+"\n")
	e.fail("vrm-brand: receipt: signed by a key that is not an owner key of this vault", "verify-receipt", forgedFile, "--vault", v.Addr)
	e.fail("vrm-brand: receipt: signed by a key that is not an owner key of this vault", "verify-receipt", forgedFile, "--vault", v.Addr, "--descriptor", descFile)
	// The same owner keys in a descriptor signed by another vault key:
	// refused for the pin.
	d, err := consent.VerifyDescriptor(strings.TrimSuffix(readFile(t, descFile), "\n"), v.Address.VaultID, "")
	if err != nil {
		t.Fatal(err)
	}
	claims := d.Claims
	claims.VaultKey = nil
	otherVaultKey := newKey(t)
	forgedDesc, err := consent.SignDescriptor(otherVaultKey, claims)
	if err != nil {
		t.Fatal(err)
	}
	e.fail("vault descriptor: signed by vault key "+otherVaultKey.Thumbprint()+", but the key pinned for "+v.Addr+" is "+rq.VaultJKT,
		"verify-receipt", writeFile(t, "receipt.jws", receipt), "--vault", v.Addr, "--descriptor", writeFile(t, "forged-vault.jws", forgedDesc+"\n"))
	// A descriptor of another vault.
	e.fail("vault descriptor of "+v.Addr+": descriptor of another vault",
		"verify-receipt", writeFile(t, "receipt.jws", receipt), "--vault", v.Addr, "--descriptor", writeFile(t, "other.jws", mustDescriptor(t, v)+"\n"))
	// Another brand cannot pass the receipt off as its own.
	other := newTestEnv(t)
	other.mustRun("keygen")
	other.mustRun("descriptor", "--vault", v.Addr) // pins the vault key
	other.fail("vrm-brand: receipt: receipt of another brand", "verify-receipt", writeFile(t, "receipt.jws", receipt), "--vault", v.Addr, "--descriptor", descFile)

	// The owner revokes: reads fail with "consent revoked", status says
	// revoked, and the receipt is still printed, with a note.
	if _, err := o.Revoke(ctx, c.ConsentID); err != nil {
		t.Fatal(err)
	}
	e.fail("consent revoked", "read", "--vault", v.Addr)
	if l := oneErrorLine(t, e.run("read", "--vault", v.Addr)); l != "vrm-brand: consent revoked" {
		t.Errorf("read after revoke: %q", l)
	}
	if s := e.status("--vault", v.Addr, id); s.Consent == nil || s.Consent.State != "revoked" {
		t.Errorf("status after revoke %+v", s)
	}
	r = e.mustRun("receipt", "--vault", v.Addr, id)
	if r.stdout != receipt || !strings.Contains(r.stderr, "has been revoked") {
		t.Errorf("receipt after revoke: %q, stderr %q", r.stdout, r.stderr)
	}
}

// mustDescriptor returns the signed descriptor of a new vault on v's host.
func mustDescriptor(t *testing.T, v *vaulttest.Vault) string {
	t.Helper()
	addr, _ := v.NewVault(t)
	b := v.BrandAt(t, addr, newKey(t))
	_, compact, err := b.Descriptor(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return compact
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestE2EDeniedWithES256Key(t *testing.T) {
	v, o := startVault(t)
	e := newTestEnv(t)
	e.mustRun("keygen", "--alg", "ES256")
	if r := e.run(requestArgs(v.Addr)...); r.code != ExitUsage || !strings.Contains(r.stderr, "--name is required") {
		t.Errorf("request without a name: exit %d, %q", r.code, r.stderr)
	}
	e.mustRun(requestArgs(v.Addr, "--name", "Shop", "--url", "https://shop.example.com")...)
	st, err := loadState(e.home)
	if err != nil {
		t.Fatal(err)
	}
	id := st.Vaults[v.Addr].Requests[0].RequestID
	if _, err := o.Deny(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	// Without REQUEST_ID, the latest request is shown.
	if s := e.status("--vault", v.Addr, "--wait"); s.Request.RequestID != id || s.Request.State != "denied" || s.Consent == nil || s.Consent.State != "denied" {
		t.Fatalf("status after deny %+v", s)
	}
	e.fail("request "+id+" was denied: there is no receipt", "receipt", "--vault", v.Addr)
	e.fail("no active consent", "read", "--vault", v.Addr)
	e.fail("request not found", "status", "--vault", v.Addr, "AAAAAAAAAAAAAAAAAAAAAA")

	// A new key does not see the old key's requests.
	e.mustRun("keygen", "--force")
	e.fail("no request of this brand key to "+v.Addr+" is remembered", "status", "--vault", v.Addr)
}

func TestE2EPinnedKeyMismatch(t *testing.T) {
	v, o := startVault(t)
	e := newTestEnv(t)
	e.mustRun("keygen")
	// Pin another key for the vault, as if the vault had been replaced.
	st, err := loadState(e.home)
	if err != nil {
		t.Fatal(err)
	}
	st.vault(v.Address).pin(newKey(t).Thumbprint(), time.Now())
	if err := saveState(e.home, st); err != nil {
		t.Fatal(err)
	}
	e.fail("but the key pinned for "+v.Addr, "descriptor", "--vault", v.Addr)
	e.fail("but the key pinned for "+v.Addr, requestArgs(v.Addr, "--name", "Shop", "--url", "https://shop.example.com")...)
	// Nothing was asked of the vault.
	reqs, err := o.ListRequests(ctxT(t), vrmv1.ConsentState_CONSENT_STATE_UNSPECIFIED)
	if err != nil || len(reqs) != 0 {
		t.Errorf("requests sent to a vault whose key does not match the pin: %d, %v", len(reqs), err)
	}
	st, err = loadState(e.home)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(st.Vaults[v.Addr].Requests); n != 0 {
		t.Errorf("%d requests remembered", n)
	}
}
