package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
)

// result is what one run of Main produced.
type result struct {
	code           int
	stdout, stderr string
}

// testEnv is the environment of runs of Main in a test: a fresh
// VRM_BRAND_HOME (not yet created) and whatever else the test sets.
type testEnv struct {
	t     *testing.T
	home  string
	vars  map[string]string
	stdin string
	now   func() time.Time
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	home := filepath.Join(t.TempDir(), "vrm-brand")
	return &testEnv{t: t, home: home, vars: map[string]string{envHome: home}}
}

// run runs vrm-brand with args and returns its exit status and output.
func (e *testEnv) run(args ...string) result {
	e.t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, Env{
		Stdin:  strings.NewReader(e.stdin),
		Stdout: &out,
		Stderr: &errOut,
		Getenv: func(k string) string { return e.vars[k] },
		Now:    e.now,
	})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// mustRun runs vrm-brand and fails the test unless it exits 0.
func (e *testEnv) mustRun(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != ExitOK {
		e.t.Fatalf("vrm-brand %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// fail runs vrm-brand, expects exit status 1 and one error line
// containing want, and returns the line.
func (e *testEnv) fail(want string, args ...string) string {
	e.t.Helper()
	r := e.run(args...)
	line := oneErrorLine(e.t, r)
	if r.code != ExitFailure {
		e.t.Errorf("vrm-brand %s: exit %d, want %d (%s)", strings.Join(args, " "), r.code, ExitFailure, line)
	}
	if !strings.Contains(line, want) {
		e.t.Errorf("vrm-brand %s: error line %q does not contain %q", strings.Join(args, " "), line, want)
	}
	if r.stdout != "" {
		e.t.Errorf("vrm-brand %s: a failure printed %q", strings.Join(args, " "), r.stdout)
	}
	return line
}

// oneErrorLine checks that r's stderr is exactly one line
// "vrm-brand: ..." and returns it.
func oneErrorLine(t *testing.T, r result) string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "vrm-brand: ") || !strings.HasSuffix(r.stderr, "\n") {
		t.Fatalf("stderr is not one line \"vrm-brand: ...\": %q", r.stderr)
	}
	return lines[0]
}

// decodeJSON decodes r's stdout into v, failing on anything but one
// JSON document.
func decodeJSON(t *testing.T, r result, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Fatalf("more than one JSON document:\n%s", r.stdout)
	}
}

const testAddr = "127.0.0.1:1/v_test"

