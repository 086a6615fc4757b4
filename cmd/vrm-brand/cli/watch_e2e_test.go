package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	vrmcli "github.com/vrmvault/vrmvault/cmd/vrm/cli"

	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// End-to-end tests of watch, watch-consent and write: vrm-brand running
// in the background against a real vault, the owner acting through vrm
// (cmd/vrm/cli) or the Go owner client.

// syncBuffer is a buffer a command writes in one goroutine while the test
// reads it in another.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// gatedWriter is a syncBuffer whose writes wait until open is closed: a
// consumer that stops reading.
type gatedWriter struct {
	syncBuffer
	open chan struct{}
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	<-g.open
	return g.syncBuffer.Write(p)
}

// background is a vrm-brand command running in its own goroutine until
// stopped.
type background struct {
	t      *testing.T
	stdout interface{ String() string }
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan struct{}
	code   int
}

// start runs vrm-brand with args in the background, writing to stdout (a
// new syncBuffer when nil). The test's cleanup stops it.
func (e *testEnv) start(stdout interface {
	Write([]byte) (int, error)
	String() string
}, args ...string) *background {
	e.t.Helper()
	if stdout == nil {
		stdout = &syncBuffer{}
	}
	vars := make(map[string]string, len(e.vars))
	for k, v := range e.vars {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{t: e.t, stdout: stdout, stderr: &syncBuffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.code = Main(ctx, args, Env{Stdout: stdout, Stderr: b.stderr, Getenv: func(k string) string { return vars[k] }})
	}()
	e.t.Cleanup(func() { cancel(); <-b.done })
	return b
}

// wait waits up to d for the command to exit and returns its status.
func (b *background) wait(d time.Duration) int {
	b.t.Helper()
	select {
	case <-b.done:
		return b.code
	case <-time.After(d):
		b.t.Fatalf("still running after %s; stderr %q", d, b.stderr.String())
		return -1
	}
}

// stop interrupts the command and returns its exit status.
func (b *background) stop() int {
	b.t.Helper()
	b.cancel()
	return b.wait(10 * time.Second)
}

// eventually polls cond every 10ms until it holds, failing after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// watchEventJSON is one line of watch -o json.
type watchEventJSON struct {
	Cursor  uint64      `json:"cursor"`
	Fields  []fieldJSON `json:"fields"`
	Deleted []string    `json:"deleted"`
}

// events parses the complete lines of watch -o json output.
func events(t *testing.T, out string) []watchEventJSON {
	t.Helper()
	var evs []watchEventJSON
	for _, line := range strings.SplitAfter(out, "\n") {
		if !strings.HasSuffix(line, "\n") {
			break // not written yet
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		var ev watchEventJSON
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("line %q is not a watch event: %v", line, err)
		}
		if ev.Fields == nil || ev.Deleted == nil {
			t.Fatalf("line %q lacks fields or deleted", line)
		}
		evs = append(evs, ev)
	}
	return evs
}

// waitEvents waits up to d for n events of watch -o json and returns all
// the events so far.
func (b *background) waitEvents(n int, d time.Duration) []watchEventJSON {
	b.t.Helper()
	var evs []watchEventJSON
	eventually(b.t, d, fmt.Sprintf("%d events (stdout %q, stderr %q)", n, b.stdout.String(), b.stderr.String()), func() bool {
		evs = events(b.t, b.stdout.String())
		return len(evs) >= n
	})
	return evs
}

// vrmEnv is the customer's vrm, enrolled in a vault as a second owner
// device.
type vrmEnv struct {
	t    *testing.T
	home string
}

func newVrm(t *testing.T, v *vaulttest.Vault) *vrmEnv {
	t.Helper()
	enr, err := v.Host.NewEnrollmentCode(ctxT(t), v.Address.VaultID)
	if err != nil {
		t.Fatal(err)
	}
	c := &vrmEnv{t: t, home: filepath.Join(t.TempDir(), "vrm")}
	c.mustRun("init", "--vault", v.Addr, "--code", enr.Code, "--device", "laptop")
	return c
}

func (c *vrmEnv) run(args ...string) result {
	var out, errOut bytes.Buffer
	code := vrmcli.Main(context.Background(), args, vrmcli.Env{
		Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string {
			if k == "VRM_HOME" {
				return c.home
			}
			return ""
		},
	})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func (c *vrmEnv) mustRun(args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("vrm %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// keygen makes the brand key of e and returns its thumbprint.
func (e *testEnv) keygen() string {
	e.t.Helper()
	var kg keygenJSON
	decodeJSON(e.t, e.mustRun("keygen", "--name", "Example Shop", "--url", "https://shop.example.com"), &kg)
	return kg.BrandJKT
}

// granted makes a request of v for scopes, which o grants; it returns
// the request and consent ids.
func (e *testEnv) granted(v *vaulttest.Vault, o *owner.Client, scopes ...string) (string, string) {
	e.t.Helper()
	args := []string{"request", "--vault", v.Addr, "--purpose", "ServiceProvision", "--duration", "90d", "-o", "json"}
	for _, s := range scopes {
		args = append(args, "--scope", s)
	}
	var rq struct {
		Vault    string      `json:"vault"`
		VaultJKT string      `json:"vault_jkt"`
		Request  requestJSON `json:"request"`
	}
	decodeJSON(e.t, e.mustRun(args...), &rq)
	g, err := o.Grant(ctxT(e.t), rq.Request.RequestID, owner.Grant{})
	if err != nil {
		e.t.Fatal(err)
	}
	return rq.Request.RequestID, g.GetConsent().GetConsentId()
}

// setField stores one string field as the owner and returns the change's
// sequence number.
func setField(t *testing.T, o *owner.Client, path, value string) uint64 {
	t.Helper()
	resp, err := o.SetFields(ctxT(t), []profile.Field{{Path: path, Value: profile.StringValue(value)}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetSeq()
}

// consentsJSON is the part of vrm consents -o json the tests read.
type consentsJSON struct {
	Consents []struct {
		ConsentID          string `json:"consent_id"`
		AcknowledgedCursor uint64 `json:"acknowledged_cursor"`
		Delivery           string `json:"delivery"`
		ChangesBehind      int64  `json:"changes_behind"`
	} `json:"consents"`
}

func TestE2EWatch(t *testing.T) {
	v, o := startVault(t)
	customer := newVrm(t, v)
	e := newTestEnv(t)
	jkt := e.keygen()
	_, cid := e.granted(v, o, "watch:address.home.*")

	// From the start: first the current values (none yet).
	w := e.start(nil, "watch", "--vault", v.Addr, "-o", "json", "--ack-every", "100ms")
	first := w.waitEvents(1, 5*time.Second)[0]
	if first.Cursor == 0 || len(first.Fields) != 0 || len(first.Deleted) != 0 {
		t.Fatalf("first event %+v", first)
	}
	// A change the brand may not see, then one it may, through vrm.
	customer.mustRun("profile", "set", "email.home=ada@new.example")
	start := time.Now()
	customer.mustRun("profile", "set", "address.home.locality=Leeds")
	evs := w.waitEvents(2, time.Second)
	t.Logf("the change reached vrm-brand watch in %s", time.Since(start))
	leeds := evs[1]
	if len(evs) != 2 || leeds.Cursor <= first.Cursor || len(leeds.Fields) != 1 || len(leeds.Deleted) != 0 {
		t.Fatalf("events %+v", evs)
	}
	if f := leeds.Fields[0]; f.Path != "address.home.locality" || f.Value != "Leeds" || f.Type != "string" || f.Version != leeds.Cursor || f.Updated == "" {
		t.Fatalf("field %+v", f)
	}
	if out := w.stdout.String(); strings.Contains(out, "email") {
		t.Fatalf("the brand saw a change it may not watch: %s", out)
	}

	// The watch acknowledges: vrm consents says the brand is up to date.
	eventually(t, 5*time.Second, "vrm consents says up to date", func() bool {
		var cs consentsJSON
		if err := json.Unmarshal([]byte(customer.mustRun("consents", "-o", "json").stdout), &cs); err != nil {
			t.Fatal(err)
		}
		return len(cs.Consents) == 1 && cs.Consents[0].Delivery == "up_to_date" && cs.Consents[0].AcknowledgedCursor == leeds.Cursor
	})
	r := customer.mustRun("consents", "-o", "table")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || !strings.Contains(lines[1], cid) || !strings.HasSuffix(lines[1], "up to date") {
		t.Errorf("vrm consents:\n%s", r.stdout)
	}

	// Interrupted: exit 0, nothing on stderr, the cursor saved.
	if code := w.stop(); code != ExitOK || w.stderr.String() != "" {
		t.Fatalf("interrupted watch: exit %d, stderr %q", code, w.stderr.String())
	}
	st, err := loadState(e.home)
	if err != nil {
		t.Fatal(err)
	}
	if rec := st.Vaults[v.Addr].Watch; rec == nil || rec.Cursor != leeds.Cursor || rec.BrandJKT != jkt || rec.Saved == "" {
		t.Fatalf("saved watch %+v, want cursor %d", rec, leeds.Cursor)
	}

	// Five changes while nobody watches, and one the brand may not see:
	// the next watch prints exactly those five, once each.
	var want []uint64
	for i := range 5 {
		want = append(want, setField(t, o, "address.home.locality", fmt.Sprint("Town", i)))
		if i == 2 {
			setField(t, o, "email.home", "ada@other.example")
		}
	}
	w = e.start(nil, "watch", "--vault", v.Addr, "-o", "json", "--ack-every", "100ms")
	w.waitEvents(5, 5*time.Second)
	time.Sleep(300 * time.Millisecond) // nothing more comes
	if code := w.stop(); code != ExitOK {
		t.Fatalf("exit %d: %s", code, w.stderr.String())
	}
	evs = events(t, w.stdout.String())
	if len(evs) != 5 {
		t.Fatalf("resumed watch printed %d events, want 5:\n%s", len(evs), w.stdout.String())
	}
	for i, ev := range evs {
		if ev.Cursor != want[i] || len(ev.Fields) != 1 || ev.Fields[0].Value != fmt.Sprint("Town", i) {
			t.Errorf("event %d: %+v, want cursor %d Town%d", i, ev, want[i], i)
		}
	}

	// A table from the start: the current value, then a deletion.
	w = e.start(nil, "watch", "--vault", v.Addr, "-o", "table", "--from-start")
	current := regexp.MustCompile(`^cursor [0-9]+  address\.home\.locality = Town4\n$`)
	eventually(t, 5*time.Second, "the current value in a table", func() bool { return current.MatchString(w.stdout.String()) })
	var rm struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal([]byte(customer.mustRun("profile", "rm", "address.home.locality", "-o", "json").stdout), &rm); err != nil {
		t.Fatal(err)
	}
	deleted := fmt.Sprintf("cursor %d  address.home.locality deleted\n", rm.Seq)
	eventually(t, 5*time.Second, "the deletion in a table", func() bool { return strings.HasSuffix(w.stdout.String(), deleted) })
	if code := w.stop(); code != ExitOK {
		t.Fatalf("exit %d: %s", code, w.stderr.String())
	}

	// The customer revokes while the brand watches: exit 1, "consent
	// revoked", one line; and so does any later watch.
	w = e.start(nil, "watch", "--vault", v.Addr)
	eventually(t, 5*time.Second, "the stream is open", func() bool { return v.Server.OpenStreams() == 1 })
	customer.mustRun("revoke", cid)
	if code := w.wait(5 * time.Second); code != ExitFailure || w.stderr.String() != "vrm-brand: consent revoked\n" || w.stdout.String() != "" {
		t.Fatalf("watch at revocation: exit %d, stdout %q, stderr %q", code, w.stdout.String(), w.stderr.String())
	}
	if line := e.fail("consent revoked", "watch", "--vault", v.Addr); line != "vrm-brand: consent revoked" {
		t.Errorf("watch after revocation: %q", line)
	}
}

func TestE2EWatchWithoutWatchConsent(t *testing.T) {
	v, o := startVault(t)
	e := newTestEnv(t)
	e.keygen()
	e.mustRun(requestArgs(v.Addr)...) // pending
	e.fail("no active consent", "watch", "--vault", v.Addr)
	e.granted(v, o, "read:name.*")
	e.fail("watch scope", "watch", "--vault", v.Addr)
}

func TestE2EWatchSavedCursorAheadOfTheVault(t *testing.T) {
	v, o := startVault(t)
	e := newTestEnv(t)
	jkt := e.keygen()
	e.granted(v, o, "watch:name.*")
	st, err := loadState(e.home)
	if err != nil {
		t.Fatal(err)
	}
	st.vault(v.Address).Watch = &watchRecord{BrandJKT: jkt, Cursor: 1 << 40}
	if err := saveState(e.home, st); err != nil {
		t.Fatal(err)
	}
	e.fail("run with --from-start", "watch", "--vault", v.Addr)
	// --from-start starts again, and saves the new cursor.
	w := e.start(nil, "watch", "--vault", v.Addr, "--from-start", "-o", "json")
	ev := w.waitEvents(1, 5*time.Second)[0]
	if code := w.stop(); code != ExitOK || len(ev.Fields) != 2 {
		t.Fatalf("exit %d, first event %+v", code, ev)
	}
	if st, err = loadState(e.home); err != nil || st.watchCursor(v.Address, jkt) != ev.Cursor {
		t.Fatalf("saved cursor %d, %v; want %d", st.watchCursor(v.Address, jkt), err, ev.Cursor)
	}
}

func TestE2EWatchReconnectsWhenBehind(t *testing.T) {
	v := vaulttest.Start(t, vaulttest.Options{SendTimeout: 300 * time.Millisecond})
	o, _ := v.Owner(t)
	e := newTestEnv(t)
	e.keygen()
	e.granted(v, o, "watch:notes.*")

	// vrm-brand stops taking events (its output blocks) while the owner
	// makes more changes than the transport buffers: the vault ends the
	// stream asking to resume.
	out := &gatedWriter{open: make(chan struct{})}
	w := e.start(out, "watch", "--vault", v.Addr, "-o", "json", "--ack-every", "50ms")
	eventually(t, 5*time.Second, "the stream is open", func() bool { return v.Server.OpenStreams() == 1 })
	big := strings.Repeat("x", 4000)
	var want []uint64
	for i := range 200 {
		want = append(want, setField(t, o, "notes.n", fmt.Sprint(i, big)))
	}
	time.Sleep(time.Second)
	close(out.open)

	// Resuming from the last cursor received, it prints every change
	// exactly once.
	w.waitEvents(len(want)+1, 20*time.Second)
	time.Sleep(200 * time.Millisecond) // no duplicate follows
	if code := w.stop(); code != ExitOK {
		t.Fatalf("exit %d: %s", code, w.stderr.String())
	}
	evs := events(t, out.String())
	var got []uint64
	for _, ev := range evs[1:] {
		got = append(got, ev.Cursor)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%d events after the first; cursors %v, want %v", len(got), got, want)
	}
	lines := strings.Split(strings.TrimSuffix(w.stderr.String(), "\n"), "\n")
	reconnect := regexp.MustCompile(`^vrm-brand: the stream ended \(stream fell behind: .*resume from the last cursor you received\); reconnecting from cursor [0-9]+ in 100ms$`)
	if len(lines) == 0 || !reconnect.MatchString(lines[0]) {
		t.Fatalf("stderr %q", w.stderr.String())
	}
	t.Logf("%d reconnections", len(lines))
}

func TestE2EWatchRetriesWhileTheVaultDrains(t *testing.T) {
	v, o := startVault(t)
	e := newTestEnv(t)
	e.keygen()
	e.granted(v, o, "watch:name.*")
	w := e.start(nil, "watch", "--vault", v.Addr, "-o", "json")
	cursor := w.waitEvents(1, 5*time.Second)[0].Cursor
	v.Server.Drain()
	// The stream ends asking to resume, then every attempt is refused:
	// watch keeps trying, waiting longer each time, one line each.
	eventually(t, 5*time.Second, "three attempts", func() bool { return strings.Count(w.stderr.String(), "\n") >= 3 })
	if code := w.stop(); code != ExitOK {
		t.Fatalf("exit %d: %s", code, w.stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(w.stderr.String(), "\n"), "\n")
	// (A draining vault refuses a new stream as "vault shutting down" or,
	// depending on timing, "call canceled".)
	if !strings.HasPrefix(lines[0], "vrm-brand: the stream ended (vault shutting down; resume from the last cursor you received)") {
		t.Errorf("first line %q", lines[0])
	}
	for i, wait := range []string{"100ms", "200ms", "400ms"} {
		if !strings.HasPrefix(lines[i], "vrm-brand: the stream ended (") || !strings.HasSuffix(lines[i], "; reconnecting from cursor "+strconv.FormatUint(cursor, 10)+" in "+wait) {
			t.Errorf("line %d: %q", i, lines[i])
		}
	}
}

func TestE2EWatchConsent(t *testing.T) {
	v, o := startVault(t)
	e := newTestEnv(t)
	e.keygen()
	e.mustRun(requestArgs(v.Addr)...)
	st, err := loadState(e.home)
	if err != nil {
		t.Fatal(err)
	}
	id := st.Vaults[v.Addr].Requests[0].RequestID

	// Without REQUEST_ID, the latest request is followed.
	w := e.start(nil, "watch-consent", "--vault", v.Addr, "-o", "table")
	eventually(t, 5*time.Second, "pending", func() bool { return strings.HasPrefix(w.stdout.String(), "pending  request "+id+"  pending until ") })
	g, err := o.Grant(ctxT(t), id, owner.Grant{Only: []string{"read:name.given"}})
	if err != nil {
		t.Fatal(err)
	}
	cid := g.GetConsent().GetConsentId()
	eventually(t, 5*time.Second, "granted", func() bool { return strings.Count(w.stdout.String(), "\n") == 2 })
	if _, err := o.Revoke(ctxT(t), cid); err != nil {
		t.Fatal(err)
	}
	if code := w.wait(5 * time.Second); code != ExitOK || w.stderr.String() != "" {
		t.Fatalf("watch-consent: exit %d, stderr %q", code, w.stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(w.stdout.String(), "\n"), "\n")
	granted := regexp.MustCompile(`^granted  request ` + id + `  consent ` + cid + `  read:name\.given  until \S+Z$`)
	if len(lines) != 3 || !granted.MatchString(lines[1]) || lines[2] != "revoked  request "+id+"  consent "+cid {
		t.Fatalf("watch-consent:\n%s", w.stdout.String())
	}

	// A final request: its state, one JSON line, and the end.
	r := e.mustRun("watch-consent", "--vault", v.Addr, id, "-o", "json")
	var s statusJSON
	decodeJSON(t, r, &s)
	if strings.Count(r.stdout, "\n") != 1 || s.Request.RequestID != id || s.Consent == nil || s.Consent.State != "revoked" || s.Consent.ConsentID != cid {
		t.Fatalf("watch-consent of a revoked request: %s", r.stdout)
	}
	e.fail("request not found", "watch-consent", "--vault", v.Addr, "AAAAAAAAAAAAAAAAAAAAAA")
}

func TestE2EWrite(t *testing.T) {
	v, o := startVault(t)
	customer := newVrm(t, v)
	e := newTestEnv(t)
	jkt := e.keygen()
	ns := "brands." + jkt
	e.mustRun(requestArgs(v.Addr)...) // pending
	e.fail("no active consent", "write", "--vault", v.Addr, "orders.o1.total=42")
	e.granted(v, o, "write:"+ns+".*", "read:name.given")

	// Relative and absolute paths, in one batch.
	var wr struct {
		Vault  string `json:"vault"`
		Seq    uint64 `json:"seq"`
		Fields []struct {
			Path  string `json:"path"`
			Type  string `json:"type"`
			Value any    `json:"value"`
		} `json:"fields"`
	}
	decodeJSON(t, e.mustRun("write", "--vault", v.Addr, "-o", "json", "orders.o1.total=42", ns+".loyalty.tier=gold"), &wr)
	if wr.Vault != v.Addr || wr.Seq == 0 || len(wr.Fields) != 2 ||
		wr.Fields[0].Path != ns+".orders.o1.total" || wr.Fields[0].Type != "string" || wr.Fields[0].Value != "42" ||
		wr.Fields[1].Path != ns+".loyalty.tier" || wr.Fields[1].Value != "gold" {
		t.Fatalf("write: %+v", wr)
	}
	r := e.mustRun("write", "--vault", v.Addr, "-o", "table", "--type", "int", "loyalty.points=120")
	if !strings.Contains(r.stdout, "Seq:") || !strings.Contains(r.stdout, "Written:  "+ns+".loyalty.points = 120") {
		t.Errorf("write table:\n%s", r.stdout)
	}

	// Outside the namespace: refused by the vault, one line, nothing
	// stored.
	line := e.fail("not permitted", "write", "--vault", v.Addr, "name.given=x")
	if !strings.Contains(line, "name.given") {
		t.Errorf("write name.given: %q", line)
	}
	e.fail("not permitted", "write", "--vault", v.Addr, "brands.someone-else.x=1")
	e.fail("loyalty.points: must be a decimal integer", "write", "--vault", v.Addr, "--type", "int", "loyalty.points=many")

	// The customer sees the contributions with the brand's name.
	r = customer.mustRun("profile", "get", "brands.*", "-o", "table")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "PATH VALUE VERSION UPDATED BY" {
		t.Fatalf("vrm profile get brands.*:\n%s", r.stdout)
	}
	for _, l := range lines[1:] {
		if !strings.HasSuffix(l, "  Example Shop ("+jkt[:8]+"…)") {
			t.Errorf("line without the brand: %q", l)
		}
	}
	var got struct {
		Fields []struct {
			Path       string `json:"path"`
			Value      any    `json:"value"`
			Provenance *struct {
				BrandJKT  string `json:"brand_jkt"`
				BrandName string `json:"brand_name"`
				ConsentID string `json:"consent_id"`
			} `json:"provenance"`
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(customer.mustRun("profile", "get", "brands.*", "-o", "json").stdout), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Fields) != 3 {
		t.Fatalf("%d contributed fields", len(got.Fields))
	}
	for _, f := range got.Fields {
		if p := f.Provenance; p == nil || p.BrandJKT != jkt || p.BrandName != "Example Shop" || p.ConsentID == "" {
			t.Errorf("%s: provenance %+v", f.Path, f.Provenance)
		}
	}
	r = customer.mustRun("profile", "get", "name.given", "-o", "table")
	if strings.Contains(r.stdout, "BY") || !strings.Contains(r.stdout, "Ada") {
		t.Errorf("the owner's own field:\n%s", r.stdout)
	}
}
