package consent

import "testing"

func TestPairwiseSubject(t *testing.T) {
	secret := make([]byte, PairwiseSecretLen)
	for i := range secret {
		secret[i] = byte(i)
	}
	const brand1 = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
	k := testKeys(t)
	brand2 := k.brand.Thumbprint()

	s1 := PairwiseSubject(secret, brand1)
	// Computed independently: base64url(HMAC-SHA256(bytes 0..31, brand1))[:22].
	if s1 != "fKZnQMVqS5m1_H1w0Jkx0k" {
		t.Errorf("PairwiseSubject = %q, want the known answer", s1)
	}
	if len(s1) != SubjectLen || !validSubject(s1) {
		t.Errorf("subject %q has length %d", s1, len(s1))
	}
	if PairwiseSubject(secret, brand1) != s1 {
		t.Error("subject not stable for a brand")
	}
	if PairwiseSubject(secret, brand2) == s1 {
		t.Error("two brands share a subject")
	}
	other := append([]byte(nil), secret...)
	other[0] ^= 1
	if PairwiseSubject(other, brand1) == s1 {
		t.Error("two vaults give a brand the same subject")
	}
}
