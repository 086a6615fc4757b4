package cli

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/clients/host"
	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/server"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// testHostID is the host id of the vaults the hosting tests start.
const testHostID = "test-host"

// keysAdd runs vrm keys add on e and returns its result.
func keysAdd(t *testing.T, e *testEnv) keysAddResult {
	t.Helper()
	var res keysAddResult
	decodeJSON(t, e.mustRun("keys", "add", "-o", "json"), &res)
	return res
}

// initFrom runs, in a fresh home, the vrm init command that vrm keys add
// printed, naming the device, and returns the new device's env and key.
func initFrom(t *testing.T, add keysAddResult, device string) (*testEnv, string) {
	t.Helper()
	args := strings.Fields(add.Command)
	if len(args) < 2 || args[0] != "vrm" || args[1] != "init" {
		t.Fatalf("vrm keys add printed %q, not a vrm init command", add.Command)
	}
	e := newTestEnv(t)
	r := e.mustRun(append(args[1:], "--device", device, "-o", "json")...)
	var in initResult
	decodeJSON(t, r, &in)
	return e, in.OwnerJKT
}

// keysList runs vrm keys list on e and returns the keys by device name.
func keysList(t *testing.T, e *testEnv) map[string]ownerKeyOut {
	t.Helper()
	var res keysResult
	decodeJSON(t, e.mustRun("keys", "list", "-o", "json"), &res)
	out := map[string]ownerKeyOut{}
	for _, k := range res.OwnerKeys {
		out[k.Device] = k
	}
	return out
}

