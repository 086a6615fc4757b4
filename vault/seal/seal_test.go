package seal_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/vrmvault/vrmvault/vault/seal"
	"github.com/vrmvault/vrmvault/vault/store"
	"github.com/vrmvault/vrmvault/vault/store/badgerstore"
	"github.com/vrmvault/vrmvault/vault/store/storetest"
)

func hostKey(t testing.TB) *seal.HostKey {
	t.Helper()
	enc, err := seal.GenerateHostKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := seal.ParseHostKey([]byte(enc))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openBadger(t testing.TB, dir string) *badgerstore.Store {
	t.Helper()
	st, err := badgerstore.Open(badgerstore.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// sealed opens a sealed store over data dir with its keys in keyDir.
func sealed(t testing.TB, dataDir, keyDir string, hk *seal.HostKey) (*seal.Store, func()) {
	t.Helper()
	data, keys := openBadger(t, dataDir), openBadger(t, keyDir)
	kr, err := seal.OpenKeyring(context.Background(), keys, hk, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := seal.New(data, kr)
	return s, func() { _ = s.Close(); _ = keys.Close() }
}

// The sealed store is a store.Store like any engine: it passes the
// conformance suite.
func TestConformance(t *testing.T) {
	hk := hostKey(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, closeAll := sealed(t, t.TempDir(), t.TempDir(), hk)
		t.Cleanup(closeAll)
		return s
	})
}

// grepDir reports whether any file under dir contains marker.
func grepDir(t *testing.T, dir string, marker []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, marker) {
			found = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, s store.Store, vault, key string, value []byte) {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateVault(ctx, vault); err != nil {
		t.Fatal(err)
	}
	err := s.Update(ctx, vault, func(tx store.Tx) error {
		if err := tx.Put(key, value); err != nil {
			return err
		}
		_, err := tx.AppendChange(value)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNoPlaintextOnDisk writes a unique marker with and without sealing
// and greps the raw badger files: found without, absent with.
func TestNoPlaintextOnDisk(t *testing.T) {
	marker := []byte("MARKER-" + rand.Text())
	plainDir := t.TempDir()
	plain := openBadger(t, plainDir)
	write(t, plain, "v1", "p/name.given", marker)
	if err := plain.Close(); err != nil {
		t.Fatal(err)
	}
	if !grepDir(t, plainDir, marker) {
		t.Fatal("the marker is not in the raw files of an unsealed store: the grep proves nothing")
	}

	dataDir, keyDir := t.TempDir(), t.TempDir()
	s, closeAll := sealed(t, dataDir, keyDir, hostKey(t))
	write(t, s, "v1", "p/name.given", marker)
	closeAll()
	if grepDir(t, dataDir, marker) || grepDir(t, keyDir, marker) {
		t.Fatal("the marker is in the raw files of a sealed store")
	}
}

// TestCryptoShredding copies the data store before a vault is deleted and
// shows the copy cannot give the vault's data back.
func TestCryptoShredding(t *testing.T) {
	ctx := context.Background()
	hk := hostKey(t)
	dataDir, keyDir := t.TempDir(), t.TempDir()
	s, closeAll := sealed(t, dataDir, keyDir, hk)
	write(t, s, "gone", "p/name.given", []byte("Ada"))
	write(t, s, "kept", "p/name.given", []byte("Grace"))
	closeAll()
	backup := t.TempDir()
	copyDir(t, dataDir, backup)

	s, closeAll = sealed(t, dataDir, keyDir, hk)
	if err := s.EraseVault(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	closeAll()

	// The copy taken before the delete, with the keyring as it is now.
	s, closeAll = sealed(t, backup, keyDir, hk)
	defer closeAll()
	err := s.View(ctx, "gone", func(tx store.Tx) error { _, err := tx.Get("p/name.given"); return err })
	if !errors.Is(err, store.ErrVaultNotFound) {
		t.Fatalf("reading the deleted vault from the copy: %v, want ErrVaultNotFound", err)
	}
	if _, err := s.Changes(ctx, "gone", 0, 10); !errors.Is(err, store.ErrVaultNotFound) {
		t.Fatalf("change feed of the deleted vault from the copy: %v", err)
	}
	var got []byte
	err = s.View(ctx, "kept", func(tx store.Tx) error {
		var err error
		got, err = tx.Get("p/name.given")
		return err
	})
	if err != nil || string(got) != "Grace" {
		t.Fatalf("the other vault from the copy: %q, %v", got, err)
	}
}

// TestValuesCannotMove copies a sealed value to another key and another
// vault in the raw store: it no longer opens.
func TestValuesCannotMove(t *testing.T) {
	ctx := context.Background()
	data, keys := openBadger(t, t.TempDir()), openBadger(t, t.TempDir())
	defer data.Close()
	defer keys.Close()
	kr, err := seal.OpenKeyring(ctx, keys, hostKey(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := seal.New(data, kr)
	write(t, s, "a", "p/email.home", []byte("a@example.org"))
	write(t, s, "b", "p/email.home", []byte("b@example.org"))
	var raw []byte
	if err := data.View(ctx, "a", func(tx store.Tx) error { raw, err = tx.Get("p/email.home"); return err }); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []struct{ vault, key string }{{"a", "p/email.work"}, {"b", "p/email.home"}} {
		if err := data.Update(ctx, dst.vault, func(tx store.Tx) error { return tx.Put(dst.key, raw) }); err != nil {
			t.Fatal(err)
		}
		err := s.View(ctx, dst.vault, func(tx store.Tx) error { _, err := tx.Get(dst.key); return err })
		if !errors.Is(err, seal.ErrOpen) {
			t.Fatalf("value moved to %s/%s opened: %v", dst.vault, dst.key, err)
		}
	}
}

func TestHostKeyRotation(t *testing.T) {
	ctx := context.Background()
	old, next := hostKey(t), hostKey(t)
	dataDir, keyDir := t.TempDir(), t.TempDir()
	s, closeAll := sealed(t, dataDir, keyDir, old)
	for _, v := range []string{"v1", "v2", "v3"} {
		write(t, s, v, "p/x", []byte(v))
	}
	n, err := s.Keyring().Rotate(ctx, next)
	if err != nil || n != 3 {
		t.Fatalf("rotate: %d keys, %v", n, err)
	}
	closeAll()
	// Only the new key opens the vaults now; values were not rewritten.
	s, closeAll = sealed(t, dataDir, keyDir, next)
	defer closeAll()
	for _, v := range []string{"v1", "v2", "v3"} {
		var got []byte
		if err := s.View(ctx, v, func(tx store.Tx) error { var err error; got, err = tx.Get("p/x"); return err }); err != nil || string(got) != v {
			t.Fatalf("vault %s after rotation: %q, %v", v, got, err)
		}
	}
	if _, err := seal.ParseHostKey([]byte("short")); !errors.Is(err, seal.ErrBadKey) {
		t.Fatalf("short host key: %v", err)
	}
}
