package consent

import (
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestVerifySignatureAgreesWithGoJose checks the verifier's direct
// signature check against go-jose's on genuine proofs and on every kind of
// damage: each byte of the signing input and the signature changed, a
// truncated and a lengthened signature, all zeros, and the ECDSA high-s
// twin of a genuine signature (accepted by both: the replay cache, keyed
// by jti, is what refuses its reuse).
func TestVerifySignatureAgreesWithGoJose(t *testing.T) {
	for _, alg := range AllowedAlgorithms() {
		t.Run(string(alg), func(t *testing.T) {
			k, err := GenerateKey(alg, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			other, err := GenerateKey(alg, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			proof, err := NewProof(k, "vault", testMethod, time.Now(), rand.Reader, false)
			if err != nil {
				t.Fatal(err)
			}
			dot := strings.LastIndexByte(proof, '.')
			input := []byte(proof[:dot])
			sig, err := base64.RawURLEncoding.DecodeString(proof[dot+1:])
			if err != nil {
				t.Fatal(err)
			}
			check := func(name string, key PublicKey, input, sig []byte) {
				t.Helper()
				compact := string(input) + "." + base64.RawURLEncoding.EncodeToString(sig)
				want := false
				if jws, err := jose.ParseSignedCompact(compact, AllowedAlgorithms()); err == nil {
					_, err = jws.Verify(key.jwk.Key)
					want = err == nil
				}
				if got := key.verifySignature(input, sig); got != want {
					t.Errorf("%s: direct check says %v, go-jose %v", name, got, want)
				}
			}
			check("genuine", k.Public(), input, sig)
			if !k.Public().verifySignature(input, sig) {
				t.Fatal("genuine signature refused")
			}
			check("other key", other.Public(), input, sig)
			check("all zeros", k.Public(), input, make([]byte, len(sig)))
			check("truncated", k.Public(), input, sig[:len(sig)-1])
			check("lengthened", k.Public(), input, append(append([]byte(nil), sig...), 0))
			for i := range sig {
				bad := append([]byte(nil), sig...)
				bad[i] ^= 0x01
				check("signature byte changed", k.Public(), input, bad)
			}
			// Changing the input's last (payload) bytes keeps it valid base64url.
			for i := len(input) - 8; i < len(input); i++ {
				bad := append([]byte(nil), input...)
				bad[i] = 'A' + (bad[i]+1)%26
				check("input byte changed", k.Public(), bad, sig)
			}
			if alg == ES256 {
				n := elliptic.P256().Params().N
				s := new(big.Int).SetBytes(sig[32:])
				high := append(append([]byte(nil), sig[:32]...), new(big.Int).Sub(n, s).FillBytes(make([]byte, 32))...)
				check("high-s twin", k.Public(), input, high)
			}
		})
	}
}
