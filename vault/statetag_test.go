package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/vault/store"
	"github.com/vrmvault/vrmvault/vault/store/badgerstore"
)

// newTestHost returns a host on badger in a temporary directory.
func newTestHost(t *testing.T) *Host {
	t.Helper()
	bs, err := badgerstore.Open(badgerstore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	h, err := NewHost(Config{Store: bs})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newTagHost(t *testing.T) (*Host, string) {
	t.Helper()
	h := newTestHost(t)
	id, _, err := h.CreateVault(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h, id
}

// committedTag returns the vault's state tag as a read-only transaction
// sees it.
func committedTag(t *testing.T, h *Host, id string) stateTag {
	t.Helper()
	var tag stateTag
	err := h.view(context.Background(), id, func(tx store.Tx) error {
		var err error
		tag, err = txStateTag(tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// TestStateTagChangesWithEveryWrite: a write to any key but a read
// path's replaces the vault's state tag in its own transaction; the
// writes of a read (audit chain, checkpoints, proof jti) leave it.
func TestStateTagChangesWithEveryWrite(t *testing.T) {
	h, id := newTagHost(t)
	ctx := context.Background()
	before := committedTag(t, h, id)
	if before == (stateTag{}) {
		t.Fatal("a new vault has no state tag")
	}
	writes := map[string]func(store.Tx) error{
		"put":               func(tx store.Tx) error { return tx.Put("p/name.given", []byte("x")) },
		"put with a TTL":    func(tx store.Tx) error { return tx.PutTTL("e/code", []byte("x"), time.Hour) },
		"delete":            func(tx store.Tx) error { return tx.Delete("p/name.given") },
		"delete of nothing": func(tx store.Tx) error { return tx.Delete("b/nobody") },
		"a key of tomorrow": func(tx store.Tx) error { return tx.Put("z/new-kind", []byte("x")) },
	}
	for name, write := range writes {
		if err := h.updateAlone(ctx, id, write); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		after := committedTag(t, h, id)
		if after == before || after == (stateTag{}) {
			t.Errorf("%s: state tag not replaced", name)
		}
		before = after
	}
	readPath := map[string]func(store.Tx) error{
		"audit entry":     func(tx store.Tx) error { return tx.Put(seqKey(prefixAudit, 99), []byte("x")) },
		"audit head":      func(tx store.Tx) error { return tx.Put(keyAuditHead, []byte("{}")) },
		"checkpoint":      func(tx store.Tx) error { return tx.Put(seqKey(prefixCheckpoint, 99), []byte("x")) },
		"checkpoint head": func(tx store.Tx) error { return tx.Put(keyCheckpointHead, []byte("{}")) },
		"proof jti":       func(tx store.Tx) error { return tx.PutTTL(prefixReplay+"jkt/jti", []byte{1}, time.Hour) },
		"jti read and put": func(tx store.Tx) error {
			_, _ = txStateTag(tx)
			return tx.PutTTL(prefixReplay+"jkt/2", []byte{1}, time.Hour)
		},
	}
	for name, write := range readPath {
		if err := h.updateAlone(ctx, id, write); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if after := committedTag(t, h, id); after != before {
			t.Errorf("%s: state tag replaced", name)
		}
	}
	err := h.updateAlone(ctx, id, func(tx store.Tx) error { return tx.Put(keyStateTag, before[:]) })
	if !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("a write of the tag itself: got %v, want store.ErrInvalidKey", err)
	}
}

// TestStateTagWithinATransaction: a tag read in a transaction stands for
// the state then, so the transaction's next write replaces it again; two
// writes with no read between need one tag.
func TestStateTagWithinATransaction(t *testing.T) {
	h, id := newTagHost(t)
	var tags []stateTag
	read := func(tx store.Tx) error {
		tag, err := txStateTag(tx)
		tags = append(tags, tag)
		return err
	}
	err := h.updateAlone(context.Background(), id, func(tx store.Tx) error {
		steps := []func() error{
			func() error { return read(tx) },
			func() error { return tx.Put("p/a", []byte("1")) },
			func() error { return read(tx) },
			func() error { return tx.Put("p/b", []byte("1")) },
			func() error { return tx.Put("p/c", []byte("1")) },
			func() error { return read(tx) },
			func() error { return tx.Put("p/d", []byte("1")) },
			func() error { return read(tx) },
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tags[0] == tags[1] || tags[1] == tags[2] || tags[2] == tags[3] {
		t.Errorf("tags %x: a write after a read kept the tag", tags)
	}
	if got := committedTag(t, h, id); got != tags[3] {
		t.Errorf("committed tag %x, want the last one read %x", got, tags[3])
	}
}

// TestStateTagGivenToAnOlderVault: a vault created before state tags
// reads as untagged, in a read-only transaction as in a read-write one,
// and gets a tag from ensureStateTag (which a read calls among its
// writes).
func TestStateTagGivenToAnOlderVault(t *testing.T) {
	h, id := newTagHost(t)
	ctx := context.Background()
	if err := h.store.Update(ctx, id, func(tx store.Tx) error { return tx.Delete(keyStateTag) }); err != nil {
		t.Fatal(err)
	}
	if got := committedTag(t, h, id); got != (stateTag{}) {
		t.Fatalf("untagged vault reads tag %x", got)
	}
	err := h.updateAlone(ctx, id, func(tx store.Tx) error {
		tag, err := txStateTag(tx)
		if err != nil || tag != (stateTag{}) {
			t.Errorf("untagged vault in a read-write transaction: tag %x, %v", tag, err)
		}
		return ensureStateTag(tx, tag)
	})
	if err != nil {
		t.Fatal(err)
	}
	given := committedTag(t, h, id)
	if given == (stateTag{}) {
		t.Fatal("ensureStateTag gave no tag")
	}
	err = h.updateAlone(ctx, id, func(tx store.Tx) error { return ensureStateTag(tx, given) })
	if err != nil || committedTag(t, h, id) != given {
		t.Fatalf("ensureStateTag replaced a tag: %v", err)
	}
}

// TestRetagKey: a remembered key confirmed on its records at a new tag is
// remembered at that tag, unless it was resolved again meanwhile.
func TestRetagKey(t *testing.T) {
	h, id := newTagHost(t)
	old, next := stateTag{1}, stateTag{2}
	k := &KeyCheck{jkt: "jkt", role: "brand", record: []byte("r"), tag: old}
	h.keys.put(memoID{id, "jkt"}, memoKey{check: k, quota: Quota{MaxFields: 7}})
	h.retagKey(id, k, next)
	e, _ := h.keys.get(memoID{id, "jkt"})
	if e.check.tag != next || string(e.check.record) != "r" || e.quota.MaxFields != 7 || k.tag != old {
		t.Fatalf("after retag: %+v (check %+v); the original check %+v", e, e.check, k)
	}
	h.retagKey(id, k, stateTag{3}) // k is no longer the one remembered
	if e, _ := h.keys.get(memoID{id, "jkt"}); e.check.tag != next {
		t.Fatalf("a stale check retagged the entry: %+v", e.check)
	}
}

// TestBrandViewBounds: a view is remembered only at a tag, with few
// consents, and with selected fields and selectors of a bounded size: a
// brand cannot make the host hold megabytes with long selectors that
// select nothing.
func TestBrandViewBounds(t *testing.T) {
	h, id := newTagHost(t)
	ctx := context.Background()
	tag := stateTag{9}
	remembered := func(jkt string) bool {
		_, ok := h.views.get(memoID{id, jkt})
		return ok
	}
	long := make([]Selector, MaxSelectors)
	for i := range long {
		long[i] = Selector{Path: fmt.Sprintf("notes.n%d.%s", i, strings.Repeat("x", 200))}
	}
	err := h.view(ctx, id, func(tx store.Tx) error {
		if _, err := h.selectedFields(tx, id, "small", &brandView{tag: tag}, []Selector{{Path: "name", Subtree: true}}); err != nil {
			return err
		}
		if _, err := h.selectedFields(tx, id, "long", &brandView{tag: tag}, long); err != nil {
			return err
		}
		_, err := h.selectedFields(tx, id, "untagged", &brandView{}, []Selector{{Path: "name", Subtree: true}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !remembered("small") || remembered("long") || remembered("untagged") {
		t.Errorf("remembered: small %v (want true), long %v, untagged %v (want false)",
			remembered("small"), remembered("long"), remembered("untagged"))
	}
	many := brandConsents{granted: make([]parsedConsent, viewMaxConsents+1)}
	kept, _ := many.forMemory()
	h.rememberView(memoID{id, "many"}, &brandView{tag: tag, consents: kept})
	if remembered("many") {
		t.Error("a view of more than viewMaxConsents consents was remembered")
	}
}

// TestDestroyVaultForgets: nothing the host remembered of a vault's
// reads stays in memory once the vault is destroyed.
func TestDestroyVaultForgets(t *testing.T) {
	h, id := newTagHost(t)
	other, _, err := h.CreateVault(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{id, other} {
		h.views.put(memoID{v, "jkt"}, &brandView{tag: stateTag{1}})
		h.keys.put(memoID{v, "jkt"}, memoKey{check: &KeyCheck{jkt: "jkt"}})
	}
	if err := h.DestroyVault(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	_, view := h.views.get(memoID{id, "jkt"})
	_, key := h.keys.get(memoID{id, "jkt"})
	_, otherView := h.views.get(memoID{other, "jkt"})
	_, otherKey := h.keys.get(memoID{other, "jkt"})
	if view || key || !otherView || !otherKey {
		t.Errorf("after destroy: view %v key %v (want false), other vault's view %v key %v (want true)", view, key, otherView, otherKey)
	}
}
