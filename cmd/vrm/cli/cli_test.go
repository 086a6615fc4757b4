package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	"github.com/vrmvault/vrmvault/consent"
)

// result is what one run of Main produced.
type result struct {
	code           int
	stdout, stderr string
}

// testEnv is the environment of runs of Main in a test: a fresh VRM_HOME
// (not yet created) and whatever else the test sets.
type testEnv struct {
	t     *testing.T
	home  string
	vars  map[string]string
	stdin string
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	home := filepath.Join(t.TempDir(), "vrm")
	return &testEnv{t: t, home: home, vars: map[string]string{envHome: home}}
}

// run runs vrm with args and returns its exit status and output.
func (e *testEnv) run(args ...string) result {
	e.t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, Env{
		Stdin:  strings.NewReader(e.stdin),
		Stdout: &out,
		Stderr: &errOut,
		Getenv: func(k string) string { return e.vars[k] },
	})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// oneErrorLine checks that r's stderr is exactly one line "vrm: ..." and
// returns it.
func oneErrorLine(t *testing.T, r result) string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "vrm: ") || !strings.HasSuffix(r.stderr, "\n") {
		t.Fatalf("stderr is not one line \"vrm: ...\": %q", r.stderr)
	}
	return lines[0]
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string // a substring of the error line
	}{
		{nil, "missing command: one of audit, completion, consents, deny, grant, init, keys, profile, requests, revoke, status, verify (see vrm --help)"},
		{[]string{"bogus"}, `unknown command "bogus" (see vrm --help)`},
		{[]string{"stauts"}, "did you mean status?"},
		{[]string{"profile"}, "vrm: profile: missing command"},
		{[]string{"profile", "bogus"}, `profile: unknown command "bogus"`},
		{[]string{"status", "--bogus"}, "status: unknown flag: --bogus (see vrm status --help)"},
		{[]string{"status", "extra"}, `status: unexpected argument "extra"`},
		{[]string{"-o", "yaml", "status"}, `-o must be table or json, got "yaml"`},
		{[]string{"status", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"status", "--timeout", "soon"}, `invalid argument "soon" for "--timeout"`},
		{[]string{"init"}, `required flag(s) "code", "vault" not set`},
		{[]string{"init", "--vault", "nope", "--code", "x"}, "init: --vault: vault address must look like host:port/<vault-id>"},
		{[]string{"init", "--vault", "127.0.0.1:1/v", "--code", ""}, "--code must not be empty"},
		{[]string{"profile", "get", ""}, "empty path"},
		{[]string{"profile", "set"}, "profile set: missing PATH=VALUE arguments (see vrm profile set --help)"},
		{[]string{"profile", "set", "foo"}, `vrm: profile set: expected PATH=VALUE, got "foo" (see vrm profile set --help)`},
		{[]string{"profile", "set", "=foo"}, "the path is empty"},
		{[]string{"profile", "set", "a=1", "a=2"}, "a is given twice"},
		{[]string{"profile", "set", "--type", "float", "a=1"}, `--type must be one of string, int, bool, timestamp, list; got "float"`},
		{[]string{"profile", "set", "--type"}, "flag needs an argument: --type"},
		{[]string{"profile", "set", "a=1", "--if-version", "b=1"}, "--if-version: b is not among the fields of this batch"},
		{[]string{"profile", "set", "a=1", "--if-version", "a=x"}, `--if-version: version of a must be a whole number, got "x"`},
		{[]string{"profile", "set", "a=1", "--if-version", "a"}, "--if-version: expected PATH=VERSION"},
		{[]string{"profile", "set", "a=1", "--if-version", "a=1", "--if-version", "a=2"}, "--if-version: a is given twice"},
		{[]string{"profile", "rm"}, "profile rm: missing PATH arguments"},
		{[]string{"profile", "rm", "a", "--if-version", "b=1"}, "b is not among the fields"},
		{[]string{"profile", "import"}, "profile import: missing FILE"},
		{[]string{"profile", "import", "a", "b"}, `unexpected argument "b"`},
		{[]string{"profile", "import", "--format", "xml", "a.xml"}, `--format must be json or vcard, got "xml"`},
		{[]string{"profile", "export"}, "profile export: --format is required"},
		{[]string{"profile", "export", "--out", "x.txt"}, "--format is required"},
		{[]string{"profile", "export", "--format", "csv"}, `--format must be json or vcard, got "csv"`},
		{[]string{"requests", "--state", "bogus"}, `requests: --state must be one of pending, granted, denied, revoked, expired, all; got "bogus"`},
		{[]string{"requests", "shwo"}, `requests: unknown command "shwo"; did you mean show?`},
		{[]string{"requests", "show"}, "requests show: missing request ID"},
		{[]string{"requests", "show", "a", "b"}, `unexpected argument "b"`},
		{[]string{"requests", "show", "no/such"}, `request ID must be 1 to 64 characters of A-Z a-z 0-9 _ -; got "no/such"`},
		{[]string{"requests", "show", "--state", "all", "x"}, "unknown flag: --state"},
		{[]string{"grant"}, "grant: missing request ID"},
		{[]string{"grant", "x", "--expires", "soon"}, `grant: --expires: "soon" must be a number of days (30d) or a Go duration`},
		{[]string{"grant", "x", "--expires", "1.5d"}, `--expires: "1.5d" must be a number of days`},
		{[]string{"grant", "x", "--expires", "0d"}, `--expires: "0d" must be positive`},
		{[]string{"grant", "x", "--expires", "-3h"}, `--expires: "-3h" must be positive`},
		{[]string{"grant", "x", "--expires", "99999999999d"}, `--expires: "99999999999d" is too long`},
		{[]string{"grant", "x", "--only", "name.given"}, `grant: --only: invalid scope "name.given": must be "action:path"`},
		{[]string{"grant", "x", "--only", "read:a", "--only", "read:a"}, "listed twice"},
		{[]string{"deny"}, "deny: missing request ID"},
		{[]string{"deny", "a", "b"}, `deny: unexpected argument "b"`},
		{[]string{"revoke"}, "revoke: missing CONSENT_ID"},
		{[]string{"revoke", "bad id"}, `CONSENT_ID must be 1 to 64 characters`},
		{[]string{"consents", "--state", "pending"}, `consents: --state must be one of granted, denied, revoked, expired, all; got "pending"`},
		{[]string{"consents", "x"}, `consents: unexpected argument "x"`},
		{[]string{"audit", "--since", "yesterday"}, `audit: --since: "yesterday" must be an RFC 3339 time`},
		{[]string{"audit", "--since", "2025-13-01"}, `--since: "2025-13-01" must be an RFC 3339 time`},
		{[]string{"audit", "--limit", "-1"}, "--limit must be 0 (all) or more; got -1"},
		{[]string{"audit", "--limit", "many"}, `invalid argument "many" for "--limit"`},
		{[]string{"audit", "--brand", "shop"}, `--brand must be a key thumbprint`},
		{[]string{"audit", "--path", ""}, "--path must not be empty"},
		{[]string{"keys"}, "keys: missing command: one of add, list, rm"},
		{[]string{"keys", "lsit"}, `keys: unknown command "lsit"; did you mean list?`},
		{[]string{"keys", "list", "x"}, `keys list: unexpected argument "x"`},
		{[]string{"keys", "add", "x"}, `keys add: unexpected argument "x"`},
		{[]string{"keys", "rm"}, "keys rm: missing JKT"},
		{[]string{"keys", "rm", "0ZcOCORZ", "--yes"}, `keys rm: JKT must be a whole key thumbprint (43 characters of A-Z a-z 0-9 _ -) as vrm keys list shows it; got "0ZcOCORZ"`},
		{[]string{"keys", "rm", "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}, "keys rm: removing an owner key cannot be undone; pass --yes to confirm (see vrm keys rm --help)"},
		{[]string{"keys", "rm", "a", "b"}, `keys rm: unexpected argument "b"`},
		{[]string{"verify", "--trust", "x"}, `verify: --trust must be a key thumbprint`},
		{[]string{"verify", "now"}, `verify: unexpected argument "now"`},
		{[]string{"completion"}, "completion: missing command: one of bash, fish, powershell, zsh"},
		{[]string{"completion", "tcsh"}, `completion: unknown command "tcsh"`},
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
	r := e.run("status")
	if r.code != ExitUsage {
		t.Fatalf("exit status %d, want %d", r.code, ExitUsage)
	}
	if line := oneErrorLine(t, r); !strings.Contains(line, `VRM_FORMAT must be table or json, got "yaml"`) {
		t.Errorf("error line %q", line)
	}
}

func TestNotInitialised(t *testing.T) {
	for _, args := range [][]string{
		{"status"},
		{"profile", "get"},
		{"profile", "get", "name.*"},
		{"profile", "set", "name.given=Ada"},
		{"profile", "rm", "name.given"},
		{"profile", "export", "--format", "json"},
		{"-o", "table", "status"},
		{"requests"},
		{"requests", "--state", "all"},
		{"requests", "show", "abc"},
		{"grant", "abc", "--only", "read:name.given", "--expires", "30d"},
		{"deny", "abc"},
		{"revoke", "abc"},
		{"consents"},
		{"audit", "--since", "7d"},
		{"verify"},
		{"keys", "list"},
		{"keys", "add"},
		{"keys", "rm", "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", "--yes"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			e := newTestEnv(t)
			r := e.run(args...)
			if r.code != ExitFailure {
				t.Errorf("exit status %d, want %d", r.code, ExitFailure)
			}
			line := oneErrorLine(t, r)
			if !strings.Contains(line, "not initialised") || !strings.Contains(line, "vrm init") {
				t.Errorf("error line %q does not say to run vrm init", line)
			}
			if strings.Contains(line, "--help") {
				t.Errorf("a failure %q points to --help like a usage error", line)
			}
		})
	}
}

func TestHelpAndCompletion(t *testing.T) {
	e := newTestEnv(t)
	for _, args := range [][]string{{"--help"}, {"profile", "set", "--help"}, {"help", "profile"}} {
		r := e.run(args...)
		if r.code != ExitOK || r.stderr != "" || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("vrm %s: exit %d, stderr %q, stdout %.80q", strings.Join(args, " "), r.code, r.stderr, r.stdout)
		}
	}
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		r := e.run("completion", shell)
		if r.code != ExitOK || r.stderr != "" || !strings.Contains(r.stdout, "vrm") || len(r.stdout) < 500 {
			t.Errorf("vrm completion %s: exit %d, stderr %q, %d bytes of stdout", shell, r.code, r.stderr, len(r.stdout))
		}
	}
	// Dynamic completion of a flag value.
	r := e.run("__complete", "profile", "set", "--type", "")
	if r.code != ExitOK || !strings.Contains(r.stdout, "timestamp") {
		t.Errorf("__complete --type: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestResolveFormat(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	tests := []struct {
		name      string
		flag, env string
		stdout    io.Writer
		want      cliout.Format
		wantErr   string
	}{
		{name: "default buffer is json", stdout: &bytes.Buffer{}, want: cliout.JSON},
		{name: "default regular file is json", stdout: file, want: cliout.JSON},
		{name: "env table", env: "table", stdout: &bytes.Buffer{}, want: cliout.Table},
		{name: "env json", env: "JSON", stdout: &bytes.Buffer{}, want: cliout.JSON},
		{name: "flag over env", flag: "json", env: "table", stdout: &bytes.Buffer{}, want: cliout.JSON},
		{name: "flag table", flag: "table", stdout: &bytes.Buffer{}, want: cliout.Table},
		{name: "bad flag", flag: "yaml", env: "table", stdout: &bytes.Buffer{}, wantErr: `-o must be table or json, got "yaml"`},
		{name: "bad env", env: "xml", stdout: &bytes.Buffer{}, wantErr: `VRM_FORMAT must be table or json, got "xml"`},
		{name: "flag hides bad env", flag: "table", env: "xml", stdout: &bytes.Buffer{}, want: cliout.Table},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveFormat(tt.flag, tt.env, tt.stdout)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("resolveFormat = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestTerminalDefaultsToTable(t *testing.T) {
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no terminal to test with: %v", err)
	}
	defer tty.Close()
	if got, err := resolveFormat("", "", tty); err != nil || got != cliout.Table {
		t.Errorf("resolveFormat(terminal) = %q, %v; want table", got, err)
	}
	if got, _ := resolveFormat("", "json", tty); got != cliout.JSON {
		t.Errorf("VRM_FORMAT=json on a terminal gave %q", got)
	}
}

func TestParseAssignments(t *testing.T) {
	got, err := parseAssignments([]string{"name.given=Ada", "note=a=b==c", "empty=", "url=https://x.example/?q=1&r=2"})
	if err != nil {
		t.Fatal(err)
	}
	want := []assignment{
		{"name.given", "Ada"},
		{"note", "a=b==c"},
		{"empty", ""},
		{"url", "https://x.example/?q=1&r=2"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d assignments, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("assignment %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range [][]string{{"foo"}, {"=x"}, {"a=1", "a=2"}} {
		if _, err := parseAssignments(bad); err == nil {
			t.Errorf("parseAssignments(%q) succeeded", bad)
		}
	}
	long := strings.Repeat("x", 500)
	_, err = parseAssignments([]string{long})
	if err == nil || len(err.Error()) > 120 {
		t.Errorf("error for a long argument is %d bytes: %v", len(err.Error()), err)
	}
}

func TestParseIfVersions(t *testing.T) {
	got, err := parseIfVersions([]string{"a=0", "b.c=17"}, []string{"a", "b.c", "d"})
	if err != nil || len(got) != 2 || got["a"] != 0 || got["b.c"] != 17 {
		t.Fatalf("parseIfVersions = %v, %v", got, err)
	}
	for _, bad := range [][]string{{"a"}, {"=1"}, {"a=-1"}, {"a=1.5"}, {"a=1", "a=2"}, {"zz=1"}} {
		if _, err := parseIfVersions(bad, []string{"a"}); err == nil {
			t.Errorf("parseIfVersions(%q) succeeded", bad)
		}
	}
}

// writeInitialised writes a config naming addr and a key file of the given
// mode into e.home, as vrm init would.
func writeInitialised(t *testing.T, e *testEnv, addr string, mode os.FileMode) string {
	t.Helper()
	key, err := consent.GenerateKey(consent.EdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := ensureDir(e.home); err != nil {
		t.Fatal(err)
	}
	if err := saveKey(e.home, key); err != nil {
		t.Fatal(err)
	}
	if err := saveConfig(e.home, &config{Vault: addr, OwnerJKT: key.Thumbprint()}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(e.home, keyFile), mode); err != nil {
		t.Fatal(err)
	}
	return key.Thumbprint()
}

func TestKeyFileMode(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no Unix permissions")
	}
	// Port 1 on loopback refuses connections: the call fails as
	// Unavailable once the key has been loaded.
	const addr = "127.0.0.1:1/v1"

	e := newTestEnv(t)
	writeInitialised(t, e, addr, 0o600)
	for _, name := range []string{keyFile, configFile} {
		fi, err := os.Stat(filepath.Join(e.home, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", name, fi.Mode().Perm())
		}
	}
	if fi, err := os.Stat(e.home); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("home directory: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
	r := e.run("status")
	if r.code != ExitFailure {
		t.Fatalf("status: exit %d, want %d", r.code, ExitFailure)
	}
	if line := oneErrorLine(t, r); !strings.Contains(line, "the vault could not be reached at "+addr) {
		t.Errorf("status with a 0600 key: %q, want the vault to be unreachable", line)
	}

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		e := newTestEnv(t)
		writeInitialised(t, e, addr, mode)
		r := e.run("profile", "get")
		if r.code != ExitFailure {
			t.Errorf("mode %04o: exit %d, want %d", mode, r.code, ExitFailure)
		}
		line := oneErrorLine(t, r)
		if !strings.Contains(line, "chmod 600 "+filepath.Join(e.home, keyFile)) {
			t.Errorf("mode %04o: %q does not say to chmod 600", mode, line)
		}
	}
}

func TestKeyMismatchAndCorruptConfig(t *testing.T) {
	e := newTestEnv(t)
	writeInitialised(t, e, "127.0.0.1:1/v1", 0o600)
	other, err := consent.GenerateKey(consent.EdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := saveKey(e.home, other); err != nil {
		t.Fatal(err)
	}
	r := e.run("status")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "init --force") {
		t.Errorf("mismatched key: exit %d, %q", r.code, line)
	}

	if err := os.WriteFile(filepath.Join(e.home, configFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.run("status")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "not valid JSON") {
		t.Errorf("corrupt config: exit %d, %q", r.code, line)
	}
	// init refuses to replace it without --force, and leaves it alone.
	r = e.run("init", "--vault", "127.0.0.1:1/v1", "--code", "c")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "--force") {
		t.Errorf("init over a corrupt config: exit %d, %q", r.code, line)
	}
}

func TestInitUnreachableWritesNothing(t *testing.T) {
	e := newTestEnv(t)
	r := e.run("init", "--vault", "127.0.0.1:1/v1", "--code", "c0de")
	if r.code != ExitFailure {
		t.Fatalf("exit %d, want %d", r.code, ExitFailure)
	}
	if line := oneErrorLine(t, r); !strings.Contains(line, "could not be reached at 127.0.0.1:1/v1") {
		t.Errorf("error line %q", line)
	}
	if _, err := os.Stat(e.home); !os.IsNotExist(err) {
		t.Errorf("failed init left %s behind (%v)", e.home, err)
	}
}

func TestHomeDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	got, err := homeDir(env(map[string]string{envHome: "/srv/vrm", "HOME": "/home/ada"}))
	if err != nil || got != filepath.Clean("/srv/vrm") {
		t.Errorf("VRM_HOME: %q, %v", got, err)
	}
	if runtime.GOOS != "linux" {
		return
	}
	if got, err := homeDir(env(map[string]string{"XDG_CONFIG_HOME": "/x/cfg", "HOME": "/home/ada"})); err != nil || got != "/x/cfg/vrm" {
		t.Errorf("XDG_CONFIG_HOME: %q, %v", got, err)
	}
	if got, err := homeDir(env(map[string]string{"HOME": "/home/ada"})); err != nil || got != "/home/ada/.config/vrm" {
		t.Errorf("HOME: %q, %v", got, err)
	}
	if _, err := homeDir(env(nil)); err == nil || !strings.Contains(err.Error(), "VRM_HOME") {
		t.Errorf("empty environment: %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || string(data) != "new" {
		t.Fatalf("content %q, %v", data, err)
	}
	if fi, _ := os.Stat(path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := writeFileAtomic(filepath.Join(dir, "missing", "f"), []byte("x")); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain":               "plain",
		"two\nlines\r\n":      "two lines",
		"esc \x1b[31mred":     "esc ?[31mred",
		"bidi \u202eevil":     "bidi ?evil",
		"tab\there":           "tab here",
		"unicode ok: Zoë, 東京": "unicode ok: Zoë, 東京",
	} {
		if got := cliexit.OneLine(in); got != want {
			t.Errorf("cliexit.OneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSniffFormat(t *testing.T) {
	for in, want := range map[string]fileFormat{
		"BEGIN:VCARD\r\nVERSION:4.0":    fileVCard,
		"\xef\xbb\xbf\n begin:vcard\n":  fileVCard,
		` {"name": {"given": "Ada"}}`:   fileJSON,
		"\xef\xbb\xbf{}":                fileJSON,
		"name,email\nAda,ada@x.example": "",
		"":                              "",
	} {
		if got := sniffFormat([]byte(in)); got != want {
			t.Errorf("sniffFormat(%q) = %q, want %q", in, got, want)
		}
	}
	for name, want := range map[string]fileFormat{"a.json": fileJSON, "A.VCF": fileVCard, "x.vcard": fileVCard, "x.txt": "", "-": ""} {
		if got := formatByName(name); got != want {
			t.Errorf("formatByName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestImportUnknownFormat(t *testing.T) {
	e := newTestEnv(t)
	path := filepath.Join(t.TempDir(), "contacts.txt")
	if err := os.WriteFile(path, []byte("name,email\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.run("profile", "import", path)
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.Contains(line, "--format") {
		t.Errorf("exit %d, %q", r.code, line)
	}
	// A malformed file is refused before vrm looks for its configuration.
	e.stdin = `{"name": `
	r = e.run("profile", "import", "-")
	if line := oneErrorLine(t, r); r.code != ExitFailure || !strings.HasPrefix(line, "vrm: stdin: ") {
		t.Errorf("malformed JSON on stdin: exit %d, %q", r.code, line)
	}
}

// decodeJSON decodes r's stdout into v, failing the test if it is not one
// JSON document.
func decodeJSON(t *testing.T, r result, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON document:\n%s", r.stdout)
	}
}
