package consent

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEntryHash(t *testing.T) {
	sum := sha256.Sum256([]byte("a.b.c"))
	if got, want := EntryHash("a.b.c"), base64.RawURLEncoding.EncodeToString(sum[:]); got != want || len(got) != 43 {
		t.Fatalf("EntryHash = %q, want %q", got, want)
	}
}

func TestHeadNext(t *testing.T) {
	k := testKeys(t)
	l := &ledger{t: t}
	e1 := l.addKey(k.a, "a")
	e2 := l.record(k.a, grant(k, 0, ""))
	p1, _ := ParseLedgerEntry(e1)
	p2, _ := ParseLedgerEntry(e2)
	h1 := Head{}.Advance(e1)
	if h1.Seq != 1 || h1.Hash != EntryHash(e1) {
		t.Fatalf("Advance = %+v", h1)
	}
	if err := (Head{}).Next(p1); err != nil {
		t.Fatalf("entry 1 on the empty head: %v", err)
	}
	if err := h1.Next(p2); err != nil {
		t.Fatalf("entry 2 on head 1: %v", err)
	}
	for _, tc := range []struct {
		name   string
		head   Head
		e      *LedgerEntry
		reason string
	}{
		{"gap", Head{}, p2, "seq 2 does not extend the ledger head 0"},
		{"replay", h1, p1, "seq 1 does not extend the ledger head 1"},
		{"behind", Head{Seq: 5, Hash: EntryHash("5")}, p2, "seq 2 does not extend the ledger head 5"},
		{"wrong prev", Head{Seq: 1, Hash: EntryHash("another entry 1")}, p2, "prev does not match the hash of entry 1"},
		{"entry 1 with prev", Head{}, &LedgerEntry{Seq: 1, Prev: EntryHash("x")}, "entry 1 must have an empty prev"},
		{"nil", h1, nil, "no entry"},
	} {
		err := tc.head.Next(tc.e)
		if !errors.Is(err, ErrLedgerConflict) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: Next = %v, want %q", tc.name, err, tc.reason)
		}
	}
}

// goodLedger is a ledger that uses every kind of entry:
//  1. add A  2. add EC  3. grant c1 (A)  4. deny c2 (EC)  5. add B
//  6. revoke c1 (B)  7. remove A (EC)  8. grant c3 (B)
func goodLedger(t *testing.T, k keys) *ledger {
	l := &ledger{t: t}
	l.addKey(k.a, "laptop")
	l.addKey(k.ec, "phone")
	l.record(k.a, grant(k, 0, ""))
	d := grant(k, 0, "")
	d.CID, d.RID, d.Status, d.Scopes, d.Purposes, d.Exp = "c2", "r2", StatusDenied, nil, nil, 0
	l.record(k.ec, d)
	l.addKey(k.b, "tablet")
	l.revoke(k.b, "c1")
	l.removeKey(k.ec, k.a.Thumbprint())
	g := grant(k, 0, "")
	g.CID, g.RID = "c3", "r3"
	l.record(k.b, g)
	return l
}

func TestVerifyChain(t *testing.T) {
	k := testKeys(t)
	l := goodLedger(t, k)
	s, err := VerifyChain(testVault, l.entries)
	if err != nil {
		t.Fatal(err)
	}
	if s.Head != l.head || s.Head.Seq != 8 {
		t.Fatalf("head = %+v, want %+v", s.Head, l.head)
	}
	var owners []string
	for _, o := range s.Owners {
		owners = append(owners, o.Device)
	}
	if strings.Join(owners, ",") != "phone,tablet" {
		t.Fatalf("owners = %v, want phone,tablet", owners)
	}
	if o := s.Owners[1]; o.AddedSeq != 5 || o.Key.Thumbprint() != k.b.Thumbprint() || o.AddedAt != testNow.Unix() {
		t.Fatalf("owner B = %+v", o)
	}
	if got := s.OwnerKeys(); len(got) != 2 || got[0].Thumbprint() != k.ec.Thumbprint() {
		t.Fatalf("OwnerKeys = %v", got)
	}
	c1, c2, c3 := s.Consents["c1"], s.Consents["c2"], s.Consents["c3"]
	if c1 == nil || !c1.Revoked() || c1.RevocationSeq != 6 || c1.Seq != 3 || c1.SignedBy != k.a.Thumbprint() || c1.JWS != l.entries[2] || c1.RevocationJWS != l.entries[5] {
		t.Fatalf("c1 = %+v", c1)
	}
	if c1.ActiveAt(testNow) {
		t.Error("revoked c1 is active")
	}
	if c2 == nil || c2.Record.Status != StatusDenied || c2.ActiveAt(testNow) {
		t.Fatalf("c2 = %+v", c2)
	}
	if c3 == nil || c3.Revoked() || !c3.ActiveAt(testNow) || c3.ActiveAt(testNow.Add(31*24*time.Hour)) {
		t.Fatalf("c3 = %+v", c3)
	}
	for i := range l.entries {
		h := Head{Seq: uint64(i + 1), Hash: EntryHash(l.entries[i])}
		if !s.Extends(h) {
			t.Errorf("does not extend its own head %d", i+1)
		}
	}
	if !s.Extends(Head{}) || s.Extends(Head{Seq: 9, Hash: EntryHash("x")}) || s.Extends(Head{Seq: 3, Hash: EntryHash(l.entries[3])}) {
		t.Error("Extends wrong")
	}

	empty, err := VerifyChain(testVault, nil)
	if err != nil || empty.Head != (Head{}) || len(empty.Owners) != 0 {
		t.Fatalf("empty ledger: %+v, %v", empty, err)
	}
	if _, err := VerifyChain("bad vault", nil); !errors.Is(err, ErrInvalidLedger) {
		t.Fatalf("VerifyChain(bad vault id) = %v", err)
	}
}

