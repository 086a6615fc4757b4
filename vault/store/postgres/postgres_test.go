package postgres

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vrmvault/vrmvault/vault/store"
	"github.com/vrmvault/vrmvault/vault/store/postgres/pgtest"
	"github.com/vrmvault/vrmvault/vault/store/storetest"
)

// openTest opens a Store on the test server in cfg.Schema (a fresh schema
// if empty) and closes it at the end of the test, unless the test closed
// it already.
func openTest(t testing.TB, cfg Config) *Store {
	t.Helper()
	dsn := pgtest.DSN(t)
	if cfg.DSN == "" {
		cfg.DSN = dsn
	}
	if cfg.Schema == "" {
		cfg.Schema = pgtest.NewSchema(t, dsn)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// rawConn returns a connection to the test server, closed at the end of
// the test, for looking at the tables behind the store's back.
func rawConn(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestConformance(t *testing.T) {
	pgtest.DSN(t) // skip once, not in each subtest
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, Config{}) })
}

// TestConformanceNoNotify: the suite passes with notifications off too,
// Wait then relying on its poll alone (the Citus fallback).
func TestConformanceNoNotify(t *testing.T) {
	if testing.Short() {
		t.Skip("the suite again, without notifications")
	}
	pgtest.DSN(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, Config{DisableNotify: true, PollInterval: 20 * time.Millisecond})
	})
}

// TestReopen: the storetest durability checks, with "the same directory"
// being the same schema.
func TestReopen(t *testing.T) {
	schema := pgtest.NewSchema(t, pgtest.DSN(t))
	storetest.RunReopen(t, func(t *testing.T, _ string) store.Store { return openTest(t, Config{Schema: schema}) })
}