func TestUsageErrors(t *testing.T) {
	req := func(extra ...string) []string {
		return append([]string{"request", "--vault", testAddr, "--name", "Shop", "--url", "https://shop.example.com",
			"--scope", "read:name.given", "--purpose", "ServiceProvision", "--duration", "90d"}, extra...)
	}
	tests := []struct {
		args []string
		want string // a substring of the error line
	}{
		{nil, "missing command: one of completion, descriptor, keygen, read, receipt, request, status, verify-receipt, watch, watch-consent, write (see vrm-brand --help)"},
		{[]string{"bogus"}, `unknown command "bogus" (see vrm-brand --help)`},
		{[]string{"stauts"}, "did you mean status?"},
		{[]string{"-o", "yaml", "keygen"}, `-o must be table or json, got "yaml"`},
		{[]string{"keygen", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"keygen", "--bogus"}, "keygen: unknown flag: --bogus (see vrm-brand keygen --help)"},
		{[]string{"keygen", "extra"}, `keygen: unexpected argument "extra"`},
		{[]string{"keygen", "--alg", "RS256"}, `--alg must be EdDSA or ES256, got "RS256"`},
		{[]string{"keygen", "--alg", "none"}, `--alg must be EdDSA or ES256`},
		{[]string{"keygen", "--url", "http://shop.example.com"}, "brand URL"},
		{[]string{"keygen", "--name", " Shop"}, "brand name has leading or trailing space"},
		{[]string{"request"}, `required flag(s) "duration", "purpose", "scope", "vault" not set`},
		{[]string{"request", "--vault", "nope", "--scope", "read:a", "--purpose", "ServiceProvision", "--duration", "1d"}, "request: --vault: vault address must look like host:port/<vault-id>"},
		{req("--duration", "0d"), `--duration: "0d" is not a positive whole number of days`},
		{req("--duration", "-1h"), `--duration: "-1h" is not positive`},
		{req("--duration", "3y"), `--duration: "3y" is neither a Go duration (36h) nor days (90d)`},
		{req("--duration", "99999999999999d"), "is not a positive whole number of days"},
		{req("--duration", "30m"), "shorter than 1h0m0s"},
		{req("--duration", "731d"), "longer than"},
		{req("--scope", "read:*"), "--scope: invalid scope"},
		{req("--scope", "write:name.given"), "write"},
		{req("--purpose", "Surveillance"), `"Surveillance" is not a known DPV purpose`},
		{req("--reason", strings.Repeat("x", 501)), "reason"},
		{[]string{"request", "--vault", testAddr, "--scope", "read:a", "--purpose", "ServiceProvision", "--duration", "1d"}, "--name is required (or store a default with vrm-brand keygen --name)"},
		{[]string{"request", "--vault", testAddr, "--name", "Shop", "--scope", "read:a", "--purpose", "ServiceProvision", "--duration", "1d"}, "--url is required"},
		{[]string{"status"}, `required flag(s) "vault" not set`},
		{[]string{"status", "--vault", testAddr, "not an id"}, `status: "not an id" is not a request id`},
		{[]string{"status", "--vault", testAddr, "a", "b"}, `unexpected argument "b"`},
		{[]string{"status", "--vault", testAddr, "--wait", "--wait-timeout", "0s"}, "--wait-timeout must be positive"},
		{[]string{"status", "--vault", testAddr, "--poll-interval", "-1s"}, "--poll-interval must be positive"},
		{[]string{"read"}, `required flag(s) "vault" not set`},
		{[]string{"read", "--vault", testAddr, ""}, "read: empty path"},
		{[]string{"read", "--vault", "127.0.0.1:1"}, "--vault: vault address must look like"},
		{[]string{"receipt", "--vault", testAddr, "a", "b"}, `receipt: unexpected argument "b"`},
		{[]string{"receipt", "--vault", testAddr, "a/b"}, "is not a request id"},
		{[]string{"descriptor", "--vault", testAddr, "x"}, `descriptor: unexpected argument "x"`},
		{[]string{"descriptor"}, `required flag(s) "vault" not set`},
		{[]string{"verify-receipt", "--vault", testAddr}, "verify-receipt: missing RECEIPT_FILE"},
		{[]string{"verify-receipt", "r.jws"}, `required flag(s) "vault" not set`},
		{[]string{"verify-receipt", "r.jws", "s.jws", "--vault", testAddr}, `unexpected argument "s.jws"`},
		{[]string{"verify-receipt", "r.jws", "--vault", "x/y"}, "--vault: vault address"},
		{[]string{"verify-receipt", "r.jws", "--vault", testAddr, "--descriptor", ""}, "--descriptor: empty file name"},
		{[]string{"completion"}, "completion: missing command: one of bash, fish, powershell, zsh"},
		{[]string{"watch"}, `required flag(s) "vault" not set`},
		{[]string{"watch", "--vault", "nope"}, "watch: --vault: vault address must look like"},
		{[]string{"watch", "--vault", testAddr, ""}, "watch: empty path"},
		{[]string{"watch", "--vault", testAddr, "--ack-every", "0s"}, "--ack-every must be positive, got 0s"},
		{[]string{"watch", "--vault", testAddr, "--ack-every", "soon"}, `invalid argument "soon" for "--ack-every"`},
		{[]string{"watch-consent"}, `required flag(s) "vault" not set`},
		{[]string{"watch-consent", "--vault", testAddr, "not an id"}, `watch-consent: "not an id" is not a request id`},
		{[]string{"watch-consent", "--vault", testAddr, "a", "b"}, `unexpected argument "b"`},
		{[]string{"write", "--vault", testAddr}, "write: missing PATH=VALUE arguments"},
		{[]string{"write", "a=1"}, `required flag(s) "vault" not set`},
		{[]string{"write", "--vault", "x", "a=1"}, "write: --vault: vault address"},
		{[]string{"write", "--vault", testAddr, "orders"}, `expected PATH=VALUE, got "orders"`},
		{[]string{"write", "--vault", testAddr, "=42"}, "the path is empty"},
		{[]string{"write", "--vault", testAddr, "a=1", "a=2"}, "a is given twice"},
		{[]string{"write", "--vault", testAddr, "--type", "float", "a=1"}, `--type must be one of string, int, bool, timestamp, list; got "float"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			e := newTestEnv(t)
			r := e.run(tt.args...)
			if r.code != ExitUsage {
				t.Errorf("exit status %d, want %d (stderr %q)", r.code, ExitUsage, r.stderr)
			}
			line := oneErrorLine(t, r)
			if !strings.Contains(line, tt.want) {
				t.Errorf("error line %q does not contain %q", line, tt.want)
			}
			if !strings.HasSuffix(line, "--help)") {
				t.Errorf("usage error %q does not point to --help", line)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if _, err := os.Stat(e.home); err == nil {
				t.Errorf("a usage error created %s", e.home)
			}
		})
	}
}

func TestBadFormatEnvIsUsageError(t *testing.T) {
	e := newTestEnv(t)
	e.vars[envFormat] = "yaml"
	r := e.run("keygen")
	if r.code != ExitUsage {
		t.Fatalf("exit status %d, want %d", r.code, ExitUsage)
	}
	if line := oneErrorLine(t, r); !strings.Contains(line, `VRM_BRAND_FORMAT must be table or json, got "yaml"`) {
		t.Errorf("error line %q", line)
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	e := newTestEnv(t)
	for _, args := range [][]string{{"--help"}, {"request", "--help"}, {"help", "verify-receipt"}} {
		r := e.run(args...)
		if r.code != ExitOK || r.stdout == "" || r.stderr != "" {
			t.Errorf("%v: exit %d, stdout %d bytes, stderr %q", args, r.code, len(r.stdout), r.stderr)
		}
	}
}

// keygenJSON is keygen's JSON output.
type keygenJSON struct {
	BrandJKT string `json:"brand_jkt"`
	Alg      string `json:"alg"`
	KeyFile  string `json:"key_file"`
	Name     string `json:"name"`
	URL      string `json:"url"`
}

// readKeyFile parses the key in e's home.
func (e *testEnv) readKeyFile() *consent.PrivateKey {
	e.t.Helper()
	data, err := os.ReadFile(filepath.Join(e.home, keyFile))
	if err != nil {
		e.t.Fatal(err)
	}
	k, err := consent.ParsePrivateKey(bytes.TrimSpace(data))
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

func TestKeygen(t *testing.T) {
	e := newTestEnv(t)
	r := e.mustRun("keygen", "-o", "json", "--name", "Example Shop", "--url", "https://shop.example.com")
	var out keygenJSON
	decodeJSON(t, r, &out)
	key := e.readKeyFile()
	if out.BrandJKT != key.Thumbprint() || len(out.BrandJKT) != 43 || out.Alg != "EdDSA" ||
		out.KeyFile != filepath.Join(e.home, keyFile) || out.Name != "Example Shop" || out.URL != "https://shop.example.com" {
		t.Errorf("keygen output %+v (key %s)", out, key.Thumbprint())
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
	if err != nil || cfg == nil || cfg.BrandJKT != key.Thumbprint() || cfg.Name != "Example Shop" {
		t.Fatalf("config %+v, %v", cfg, err)
	}
	entries, err := os.ReadDir(e.home)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range entries {
		if strings.Contains(de.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", de.Name())
		}
	}

	// A second keygen is refused and changes nothing.
	line := e.fail("a brand key already exists", "keygen")
	if !strings.Contains(line, "--force") || !strings.Contains(line, key.Thumbprint()) {
		t.Errorf("second keygen: %q", line)
	}
	if e.readKeyFile().Thumbprint() != key.Thumbprint() {
		t.Fatal("a refused keygen replaced the key")
	}

	// --force replaces it, keeps the defaults, and can change the
	// algorithm; the table output names the new key.
	r = e.mustRun("keygen", "--force", "--alg", "es256", "-o", "table")
	k2 := e.readKeyFile()
	if k2.Thumbprint() == key.Thumbprint() || k2.Algorithm() != consent.ES256 {
		t.Fatalf("keygen --force: key %s %s", k2.Thumbprint(), k2.Algorithm())
	}
	if !strings.Contains(r.stdout, "Brand key:") || !strings.Contains(r.stdout, k2.Thumbprint()) || !strings.Contains(r.stdout, "Example Shop") {
		t.Errorf("keygen table:\n%s", r.stdout)
	}
	if cfg, err := loadConfig(e.home); err != nil || cfg.BrandJKT != k2.Thumbprint() || cfg.URL != "https://shop.example.com" {
		t.Errorf("config after --force %+v, %v", cfg, err)
	}
}

func TestKeyFileReadableByOthersIsRefused(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no Unix permissions")
	}
	e := newTestEnv(t)
	e.mustRun("keygen")
	path := filepath.Join(e.home, keyFile)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	e.fail("has mode 0644 and is accessible by group or others; run: chmod 600", "read", "--vault", testAddr)
	receipt := filepath.Join(t.TempDir(), "r.jws")
	if err := os.WriteFile(receipt, []byte("a.b.c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.fail("accessible by group or others", "verify-receipt", receipt, "--vault", testAddr)
}

func TestNoKey(t *testing.T) {
	e := newTestEnv(t)
	for _, args := range [][]string{
		{"read", "--vault", testAddr},
		{"status", "--vault", testAddr},
		{"receipt", "--vault", testAddr},
		{"descriptor", "--vault", testAddr},
		{"watch", "--vault", testAddr},
		{"watch-consent", "--vault", testAddr},
		{"watch-consent", "--vault", testAddr, "-h6u2pUCw8ZJMqp9SS6Auw"}, // an id, not flags
		{"status", "-h6u2pUCw8ZJMqp9SS6Auw", "--vault", testAddr},
		{"write", "--vault", testAddr, "orders.o1.total=42"},
		{"request", "--vault", testAddr, "--name", "Shop", "--url", "https://shop.example.com", "--scope", "read:a", "--purpose", "ServiceProvision", "--duration", "1d"},
	} {
		e.fail("run vrm-brand keygen first", args...)
	}
	if _, err := os.Stat(e.home); err == nil {
		t.Errorf("a command without a key created %s", e.home)
	}
}

func TestKeyOfAnotherConfigIsRefused(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun("keygen")
	cfg, err := loadConfig(e.home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.BrandJKT = strings.Repeat("A", 43)
	if err := saveConfig(e.home, cfg); err != nil {
		t.Fatal(err)
	}
	e.fail("but config.json names", "read", "--vault", testAddr)
}

func TestUnreachableVault(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun("keygen")
	e.fail("the vault could not be reached at 127.0.0.1:1/v_test", "read", "--vault", testAddr, "--timeout", "5s")
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * 24 * time.Hour, true},
		{"1d", 24 * time.Hour, true},
		{"36h", 36 * time.Hour, true},
		{"1h30m", 90 * time.Minute, true},
		{" 7d ", 7 * 24 * time.Hour, true},
		{strconv.FormatInt(maxDays, 10) + "d", time.Duration(maxDays) * 24 * time.Hour, true},
		{strconv.FormatInt(maxDays+1, 10) + "d", 0, false},
		{"", 0, false},
		{"d", 0, false},
		{"0d", 0, false},
		{"-3d", 0, false},
		{"+3d", 0, false},
		{"1.5d", 0, false},
		{"0s", 0, false},
		{"-1h", 0, false},
		{"3 days", 0, false},
		{"1d12h", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q) = %s, %v; want %s, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{90 * 24 * time.Hour: "90d", 36 * time.Hour: "36h0m0s", 0: "0s"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestStateRemembersAtMostMaxRequests(t *testing.T) {
	dir := t.TempDir()
	addr := vaultconn.Address{HostPort: "127.0.0.1:7443", VaultID: "v1"}
	st, err := loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	jktA, jktB := newKey(t).Thumbprint(), newKey(t).Thumbprint()
	for i := range maxRequestsPerVault + 1 {
		st.vault(addr).addRequest(requestRecord{RequestID: "r" + strconv.Itoa(i), BrandJKT: jktA})
	}
	st.vault(addr).addRequest(requestRecord{RequestID: "other", BrandJKT: jktB})
	st.vault(addr).pin(jktB, time.Unix(1700000000, 0))
	if err := saveState(dir, st); err != nil {
		t.Fatal(err)
	}
	st, err = loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	reqs := st.Vaults[addr.String()].Requests
	if len(reqs) != maxRequestsPerVault || reqs[0].RequestID != "r2" || reqs[len(reqs)-1].RequestID != "other" {
		t.Fatalf("%d requests remembered, first %s, last %s", len(reqs), reqs[0].RequestID, reqs[len(reqs)-1].RequestID)
	}
	if got := st.latestRequest(addr, jktA); got != "r"+strconv.Itoa(maxRequestsPerVault) {
		t.Errorf("latest request of A = %q", got)
	}
	if got := st.latestRequest(addr, jktB); got != "other" {
		t.Errorf("latest request of B = %q", got)
	}
	if got := st.latestRequest(vaultconn.Address{HostPort: "127.0.0.1:7443", VaultID: "v2"}, jktA); got != "" {
		t.Errorf("latest request of an unknown vault = %q", got)
	}
	if st.pinnedKey(addr) != jktB || st.Vaults[addr.String()].Pinned != "2023-11-14T22:13:20Z" {
		t.Errorf("pin %+v", st.Vaults[addr.String()])
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(filepath.Join(dir, stateFile)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("state file: %v, %v", fi, err)
		}
	}
}

func TestCorruptStateIsRefused(t *testing.T) {
	for name, content := range map[string]string{
		"not JSON":      "{",
		"version":       `{"version": 2, "vaults": {}}`,
		"address":       `{"version": 1, "vaults": {"nope": {}}}`,
		"pinned key":    `{"version": 1, "vaults": {"127.0.0.1:1/v": {"vault_jkt": "short"}}}`,
		"too large":     `{"version": 1, "vaults": {}, "x": "` + strings.Repeat("x", maxStateBytes) + `"}`,
		"wrong version": `{"vaults": {}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := loadState(dir); err == nil {
				t.Fatal("loadState accepted it")
			}
		})
	}
}

