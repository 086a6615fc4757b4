package consent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// PairwiseSecretLen is the length, in bytes, of a vault's pairwise secret:
// 256 random bits, generated once per vault and never shown.
const PairwiseSecretLen = 32

// PairwiseSubject returns the customer's subject for the brand brandJKT
// (PROTOCOL.md section 5): base64url(HMAC-SHA256(secret, brandJKT))
// truncated to SubjectLen (22) characters, 132 bits. It is stable for a
// brand and unlinkable across brands without the secret, which must be
// PairwiseSecretLen random bytes held by the vault alone.
func PairwiseSubject(secret []byte, brandJKT string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(brandJKT))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:SubjectLen]
}
