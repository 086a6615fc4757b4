package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/store"
	"github.com/vrmvault/vrmvault/vault/store/badgerstore"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// dfLog collects a process's stderr.
type dfLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *dfLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *dfLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// dfProc is a vaultd started by dfStart.
type dfProc struct {
	cmd    *exec.Cmd
	addr   vaultconn.Address
	code   string
	stderr *dfLog
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited is closed
}

// dfStart starts vaultd on dir with extra flags, collecting its stderr,
// and waits for its ready line.
func dfStart(t *testing.T, bin, dir string, extra ...string) *dfProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--data", dir, "--listen", "127.0.0.1:0", "--log-level", "warn"}, extra...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &dfProc{cmd: cmd, stderr: &dfLog{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
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
				<-p.exited
				t.Fatalf("vaultd exited before it was ready (%v): %s", p.err, p.stderr)
			}
			if m := initLine.FindStringSubmatch(l); m != nil {
				p.code = m[2]
			}
			if m := readyLine.FindStringSubmatch(l); m != nil {
				a, err := vaultconn.ParseAddress(m[1])
				if err != nil {
					t.Fatal(err)
				}
				p.addr = a
				return p
			}
		case <-deadline:
			t.Fatalf("vaultd did not print its ready line in 30 s: %s", p.stderr)
		}
	}
}

// dfMount mounts a tmpfs of the given size on a new directory and
// unmounts it at the end of the test. It skips the test where that is not
// possible (not root, or no mount).
func dfMount(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (a disk that fills up)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs on %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// dfResize changes the size of the tmpfs at dir.
func dfResize(t *testing.T, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput(); err != nil {
		t.Fatalf("resize tmpfs: %v: %s", err, out)
	}
}

// dfFill fills the file system at dir with a file, to the last byte it
// takes, and returns the file's path.
func dfFill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for len(buf) > 0 {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			buf = buf[:len(buf)/2]
		}
	}
	return path
}

func dfFree(t *testing.T, dir string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Bavail * uint64(st.Bsize)
}

// dfStop stops p with SIGTERM (a graceful shutdown) and returns its exit
// status.
func dfStop(t *testing.T, p *dfProc) error {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(30 * time.Second):
		t.Fatalf("vaultd did not stop within 30 s of SIGTERM: %s", p.stderr)
		return nil
	}
}

// dfAlive fails the test if p has exited.
func dfAlive(t *testing.T, p *dfProc) {
	t.Helper()
	select {
	case <-p.exited:
		t.Fatalf("vaultd died (%v): %.2000s", p.err, p.stderr)
	case <-time.After(200 * time.Millisecond):
	}
}

// dfLogged reports whether p logs a line containing s within 5 s (its
// stderr is copied from a pipe, so it lags behind its answers).
func dfLogged(p *dfProc, s string) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(p.stderr.String(), s) {
			return true
		}
	}
	return false
}

// dfRunFails runs vaultd with args, expecting it to exit on its own with
// a failure, and returns its exit code and output.
func dfRunFails(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(args, "--listen", "127.0.0.1:0")...).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("vaultd %v: %v (should have exited with a failure): %s", args, err, out)
	}
	return ee.ExitCode(), string(out)
}

// dfProfile returns the owner's fields under notes.
func dfProfile(ctx context.Context, c *owner.Client) (map[string]string, error) {
	got, err := c.GetProfile(ctx, "notes.*")
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, f := range got.GetFields() {
		m[f.GetPath()] = f.GetValue().GetStringValue()
	}
	return m, nil
}

// wantNoSpace checks a refusal for want of disk space.
func wantNoSpace(t *testing.T, what string, err error) {
	t.Helper()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), "out of disk space") {
		t.Fatalf("%s on a full disk: %v, want RESOURCE_EXHAUSTED, out of disk space", what, err)
	}
}

