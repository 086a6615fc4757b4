package consent

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// memReplay is a ReplayCache in memory, for tests of the verifier alone.
// The vault's own cache lives in its store.
type memReplay struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (m *memReplay) Remember(_ context.Context, jkt, jti string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]time.Time{}
	}
	k := jkt + "/" + jti
	if _, ok := m.seen[k]; ok {
		return ErrReplayed
	}
	m.seen[k] = until
	return nil
}

type keySet map[string]PublicKey

func (s keySet) ResolveKey(_ context.Context, jkt string) (PublicKey, error) {
	if k, ok := s[jkt]; ok {
		return k, nil
	}
	return PublicKey{}, ErrUnknownKey
}

const testMethod = "/vrm.v1.OwnerService/GetProfile"

func b64(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestProofVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	owner, err := GenerateKey(EdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecOwner, err := GenerateKey(ES256, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := GenerateKey(EdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := keySet{owner.Thumbprint(): owner.Public(), ecOwner.Thumbprint(): ecOwner.Public()}
	byID := Expect{Aud: "vault1", Method: testMethod, Mode: KeyByID, Keys: keys}
	embedded := Expect{Aud: "vault1", Method: testMethod, Mode: KeyEmbedded}

	sign := func(k *PrivateKey, aud, method string, at time.Time, embed bool) string {
		p, err := NewProof(k, aud, method, at, rand.Reader, embed)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// forge builds a JWS from a raw header and claims with a given signature.
	forge := func(hdr, claims any, sig string) string {
		return b64(hdr) + "." + b64(claims) + "." + sig
	}
	validClaims := func() ProofClaims {
		return ProofClaims{Aud: "vault1", Htm: testMethod, Iat: now.Unix(), Jti: base64.RawURLEncoding.EncodeToString(make([]byte, 16))}
	}
	privJWK, err := json.Marshal(owner)
	if err != nil {
		t.Fatal(err)
	}
	// A proof whose header embeds the private JWK, signed for real.
	withPrivate := func() string {
		hdr := map[string]any{"alg": "EdDSA", "typ": ProofType, "jwk": json.RawMessage(privJWK)}
		return forge(hdr, validClaims(), base64.RawURLEncoding.EncodeToString(make([]byte, 64)))
	}

	tests := []struct {
		name   string
		proof  string
		want   Expect
		reason string // substring of the ProofError reason; "" = accepted
	}{
		{name: "kid EdDSA ok", proof: sign(owner, "vault1", testMethod, now, false), want: byID},
		{name: "kid ES256 ok", proof: sign(ecOwner, "vault1", testMethod, now, false), want: byID},
		{name: "jwk ok", proof: sign(stranger, "vault1", testMethod, now, true), want: embedded},
		{name: "missing", proof: "", want: byID, reason: "missing"},
		{name: "too large", proof: strings.Repeat("a", 5*1024), want: byID, reason: "longer than 4096"},
		{name: "not compact", proof: "a.b", want: byID, reason: "not a compact JWS"},
		{name: "many dots", proof: strings.Repeat(".", 3000), want: byID, reason: "not a compact JWS"},
		{name: "alg none", proof: forge(map[string]any{"alg": "none", "typ": ProofType, "kid": owner.Thumbprint()}, validClaims(), ""), want: byID, reason: `algorithm "none" not allowed`},
		{name: "alg HS256", proof: forge(map[string]any{"alg": "HS256", "typ": ProofType, "kid": owner.Thumbprint()}, validClaims(), "c2ln"), want: byID, reason: `algorithm "HS256" not allowed`},
		{name: "alg RS256", proof: forge(map[string]any{"alg": "RS256", "typ": ProofType, "kid": owner.Thumbprint()}, validClaims(), "c2ln"), want: byID, reason: `algorithm "RS256" not allowed`},
		{name: "wrong typ", proof: forge(map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": owner.Thumbprint()}, validClaims(), "c2ln"), want: byID, reason: "typ must be"},
		{name: "both jwk and kid", proof: forge(map[string]any{"alg": "EdDSA", "typ": ProofType, "kid": owner.Thumbprint(), "jwk": owner.Public()}, validClaims(), "c2ln"), want: byID, reason: "exactly one of jwk and kid"},
		{name: "neither jwk nor kid", proof: forge(map[string]any{"alg": "EdDSA", "typ": ProofType}, validClaims(), "c2ln"), want: byID, reason: "exactly one of jwk and kid"},
		{name: "crit", proof: forge(map[string]any{"alg": "EdDSA", "typ": ProofType, "kid": owner.Thumbprint(), "crit": []string{"x"}}, validClaims(), "c2ln"), want: byID, reason: "crit"},
		{name: "jwk with private key", proof: withPrivate(), want: embedded, reason: "private key material"},
		{name: "jwk on a kid call", proof: sign(owner, "vault1", testMethod, now, true), want: byID, reason: "only allowed on first contact"},
		{name: "kid on a jwk call", proof: sign(owner, "vault1", testMethod, now, false), want: embedded, reason: "needs the caller's jwk"},
		{name: "unknown kid", proof: sign(stranger, "vault1", testMethod, now, false), want: byID, reason: "unknown key"},
		{name: "wrong aud", proof: sign(owner, "vault2", testMethod, now, false), want: byID, reason: "aud does not match"},
		{name: "wrong htm", proof: sign(owner, "vault1", "/vrm.v1.OwnerService/UpdateProfile", now, false), want: byID, reason: "htm does not match"},
		{name: "iat 5 minutes old", proof: sign(owner, "vault1", testMethod, now.Add(-5*time.Minute), false), want: byID, reason: "iat too old"},
		{name: "iat in the future", proof: sign(owner, "vault1", testMethod, now.Add(5*time.Minute), false), want: byID, reason: "iat in the future"},
		{name: "iat at the edge", proof: sign(owner, "vault1", testMethod, now.Add(-59*time.Second), false), want: byID},
		{name: "all-zero signature", proof: forge(map[string]any{"alg": "EdDSA", "typ": ProofType, "kid": owner.Thumbprint()}, validClaims(), base64.RawURLEncoding.EncodeToString(make([]byte, 64))), want: byID, reason: "bad signature"},
		{name: "alg mismatch with key", proof: forge(map[string]any{"alg": "ES256", "typ": ProofType, "kid": owner.Thumbprint()}, validClaims(), "c2ln"), want: byID, reason: "does not match the key"},
		{name: "header not base64", proof: "!!!." + b64(validClaims()) + ".c2ln", want: byID, reason: "not base64url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := &ProofVerifier{Now: func() time.Time { return now }, Replay: &memReplay{}}
			got, err := v.Verify(context.Background(), tc.proof, tc.want)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got.Claims.Aud != "vault1" || got.Key.IsZero() {
					t.Fatalf("Verify returned %+v", got)
				}
				return
			}
			var pe *ProofError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("Verify error = %v, want a ProofError", err)
			}
			if !strings.Contains(pe.Reason, tc.reason) {
				t.Fatalf("reason = %q, want it to contain %q", pe.Reason, tc.reason)
			}
		})
	}
}

func TestProofReplay(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	owner, err := GenerateKey(EdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v := &ProofVerifier{Now: func() time.Time { return now }, Replay: &memReplay{}}
	want := Expect{Aud: "v", Method: testMethod, Mode: KeyByID, Keys: keySet{owner.Thumbprint(): owner.Public()}}
	p, err := NewProof(owner, "v", testMethod, now, rand.Reader, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), p, want); err != nil {
		t.Fatalf("first use: %v", err)
	}
	_, err = v.Verify(context.Background(), p, want)
	var pe *ProofError
	if !errors.As(err, &pe) || pe.Reason != "jti already used" {
		t.Fatalf("second use: %v, want jti already used", err)
	}
}

func TestKeyRoundTrip(t *testing.T) {
	for _, alg := range AllowedAlgorithms() {
		k, err := GenerateKey(alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(k.Thumbprint()) != 43 {
			t.Errorf("%s thumbprint length %d, want 43", alg, len(k.Thumbprint()))
		}
		priv, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := ParsePrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		if k2.Thumbprint() != k.Thumbprint() {
			t.Errorf("%s: thumbprint changed across encode/decode", alg)
		}
		pub, err := ParsePublicKey([]byte(k.Public().JSON()))
		if err != nil {
			t.Fatal(err)
		}
		if pub.Thumbprint() != k.Thumbprint() {
			t.Errorf("%s: public thumbprint differs", alg)
		}
		if _, err := ParsePublicKey(priv); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: ParsePublicKey(private) = %v, want ErrInvalidKey", alg, err)
		}
	}
	if _, err := GenerateKey("RS256", rand.Reader); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("GenerateKey(RS256) = %v, want ErrInvalidKey", err)
	}
}

// TestThumbprintRFC8037 checks the thumbprint against the example of RFC
// 8037 appendix A.3 (Ed25519).
func TestThumbprintRFC8037(t *testing.T) {
	pub, err := ParsePublicKey([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pub.Thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Fatalf("thumbprint = %s, want %s", got, want)
	}
}
