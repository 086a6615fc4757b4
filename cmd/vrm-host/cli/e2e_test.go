package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// End-to-end tests: vrm-host against a real vaultd in host mode (gRPC on
// 127.0.0.1, badger in a temporary directory) started by vaulttest, with
// the admin key vrm-host keygen made, and the customer's side played by
// the Go owner client.

const testHostID = "test-host"

// ctxT returns a context that ends with the test or after 30 seconds.
func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// adminKey returns the public admin key in e's home, as vaultd
// --admin-key reads it.
func adminKey(t *testing.T, e *testEnv) consent.PublicKey {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e.home, publicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := consent.ParsePublicKey(bytes.TrimSpace(data))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// startHost makes an admin key in a fresh home and starts a host that
// knows it; e's environment points at the host.
func startHost(t *testing.T) (*vaulttest.Vault, *testEnv) {
	t.Helper()
	e := newTestEnv(t)
	e.mustRun("keygen")
	v := vaulttest.Start(t, vaulttest.Options{HostID: testHostID, AdminKeys: []consent.PublicKey{adminKey(t, e)}})
	e.vars[envAddr] = v.Address.HostPort
	e.vars[envHostID] = testHostID
	return v, e
}

// Shapes of vrm-host's JSON output, as a script reads them.
type (
	createJSON struct {
		VaultID        string `json:"vault_id"`
		Address        string `json:"address"`
		EnrollmentCode string `json:"enrollment_code"`
		CodeExpires    string `json:"code_expires"`
		InitCommand    string `json:"init_command"`
	}
	quotaJSON struct {
		MaxSizeBytes         int64 `json:"max_size_bytes"`
		MaxFields            int64 `json:"max_fields"`
		CallsPerSecond       int64 `json:"calls_per_second"`
		BrandCallsPerSecond  int64 `json:"brand_calls_per_second"`
		BrandPendingRequests int64 `json:"brand_pending_requests"`
		BrandOpenStreams     int64 `json:"brand_open_streams"`
	}
	vaultJSON struct {
		VaultID      string    `json:"vault_id"`
		Address      string    `json:"address"`
		Suspended    bool      `json:"suspended"`
		SizeBytes    int64     `json:"size_bytes"`
		FieldCount   int64     `json:"field_count"`
		ConsentCount int64     `json:"consent_count"`
		CallCount    int64     `json:"call_count"`
		Created      string    `json:"created"`
		Quota        quotaJSON `json:"quota"`
	}
	listJSON struct {
		Vaults        []vaultJSON `json:"vaults"`
		NextPageToken string      `json:"next_page_token"`
	}
	quotaResultJSON struct {
		VaultID string    `json:"vault_id"`
		Quota   quotaJSON `json:"quota"`
	}
	suspendJSON struct {
		VaultID   string `json:"vault_id"`
		Suspended bool   `json:"suspended"`
	}
	deleteJSON struct {
		VaultID string `json:"vault_id"`
		Deleted bool   `json:"deleted"`
	}
)

// list returns all the host's vaults by id.
func (e *testEnv) list() map[string]vaultJSON {
	e.t.Helper()
	var l listJSON
	decodeJSON(e.t, e.mustRun("list", "--all", "-o", "json"), &l)
	out := map[string]vaultJSON{}
	for _, v := range l.Vaults {
		out[v.VaultID] = v
	}
	return out
}

// wantCode fails the test unless err is a status with code and a message
// containing msg.
func wantCode(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	st, ok := status.FromError(err)
	if err == nil || !ok || st.Code() != code || !strings.Contains(st.Message(), msg) {
		t.Fatalf("err = %v, want %s %q", err, code, msg)
	}
}

func TestHostLifecycle(t *testing.T) {
	v, e := startHost(t)
	before := time.Now().Add(-time.Minute)

	// create: the vault, its address, a one-time code and the command for
	// the customer.
	var c createJSON
	decodeJSON(t, e.mustRun("create", "--max-fields", "7", "--max-size-bytes", "64KiB", "-o", "json"), &c)
	addr, err := vaultconn.ParseAddress(c.Address)
	if err != nil {
		t.Fatalf("create printed address %q: %v", c.Address, err)
	}
	if addr.HostPort != v.Address.HostPort || addr.VaultID != c.VaultID {
		t.Errorf("address %s, want %s/%s", c.Address, v.Address.HostPort, c.VaultID)
	}
	if c.EnrollmentCode == "" {
		t.Fatal("create printed no enrolment code")
	}
	if exp, err := time.Parse(time.RFC3339, c.CodeExpires); err != nil || !exp.After(before) {
		t.Errorf("code_expires = %q (%v)", c.CodeExpires, err)
	}
	if want := "vrm init --vault " + c.Address + " --code " + c.EnrollmentCode; c.InitCommand != want {
		t.Errorf("init_command = %q, want %q", c.InitCommand, want)
	}

	// list shows it, with the quota given at creation.
	vaults := e.list()
	got, ok := vaults[c.VaultID]
	if !ok {
		t.Fatalf("list does not show the new vault %s: %v", c.VaultID, vaults)
	}
	if got.Suspended || got.FieldCount != 0 || got.Quota.MaxFields != 7 || got.Quota.MaxSizeBytes != 64<<10 || got.Address != c.Address {
		t.Errorf("new vault in list = %+v", got)
	}
	if _, ok := vaults[v.Address.VaultID]; !ok || len(vaults) != 2 {
		t.Errorf("list = %v, want the new vault and vaulttest's", vaults)
	}

	// The customer enrols with the printed code and stores a field.
	owner := v.ClientAt(t, addr, vaulttest.NewKey(t))
	if _, err := owner.Enroll(ctxT(t), c.EnrollmentCode, "phone"); err != nil {
		t.Fatalf("enrol with the printed code: %v", err)
	}
	if _, err := owner.SetFields(ctxT(t), []profile.Field{{Path: "name.given", Value: profile.StringValue("Ada")}}); err != nil {
		t.Fatal(err)
	}
	got = e.list()[c.VaultID]
	if got.FieldCount != 1 || got.SizeBytes == 0 || got.CallCount == 0 {
		t.Errorf("usage after a write = %+v", got)
	}

	// quota sets the given members, keeps the others, and prints the
	// quota in force; the vault applies it.
	var q quotaResultJSON
	decodeJSON(t, e.mustRun("quota", c.VaultID, "--max-fields", "1", "--calls-per-second", "50", "-o", "json"), &q)
	if q.VaultID != c.VaultID || q.Quota.MaxFields != 1 || q.Quota.CallsPerSecond != 50 || q.Quota.MaxSizeBytes != 64<<10 {
		t.Errorf("quota = %+v", q)
	}
	_, err = owner.SetFields(ctxT(t), []profile.Field{{Path: "name.family", Value: profile.StringValue("Lovelace")}})
	wantCode(t, err, codes.ResourceExhausted, "")
	r := e.mustRun("quota", c.VaultID, "--brand-open-streams", "2", "-o", "table")
	for _, want := range []string{"Vault:", c.VaultID, "max-fields:", "brand-open-streams:", "max-size-bytes:", "65536 (64.0 KiB)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("quota table lacks %q:\n%s", want, r.stdout)
		}
	}

	// suspend: the owner is refused with FAILED_PRECONDITION.
	var s suspendJSON
	decodeJSON(t, e.mustRun("suspend", c.VaultID, "-o", "json"), &s)
	if s != (suspendJSON{VaultID: c.VaultID, Suspended: true}) {
		t.Errorf("suspend printed %+v", s)
	}
	_, err = owner.Status(ctxT(t))
	wantCode(t, err, codes.FailedPrecondition, "vault suspended")
	if !e.list()[c.VaultID].Suspended {
		t.Error("list does not show the vault suspended")
	}
	r = e.mustRun("list", "-o", "table")
	if !strings.Contains(r.stdout, "VAULT") || !regexpRow(r.stdout, c.VaultID, "yes") {
		t.Errorf("table does not show %s suspended:\n%s", c.VaultID, r.stdout)
	}

	// resume: the owner is served again.
	if r := e.mustRun("resume", c.VaultID, "-o", "table"); r.stdout != "vault "+c.VaultID+" resumed\n" {
		t.Errorf("resume printed %q", r.stdout)
	}
	if _, err := owner.Status(ctxT(t)); err != nil {
		t.Fatalf("owner call after resume: %v", err)
	}

	// delete needs --yes; then the vault is gone.
	r = e.run("delete", c.VaultID)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "cannot be undone") {
		t.Errorf("delete without --yes: exit %d, %q", r.code, r.stderr)
	}
	if _, ok := e.list()[c.VaultID]; !ok {
		t.Fatal("delete without --yes deleted the vault")
	}
	var d deleteJSON
	decodeJSON(t, e.mustRun("delete", c.VaultID, "--yes", "-o", "json"), &d)
	if d != (deleteJSON{VaultID: c.VaultID, Deleted: true}) {
		t.Errorf("delete printed %+v", d)
	}
	vaults = e.list()
	if _, ok := vaults[c.VaultID]; ok {
		t.Error("the deleted vault is still listed")
	}
	if _, ok := vaults[v.Address.VaultID]; !ok {
		t.Error("delete removed another vault from the list")
	}
	if _, err := owner.Status(ctxT(t)); err == nil {
		t.Error("the owner of a deleted vault is still served")
	}
	e.fail("suspend vault "+c.VaultID+": vault not found", "suspend", c.VaultID)
	e.fail("delete vault "+c.VaultID+": vault not found", "delete", c.VaultID, "--yes")
}