// TestStoreExhaustion runs the real vaultd on a disk that fills up and on
// stores it cannot open. The disk is a small tmpfs (so the test needs
// root); badger is the store whose disk this is.
func TestStoreExhaustion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a real vaultd and fills a disk")
	}
	if vaulttest.Engine() == "postgres" {
		t.Skip("the disk and the files of the badger store")
	}
	bin := buildVaultd(t)
	t.Run("DiskFull", func(t *testing.T) { testDiskFull(t, bin) })
	t.Run("StartOnFullDisk", func(t *testing.T) { testStartOnFullDisk(t, bin) })
	t.Run("UnopenableStore", func(t *testing.T) { testUnopenableStore(t, bin) })
}

// testDiskFull fills the disk with owner data until writes are refused,
// then with a file to the last byte. Without the guard (diskguard.go)
// vaultd died of SIGBUS at the first write on a full disk: badger writes
// through memory-mapped files.
func testDiskFull(t *testing.T, bin string) {
	const reserve = 64 << 20
	dir := dfMount(t, "192m")
	data := filepath.Join(dir, "vaultd")
	reserveFlag := fmt.Sprintf("--min-free-disk-bytes=%d", reserve)
	p := dfStart(t, bin, data, reserveFlag)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	key := vaulttest.NewKey(t)
	c, err := owner.Dial(vaultconn.Config{Address: p.addr, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Enroll(ctx, p.code, "disk-full"); err != nil {
		t.Fatal(err)
	}

	// Owner data until a write is refused: batches of 100 fields of 4 KB,
	// each batch overwriting the last (the profile quota does not stop
	// it, but the disk fills with the versions).
	const fields = 100
	batch := func(tag string) []profile.Field {
		fs := make([]profile.Field, fields)
		for i := range fs {
			fs[i] = profile.Field{Path: fmt.Sprintf("notes.f%03d", i), Value: profile.StringValue(tag + strings.Repeat(".", 3990))}
		}
		return fs
	}
	want := map[string]string{} // every acknowledged write, as it must read
	var werr error
	n := 0
	for ; n < 2000; n++ {
		fs := batch(fmt.Sprintf("batch %04d ", n))
		if _, werr = c.SetFields(ctx, fs); werr != nil {
			break
		}
		for _, f := range fs {
			want[f.Path] = f.Value.Str
		}
	}
	wantNoSpace(t, "owner write", werr)
	dfAlive(t, p)
	t.Logf("%d batches of %d KB acknowledged, then: %v; %d MiB free", n, fields*4, werr, dfFree(t, dir)>>20)
	if n == 0 {
		t.Fatal("the first write was refused: the tmpfs is too small for the reserve")
	}
	if !dfLogged(p, "disk nearly full") {
		t.Errorf("vaultd logged no line about the full disk: %s", p.stderr)
	}
	// Every kind of change is refused: a small owner write, a brand's
	// access request.
	_, err = c.SetFields(ctx, []profile.Field{{Path: "notes.small", Value: profile.StringValue("x")}})
	wantNoSpace(t, "small owner write", err)
	b, err := brand.Dial(vaultconn.Config{Address: p.addr, Key: vaulttest.NewKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = b.RequestAccess(ctx, brand.Request{Name: "Shop", URL: "https://shop.example", Scopes: []string{"read:notes.*"},
		Purposes: []string{"ServiceProvision"}, Duration: 24 * time.Hour})
	wantNoSpace(t, "access request", err)

	// Reads are still served, again and again, once badger has settled:
	// while it flushes a memtable it holds a memtable's worth (32 MiB)
	// more for a moment, and below half the reserve reads are refused too.
	for deadline := time.Now().Add(30 * time.Second); dfFree(t, dir) < reserve/2+8<<20; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("free space stays at %d MiB", dfFree(t, dir)>>20)
		}
	}
	for i := 0; i < 20; i++ {
		got, err := dfProfile(ctx, c)
		if err != nil {
			t.Fatalf("read %d on a nearly full disk: %v", i, err)
		}
		if len(got) != len(want) || got["notes.f000"] != want["notes.f000"] {
			t.Fatalf("read %d: %d fields, notes.f000 %.10q", i, len(got), got["notes.f000"])
		}
	}

	// Full to the last byte: reads, which must record their proof, are
	// refused too; vaultd lives on.
	filler := dfFill(t, dir)
	_, err = dfProfile(ctx, c)
	wantNoSpace(t, "read", err)
	_, err = c.SetFields(ctx, batch("refused "))
	wantNoSpace(t, "owner write", err)
	dfAlive(t, p)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}

	// More room: writes are accepted again, without a restart.
	dfResize(t, dir, "384m")
	fs := batch("after resize ")
	if _, err := c.SetFields(ctx, fs[:1]); err != nil {
		t.Fatalf("write after the disk grew: %v", err)
	}
	want[fs[0].Path] = fs[0].Value.Str
	if !dfLogged(p, "writes accepted again") {
		t.Errorf("vaultd did not log that writes are accepted again: %s", p.stderr)
	}

	// Restart: every acknowledged write is there, the consent ledger and
	// the audit log verify.
	if err := dfStop(t, p); err != nil {
		t.Fatalf("graceful stop: %v: %s", err, p.stderr)
	}
	p2 := dfStart(t, bin, data, reserveFlag)
	c2, err := owner.Dial(vaultconn.Config{Address: p2.addr, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	got, err := dfProfile(ctx, c2)
	if err != nil {
		t.Fatal(err)
	}
	for path, v := range want {
		if got[path] != v {
			t.Errorf("after restart %s = %.20q, want %.20q", path, got[path], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("after restart %d fields, want %d", len(got), len(want))
	}
	rep, err := c2.Verify(ctx, consent.Head{}, "", []string{key.Thumbprint()})
	if err != nil {
		t.Fatalf("verify after restart: %v", err)
	}
	t.Logf("after restart: %d fields as acknowledged; audit log verified to entry %d with %d checkpoints", len(got), rep.AuditHead.Seq, rep.Checkpoints)
	if _, err := c2.SetFields(ctx, batch("after restart ")); err != nil {
		t.Fatalf("write after restart: %v", err)
	}
}

// testStartOnFullDisk starts vaultd on a disk without room: it exits with
// a clear message instead of opening badger (whose first write would
// kill it with SIGBUS), and starts once there is room.
func testStartOnFullDisk(t *testing.T, bin string) {
	const reserve = 16 << 20
	dir := dfMount(t, "64m")
	data := filepath.Join(dir, "vaultd")
	reserveFlag := fmt.Sprintf("--min-free-disk-bytes=%d", reserve)
	p := dfStart(t, bin, data, reserveFlag)
	if err := dfStop(t, p); err != nil {
		t.Fatalf("graceful stop: %v: %s", err, p.stderr)
	}
	filler := dfFill(t, dir)
	code, out := dfRunFails(t, bin, "--data", data, reserveFlag)
	if code != 1 || !strings.Contains(out, "not enough disk space to start") || !strings.Contains(out, "MiB free") {
		t.Fatalf("vaultd on a full disk: exit %d: %s", code, out)
	}
	t.Logf("on a full disk: exit %d: %s", code, strings.TrimSpace(out))
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	p = dfStart(t, bin, data, reserveFlag)
	if p.code == "" {
		t.Error("no enrolment code after a start on the freed disk (the vault had no owner yet)")
	}
}

// testUnopenableStore starts vaultd on stores it cannot open: it exits
// with status 1 and a line that says which store and why.
func testUnopenableStore(t *testing.T, bin string) {
	// The data store's directory is a file.
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "data"), []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := dfRunFails(t, bin, "--data", data)
	if code != 1 || !strings.Contains(out, "vaultd: open store:") {
		t.Fatalf("data store dir is a file: exit %d: %s", code, out)
	}
	t.Logf("data store dir is a file: exit %d: %s", code, strings.TrimSpace(out))

	// A store whose MANIFEST is garbage.
	data = t.TempDir()
	p := dfStart(t, bin, data)
	if err := dfStop(t, p); err != nil {
		t.Fatalf("graceful stop: %v: %s", err, p.stderr)
	}
	if err := os.WriteFile(filepath.Join(data, "data", "MANIFEST"), bytes.Repeat([]byte{0xff}, 64), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = dfRunFails(t, bin, "--data", data)
	if code != 1 || !strings.Contains(out, "vaultd: open store:") || !strings.Contains(strings.ToLower(out), "manifest") {
		t.Fatalf("corrupt MANIFEST: exit %d: %s", code, out)
	}
	t.Logf("corrupt MANIFEST: exit %d: %s", code, strings.TrimSpace(out))

	// A key store whose directory cannot be created.
	data = t.TempDir()
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = dfRunFails(t, bin, "--data", data, "--keys-dir", filepath.Join(blocker, "keys"))
	if code != 1 || !strings.Contains(out, "vaultd: open key store:") {
		t.Fatalf("key store under a file: exit %d: %s", code, out)
	}
	t.Logf("key store under a file: exit %d: %s", code, strings.TrimSpace(out))
}

// TestDiskGuard checks the guard's rules on a real badger store with a
// made-up free space, so that it runs without root.
func TestDiskGuard(t *testing.T) {
	const reserve = 100
	bs, err := badgerstore.Open(badgerstore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	var logs dfLog
	var free atomic.Int64
	var statErr atomic.Bool
	g := guardDisk(bs, []string{"a", "b"}, reserve, slog.New(slog.NewTextHandler(&logs, nil))).(*diskGuard)
	g.free = func(dir string) (int64, error) {
		if statErr.Load() && dir == "b" {
			return 0, errors.New("statfs b: input/output error")
		}
		if dir == "b" {
			return free.Load() + 1, nil
		}
		return free.Load(), nil
	}
	ctx := context.Background()
	free.Store(reserve)
	if err := g.CreateVault(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	change := func(key string, ignore bool) error {
		return g.Update(ctx, "v1", func(tx store.Tx) error {
			if err := tx.Put(key, []byte("x")); err != nil {
				return err
			}
			if _, err := tx.AppendChange([]byte(key)); err != nil && !ignore {
				return err
			}
			return nil
		})
	}
	bookkeeping := func(key string) error {
		return g.Update(ctx, "v1", func(tx store.Tx) error { return tx.Put(key, []byte("x")) })
	}
	stored := func(key string) bool {
		err := bs.View(ctx, "v1", func(tx store.Tx) error { _, err := tx.Get(key); return err })
		return err == nil
	}
	if err := change("c1", false); err != nil || !stored("c1") {
		t.Fatalf("change with the reserve free: %v", err)
	}

	free.Store(reserve - 1) // below the reserve: changes refused, bookkeeping goes on
	for _, ignore := range []bool{false, true} {
		if err := change("c2", ignore); !errors.Is(err, store.ErrNoSpace) || stored("c2") {
			t.Fatalf("change below the reserve (error ignored: %v): %v, stored %v", ignore, err, stored("c2"))
		}
	}
	if err := bookkeeping("k1"); err != nil || !stored("k1") {
		t.Fatalf("bookkeeping below the reserve: %v", err)
	}
	if err := g.CreateVault(ctx, "v2"); !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("create vault below the reserve: %v", err)
	}
	free.Store(reserve/2 - 1) // below half: nothing
	if err := bookkeeping("k2"); !errors.Is(err, store.ErrNoSpace) || stored("k2") {
		t.Fatalf("bookkeeping below half the reserve: %v", err)
	}
	if err := g.View(ctx, "v1", func(store.Tx) error { return nil }); err != nil {
		t.Fatalf("view on a full disk: %v", err)
	}
	free.Store(reserve)
	statErr.Store(true) // a disk that cannot be measured counts as full
	if err := change("c3", false); !errors.Is(err, store.ErrNoSpace) || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("change with statfs failing: %v", err)
	}
	statErr.Store(false)
	if err := change("c4", false); err != nil {
		t.Fatalf("change with the reserve free again: %v", err)
	}
	// One line when refusing starts, one when it ends.
	l := logs.String()
	if strings.Count(l, "disk nearly full") != 1 || strings.Count(l, "writes accepted again") != 1 {
		t.Fatalf("logs:\n%s", l)
	}
	if guardDisk(bs, nil, 0, nil) != store.Store(bs) {
		t.Fatal("a reserve of 0 does not turn the guard off")
	}
}