func TestReadJWS(t *testing.T) {
	dir := t.TempDir()
	a := newApp(Env{Stdin: strings.NewReader("a.b.c\n")})
	tests := []struct {
		content string
		want    string
		ok      bool
	}{
		{"a.b.c\n", "a.b.c", true},
		{"a.b.c\r\n", "a.b.c", true},
		{"a.b.c", "a.b.c", true},
		{"a.b.c\n\n", "a.b.c\n", true}, // left for the parser to refuse
		{"a.b.c \n", "a.b.c ", true},
		{"\n", "", false},
		{"", "", false},
		{strings.Repeat("x", 12) + "\n", "", false}, // over the limit of 10
	}
	for i, tt := range tests {
		path := filepath.Join(dir, strconv.Itoa(i))
		if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := a.readJWS(path, "receipt", 10)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("readJWS(%q) = %q, %v; want %q, ok %v", tt.content, got, err, tt.want, tt.ok)
		}
	}
	if got, err := a.readJWS("-", "receipt", 10); err != nil || got != "a.b.c" {
		t.Errorf("readJWS(stdin) = %q, %v", got, err)
	}
	if _, err := a.readJWS(filepath.Join(dir, "missing"), "receipt", 10); err == nil || !strings.HasPrefix(err.Error(), "receipt: ") {
		t.Errorf("readJWS(missing) = %v", err)
	}
}

// newKey returns a fresh Ed25519 key.
func newKey(t *testing.T) *consent.PrivateKey {
	t.Helper()
	k, err := consent.GenerateKey(consent.EdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
