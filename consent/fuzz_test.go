package consent

import (
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The committed seed corpora under testdata/fuzz/<Name>/ hold real signed
// examples made with the fixed keys of fixtures_test.go.

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"read:name.given", "watch:address.shipping.*", "write:brands.x.*", "read:*", "read:a.*.b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseScope(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidScope) {
				t.Fatalf("ParseScope(%q) error %v is not ErrInvalidScope", s, err)
			}
			return
		}
		// A scope has exactly one spelling.
		if sc.String() != s {
			t.Fatalf("ParseScope(%q).String() = %q", s, sc.String())
		}
		if again, err := ParseScope(sc.String()); err != nil || again != sc {
			t.Fatalf("round trip of %q: %+v, %v", s, again, err)
		}
		if err := sc.valid(); err != nil {
			t.Fatalf("parsed scope %q not valid: %v", s, err)
		}
		if !sc.Contains(sc) {
			t.Fatalf("%q does not contain itself", s)
		}
		// A plain scope covers its path; a wildcard covers one below it,
		// not its root.
		if sc.Covers(sc.Path) == sc.Wildcard {
			t.Fatalf("%q covers its own path: %v", s, !sc.Wildcard)
		}
		below := sc.Path + ".x"
		if validFieldPath(below) && sc.Covers(below) != sc.Wildcard {
			t.Fatalf("%q covers %q: %v", s, below, !sc.Wildcard)
		}
		if sc.Allows(ActionWrite, sc.Path) && sc.Action != ActionWrite {
			t.Fatalf("%q allows write", s)
		}
	})
}

func FuzzParseLedgerEntry(f *testing.F) {
	k := testKeys(f)
	owners := []PublicKey{k.a.Public(), k.b.Public(), k.ec.Public()}
	l := &ledger{t: f}
	l.addKey(k.a, "laptop")
	l.record(k.a, grant(k, 0, ""))
	l.revoke(k.a, "c1")
	for _, e := range l.entries {
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseLedgerEntry(s)
		if err != nil {
			var re *RecordError
			if !errors.As(err, &re) {
				t.Fatalf("ParseLedgerEntry error %v is not a RecordError", err)
			}
			return
		}
		set := 0
		switch {
		case e.Record != nil:
			set++
			if e.Type != RecordType || e.Seq != e.Record.Seq || e.Prev != e.Record.Prev || checkRecord(e.Record) != nil {
				t.Fatalf("inconsistent record entry %+v", e)
			}
		case e.Revocation != nil:
			set++
			if e.Type != RevocationType || e.Seq != e.Revocation.Seq || checkRevocation(e.Revocation) != nil {
				t.Fatalf("inconsistent revocation entry %+v", e)
			}
		case e.Key != nil:
			set++
			if e.Type != KeyEntryType || e.Seq != e.Key.Seq {
				t.Fatalf("inconsistent key entry %+v", e)
			}
		}
		if set != 1 || e.JWS != s || len(s) > MaxLedgerEntryLen || !validHash(e.KID) {
			t.Fatalf("entry %+v", e)
		}
		if key, err := e.VerifySignature(owners); err == nil && key.Thumbprint() != e.KID {
			t.Fatalf("verified with %s, kid %s", key.Thumbprint(), e.KID)
		}
		// Applying it to an empty ledger must not panic either.
		_, _ = NewLedgerState(testVault).Apply(s)
		_ = EntryHash(s)
	})
}

func FuzzVerifyProof(f *testing.F) {
	k := testKeys(f)
	keys := keySet{k.a.Thumbprint(): k.a.Public(), k.ec.Thumbprint(): k.ec.Public()}
	for _, seed := range []struct {
		signer *PrivateKey
		embed  bool
	}{{k.a, false}, {k.ec, false}, {k.brand, true}} {
		p, err := NewProof(seed.signer, testVault, testMethod, testNow, zeroReader{}, seed.embed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p, seed.embed)
	}
	f.Fuzz(func(t *testing.T, proof string, embedded bool) {
		v := &ProofVerifier{Now: func() time.Time { return testNow }, Replay: &memReplay{}}
		want := Expect{Aud: testVault, Method: testMethod, Mode: KeyByID, Keys: keys}
		if embedded {
			want = Expect{Aud: testVault, Method: testMethod, Mode: KeyEmbedded}
		}
		got, err := v.Verify(context.Background(), proof, want)
		if err != nil {
			if !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("Verify error %v is not ErrInvalidProof", err)
			}
			return
		}
		if got.Claims.Aud != testVault || got.Claims.Htm != testMethod || got.Key.IsZero() {
			t.Fatalf("accepted %+v", got)
		}
		if !embedded {
			if _, ok := keys[got.Key.Thumbprint()]; !ok {
				t.Fatalf("accepted a proof by unknown key %s", got.Key.Thumbprint())
			}
		}
		if _, err := v.Verify(context.Background(), proof, want); !errors.Is(err, ErrInvalidProof) {
			t.Fatalf("replayed proof: %v", err)
		}
	})
}

// zeroReader reads zeros: a fixed jti for seed proofs.
type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

// FuzzLedgerClaims signs fuzzed claims with a real owner key, so that the
// claim checks are reached, not only the JWS layer: whatever the parser
// accepts must verify, and must survive being signed again unchanged.
func FuzzLedgerClaims(f *testing.F) {
	k := testKeys(f)
	l := &ledger{t: f}
	l.addKey(k.a, "laptop")
	l.record(k.a, grant(k, 0, ""))
	l.revoke(k.a, "c1")
	types := []string{KeyEntryType, RecordType, RevocationType}
	for i, e := range l.entries {
		payload, err := base64.RawURLEncoding.DecodeString(strings.Split(e, ".")[1])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), payload)
	}
	f.Fuzz(func(t *testing.T, typ uint8, payload []byte) {
		hdr := mustJSON(map[string]any{"alg": "EdDSA", "typ": types[int(typ)%len(types)], "kid": k.a.Thumbprint()})
		s := signRaw(k.a, hdr, payload)
		e, err := ParseLedgerEntry(s)
		if err != nil {
			var re *RecordError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a RecordError", err)
			}
			return
		}
		if _, err := e.VerifySignature([]PublicKey{k.a.Public()}); err != nil {
			t.Fatalf("accepted entry does not verify: %v", err)
		}
		var again string
		switch {
		case e.Record != nil:
			again, err = SignRecord(k.a, *e.Record)
		case e.Revocation != nil:
			again, err = SignRevocation(k.a, *e.Revocation)
		case e.Key != nil:
			again, err = SignKeyEntry(k.a, *e.Key)
		}
		if err != nil {
			t.Fatalf("accepted claims cannot be signed again: %v", err)
		}
		e2, err := ParseLedgerEntry(again)
		if err != nil {
			t.Fatalf("re-signed entry refused: %v", err)
		}
		if !reflect.DeepEqual(e.Record, e2.Record) || !reflect.DeepEqual(e.Revocation, e2.Revocation) || (e.Key == nil) != (e2.Key == nil) {
			t.Fatalf("claims changed when signed again:\n%+v\n%+v", e, e2)
		}
	})
}