func TestVerifyChainRefusals(t *testing.T) {
	k := testKeys(t)
	good := goodLedger(t, k).entries
	del := func(i int) []string { return append(append([]string(nil), good[:i]...), good[i+1:]...) }
	swap := func(i, j int) []string {
		out := append([]string(nil), good...)
		out[i], out[j] = out[j], out[i]
		return out
	}
	// build makes a ledger whose last entry is made by last.
	build := func(prefix func(l *ledger), last func(l *ledger)) []string {
		l := &ledger{t: t}
		prefix(l)
		last(l)
		return l.entries
	}
	ownerA := func(l *ledger) { l.addKey(k.a, "laptop") }
	withGrant := func(l *ledger) { ownerA(l); l.record(k.a, grant(k, 0, "")) }
	withDenial := func(l *ledger) {
		ownerA(l)
		d := grant(k, 0, "")
		d.Status, d.Exp = StatusDenied, 0
		l.record(k.a, d)
	}
	// Entry 2 re-signed by A with a prev that is not entry 1's hash.
	wrongPrev := func() []string {
		r := grant(k, 2, EntryHash("not entry 1"))
		s, err := SignRecord(k.a, r)
		if err != nil {
			t.Fatal(err)
		}
		return []string{good[0], s}
	}

	tests := []struct {
		name    string
		entries []string
		seq     uint64
		reason  string
	}{
		{"gap", del(3), 4, "seq 5 does not extend the ledger head 3"},
		{"first entry dropped", del(0), 1, "seq 2 does not extend the ledger head 0"},
		{"reordered", swap(2, 3), 3, "seq 4 does not extend the ledger head 2"},
		{"wrong prev", wrongPrev(), 2, "prev does not match the hash of entry 1"},
		{"duplicated entry", append(append([]string(nil), good[:3]...), good[2]), 4, "seq 3 does not extend the ledger head 3"},
		{"first entry not a key add", build(func(*ledger) {}, func(l *ledger) { l.record(k.a, grant(k, 0, "")) }), 1, "the first entry must add an owner key"},
		{"first entry a remove", build(func(*ledger) {}, func(l *ledger) { l.removeKey(k.a, k.a.Thumbprint()) }), 1, "the first entry must add an owner key"},
		{"record by a non-owner", build(ownerA, func(l *ledger) { l.record(k.b, grant(k, 0, "")) }), 2, "signed by a key that is not an owner key of this vault"},
		{"record by a removed key", build(func(l *ledger) { ownerA(l); l.addKey(k.b, "b"); l.removeKey(k.b, k.a.Thumbprint()) },
			func(l *ledger) { l.record(k.a, grant(k, 0, "")) }), 4, "not an owner key"},
		{"record of another vault", build(ownerA, func(l *ledger) {
			g := grant(k, 0, "")
			g.Vault = "vault2"
			l.record(k.a, g)
		}), 2, "record of vault vault2, not vault1"},
		{"consent id reused", build(withGrant, func(l *ledger) {
			g := grant(k, 0, "")
			g.RID = "r2"
			l.record(k.a, g)
		}), 3, "consent c1 already recorded at entry 2"},
		{"request decided twice", build(withGrant, func(l *ledger) {
			g := grant(k, 0, "")
			g.CID = "c2"
			l.record(k.a, g)
		}), 3, "request r1 already decided by consent c1"},
		{"key added twice", build(ownerA, func(l *ledger) { l.addKey(k.a, "again") }), 2, "is already an owner key"},
		{"remove the last key", build(ownerA, func(l *ledger) { l.removeKey(k.a, k.a.Thumbprint()) }), 2, "cannot remove the last owner key"},
		{"remove a key that is not an owner", build(ownerA, func(l *ledger) { l.removeKey(k.a, k.b.Thumbprint()) }), 2, "is not an owner key"},
		{"remove by a non-owner", build(func(l *ledger) { ownerA(l); l.addKey(k.ec, "ec") }, func(l *ledger) { l.removeKey(k.b, k.a.Thumbprint()) }), 3, "not an owner key of this vault"},
		{"revoke an unknown consent", build(ownerA, func(l *ledger) { l.revoke(k.a, "c9") }), 2, "revokes consent c9, which is not in the ledger"},
		{"revoke a denial", build(withDenial, func(l *ledger) { l.revoke(k.a, "c1") }), 3, "revokes consent c1, which was denied"},
		{"revoke twice", build(func(l *ledger) { withGrant(l); l.revoke(k.a, "c1") }, func(l *ledger) { l.revoke(k.a, "c1") }), 4, "consent c1 already revoked at entry 3"},
		{"garbage", append(append([]string(nil), good[:2]...), "garbage"), 3, "not a compact JWS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyChain(testVault, tc.entries)
			var ce *ChainError
			if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidLedger) {
				t.Fatalf("VerifyChain = %v, want a ChainError", err)
			}
			if ce.Seq != tc.seq || !strings.Contains(ce.Reason, tc.reason) {
				t.Fatalf("ChainError{Seq: %d, Reason: %q}, want seq %d and %q", ce.Seq, ce.Reason, tc.seq, tc.reason)
			}
		})
	}
	// Too many owner keys.
	l := &ledger{t: t}
	for i := 0; i <= MaxOwnerKeys; i++ {
		key, err := GenerateKey(EdDSA, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		l.addKey(key, "")
	}
	_, err := VerifyChain(testVault, l.entries)
	var ce *ChainError
	if !errors.As(err, &ce) || ce.Seq != MaxOwnerKeys+1 || !strings.Contains(ce.Reason, "more than 16 owner keys") {
		t.Fatalf("17 owner keys: %v", err)
	}
}

