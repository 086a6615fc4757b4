package cli

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// End-to-end tests: vrm against a real vault server (gRPC on 127.0.0.1,
// badger in a temporary directory) started by vaulttest.

// fieldJSON is a field of vrm's JSON output, as a script reads it.
type fieldJSON struct {
	Path    string `json:"path"`
	Type    string `json:"type"`
	Value   any    `json:"value"`
	Version uint64 `json:"version"`
	Updated string `json:"updated"`
}

// initVault runs vrm init against v in a fresh home and returns the env.
func initVault(t *testing.T, v *vaulttest.Vault) *testEnv {
	t.Helper()
	e := newTestEnv(t)
	r := e.run("init", "--vault", v.Addr, "--code", v.Code, "--device", "test-device")
	if r.code != ExitOK {
		t.Fatalf("vrm init: exit %d: %s", r.code, r.stderr)
	}
	return e
}

// mustRun runs vrm and fails the test unless it exits 0.
func (e *testEnv) mustRun(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != ExitOK {
		e.t.Fatalf("vrm %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// get returns the fields at paths (all without) by path.
func (e *testEnv) get(paths ...string) map[string]fieldJSON {
	e.t.Helper()
	r := e.mustRun(append([]string{"profile", "get", "-o", "json"}, paths...)...)
	var doc struct {
		Vault  string      `json:"vault"`
		Fields []fieldJSON `json:"fields"`
	}
	decodeJSON(e.t, r, &doc)
	out := map[string]fieldJSON{}
	for i, f := range doc.Fields {
		if i > 0 && doc.Fields[i-1].Path >= f.Path {
			e.t.Errorf("fields not sorted by path: %s before %s", doc.Fields[i-1].Path, f.Path)
		}
		out[f.Path] = f
	}
	return out
}

// values returns path -> value of fields.
func values(fields map[string]fieldJSON) map[string]any {
	out := make(map[string]any, len(fields))
	for p, f := range fields {
		out[p] = f.Value
	}
	return out
}

func TestE2EInitAndStatus(t *testing.T) {
	v := vaulttest.Start(t)
	e := newTestEnv(t)
	r := e.run("init", "--vault", v.Addr, "--code", v.Code, "--device", "laptop", "-o", "json")
	if r.code != ExitOK {
		t.Fatalf("init: exit %d: %s", r.code, r.stderr)
	}
	var in struct {
		Vault    string `json:"vault"`
		OwnerJKT string `json:"owner_jkt"`
		Device   string `json:"device"`
		Home     string `json:"home"`
	}
	decodeJSON(t, r, &in)
	if in.Vault != v.Addr || len(in.OwnerJKT) != 43 || in.Device != "laptop" || in.Home != e.home {
		t.Errorf("init output %+v", in)
	}

	if runtime.GOOS != "windows" {
		for name, want := range map[string]os.FileMode{e.home: 0o700, filepath.Join(e.home, keyFile): 0o600, filepath.Join(e.home, configFile): 0o600} {
			fi, err := os.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s has mode %04o, want %04o", name, fi.Mode().Perm(), want)
			}
		}
	}
	cfg, err := loadConfig(e.home)
	if err != nil || cfg.Vault != v.Addr || cfg.OwnerJKT != in.OwnerJKT {
		t.Fatalf("config %+v, %v", cfg, err)
	}

	// A second init is refused and changes nothing.
	r = e.run("init", "--vault", v.Addr, "--code", v.Code)
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "already initialised") || !strings.Contains(line, "--force") {
		t.Errorf("second init: exit %d, %q", r.code, line)
	}

	e.mustRun("profile", "set", "name.given=Ada", "email.home=ada@example.org")
	r = e.mustRun("status") // stdout is a buffer: JSON by default
	var st statusResult
	decodeJSON(t, r, &st)
	if st.Vault != v.Addr || st.OwnerJKT != in.OwnerJKT || st.FieldCount != 2 || st.ProfileBytes <= 0 || st.LastSeq == 0 {
		t.Errorf("status %+v", st)
	}
	if len(st.OwnerKeys) != 1 || st.OwnerKeys[0].JKT != in.OwnerJKT || !st.OwnerKeys[0].ThisDevice || st.OwnerKeys[0].Device != "laptop" {
		t.Errorf("status owner keys %+v", st.OwnerKeys)
	}

	// VRM_FORMAT=table changes the default; -o json overrides it.
	e.vars[envFormat] = "table"
	r = e.mustRun("status")
	for _, want := range []string{"Vault:", v.Addr, "Owner key:", in.OwnerJKT, "Fields:", "(this device)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table status lacks %q:\n%s", want, r.stdout)
		}
	}
	r = e.mustRun("profile", "get")
	if !strings.HasPrefix(r.stdout, "PATH") || !strings.Contains(r.stdout, "VERSION") || !strings.Contains(r.stdout, "ada@example.org") {
		t.Errorf("table get:\n%s", r.stdout)
	}
	r = e.mustRun("-o", "json", "status")
	decodeJSON(t, r, &st)

	// --force enrols a new key with a new code and replaces the config.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	enr, err := v.Host.NewEnrollmentCode(ctx, v.Address.VaultID)
	if err != nil {
		t.Fatal(err)
	}
	r = e.mustRun("init", "--force", "--vault", v.Addr, "--code", enr.Code, "-o", "json")
	var again struct {
		OwnerJKT string `json:"owner_jkt"`
	}
	decodeJSON(t, r, &again)
	if again.OwnerJKT == in.OwnerJKT {
		t.Error("init --force kept the old key")
	}
	delete(e.vars, envFormat)
	r = e.mustRun("status")
	decodeJSON(t, r, &st)
	if st.OwnerJKT != again.OwnerJKT || len(st.OwnerKeys) != 2 {
		t.Errorf("after init --force: status %+v", st)
	}
}

