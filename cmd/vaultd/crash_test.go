package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/store/postgres/pgtest"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// buildVaultd compiles this command into a temp dir.
func buildVaultd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vaultd")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build vaultd: %v", err)
	}
	return bin
}

var initLine = regexp.MustCompile(`vrm init --vault (\S+) --code (\S+)`)
var readyLine = regexp.MustCompile(`vaultd: vault (\S+) ready`)

// vaultdProc is a running vaultd process.
type vaultdProc struct {
	cmd  *exec.Cmd
	addr string
	code string
}

// storeArgs returns the vaultd flags that select the store under test:
// none for badger in the data dir (the default), or, with
// VAULTTEST_ENGINE=postgres, --store naming a fresh PostgreSQL schema
// (its key store goes beside it, in <schema>_keys), dropped when the test
// ends.
func storeArgs(t *testing.T) []string {
	t.Helper()
	if vaulttest.Engine() != "postgres" {
		return nil
	}
	dsn := pgtest.DSN(t)
	schema := pgtest.NewSchema(t, dsn)
	pgtest.DropAtCleanup(t, dsn, schema+"_keys")
	u, err := pgtest.WithSchema(dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	return []string{"--store", u}
}

// startVaultd starts the binary on dir (and the store that extra flags
// name) and waits for its ready line.
func startVaultd(t *testing.T, bin, dir string, extra ...string) *vaultdProc {
	t.Helper()
	args := append([]string{"--data", dir, "--listen", "127.0.0.1:0", "--log-level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &vaultdProc{cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("vaultd exited before it was ready")
			}
			if m := initLine.FindStringSubmatch(l); m != nil {
				p.code = m[2]
			}
			if m := readyLine.FindStringSubmatch(l); m != nil {
				p.addr = m[1]
				return p
			}
		case <-deadline:
			t.Fatal("vaultd did not print its ready line in 30 s")
		}
	}
}

func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real vaultd")
	}
	bin := buildVaultd(t)
	dir := t.TempDir()
	st := storeArgs(t)
	p := startVaultd(t, bin, dir, st...)
	if p.code == "" {
		t.Fatal("first start printed no enrolment code")
	}
	addr, err := vaultconn.ParseAddress(p.addr)
	if err != nil {
		t.Fatal(err)
	}
	key := vaulttest.NewKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := owner.Dial(vaultconn.Config{Address: addr, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enroll(ctx, p.code, "crash-test"); err != nil {
		t.Fatal(err)
	}
	const writes = 50
	acked := map[string]string{}
	for i := 0; i < writes; i++ {
		path := fmt.Sprintf("notes.n%03d", i)
		val := fmt.Sprintf("value %d", i)
		if _, err := c.SetFields(ctx, []profile.Field{{Path: path, Value: profile.StringValue(val)}}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		acked[path] = val
	}
	_ = c.Close()
	// Kill right after the last acknowledgement: no graceful shutdown.
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()

	p2 := startVaultd(t, bin, dir, st...)
	if p2.code != "" {
		t.Fatal("restart of an enrolled vault printed a new enrolment code")
	}
	addr2, err := vaultconn.ParseAddress(p2.addr)
	if err != nil {
		t.Fatal(err)
	}
	if addr2.VaultID != addr.VaultID {
		t.Fatalf("vault id changed across restart: %s -> %s", addr.VaultID, addr2.VaultID)
	}
	c2, err := owner.Dial(vaultconn.Config{Address: addr2, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	got, err := c2.GetProfile(ctx, "notes.*")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, f := range got.GetFields() {
		found[f.GetPath()] = f.GetValue().GetStringValue()
	}
	for path, val := range acked {
		if found[path] != val {
			t.Errorf("acknowledged write %s lost after kill -9 (found %q)", path, found[path])
		}
	}
	t.Logf("%d acknowledged writes checked after SIGKILL and restart", len(acked))
}

func TestSecondVaultdOnSameDirRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a real vaultd")
	}
	if vaulttest.Engine() == "postgres" {
		t.Skip("badger's directory lock: several vaultd may share a PostgreSQL database")
	}
	bin := buildVaultd(t)
	dir := t.TempDir()
	startVaultd(t, bin, dir)
	out, err := exec.Command(bin, "--data", dir, "--listen", "127.0.0.1:0").CombinedOutput()
	if err == nil {
		t.Fatal("second vaultd on the same data dir started")
	}
	if !strings.Contains(string(out), "in use by another vaultd") {
		t.Fatalf("second vaultd said %q", out)
	}
}

func TestRefusesPlaintextOnNonLoopback(t *testing.T) {
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"--data", t.TempDir(), "--listen", "0.0.0.0:0"}, &stdout, &stderr, func(string) string { return "" })
	if code != 1 || !strings.Contains(stderr.String(), "without TLS") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}