// TestVerifyChainNamesChangedEntry changes each byte of entry 3 in turn:
// every change must fail verification at entry 3, never pass. Entries 1
// and 2 are verified once and each changed entry 3 applied to a copy of
// that state; a few changes go through the whole VerifyChain.
func TestVerifyChainNamesChangedEntry(t *testing.T) {
	k := testKeys(t)
	good := goodLedger(t, k).entries
	base := NewLedgerState(testVault)
	for _, e := range good[:2] {
		if _, err := base.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	clone := func() *LedgerState {
		s := *base
		s.Owners = append([]OwnerKey(nil), base.Owners...)
		s.hashes = append([]string(nil), base.hashes...)
		s.Consents, s.decided = map[string]*ConsentState{}, map[string]string{}
		return &s
	}
	e3 := good[2]
	for i := 0; i < len(e3); i++ {
		for _, c := range []byte{'A', 'B', e3[i] ^ 0x01} {
			if c == e3[i] {
				continue
			}
			changed := []byte(e3)
			changed[i] = c
			_, err := clone().Apply(string(changed))
			if i%97 == 0 { // and now and then the whole chain
				entries := append([]string(nil), good...)
				entries[2] = string(changed)
				_, err = VerifyChain(testVault, entries)
			}
			var ce *ChainError
			if !errors.As(err, &ce) {
				t.Fatalf("byte %d of entry 3 set to %q: %v", i, c, err)
			}
			if ce.Seq != 3 {
				t.Fatalf("byte %d of entry 3 set to %q: failure named entry %d (%s)", i, c, ce.Seq, ce.Reason)
			}
		}
	}
}

func TestLedgerStateApplyLeavesStateOnFailure(t *testing.T) {
	k := testKeys(t)
	good := goodLedger(t, k).entries
	s := NewLedgerState(testVault)
	for _, e := range good[:5] {
		if _, err := s.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	before := s.Head
	if _, err := s.Apply(good[6]); err == nil {
		t.Fatal("Apply of entry 7 after 5 succeeded")
	}
	if s.Head != before || len(s.Owners) != 3 || s.Consents["c1"].Revoked() {
		t.Fatal("a failed Apply changed the state")
	}
	for _, e := range good[5:] {
		if _, err := s.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	if s.Head.Seq != 8 {
		t.Fatalf("head %d", s.Head.Seq)
	}
}