func TestE2EInitFailureWritesNothing(t *testing.T) {
	v := vaulttest.Start(t)
	e := newTestEnv(t)
	r := e.run("init", "--vault", v.Addr, "--code", "not-the-code")
	if r.code != ExitFailure {
		t.Fatalf("init with a wrong code: exit %d, want %d", r.code, ExitFailure)
	}
	if line := oneErrorLine(t, r); !strings.Contains(line, "enrolment code") {
		t.Errorf("error line %q", line)
	}
	if _, err := os.Stat(e.home); !os.IsNotExist(err) {
		t.Errorf("failed init left %s behind (%v)", e.home, err)
	}
	// The real code still works afterwards.
	initVault(t, v)
}

func TestE2EProfile(t *testing.T) {
	v := vaulttest.Start(t)
	e := initVault(t, v)

	r := e.mustRun("profile", "set", "name.given=Ada", "email.home=ada@example.org", "phone.mobile=+447700900123", "address.home.country=GB")
	var set setResult
	decodeJSON(t, r, &set)
	if set.Seq == 0 || len(set.Fields) != 4 {
		t.Errorf("set output: %+v", set)
	}

	got := e.get()
	want := map[string]any{
		"name.given":           "Ada",
		"email.home":           "ada@example.org",
		"phone.mobile":         "+447700900123",
		"address.home.country": "GB",
	}
	if !reflect.DeepEqual(values(got), want) {
		t.Fatalf("profile get = %v, want %v", values(got), want)
	}
	for p, f := range got {
		if f.Type != "string" || f.Version == 0 || f.Version != set.Seq {
			t.Errorf("%s: type %q version %d, want string at version %d", p, f.Type, f.Version, set.Seq)
		}
		if _, err := time.Parse(time.RFC3339, f.Updated); err != nil {
			t.Errorf("%s: updated %q is not RFC 3339", p, f.Updated)
		}
	}
	if sub := e.get("address.*", "name.given"); len(sub) != 2 {
		t.Errorf("get address.* name.given returned %v", values(sub))
	}

	// A value the vault refuses: exit 1, one line naming the path.
	r = e.run("profile", "set", "phone.mobile=12345")
	if r.code != ExitFailure {
		t.Fatalf("bad phone: exit %d, want %d", r.code, ExitFailure)
	}
	if line := oneErrorLine(t, r); !strings.Contains(line, "phone.mobile") || strings.Contains(line, "12345") {
		t.Errorf("bad phone: %q should name phone.mobile and not the value", line)
	}

	// One bad field fails the whole batch.
	r = e.run("profile", "set", "name.given=Bob", "phone.mobile=12345")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "phone.mobile") {
		t.Errorf("batch with a bad field: exit %d, %q", r.code, line)
	}
	after := e.get()
	if after["name.given"].Value != "Ada" || after["name.given"].Version != got["name.given"].Version {
		t.Errorf("a failed batch changed name.given: %+v", after["name.given"])
	}

	// Optimistic concurrency.
	ver := got["name.given"].Version
	r = e.run("profile", "set", "name.given=Bob", "--if-version", "name.given="+strconv.FormatUint(ver+100, 10))
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "name.given") {
		t.Errorf("--if-version conflict: exit %d, %q", r.code, line)
	}
	if e.get("name.given")["name.given"].Value != "Ada" {
		t.Error("a conflicting write was stored")
	}
	r = e.run("profile", "set", "name.given=Bob", "email.work=ada@work.example", "--if-version", "name.given="+strconv.FormatUint(ver, 10), "--if-version", "email.work=0")
	if r.code != ExitOK {
		t.Fatalf("--if-version at the current version: exit %d: %s", r.code, r.stderr)
	}
	r = e.run("profile", "set", "email.work=other@work.example", "--if-version", "email.work=0")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "email.work") {
		t.Errorf("--if-version 0 on an existing field: exit %d, %q", r.code, line)
	}

	// Values typed by path and by --type; '=' inside a value.
	e.mustRun("profile", "set", "prefs.contact.marketing.channels=email, sms", "notes.formula=e=mc^2")
	e.mustRun("profile", "set", "--type", "int", "loyalty.points=120")
	e.mustRun("profile", "set", "--type", "bool", "loyalty.member=yes")
	e.mustRun("profile", "set", "--type", "timestamp", "loyalty.since=2024-05-01T09:30:00+02:00")
	f := e.get("prefs.*", "notes.*", "loyalty.*")
	for p, want := range map[string]struct {
		typ   string
		value any
	}{
		"prefs.contact.marketing.channels": {"list", []any{"email", "sms"}},
		"notes.formula":                    {"string", "e=mc^2"},
		"loyalty.points":                   {"int", float64(120)},
		"loyalty.member":                   {"bool", true},
		"loyalty.since":                    {"timestamp", "2024-05-01T07:30:00Z"},
	} {
		if f[p].Type != want.typ || !reflect.DeepEqual(f[p].Value, want.value) {
			t.Errorf("%s = %s %#v, want %s %#v", p, f[p].Type, f[p].Value, want.typ, want.value)
		}
	}
	r = e.run("profile", "set", "--type", "int", "loyalty.points=lots")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "loyalty.points") {
		t.Errorf("--type int with a word: exit %d, %q", r.code, line)
	}

	// rm: exact paths, a prefix, a missing path.
	r = e.mustRun("profile", "rm", "email.home", "loyalty.*")
	var rm rmResult
	decodeJSON(t, r, &rm)
	if want := []string{"email.home", "loyalty.member", "loyalty.points", "loyalty.since"}; !reflect.DeepEqual(rm.Deleted, want) {
		t.Errorf("rm deleted %v, want %v", rm.Deleted, want)
	}
	left := e.get()
	for _, p := range []string{"email.home", "loyalty.points"} {
		if _, ok := left[p]; ok {
			t.Errorf("%s still there after rm", p)
		}
	}
	if _, ok := left["email.work"]; !ok {
		t.Error("rm removed email.work too")
	}
	r = e.run("profile", "rm", "email.home")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "email.home") {
		t.Errorf("rm of a missing field: exit %d, %q", r.code, line)
	}
	r = e.run("profile", "rm", "nothing.*")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "no fields match nothing.*") {
		t.Errorf("rm of an empty prefix: exit %d, %q", r.code, line)
	}
	r = e.run("profile", "rm", "email.work", "--if-version", "email.work=1")
	if r.code != ExitFailure {
		t.Errorf("rm with a wrong --if-version: exit %d", r.code)
	}
}

