package audit

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/consent"
)

// FuzzDecode: vrm verify decodes audit entries and checkpoints the vault
// sends, so they are untrusted input. An entry Decode accepts must be
// canonical (encoding it again gives the same bytes) and chain in a
// Verifier; nothing may panic. Checkpoints are checked against a real
// vault key: only one signed by it verifies.
func FuzzDecode(f *testing.F) {
	e := Entry{Seq: 1, Time: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), Caller: "jkt", Role: RoleOwner,
		Method: "/vrm.v1.OwnerService/UpdateProfile", Paths: []string{"name.given"}, Outcome: OutcomeOK}
	canon, err := e.Canonical()
	if err != nil {
		f.Fatal(err)
	}
	key, err := consent.GenerateKey(consent.EdDSA, rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	cp, err := SignCheckpoint(key, Checkpoint{Vault: "v", Seq: 1, Hash: Hash(canon), Iat: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(canon, cp)
	f.Add([]byte(`{"seq":1}`), "a.b.c")
	f.Add([]byte(`{"seq":1,"extra":true}`), "")
	f.Add(bytes.Repeat([]byte("["), 1000), "..")
	f.Fuzz(func(t *testing.T, data []byte, checkpoint string) {
		if got, err := Decode(data); err == nil {
			again, err := got.Canonical()
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("Decode accepted a non-canonical entry %q (again %q, %v)", data, again, err)
			}
			v := NewVerifier()
			if _, err := v.Add(data); err == nil && v.Head().Hash != Hash(data) {
				t.Fatalf("head %s after adding %q", v.Head().Hash, data)
			}
		}
		if c, err := VerifyCheckpoint(checkpoint, key.Public()); err == nil && checkpoint != cp {
			// A signature by key over other claims would need the key:
			// only the seed, or a re-encoding of it, can verify.
			if c.Seq != 1 || c.Hash != Hash(canon) || c.Vault != "v" {
				t.Fatalf("forged checkpoint verified: %+v", c)
			}
		}
	})
}