// regexpRow reports whether a table line starts with id and has cell as
// its second column.
func regexpRow(table, id, cell string) bool {
	for _, l := range strings.Split(table, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == id && f[1] == cell {
			return true
		}
	}
	return false
}

func TestCreateTable(t *testing.T) {
	_, e := startHost(t)
	r := e.mustRun("create", "-o", "table")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if !strings.HasPrefix(last, "vrm init --vault 127.0.0.1:") || !strings.Contains(last, " --code ") {
		t.Errorf("last line %q is not the customer's vrm init command:\n%s", last, r.stdout)
	}
	for _, want := range []string{"Vault:", "Address:", "Enrolment code:", "Code expires:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestListPages(t *testing.T) {
	_, e := startHost(t)
	var ids []string
	for range 4 {
		var c createJSON
		decodeJSON(t, e.mustRun("create", "-o", "json"), &c)
		ids = append(ids, c.VaultID)
	}
	// Five vaults with vaulttest's; pages of two.
	var seen []string
	token := ""
	for page := 0; ; page++ {
		args := []string{"list", "--page-size", "2", "-o", "json"}
		if token != "" {
			args = append(args, "--page-token", token)
		}
		var l listJSON
		decodeJSON(t, e.mustRun(args...), &l)
		if len(l.Vaults) > 2 {
			t.Fatalf("page %d holds %d vaults", page, len(l.Vaults))
		}
		for _, v := range l.Vaults {
			seen = append(seen, v.VaultID)
		}
		if token = l.NextPageToken; token == "" {
			break
		}
		if page > 5 {
			t.Fatal("list does not end")
		}
	}
	var all listJSON
	decodeJSON(t, e.mustRun("list", "--page-size", "2", "--all", "-o", "json"), &all)
	var allIDs []string
	for _, v := range all.Vaults {
		allIDs = append(allIDs, v.VaultID)
	}
	if len(seen) != 5 || !slices.Equal(seen, allIDs) || all.NextPageToken != "" {
		t.Errorf("paged %v, --all %v (next %q)", seen, allIDs, all.NextPageToken)
	}
	for _, id := range ids {
		if !slices.Contains(allIDs, id) {
			t.Errorf("vault %s missing from list --all", id)
		}
	}

	// A table of one page says on stderr how to go on.
	r := e.mustRun("list", "--page-size", "2", "-o", "table")
	if !strings.Contains(r.stderr, "more vaults: vrm-host list --page-token ") {
		t.Errorf("no note on the next page: stderr %q", r.stderr)
	}
	if head := strings.Fields(strings.SplitN(r.stdout, "\n", 2)[0]); !slices.Equal(head,
		[]string{"VAULT", "SUSPENDED", "FIELDS", "SIZE", "CONSENTS", "CALLS", "CREATED"}) {
		t.Errorf("table header = %v", head)
	}
}

func TestUnknownAdminKey(t *testing.T) {
	_, e := startHost(t)
	stranger := newTestEnv(t)
	stranger.mustRun("keygen")
	stranger.vars[envAddr], stranger.vars[envHostID] = e.vars[envAddr], e.vars[envHostID]
	for _, args := range [][]string{{"create"}, {"list"}, {"suspend", "v1"}, {"delete", "v1", "--yes"}} {
		line := stranger.fail("unknown key", args...)
		if !strings.Contains(line, "is not one of the host's admin keys") {
			t.Errorf("%v: %q does not say what to do", args, line)
		}
	}
}

func TestWrongHostID(t *testing.T) {
	_, e := startHost(t)
	e.fail("aud does not match", "list", "--host-id", "other-host")
}

func TestNotAHost(t *testing.T) {
	v := vaulttest.Start(t)
	e := newTestEnv(t)
	e.mustRun("keygen")
	e.fail("is not a host (start it with --host)", "list", "--host", v.Address.HostPort, "--host-id", testHostID)
}

func TestUnreachableHost(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun("keygen")
	e.fail("the host could not be reached at 127.0.0.1:1", "create", "--host", "127.0.0.1:1", "--host-id", testHostID)
}

func TestSavedConfigIsUsed(t *testing.T) {
	v, e := startHost(t)
	delete(e.vars, envAddr)
	delete(e.vars, envHostID)
	e.mustRun("config", "--host", v.Address.HostPort, "--host-id", testHostID)
	if _, ok := e.list()[v.Address.VaultID]; !ok {
		t.Error("list with the saved host does not show vaulttest's vault")
	}
}
