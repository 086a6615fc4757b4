package consent

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerifyReceipt(t *testing.T) {
	k := testKeys(t)
	jkt := k.brand.Thumbprint()
	owners := []PublicKey{k.a.Public(), k.ec.Public()}
	sign := func(signer *PrivateKey, mod func(*RecordClaims)) string {
		t.Helper()
		c := grant(k, 3, EntryHash("2"))
		if mod != nil {
			mod(&c)
		}
		s, err := SignRecord(signer, c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	genuine := sign(k.a, nil)

	c, err := VerifyReceipt(genuine, owners, testVault, jkt, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if c.CID != "c1" || c.Expired(testNow) || !c.ActiveAt(testNow) {
		t.Fatalf("claims %+v", c)
	}
	if _, err := VerifyReceipt(sign(k.ec, nil), owners, testVault, jkt, testNow); err != nil {
		t.Fatalf("ES256 owner: %v", err)
	}
	// Expiry is reported, not refused.
	later := testNow.Add(365 * 24 * time.Hour)
	c, err = VerifyReceipt(genuine, owners, testVault, jkt, later)
	if err != nil || !c.Expired(later) {
		t.Fatalf("expired receipt: %+v, %v", c, err)
	}

	rev, err := SignRevocation(k.a, RevocationClaims{CID: "c1", Iat: testNow.Unix(), Seq: 4, Prev: EntryHash("3")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		in     string
		owners []PublicKey
		vault  string
		brand  string
		now    time.Time
		reason string
	}{
		{"signed by a non-owner", sign(k.b, nil), owners, testVault, jkt, testNow, "not an owner key of this vault"},
		{"signed by the brand", sign(k.brand, nil), owners, testVault, jkt, testNow, "not an owner key of this vault"},
		{"another vault", genuine, owners, "vault2", jkt, testNow, "receipt of another vault"},
		{"another brand", genuine, owners, testVault, k.b.Thumbprint(), testNow, "receipt of another brand"},
		{"a denial", sign(k.a, func(c *RecordClaims) { c.Status = StatusDenied }), owners, testVault, jkt, testNow, "not a grant"},
		{"a revocation", rev, owners, testVault, jkt, testNow, "not a consent record (typ vrm-revocation+jwt)"},
		{"issued in the future", genuine, owners, testVault, jkt, testNow.Add(-time.Hour), "issued in the future"},
	} {
		_, err := VerifyReceipt(tc.in, tc.owners, tc.vault, tc.brand, tc.now)
		var re *RecordError
		if !errors.As(err, &re) || !strings.Contains(re.Reason, tc.reason) {
			t.Errorf("%s: VerifyReceipt = %v, want %q", tc.name, err, tc.reason)
		}
	}

	// Any single byte changed anywhere is refused.
	for i := 0; i < len(genuine); i++ {
		for _, b := range []byte{'A', '_', genuine[i] ^ 0x01, genuine[i] ^ 0x20, 0x80} {
			if b == genuine[i] {
				continue
			}
			changed := []byte(genuine)
			changed[i] = b
			if _, err := VerifyReceipt(string(changed), owners, testVault, jkt, testNow); !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("byte %d set to %q: VerifyReceipt = %v", i, b, err)
			}
		}
	}
	// And so are a byte added or removed.
	for _, changed := range []string{genuine + "A", genuine[:len(genuine)-1], "A" + genuine, genuine + "\n"} {
		if _, err := VerifyReceipt(changed, owners, testVault, jkt, testNow); !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("%q...: VerifyReceipt = %v", changed[:10], err)
		}
	}
}
