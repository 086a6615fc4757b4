package consent

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"
)

// Fixed test keys, so that the committed fuzz seeds carry real signatures
// that stay valid. They sign nothing outside these tests.
const (
	ownerAJWK  = `{"kty":"OKP","kid":"PYpqkuGj3nBp_CNle8pPRMHerfJuYXErCmMIBlKORaA","crv":"Ed25519","alg":"EdDSA","x":"vS71mKK1FgWu8QOV78em-I3LPJg72CaXI7xYV6bg4A8","d":"0x7-AED9W26eLf4g42NsVuz-3xc8g5i8X4bj-fIgf_M"}`
	ownerBJWK  = `{"kty":"OKP","kid":"26Xqu-DJV2EdH13OZo2Hrk1N_LTy1OYmMhEl0vX3KAU","crv":"Ed25519","alg":"EdDSA","x":"1Y6uVajBqQSK6JVqQY_O5ZRlj6MQSs3ltuxRAEmlt6g","d":"u-VjSDsw-shky3ezPurkmPw5oyAf3jexZKoaGLArqeY"}`
	ownerECJWK = `{"kty":"EC","kid":"hQH0XIHmli528obAvy1Wm6J5zQs6wPhYRxZmxKPzwJ0","crv":"P-256","alg":"ES256","x":"-jg-ARKMja8waaBwEH2CngcMKZWDzIuLHxo8OBPqJtE","y":"SrppZ0N0oWqWvvhBtp0xSP2KHEBIEtbjhi7yx3_evr0","d":"ACt6VEg3yeqPDs52MmirWeJlWsUSLdjUvAHu7Y8gGpo"}`
	brandJWK   = `{"kty":"OKP","kid":"8SHhMG0UI38spo-Tr0jBb57YUWyP4gAiyB2l2sEwgoA","crv":"Ed25519","alg":"EdDSA","x":"o9Vo0uhkLnuZyTycVowrIOD0uxsOpr_iXCutZ-ezkcI","d":"yBSWWoj9u5kZr-6VbFipMAyejKKGdGssnSAWyJBCev4"}`
)

// testNow is the fixed clock of these tests.
var testNow = time.Unix(1_800_000_000, 0)

const testVault = "vault1"

// testSecret is a fixed pairwise secret.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

func fixedKey(t testing.TB, jwk string) *PrivateKey {
	t.Helper()
	k, err := ParsePrivateKey([]byte(jwk))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keys are the fixed keys of a test.
type keys struct {
	a, b, ec, brand *PrivateKey
}

func testKeys(t testing.TB) keys {
	return keys{
		a:     fixedKey(t, ownerAJWK),
		b:     fixedKey(t, ownerBJWK),
		ec:    fixedKey(t, ownerECJWK),
		brand: fixedKey(t, brandJWK),
	}
}

// grant returns the claims of a valid grant of request r1 to the test
// brand, as entry seq after head prev.
func grant(k keys, seq uint64, prev string) RecordClaims {
	jkt := k.brand.Thumbprint()
	return RecordClaims{
		CID: "c1", RID: "r1", Vault: testVault, Brand: jkt,
		Sub:      PairwiseSubject(testSecret, jkt),
		Status:   StatusGranted,
		Scopes:   []string{"read:name.given", "watch:address.shipping.*", "write:brands." + jkt + ".orders.*"},
		Purposes: []string{"ServiceProvision", "Delivery"},
		Iat:      testNow.Unix(), Nbf: testNow.Unix(), Exp: testNow.Add(30 * 24 * time.Hour).Unix(),
		Seq: seq, Prev: prev,
	}
}

// ledger builds a valid ledger entry by entry.
type ledger struct {
	t       testing.TB
	head    Head
	entries []string
}

func (l *ledger) push(s string, err error) string {
	l.t.Helper()
	if err != nil {
		l.t.Fatal(err)
	}
	l.entries = append(l.entries, s)
	l.head = l.head.Advance(s)
	return s
}

func (l *ledger) addKey(k *PrivateKey, device string) string {
	l.t.Helper()
	return l.push(SignKeyEntry(k, KeyEntryClaims{Op: KeyOpAdd, Device: device, Iat: testNow.Unix(), Seq: l.head.Seq + 1, Prev: l.head.Hash}))
}

func (l *ledger) removeKey(signer *PrivateKey, jkt string) string {
	l.t.Helper()
	return l.push(SignKeyEntry(signer, KeyEntryClaims{Op: KeyOpRemove, JKT: jkt, Iat: testNow.Unix(), Seq: l.head.Seq + 1, Prev: l.head.Hash}))
}

func (l *ledger) record(k *PrivateKey, c RecordClaims) string {
	l.t.Helper()
	c.Seq, c.Prev = l.head.Seq+1, l.head.Hash
	return l.push(SignRecord(k, c))
}

func (l *ledger) revoke(k *PrivateKey, cid string) string {
	l.t.Helper()
	return l.push(SignRevocation(k, RevocationClaims{CID: cid, Iat: testNow.Unix(), Seq: l.head.Seq + 1, Prev: l.head.Hash}))
}

// signRaw signs any header and payload bytes with an Ed25519 key, for
// tests of what the parsers refuse beyond the signature.
func signRaw(k *PrivateKey, hdr, payload []byte) string {
	in := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig := ed25519.Sign(k.jwk.Key.(ed25519.PrivateKey), []byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
