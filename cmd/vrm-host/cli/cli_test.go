package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vrmvault/vrmvault/consent"
)

// result is what one run of Main produced.
type result struct {
	code           int
	stdout, stderr string
}

// testEnv is the environment of runs of Main in a test: a fresh
// VRM_HOST_HOME (not yet created) and whatever else the test sets.
type testEnv struct {
	t    *testing.T
	home string
	vars map[string]string
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	home := filepath.Join(t.TempDir(), "vrm-host")
	return &testEnv{t: t, home: home, vars: map[string]string{envHome: home}}
}

// run runs vrm-host with args and returns its exit status and output.
func (e *testEnv) run(args ...string) result {
	e.t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, Env{
		Stdout: &out,
		Stderr: &errOut,
		Getenv: func(k string) string { return e.vars[k] },
	})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// mustRun runs vrm-host and fails the test unless it exits 0.
func (e *testEnv) mustRun(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != ExitOK {
		e.t.Fatalf("vrm-host %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// fail runs vrm-host, expects exit status 1 and one error line
// containing want, and returns the line.
func (e *testEnv) fail(want string, args ...string) string {
	e.t.Helper()
	r := e.run(args...)
	line := oneErrorLine(e.t, r)
	if r.code != ExitFailure {
		e.t.Errorf("vrm-host %s: exit %d, want %d (%s)", strings.Join(args, " "), r.code, ExitFailure, line)
	}
	if !strings.Contains(line, want) {
		e.t.Errorf("vrm-host %s: error line %q does not contain %q", strings.Join(args, " "), line, want)
	}
	if r.stdout != "" {
		e.t.Errorf("vrm-host %s: a failure printed %q", strings.Join(args, " "), r.stdout)
	}
	return line
}

// oneErrorLine checks that r's stderr is exactly one line
// "vrm-host: ..." and returns it.
func oneErrorLine(t *testing.T, r result) string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "vrm-host: ") || !strings.HasSuffix(r.stderr, "\n") {
		t.Fatalf("stderr is not one line \"vrm-host: ...\": %q", r.stderr)
	}
	return lines[0]
}

// decodeJSON decodes r's stdout into v, failing on anything but one
// JSON document with only the members v knows.
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

func TestUsageErrors(t *testing.T) {
	host := []string{"--host", "127.0.0.1:1", "--host-id", "h1"}
	with := func(args ...string) []string { return append(args, host...) }
	tests := []struct {
		args []string
		env  map[string]string
		want string // a substring of the error line
	}{
		{args: nil, want: "missing command: one of completion, config, create, delete, keygen, list, quota, resume, suspend (see vrm-host --help)"},
		{args: []string{"bogus"}, want: `unknown command "bogus" (see vrm-host --help)`},
		{args: []string{"craete"}, want: "did you mean create?"},
		{args: []string{"-o", "yaml", "list"}, want: `-o must be table or json, got "yaml"`},
		{args: []string{"list"}, env: map[string]string{envFormat: "xml"}, want: `VRM_HOST_FORMAT must be table or json, got "xml"`},
		{args: []string{"list", "--timeout", "0s"}, want: "--timeout must be positive"},
		{args: []string{"list", "--host", "nohost"}, want: `--host: "nohost" is not HOST:PORT`},
		{args: []string{"list", "--host", "127.0.0.1:1/v_1"}, want: "want HOST:PORT without a vault id"},
		{args: []string{"list", "--host-id", "a b"}, want: `--host-id: "a b" is not a host id`},
		{args: []string{"list"}, want: "list: no host: pass --host HOST:PORT, set $VRM_HOST_ADDR, or save one with vrm-host config --host HOST:PORT"},
		{args: []string{"list", "--host", "127.0.0.1:1"}, want: "no host id: pass --host-id ID, set $VRM_HOST_ID"},
		{args: []string{"list", "--host-id", "h1"}, env: map[string]string{envAddr: "bad"}, want: `$VRM_HOST_ADDR: "bad" is not HOST:PORT`},
		{args: []string{"list", "--host", "127.0.0.1:1"}, env: map[string]string{envHostID: "no/pe"}, want: `$VRM_HOST_ID: "no/pe" is not a host id`},
		{args: []string{"keygen", "--bogus"}, want: "keygen: unknown flag: --bogus (see vrm-host keygen --help)"},
		{args: []string{"keygen", "extra"}, want: `keygen: unexpected argument "extra"`},
		{args: []string{"keygen", "--alg", "RS256"}, want: `--alg must be EdDSA or ES256, got "RS256"`},
		{args: []string{"keygen", "--alg", "none"}, want: "--alg must be EdDSA or ES256"},
		{args: []string{"config", "x"}, want: `config: unexpected argument "x"`},
		{args: with("create", "x"), want: `create: unexpected argument "x"`},
		{args: with("create", "--max-fields", "0"), want: `invalid argument "0" for "--max-fields" flag: must be at least 1`},
		{args: with("create", "--max-fields", "-3"), want: "must be at least 1"},
		{args: with("create", "--calls-per-second", "fast"), want: "not a whole number"},
		{args: with("create", "--max-size-bytes", "1.5MiB"), want: "not a size"},
		{args: with("create", "--max-size-bytes", "99999999999TiB"), want: "too large"},
		{args: with("list", "--page-size", "0"), want: "--page-size must be 1 to 1000, got 0"},
		{args: with("list", "--page-size", "1001"), want: "--page-size must be 1 to 1000"},
		{args: with("list", "x"), want: `list: unexpected argument "x"`},
		{args: with("suspend"), want: "suspend: missing VAULT_ID"},
		{args: with("suspend", "a", "b"), want: `suspend: unexpected argument "b"`},
		{args: with("suspend", "not/an/id"), want: `"not/an/id" is not a vault id`},
		{args: with("resume"), want: "resume: missing VAULT_ID"},
		{args: with("resume", strings.Repeat("a", 65)), want: "is not a vault id"},
		{args: with("quota", "v1"), want: "quota: give at least one of --max-size-bytes, --max-fields, --calls-per-second, --brand-calls-per-second, --brand-pending-requests, --brand-open-streams"},
		{args: with("quota", "--max-fields", "3"), want: "quota: missing VAULT_ID"},
		{args: with("quota", "v1", "--brand-open-streams", "0"), want: "must be at least 1"},
		{args: with("delete", "v1"), want: "delete: deleting vault v1 destroys its data key and all its data, and cannot be undone; pass --yes to confirm"},
		{args: with("delete", "--yes"), want: "delete: missing VAULT_ID"},
		{args: []string{"delete", "v1"}, want: "pass --yes"},
		{args: []string{"completion"}, want: "completion: missing command: one of bash, fish, powershell, zsh"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			e := newTestEnv(t)
			for k, v := range tt.env {
				e.vars[k] = v
			}
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

// keygenJSON is keygen's JSON output.
type keygenJSON struct {
	AdminJKT      string `json:"admin_jkt"`
	Alg           string `json:"alg"`
	KeyFile       string `json:"key_file"`
	PublicKeyFile string `json:"public_key_file"`
}

func TestKeygen(t *testing.T) {
	for _, alg := range []string{"EdDSA", "es256"} {
		t.Run(alg, func(t *testing.T) {
			e := newTestEnv(t)
			var k keygenJSON
			decodeJSON(t, e.mustRun("keygen", "--alg", alg, "-o", "json"), &k)
			if !strings.EqualFold(k.Alg, alg) {
				t.Errorf("alg = %q, want %q", k.Alg, alg)
			}
			if k.KeyFile != filepath.Join(e.home, keyFile) || k.PublicKeyFile != filepath.Join(e.home, publicKeyFile) {
				t.Errorf("files = %q, %q; want them in %s", k.KeyFile, k.PublicKeyFile, e.home)
			}
			checkMode(t, e.home, 0o700)
			checkMode(t, k.KeyFile, 0o600)
			checkMode(t, k.PublicKeyFile, 0o644)
			checkMode(t, filepath.Join(e.home, configFile), 0o600)

			priv, err := os.ReadFile(k.KeyFile)
			if err != nil {
				t.Fatal(err)
			}
			key, err := consent.ParsePrivateKey(bytes.TrimSpace(priv))
			if err != nil {
				t.Fatalf("private key: %v", err)
			}
			pubData, err := os.ReadFile(k.PublicKeyFile)
			if err != nil {
				t.Fatal(err)
			}
			// What vaultd --admin-key does with the file.
			pub, err := consent.ParsePublicKey(bytes.TrimSpace(pubData))
			if err != nil {
				t.Fatalf("public key file is not a public JWK: %v", err)
			}
			if pub.Thumbprint() != k.AdminJKT || key.Thumbprint() != k.AdminJKT {
				t.Errorf("thumbprints: printed %s, public %s, private %s", k.AdminJKT, pub.Thumbprint(), key.Thumbprint())
			}
		})
	}
}

func TestKeygenTable(t *testing.T) {
	e := newTestEnv(t)
	r := e.mustRun("keygen", "-o", "table")
	pubPath := filepath.Join(e.home, publicKeyFile)
	for _, want := range []string{"Admin key:", "Public key file:  " + pubPath, "vaultd --host --admin-key " + pubPath} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestKeygenRefusesToReplace(t *testing.T) {
	e := newTestEnv(t)
	var first, second keygenJSON
	decodeJSON(t, e.mustRun("keygen", "-o", "json"), &first)
	line := e.fail("an admin key already exists at", "keygen")
	if !strings.Contains(line, first.AdminJKT) || !strings.Contains(line, "--force") {
		t.Errorf("refusal %q does not name the key and --force", line)
	}
	e.mustRun("config", "--host", "127.0.0.1:7443", "--host-id", "h1")
	decodeJSON(t, e.mustRun("keygen", "--force", "-o", "json"), &second)
	if second.AdminJKT == first.AdminJKT {
		t.Fatal("--force kept the old key")
	}
	var c configJSON
	decodeJSON(t, e.mustRun("config", "-o", "json"), &c)
	if c.AdminJKT != second.AdminJKT || c.Host != "127.0.0.1:7443" || c.HostID != "h1" {
		t.Errorf("after keygen --force, config = %+v; want the new key and the saved host", c)
	}
}

func TestKeyModeChecked(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no Unix permissions")
	}
	e := newTestEnv(t)
	e.mustRun("keygen")
	path := filepath.Join(e.home, keyFile)
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	e.fail("has mode 0640 and is accessible by group or others; run: chmod 600 "+path,
		"list", "--host", "127.0.0.1:1", "--host-id", "h1")
}

func TestNoKey(t *testing.T) {
	e := newTestEnv(t)
	e.fail("no admin key: "+filepath.Join(e.home, keyFile)+" does not exist; run vrm-host keygen first",
		"create", "--host", "127.0.0.1:1", "--host-id", "h1")
}

func TestKeyOfAnotherConfig(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun("keygen")
	other := newTestEnv(t)
	other.mustRun("keygen")
	data, err := os.ReadFile(filepath.Join(other.home, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.home, keyFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	e.fail("run vrm-host keygen --force to start again", "list", "--host", "127.0.0.1:1", "--host-id", "h1")
}

// configJSON is config's JSON output.
type configJSON struct {
	Home           string `json:"home"`
	ConfigFile     string `json:"config_file"`
	AdminJKT       string `json:"admin_jkt"`
	PublicKeyFile  string `json:"public_key_file"`
	Host           string `json:"host"`
	HostSource     string `json:"host_source"`
	HostID         string `json:"host_id"`
	HostIDSource   string `json:"host_id_source"`
	TLSCA          string `json:"tls_ca"`
	TLSCASource    string `json:"tls_ca_source"`
	Insecure       bool   `json:"insecure"`
	InsecureSource string `json:"insecure_source"`
}

func TestConfig(t *testing.T) {
	e := newTestEnv(t)
	var c configJSON
	decodeJSON(t, e.mustRun("config", "-o", "json"), &c)
	if c.Host != "" || c.HostID != "" || c.AdminJKT != "" {
		t.Errorf("empty home: config = %+v", c)
	}
	if _, err := os.Stat(e.home); err == nil {
		t.Error("showing the config created the home")
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	decodeJSON(t, e.mustRun("config", "--host", "vaults.example.net:443", "--host-id", "h_7Qx2",
		"--tls-ca", ca, "--insecure", "-o", "json"), &c)
	want := configJSON{
		Home: e.home, ConfigFile: filepath.Join(e.home, configFile),
		Host: "vaults.example.net:443", HostSource: "config", HostID: "h_7Qx2", HostIDSource: "config",
		TLSCA: ca, TLSCASource: "config", Insecure: true, InsecureSource: "config",
	}
	if c != want {
		t.Errorf("config = %+v\nwant %+v", c, want)
	}
	checkMode(t, e.home, 0o700)
	checkMode(t, filepath.Join(e.home, configFile), 0o600)

	// The environment overrides the file; a flag overrides both.
	e.vars[envAddr] = "10.0.0.1:7443"
	decodeJSON(t, e.mustRun("config", "-o", "json"), &c)
	if c.Host != "10.0.0.1:7443" || c.HostSource != "env $VRM_HOST_ADDR" || c.HostID != "h_7Qx2" {
		t.Errorf("with $VRM_HOST_ADDR: config = %+v", c)
	}
	delete(e.vars, envAddr)

	// Only the settings given change; empty values remove them.
	decodeJSON(t, e.mustRun("config", "--tls-ca", "", "--insecure=false", "-o", "json"), &c)
	if c.Host != "vaults.example.net:443" || c.HostID != "h_7Qx2" || c.TLSCA != "" || c.Insecure {
		t.Errorf("after removing the TLS settings: config = %+v", c)
	}

	r := e.mustRun("config", "-o", "table")
	for _, want := range []string{"Host:", "vaults.example.net:443 (config)", "h_7Qx2 (config)", "none (run vrm-host keygen)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}

	e.fail("--tls-ca", "config", "--tls-ca", filepath.Join(t.TempDir(), "missing.pem"))
}

func TestConfigRefusesBrokenFile(t *testing.T) {
	e := newTestEnv(t)
	if err := os.MkdirAll(e.home, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.home, configFile)
	for content, want := range map[string]string{
		"{":                                  "is not valid JSON",
		`{"version": 9}`:                     "has version 9; this vrm-host reads version 1",
		`{"version": 1, "host": "nope"}`:     `host: "nope" is not HOST:PORT`,
		`{"version": 1, "host_id": "a/b"}`:   "is not a host id",
		`{"version": 1, "tls_ca": "ca.pem"}`: "is not an absolute path",
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		e.fail(want, "config")
		e.fail(want, "keygen")
	}
}

func TestParseQuota(t *testing.T) {
	tests := []struct {
		in   string
		size bool
		want int64
		err  string
	}{
		{"1", false, 1, ""},
		{" 42 ", false, 42, ""},
		{"0", false, 0, "at least 1"},
		{"-1", false, 0, "at least 1"},
		{"1KiB", false, 0, "not a whole number"},
		{"9223372036854775807", false, 1<<63 - 1, ""},
		{"9223372036854775808", false, 0, "not a whole number"},
		{"512", true, 512, ""},
		{"512B", true, 512, ""},
		{"64KiB", true, 64 << 10, ""},
		{"2 MiB", true, 2 << 20, ""},
		{"1G", true, 1 << 30, ""},
		{"3TiB", true, 3 << 40, ""},
		{"0MiB", true, 0, "at least 1"},
		{"8388608TiB", true, 0, "too large"},
		{"1.5MiB", true, 0, "not a size"},
		{"MiB", true, 0, "not a size"},
	}
	for _, tt := range tests {
		got, err := parseQuota(tt.in, tt.size)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("parseQuota(%q, %v): %v", tt.in, tt.size, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("parseQuota(%q, %v) = %d, %v; want an error with %q", tt.in, tt.size, got, err, tt.err)
		case got != tt.want:
			t.Errorf("parseQuota(%q, %v) = %d, want %d", tt.in, tt.size, got, tt.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 10 << 20: "10.0 MiB", 3 << 30: "3.0 GiB",
		1<<63 - 1: "8.0 EiB",
	} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:7443/v_3kq9": "127.0.0.1:7443/v_3kq9",
		"7H3K-99QX":             "7H3K-99QX",
		"":                      "''",
		"a b":                   "'a b'",
		"it's":                  `'it'\''s'`,
		"$(rm -rf ~)":           "'$(rm -rf ~)'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// checkMode fails the test unless path has permissions perm (on systems
// with Unix permissions).
func checkMode(t *testing.T, path string, perm os.FileMode) {
	t.Helper()
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != perm {
		t.Errorf("%s has mode %04o, want %04o", path, got, perm)
	}
}