// TestE2EKeysAndHosting: on a hosted vault, device A issues codes (vrm
// keys add) with which devices B and C enrol (vrm init, each in its own
// VRM_HOME); all list the keys; A removes B, C removes itself; the ledger
// verifies with the owner keys in force; vrm status shows the host, the
// quota and the usage, and says clearly when the host suspends the vault.
func TestE2EKeysAndHosting(t *testing.T) {
	admin := vaulttest.NewKey(t)
	v := vaulttest.Start(t, vaulttest.Options{
		HostID: testHostID, AdminKeys: []consent.PublicKey{admin.Public()},
		Defaults: vault.Quota{BrandCallsPerSecond: 20},
	})
	ea := initVault(t, v)
	jktA := ea.cfg().OwnerJKT
	ea.mustRun("profile", "set", "name.given=Ada", "email.home=ada@example.org")
	b := v.Brand(t, vaulttest.NewKey(t))
	req, err := b.RequestAccess(testCtx(t), shopRequest)
	if err != nil {
		t.Fatal(err)
	}
	ea.mustRun("grant", req.GetRequestId())

	// A issues a code; B enrols with the command A printed.
	add := keysAdd(t, ea)
	if want := "vrm init --vault " + v.Addr + " --code " + add.Code; add.Command != want {
		t.Errorf("command %q, want %q", add.Command, want)
	}
	if exp, err := time.Parse(time.RFC3339, add.Expires); err != nil || exp.Before(time.Now().Add(vault.DefaultEnrollmentTTL-time.Hour)) {
		t.Errorf("code expires %q (%v)", add.Expires, err)
	}
	eb, jktB := initFrom(t, add, "phone")
	// The code was spent.
	r := newTestEnv(t).run("init", "--vault", v.Addr, "--code", add.Code)
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "enrolment code invalid, used or expired") {
		t.Errorf("a second init with the same code: exit %d, %q", r.code, line)
	}

	// The table form of keys add.
	ea.vars[envFormat] = "table"
	r = ea.mustRun("keys", "add")
	for _, want := range []string{"Code:", "Expires:", "On the new device, run:", "vrm init --vault " + v.Addr + " --code "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table keys add lacks %q:\n%s", want, r.stdout)
		}
	}
	delete(ea.vars, envFormat)
	ec, jktC := initFrom(t, keysAdd(t, ea), "tablet")

	// Every device lists the three keys and marks its own.
	for name, tc := range map[string]struct {
		e    *testEnv
		this string
	}{"A": {ea, "test-device"}, "B": {eb, "phone"}, "C": {ec, "tablet"}} {
		keys := keysList(t, tc.e)
		if len(keys) != 3 || keys["test-device"].JKT != jktA || keys["phone"].JKT != jktB || keys["tablet"].JKT != jktC {
			t.Errorf("device %s lists %+v", name, keys)
		}
		for device, k := range keys {
			if k.ThisDevice != (device == tc.this) || k.Enrolled == "" {
				t.Errorf("device %s lists %+v", name, k)
			}
		}
	}
	ea.vars[envFormat] = "table"
	r = ea.mustRun("keys", "list")
	if !strings.HasPrefix(r.stdout, "JKT") || !strings.Contains(r.stdout, jktA+"  test-device (this device)") || !strings.Contains(r.stdout, jktB+"  phone ") {
		t.Errorf("table keys list:\n%s", r.stdout)
	}
	delete(ea.vars, envFormat)

	// Refusals: no --yes, a prefix, this device's own key without --force.
	r = ea.run("keys", "rm", jktB)
	if line := oneErrorLine(t, r); r.code != ExitUsage || !strings.Contains(line, "--yes") {
		t.Errorf("keys rm without --yes: exit %d, %q", r.code, line)
	}
	r = ea.run("keys", "rm", jktB[:12], "--yes")
	if line := oneErrorLine(t, r); r.code != ExitUsage || !strings.Contains(line, "whole key thumbprint") {
		t.Errorf("keys rm of a prefix: exit %d, %q", r.code, line)
	}
	r = ea.run("keys", "rm", jktA, "--yes")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "this device's own owner key") || !strings.Contains(line, "--force") {
		t.Errorf("keys rm of this device's key: exit %d, %q", r.code, line)
	}
	r = ea.run("keys", "rm", vaulttest.NewKey(t).Thumbprint(), "--yes")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "is not an owner key") {
		t.Errorf("keys rm of a stranger: exit %d, %q", r.code, line)
	}
	if got := len(keysList(t, ea)); got != 3 {
		t.Fatalf("%d keys after refused removals", got)
	}

	// A trusts B, then removes it: B is locked out, and forgotten.
	ea.mustRun("verify", "--trust", jktB, "--trust", jktC)
	var rm keysRmResult
	decodeJSON(t, ea.mustRun("keys", "rm", jktB, "--yes", "-o", "json"), &rm)
	if rm.Removed.JKT != jktB || rm.Removed.Device != "phone" || rm.Removed.ThisDevice || rm.LedgerHead.Seq == 0 {
		t.Errorf("keys rm: %+v", rm)
	}
	if cfg := ea.cfg(); slices.Contains(cfg.KnownOwnerKeys, jktB) || !slices.Contains(cfg.KnownOwnerKeys, jktC) || cfg.ledgerHead().Seq != rm.LedgerHead.Seq {
		t.Errorf("A's config after the removal: known %v, head %+v", cfg.KnownOwnerKeys, cfg.LedgerHead)
	}
	r = eb.run("status")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "unknown key") {
		t.Errorf("B's status after its removal: exit %d, %q", r.code, line)
	}

	// C removes its own key with --force.
	r = ec.mustRun("keys", "rm", jktC, "--yes", "--force")
	if !strings.Contains(r.stderr, "vrm: warning: this device's key is no longer an owner key") {
		t.Errorf("self-removal: stderr %q", r.stderr)
	}
	if r = ec.run("keys", "list"); r.code != ExitFailure {
		t.Errorf("C lists keys after removing its own: exit %d", r.code)
	}
	// The last key stays.
	r = ea.run("keys", "rm", jktA, "--yes", "--force")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "last owner key") {
		t.Errorf("keys rm of the last key: exit %d, %q", r.code, line)
	}

	// The ledger verifies: A's key alone is in force.
	var vr verifyResult
	r = ea.mustRun("verify", "-o", "json")
	decodeJSON(t, r, &vr)
	if len(vr.OwnerKeys) != 1 || vr.OwnerKeys[0].JKT != jktA || len(vr.Warnings) != 0 || r.stderr != "" {
		t.Errorf("verify after the removals: %+v\n%s", vr, r.stderr)
	}
	if vr.Ledger.Entries != 6 { // add A, grant, add B, add C, remove B, remove C
		t.Errorf("ledger has %d entries, want 6", vr.Ledger.Entries)
	}

	// Status: host, quota, usage.
	var st statusResult
	decodeJSON(t, ea.mustRun("status", "-o", "json"), &st)
	limits := v.Host.Limits()
	wantQuota := quotaOut{
		MaxSizeBytes: int64(limits.MaxProfileBytes), MaxFields: int64(limits.MaxFields), BrandCallsPerSecond: 20,
		BrandPendingRequests: vault.DefaultMaxPendingPerBrand, BrandOpenStreams: server.DefaultMaxStreamsPerBrand,
	}
	if st.HostID != testHostID || st.Suspended || st.Quota == nil || *st.Quota != wantQuota {
		t.Errorf("status: host %q suspended %v quota %+v; want %q, %+v", st.HostID, st.Suspended, st.Quota, testHostID, wantQuota)
	}
	if st.FieldCount != 2 || st.ProfileBytes <= 0 || st.ConsentCount != 1 || st.CallCount < 10 || len(st.OwnerKeys) != 1 {
		t.Errorf("status usage: %+v", st)
	}
	ea.vars[envFormat] = "table"
	r = ea.mustRun("status")
	for _, want := range []string{"Host:", testHostID, "Suspended:", "no", "Fields:", "2 of ", "Consents:", "Calls:",
		"Quota:", "calls per second to the vault: unlimited", "calls per second per brand: 20", "pending requests per brand: 5",
		"open streams per brand: 16", "(this device)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table status lacks %q:\n%s", want, r.stdout)
		}
	}
	delete(ea.vars, envFormat)

	// Suspended by the host: vrm status says so, on one line.
	hc, err := host.Dial(host.Config{HostPort: v.Address.HostPort, HostID: testHostID, Key: admin})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	if err := hc.Suspend(testCtx(t), v.Address.VaultID); err != nil {
		t.Fatal(err)
	}
	r = ea.run("status")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "the vault at "+v.Addr+" is suspended by its host") {
		t.Errorf("status of a suspended vault: exit %d, %q", r.code, line)
	}
}

// TestE2EStatusSingleVault: a vault that vaultd serves alone has no host.
func TestE2EStatusSingleVault(t *testing.T) {
	v := vaulttest.Start(t)
	e := initVault(t, v)
	var st statusResult
	decodeJSON(t, e.mustRun("status", "-o", "json"), &st)
	if st.HostID != "" || st.Quota == nil || st.Quota.CallsPerSecond != 0 {
		t.Errorf("single-vault status: %+v", st)
	}
	e.vars[envFormat] = "table"
	if r := e.mustRun("status"); !strings.Contains(r.stdout, "none (vaultd serves this vault alone)") {
		t.Errorf("table status:\n%s", r.stdout)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:7443/abc-_DEF": "127.0.0.1:7443/abc-_DEF",
		"[::1]:7443/abc":          "'[::1]:7443/abc'",
		"ABCD-EFGH":               "ABCD-EFGH",
		"/tmp/my ca.pem":          "'/tmp/my ca.pem'",
		"it's":                    "'it'\\''s'",
		"":                        "''",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