// TestConcurrentWritersFeedExactlyOnce: 8 writers append to one vault
// while a follower reads the feed with Changes and Wait from its cursor;
// the sequence is gapless, and the follower sees every change exactly
// once, in order, with the seq AppendChange returned to its writer.
func TestConcurrentWritersFeedExactlyOnce(t *testing.T) {
	const writers, appends = 8, 50
	const total = writers * appends
	s := openTest(t, Config{})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := s.CreateVault(ctx, "feed"); err != nil {
		t.Fatal(err)
	}

	type seen struct {
		seq  uint64
		data string
	}
	followed := make(chan []seen, 1)
	go func() {
		var got []seen
		var cursor uint64
		for len(got) < total && ctx.Err() == nil {
			cs, err := s.Changes(ctx, "feed", cursor, 7)
			if err != nil {
				t.Errorf("follower: Changes: %v", err)
				break
			}
			for _, c := range cs {
				got = append(got, seen{c.Seq, string(c.Data)})
				cursor = c.Seq
			}
			if len(cs) == 0 {
				if err := s.Wait(ctx, "feed", cursor); err != nil {
					t.Errorf("follower: Wait: %v", err)
					break
				}
			}
		}
		followed <- got
	}()

	var wg sync.WaitGroup
	var mu sync.Mutex
	seqOf := map[string]uint64{}
	for w := range writers {
		wg.Go(func() {
			for i := range appends {
				data := fmt.Sprintf("w%d-%03d", w, i)
				var seq uint64
				err := s.Update(ctx, "feed", func(tx store.Tx) error {
					var err error
					if seq, err = tx.AppendChange([]byte(data)); err != nil {
						return err
					}
					return tx.Put("last/"+strconv.Itoa(w), []byte(data))
				})
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				mu.Lock()
				seqOf[data] = seq
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	var got []seen
	select {
	case got = <-followed:
	case <-ctx.Done():
		t.Fatal("follower did not see every change in time")
	}
	if len(got) != total {
		t.Fatalf("follower saw %d changes, want %d", len(got), total)
	}
	dup := map[string]bool{}
	for i, c := range got {
		if c.seq != uint64(i+1) {
			t.Fatalf("follower's change #%d has seq %d: not gapless and in order", i+1, c.seq)
		}
		if dup[c.data] {
			t.Errorf("change %q delivered twice", c.data)
		}
		dup[c.data] = true
		if seqOf[c.data] != c.seq {
			t.Errorf("change %d holds %q, which AppendChange numbered %d", c.seq, c.data, seqOf[c.data])
		}
	}
	// Each writer's own changes are in its commit order.
	last := map[string]string{}
	for _, c := range got {
		w, _, _ := strings.Cut(c.data, "-")
		if c.data <= last[w] {
			t.Errorf("writer %s: %q after %q", w, c.data, last[w])
		}
		last[w] = c.data
	}
	var lastSeq int64
	if err := rawConn(t).QueryRow(ctx, fmt.Sprintf("SELECT last_seq FROM %s.vaults WHERE vault = 'feed'", s.schema)).Scan(&lastSeq); err != nil {
		t.Fatal(err)
	}
	if lastSeq != total {
		t.Errorf("vaults.last_seq = %d, want %d", lastSeq, total)
	}
}

// TestWaitAcrossStores: a commit through one Store wakes a Wait on
// another Store on the same schema, as with two vaultd processes on one
// database.
func TestWaitAcrossStores(t *testing.T) {
	a := openTest(t, Config{PollInterval: time.Hour})
	b := openTest(t, Config{Schema: a.schema, PollInterval: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := a.CreateVault(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- b.Wait(ctx, "x", 0) }()
	time.Sleep(50 * time.Millisecond)
	if err := a.Update(ctx, "x", func(tx store.Tx) error { _, err := tx.AppendChange(nil); return err }); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("Wait on the other store: %v", err)
	}
	// And an erase through a reaches b's waiters too.
	go func() { waited <- b.Wait(ctx, "x", 1) }()
	time.Sleep(50 * time.Millisecond)
	if err := a.EraseVault(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, store.ErrVaultNotFound) {
		t.Fatalf("Wait across an erase on the other store = %v, want ErrVaultNotFound", err)
	}
}

// TestListenerReconnect: when the listening connection is killed, the
// store reconnects and wakes every Wait, so a commit made while nobody
// listened is not missed (the poll is set far beyond the test).
func TestListenerReconnect(t *testing.T) {
	s := openTest(t, Config{PollInterval: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s.CreateVault(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- s.Wait(ctx, "r", 0) }()
	time.Sleep(50 * time.Millisecond)

	var ok bool
	if err := rawConn(t).QueryRow(ctx, "SELECT pg_terminate_backend($1)", int(s.listenPID.Load())).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate the listening backend: %v, %v", ok, err)
	}
	// Commit at once: the listener is down or reconnecting (its first
	// retry waits 100 ms), so this commit's notification is likely lost.
	if err := s.Update(ctx, "r", func(tx store.Tx) error { _, err := tx.AppendChange(nil); return err }); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.reconnects.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the listener did not reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Notifications work again.
	go func() { waited <- s.Wait(ctx, "r", 1) }()
	time.Sleep(50 * time.Millisecond)
	if err := s.Update(ctx, "r", func(tx store.Tx) error { _, err := tx.AppendChange(nil); return err }); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("Wait after reconnect: %v", err)
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestTTLInjectedClock: expiry follows the injected clock (to the
// microsecond), for Get and Scan alike, and the cleanup deletes exactly
// the expired rows of every vault.
func TestTTLInjectedClock(t *testing.T) {
	ctx := t.Context()
	clock := &fakeClock{t: time.Now().Truncate(time.Microsecond)}
	s := openTest(t, Config{Now: clock.Now, CleanupInterval: -1})
	for _, v := range []string{"t", "u"} {
		if err := s.CreateVault(ctx, v); err != nil {
			t.Fatal(err)
		}
		err := s.Update(ctx, v, func(tx store.Tx) error {
			if _, err := tx.AppendChange([]byte("c")); err != nil {
				return err
			}
			if err := tx.Put("plain", []byte("v")); err != nil {
				return err
			}
			if err := tx.PutTTL("long", []byte("v"), 2*time.Hour); err != nil {
				return err
			}
			return tx.PutTTL("k", []byte("v"), time.Hour)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	present := func() bool {
		t.Helper()
		var found bool
		err := s.View(ctx, "t", func(tx store.Tx) error {
			_, err := tx.Get("k")
			if errors.Is(err, store.ErrNotFound) {
				err = nil
			} else if err == nil {
				found = true
			}
			var keys []string
			serr := tx.Scan("", "", 0, func(k string, _ []byte) error { keys = append(keys, k); return nil })
			if slices.Contains(keys, "k") != found {
				t.Errorf("Get and Scan disagree: Get found %v, Scan saw %q", found, keys)
			}
			return errors.Join(err, serr)
		})
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	clock.Advance(time.Hour - time.Microsecond)
	if !present() {
		t.Fatal("key gone before its ttl")
	}
	if n, err := s.deleteExpired(ctx); err != nil || n != 0 {
		t.Fatalf("cleanup before expiry deleted %d rows (%v)", n, err)
	}
	clock.Advance(time.Microsecond)
	if present() {
		t.Fatal("key present at its expiry")
	}
	if n, err := s.deleteExpired(ctx); err != nil || n != 2 {
		t.Fatalf("cleanup at expiry deleted %d rows (%v), want 2 (k of both vaults)", n, err)
	}
	var rows int
	if err := rawConn(t).QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s.kv", s.schema)).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 4 {
		t.Errorf("%d kv rows after cleanup, want 4 (plain and long of both vaults)", rows)
	}
	cs, err := s.Changes(ctx, "t", 0, 10)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Changes = %v, %v", cs, err)
	}
	if want := clock.Now().Add(-time.Hour); !cs[0].Time.Equal(want) {
		t.Errorf("change time = %v, want the injected clock %v", cs[0].Time, want)
	}
}

// TestCleanupLoop: the background cleanup runs on its own.
func TestCleanupLoop(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Config{CleanupInterval: 20 * time.Millisecond})
	if err := s.CreateVault(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, "c", func(tx store.Tx) error { return tx.PutTTL("k", nil, time.Millisecond) }); err != nil {
		t.Fatal(err)
	}
	conn := rawConn(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s.kv", s.schema)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("expired row not deleted by the cleanup loop")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEraseRemovesEveryRow: no row of an erased vault is left in any
// table, and the other vaults keep theirs.
func TestEraseRemovesEveryRow(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Config{})
	for _, v := range []string{"x", "xy"} {
		if err := s.CreateVault(ctx, v); err != nil {
			t.Fatal(err)
		}
		err := s.Update(ctx, v, func(tx store.Tx) error {
			for i := range 300 {
				if err := tx.Put(fmt.Sprintf("k/%04d", i), []byte("v")); err != nil {
					return err
				}
			}
			if err := tx.PutTTL("j", []byte("v"), time.Hour); err != nil {
				return err
			}
			for range 3 {
				if _, err := tx.AppendChange([]byte("c")); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EraseVault(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	conn := rawConn(t)
	count := func(table, vault string) int {
		var n int
		q := fmt.Sprintf("SELECT count(*) FROM %s.%s WHERE vault = $1", s.schema, table)
		if err := conn.QueryRow(ctx, q, vault).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, table := range []string{"vaults", "kv", "changes"} {
		if n := count(table, "x"); n != 0 {
			t.Errorf("%d rows of the erased vault left in %s", n, table)
		}
	}
	for table, want := range map[string]int{"vaults": 1, "kv": 301, "changes": 3} {
		if n := count(table, "xy"); n != want {
			t.Errorf("vault xy has %d rows in %s, want %d", n, table, want)
		}
	}
}

// TestConflictRetriesAreBounded: a transaction that keeps failing with a
// serialization failure runs MaxRetries times and then returns
// ErrConflict, writing nothing; one that fails once is run again and
// commits.
func TestConflictRetriesAreBounded(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Config{MaxRetries: 3})
	if err := s.CreateVault(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	failing := func(stx store.Tx) error {
		t := stx.(*tx)
		_, err := t.conn.Exec(t.ctx, `DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = 'serialization_failure'; END $$`)
		if err != nil {
			return t.fail("inject", err)
		}
		return nil
	}
	attempts := 0
	err := s.Update(ctx, "c", func(tx store.Tx) error {
		attempts++
		if _, err := tx.AppendChange([]byte("x")); err != nil {
			return err
		}
		_ = failing(tx) // fn ignores the error: the store must not
		return nil
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Update = %v, want ErrConflict", err)
	}
	if attempts != 3 {
		t.Errorf("fn ran %d times, want 3", attempts)
	}
	attempts = 0
	err = s.Update(ctx, "c", func(tx store.Tx) error {
		attempts++
		if _, err := tx.AppendChange([]byte("y")); err != nil {
			return err
		}
		if attempts == 1 {
			return failing(tx)
		}
		return nil
	})
	if err != nil || attempts != 2 {
		t.Fatalf("Update = %v after %d attempts, want success after 2", err, attempts)
	}
	cs, err := s.Changes(ctx, "c", 0, 10)
	if err != nil || len(cs) != 1 || cs[0].Seq != 1 || string(cs[0].Data) != "y" {
		t.Fatalf("changes = %v, %v; want only seq 1 = y", cs, err)
	}
}

// TestFailedStatementNeverCommits: when a statement fails and fn ignores
// it, Update does not commit (PostgreSQL has aborted the transaction) and
// reports the failure.
func TestFailedStatementNeverCommits(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Config{})
	if err := s.CreateVault(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	err := s.Update(ctx, "f", func(stx store.Tx) error {
		t := stx.(*tx)
		if err := stx.Put("a", []byte("1")); err != nil {
			return err
		}
		_, err := t.conn.Exec(t.ctx, "SELECT 1/0")
		_ = t.fail("inject", err)
		if err := stx.Put("b", []byte("2")); err == nil {
			return errors.New("Put after a failed statement succeeded")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Fatalf("Update = %v, want the division by zero", err)
	}
	err = s.View(ctx, "f", func(tx store.Tx) error {
		if _, err := tx.Get("a"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("a written by a failed transaction: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFailedWriteAtCommit: writes travel with the next read or with
// COMMIT; one that fails there fails the Update, naming it, and nothing
// of the transaction is written.
func TestFailedWriteAtCommit(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Config{})
	if err := s.CreateVault(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	for _, readAfter := range []bool{false, true} {
		err := s.Update(ctx, "f", func(stx store.Tx) error {
			if err := stx.Put("a", []byte("1")); err != nil {
				return err
			}
			if _, err := stx.AppendChange([]byte("c")); err != nil {
				return err
			}
			t := stx.(*tx)
			t.pending = append(t.pending, write{"put", "SELECT 1/0", nil}) // a write the server refuses
			if readAfter {
				if _, err := stx.Get("a"); err == nil {
					return errors.New("Get after a failed write succeeded")
				}
				return nil // fn ignores the failure
			}
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "put: ") || !strings.Contains(err.Error(), "division by zero") {
			t.Fatalf("Update (read after the write: %v) = %v, want the failed put", readAfter, err)
		}
	}
	err := s.View(ctx, "f", func(tx store.Tx) error {
		if _, err := tx.Get("a"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("a written by a failed transaction: %v", err)
		}
		if seq, err := tx.LastSeq(); err != nil || seq != 0 {
			return fmt.Errorf("LastSeq after failed transactions = %d, %v", seq, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNestedReadsUnderContention: with more writers of one vault than
// pool connections, a writer whose fn reads through the Store (another
// connection) still finishes: waiting writers hold no connection.
func TestNestedReadsUnderContention(t *testing.T) {
	s := openTest(t, Config{MaxConns: 2})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s.CreateVault(ctx, "n"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			err := s.Update(ctx, "n", func(tx store.Tx) error {
				if _, err := s.Changes(ctx, "n", 0, 10); err != nil {
					return err
				}
				return tx.Put(strconv.Itoa(i), nil)
			})
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
}

// TestLargeTransaction: a transaction whose writes exceed what is queued
// in memory sends them early and still commits all or nothing.
func TestLargeTransaction(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Config{})
	if err := s.CreateVault(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte{0x5a}, store.MaxValueLen)
	const n = 2*maxPendingBytes/store.MaxValueLen + 2
	for _, fail := range []bool{true, false} {
		err := s.Update(ctx, "big", func(stx store.Tx) error {
			for i := range n {
				if err := stx.Put(fmt.Sprintf("v/%02d", i), value); err != nil {
					return err
				}
				if _, err := stx.AppendChange([]byte("c")); err != nil {
					return err
				}
			}
			if p := stx.(*tx).pendingBytes; p >= maxPendingBytes {
				return fmt.Errorf("%d bytes pending", p)
			}
			if fail {
				return errRollbackTest
			}
			return nil
		})
		if fail && err != errRollbackTest || !fail && err != nil {
			t.Fatalf("Update (fail %v) = %v", fail, err)
		}
	}
	err := s.View(ctx, "big", func(tx store.Tx) error {
		n0 := 0
		if err := tx.Scan("v/", "", 0, func(_ string, v []byte) error {
			if !bytes.Equal(v, value) {
				return errors.New("value differs")
			}
			n0++
			return nil
		}); err != nil {
			return err
		}
		seq, err := tx.LastSeq()
		if n0 != n || seq != n || err != nil {
			return fmt.Errorf("%d keys and last seq %d (%v), want %d of each", n0, seq, err, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var errRollbackTest = errors.New("roll back")

// TestTxAfterReturn: a Tx kept past its function fails instead of
// reaching a connection back in the pool.
func TestTxAfterReturn(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Config{})
	if err := s.CreateVault(ctx, "l"); err != nil {
		t.Fatal(err)
	}
	var leaked store.Tx
	if err := s.Update(ctx, "l", func(tx store.Tx) error { leaked = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := leaked.Get("k"); !errors.Is(err, errTxDone) {
		t.Errorf("Get on a leaked tx = %v", err)
	}
	if err := leaked.Put("k", nil); !errors.Is(err, errTxDone) {
		t.Errorf("Put on a leaked tx = %v", err)
	}
	if err := leaked.Scan("", "", 0, func(string, []byte) error { return nil }); !errors.Is(err, errTxDone) {
		t.Errorf("Scan on a leaked tx = %v", err)
	}
	if _, err := leaked.AppendChange(nil); !errors.Is(err, errTxDone) {
		t.Errorf("AppendChange on a leaked tx = %v", err)
	}
}

// TestScanCallsFnBetweenPages: fn may use the Tx during a Scan longer
// than a page, even to write.
func TestScanCallsFnBetweenPages(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Config{})
	if err := s.CreateVault(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	const n = 3*scanPageSize + 5
	err := s.Update(ctx, "p", func(tx store.Tx) error {
		for i := range n {
			if err := tx.Put(fmt.Sprintf("a/%04d", i), []byte(strconv.Itoa(i))); err != nil {
				return err
			}
		}
		seen := 0
		err := tx.Scan("a/", "", 0, func(k string, v []byte) error {
			if got, err := tx.Get(k); err != nil || !bytes.Equal(got, v) {
				return fmt.Errorf("Get(%q) inside Scan = %q, %v", k, got, err)
			}
			seen++
			return tx.Put("b/"+k, v)
		})
		if err != nil {
			return err
		}
		if seen != n {
			return fmt.Errorf("Scan saw %d keys, want %d", seen, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrations: concurrent Opens of one new schema migrate it once;
// a schema from a newer program is refused.
func TestMigrations(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil || len(ms) != SchemaVersion || SchemaVersion < 1 {
		t.Fatalf("loadMigrations = %d migrations, %v; SchemaVersion %d", len(ms), err, SchemaVersion)
	}
	dsn := pgtest.DSN(t)
	// A schema that does not exist yet: Open creates it.
	parent := pgtest.NewSchema(t, dsn)
	schema := parent + "_new"
	pgtest.DropAtCleanup(t, dsn, schema)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { openTest(t, Config{Schema: schema}) })
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	conn := rawConn(t)
	var versions []int32
	rows, err := conn.Query(t.Context(), fmt.Sprintf("SELECT version FROM %s.schema_migrations ORDER BY version", schema))
	if err == nil {
		versions, err = pgx.CollectRows(rows, pgx.RowTo[int32])
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != SchemaVersion || versions[0] != 1 {
		t.Fatalf("schema_migrations = %v, want 1..%d once each", versions, SchemaVersion)
	}
	if _, err := conn.Exec(t.Context(), fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name) VALUES (%d, 'future')", schema, SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), Config{DSN: dsn, Schema: schema})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open of a schema at a newer version succeeded")
	}
	if !strings.Contains(err.Error(), "newer than this program knows") {
		t.Fatalf("Open of a newer schema = %v", err)
	}
}

// TestSchemaFromSearchPath: a DSN's search_path names the schema, as for
// vaultd --store.
func TestSchemaFromSearchPath(t *testing.T) {
	dsn := pgtest.DSN(t)
	schema := pgtest.NewSchema(t, dsn)
	withPath, err := pgtest.WithSchema(dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), Config{DSN: withPath})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.schema != schema {
		t.Fatalf("schema = %q, want %q from the search_path", s.schema, schema)
	}
}

func TestSingleSchema(t *testing.T) {
	for in, want := range map[string]string{
		"":                   "",
		"vrm":                "vrm",
		"VRM":                "vrm",
		`"Mixed Case"`:       "Mixed Case",
		`"$user", public`:    "",
		"a,b":                "",
		`$user`:              "",
		` spaced `:           "spaced",
		`"with""quote"`:      `with"quote`,
		"vt_0123456789ab_ok": "vt_0123456789ab_ok",
	} {
		if got := singleSchema(in); got != want {
			t.Errorf("singleSchema(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPasswordNeverLogged: neither the log of a store nor the error of a
// failed Open carries the DSN's password, and Redact drops it.
func TestPasswordNeverLogged(t *testing.T) {
	const pw = "s3cret-Pa55word"
	for _, dsn := range []string{
		"postgres://u:" + pw + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=2",
		"host=127.0.0.1 port=1 user=u password=" + pw + " dbname=db sslmode=disable connect_timeout=2",
		"postgres://u:" + pw + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=2&password=" + pw,
	} {
		var logs bytes.Buffer
		s, err := Open(t.Context(), Config{DSN: dsn, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		if err == nil {
			_ = s.Close()
			t.Fatal("Open of a closed port succeeded")
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(logs.String(), pw) {
			t.Errorf("password leaked: err %q, logs %q", err, logs.String())
		}
		if r := Redact(dsn); strings.Contains(r, pw) || !strings.Contains(r, "127.0.0.1:1/db") {
			t.Errorf("Redact(...) = %q", r)
		}
	}
	if r := Redact("postgres://u:" + pw + "@[bad"); strings.Contains(r, pw) {
		t.Errorf("Redact of a bad DSN = %q", r)
	}

	// A store that opens logs its target without the password either.
	dsn := pgtest.DSN(t)
	var logs bytes.Buffer
	s := openTest(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Password != "" && strings.Contains(logs.String(), cfg.Password) {
		t.Errorf("the store logged its password: %q", logs.String())
	}
	if !strings.Contains(logs.String(), "store open") {
		t.Errorf("no open line in the log: %q", logs.String())
	}
}

func TestListBound(t *testing.T) {
	for _, c := range []struct {
		after, bound    string
		inclusive, none bool
	}{
		{"", "", false, false},
		{"abc", "abc", false, false},
		{"ab\x00c", "ab", false, false},
		{"\x00", "", false, false},
		{"ab\xffc", "ac", true, false},
		{"a\x7f\x80", "b", true, false},
		{"\xff", "", false, true},
		{"\x7f\xff", "", false, true},
	} {
		b, inc, none := listBound(c.after)
		if b != c.bound || inc != c.inclusive || none != c.none {
			t.Errorf("listBound(%q) = %q, %v, %v; want %q, %v, %v", c.after, b, inc, none, c.bound, c.inclusive, c.none)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	for in, want := range map[string]string{
		"":         "",
		"a":        "b",
		"a/":       "a0",
		"a\xff":    "b",
		"\xff\xff": "",
		"\x00":     "\x01",
	} {
		if got := string(prefixEnd([]byte(in))); got != want {
			t.Errorf("prefixEnd(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExpiry(t *testing.T) {
	base := time.Unix(1700000000, 0)
	for _, c := range []struct {
		now  time.Time
		ttl  time.Duration
		want time.Time
	}{
		{base, time.Second, base.Add(time.Second)},
		{base.Add(1), time.Second, base.Add(time.Second + time.Microsecond)},
		{base, 999 * time.Nanosecond, base.Add(time.Microsecond)},
	} {
		if got := expiry(c.now, c.ttl); !got.Equal(c.want) {
			t.Errorf("expiry(%v, %v) = %v, want %v", c.now, c.ttl, got, c.want)
		}
	}
}

// crashEnv names the schema TestKill9Child writes to; it is set only in
// the child process started by TestKill9.
const crashEnv = "POSTGRES_KILL9_SCHEMA"

// TestKill9: a process killed with SIGKILL, perhaps in the middle of a
// transaction, loses no write that Update acknowledged, and leaves no
// half-written transaction: the feed is gapless and the key written with
// the last change matches it.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dsn := pgtest.DSN(t)
	schema := pgtest.NewSchema(t, dsn)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Child$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+schema)
	cmd.Stderr = t.Output()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked uint64
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if n, ok := strings.CutPrefix(lines.Text(), "acked "); ok {
			if acked, err = strconv.ParseUint(n, 10, 64); err != nil {
				t.Fatal(err)
			}
			if acked >= 30 {
				break
			}
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if acked < 30 {
		t.Fatalf("child acknowledged only %d writes", acked)
	}

	s := openTest(t, Config{Schema: schema})
	// The killed session's transaction, if any, ends when the server
	// notices; the vault lock makes this Update wait for that.
	if err := s.Update(t.Context(), "k9", func(store.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Changes(t.Context(), "k9", 0, store.MaxChangesPerCall)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed after %d acknowledged writes; %d changes stored", acked, len(cs))
	for i, c := range cs {
		if c.Seq != uint64(i+1) {
			t.Fatalf("change #%d has seq %d: not gapless", i+1, c.Seq)
		}
	}
	if uint64(len(cs)) < acked {
		t.Fatalf("%d changes stored, fewer than the %d acknowledged", len(cs), acked)
	}
	err = s.View(t.Context(), "k9", func(tx store.Tx) error {
		v, err := tx.Get("last")
		if err != nil {
			return err
		}
		if n, _ := strconv.ParseUint(string(v), 10, 64); n != uint64(len(cs)) {
			t.Errorf("key written with change %d holds %s", len(cs), v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestKill9Child is the process TestKill9 kills: it writes until killed,
// printing each acknowledged change.
func TestKill9Child(t *testing.T) {
	schema := os.Getenv(crashEnv)
	if schema == "" {
		t.Skip("run by TestKill9 only")
	}
	s, err := Open(t.Context(), Config{DSN: pgtest.DSN(t), Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateVault(t.Context(), "k9"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second) // the parent kills long before
	for time.Now().Before(deadline) {
		var seq uint64
		err := s.Update(t.Context(), "k9", func(tx store.Tx) error {
			var err error
			if seq, err = tx.AppendChange([]byte("c")); err != nil {
				return err
			}
			return tx.Put("last", []byte(strconv.FormatUint(seq, 10)))
		})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("acked %d\n", seq)
	}
	t.Fatal("not killed")
}

func benchStore(b *testing.B) *Store {
	b.Helper()
	s := openTest(b, Config{})
	if err := s.CreateVault(b.Context(), "bench"); err != nil {
		b.Fatal(err)
	}
	err := s.Update(b.Context(), "bench", func(tx store.Tx) error {
		for i := range 100 {
			if err := tx.Put(fmt.Sprintf("p/field%03d", i), bytes.Repeat([]byte{'v'}, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkViewGet measures a point read in its own read transaction
// (as badgerstore's benchmark of the same name).
func BenchmarkViewGet(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	for b.Loop() {
		err := s.View(ctx, "bench", func(tx store.Tx) error {
			_, err := tx.Get("p/field042")
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan100 measures a scan of a 100-key vault prefix.
func BenchmarkScan100(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	for b.Loop() {
		n := 0
		err := s.View(ctx, "bench", func(tx store.Tx) error {
			return tx.Scan("p/", "", 0, func(string, []byte) error { n++; return nil })
		})
		if err != nil || n != 100 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkUpdateAppend measures a durable Update writing one key and one
// change row.
func BenchmarkUpdateAppend(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	value := bytes.Repeat([]byte{'v'}, 100)
	for b.Loop() {
		err := s.Update(ctx, "bench", func(tx store.Tx) error {
			if err := tx.Put("p/field000", value); err != nil {
				return err
			}
			_, err := tx.AppendChange(value)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateAppendParallel measures Updates of distinct vaults from
// GOMAXPROCS goroutines: commits of different vaults do not wait for
// each other.
func BenchmarkUpdateAppendParallel(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	var mu sync.Mutex
	next := 0
	value := bytes.Repeat([]byte{'v'}, 100)
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		vault := fmt.Sprintf("par%d", next)
		next++
		mu.Unlock()
		if err := s.CreateVault(ctx, vault); err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			err := s.Update(ctx, vault, func(tx store.Tx) error {
				if err := tx.Put("p/field000", value); err != nil {
					return err
				}
				_, err := tx.AppendChange(value)
				return err
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