// contactCard is a vCard 3.0 as a phone exports it.
const contactCard = "BEGIN:VCARD\r\n" +
	"VERSION:3.0\r\n" +
	"N:Lovelace;Ada;;;\r\n" +
	"FN:Ada Lovelace\r\n" +
	"EMAIL;TYPE=INTERNET,HOME:ada@example.org\r\n" +
	"EMAIL;TYPE=INTERNET,WORK:ada@engines.example\r\n" +
	"TEL;TYPE=CELL:+44 7700 900123\r\n" +
	"TEL;TYPE=HOME:020 7946 0000\r\n" +
	"ADR;TYPE=HOME:;;12 St James's Square;London;;SW1Y 4JH;United Kingdom\r\n" +
	"NOTE:Likes engines\r\n" +
	"END:VCARD\r\n"

func TestE2EImportExport(t *testing.T) {
	a := vaulttest.Start(t)
	ea := initVault(t, a)
	dir := t.TempDir()

	card := filepath.Join(dir, "ada.vcf")
	if err := os.WriteFile(card, []byte(contactCard), 0o600); err != nil {
		t.Fatal(err)
	}
	r := ea.mustRun("profile", "import", card)
	var imp importResult
	decodeJSON(t, r, &imp)
	if imp.Format != fileVCard || imp.Imported == 0 || imp.Imported != len(imp.Fields) || imp.Seq == 0 {
		t.Errorf("import output %+v", imp)
	}
	if !strings.Contains(r.stderr, "imported "+strconv.Itoa(imp.Imported)+" fields from "+card) {
		t.Errorf("stderr does not report the count:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "vrm: warning: ") || len(imp.Warnings) == 0 {
		t.Errorf("no warnings for the local number and NOTE; stderr:\n%s", r.stderr)
	}
	got := ea.get()
	for p, want := range map[string]string{
		"name.given":           "Ada",
		"name.family":          "Lovelace",
		"name.display":         "Ada Lovelace",
		"email.home":           "ada@example.org",
		"email.work":           "ada@engines.example",
		"phone.mobile":         "+447700900123",
		"address.home.country": "GB",
		"address.home.street":  "12 St James's Square",
	} {
		if got[p].Value != want {
			t.Errorf("imported %s = %#v, want %q", p, got[p].Value, want)
		}
	}
	ea.mustRun("profile", "set", "--type", "int", "loyalty.points=7")
	full := ea.get()

	// vCard round trip: export from a, import into b, same contact fields.
	vcf := filepath.Join(dir, "out.vcf")
	r = ea.mustRun("profile", "export", "--out", vcf) // format from the extension
	var exp exportResult
	decodeJSON(t, r, &exp)
	if exp.Format != fileVCard || exp.Out != vcf || exp.Bytes == 0 {
		t.Errorf("export output %+v", exp)
	}
	data, err := os.ReadFile(vcf)
	if err != nil || !strings.HasPrefix(string(data), "BEGIN:VCARD") {
		t.Fatalf("exported vCard: %v\n%s", err, data)
	}
	if fi, _ := os.Stat(vcf); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %04o, want 0600", fi.Mode().Perm())
	}
	b := vaulttest.Start(t)
	eb := initVault(t, b)
	eb.stdin = string(data)
	r = eb.mustRun("profile", "import", "-") // format sniffed from the content
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("re-importing vrm's own vCard gave warnings:\n%s", r.stderr)
	}
	wantContact := values(full)
	delete(wantContact, "loyalty.points") // not a contact field
	if gotB := values(eb.get()); !reflect.DeepEqual(gotB, wantContact) {
		t.Errorf("vCard round trip:\n got %v\nwant %v", gotB, wantContact)
	}

	// JSON round trip: export to stdout, import into c, the same profile.
	r = ea.mustRun("profile", "export", "--format", "json")
	if !strings.Contains(r.stdout, `"format": "vrmvault-profile/v1"`) {
		t.Errorf("JSON export:\n%s", r.stdout)
	}
	js := filepath.Join(dir, "profile.json")
	if err := os.WriteFile(js, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	c := vaulttest.Start(t)
	ec := initVault(t, c)
	ec.mustRun("profile", "import", js)
	gotC := ec.get()
	if !reflect.DeepEqual(values(gotC), values(full)) {
		t.Errorf("JSON round trip:\n got %v\nwant %v", values(gotC), values(full))
	}
	for p, f := range full {
		if gotC[p].Type != f.Type {
			t.Errorf("JSON round trip: %s is %s, want %s", p, gotC[p].Type, f.Type)
		}
	}

	// An import is one batch: one bad field stores nothing.
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"name": {"given": "Bob"}, "phone": {"mobile": "12345"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r = ec.run("profile", "import", bad)
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "phone.mobile") {
		t.Errorf("import with a bad field: exit %d, %q", r.code, line)
	}
	if ec.get("name.given")["name.given"].Value != "Ada" {
		t.Error("a failed import changed name.given")
	}
}

func TestE2EUnavailable(t *testing.T) {
	v := vaulttest.Start(t)
	e := initVault(t, v)
	v.Stop()
	r := e.run("profile", "get", "--timeout", "5s")
	if r.code != ExitFailure {
		t.Fatalf("exit %d, want %d", r.code, ExitFailure)
	}
	if line := oneErrorLine(t, r); !strings.Contains(line, "the vault could not be reached at "+v.Addr) {
		t.Errorf("error line %q", line)
	}
}
