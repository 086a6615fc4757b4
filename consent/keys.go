package consent

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"

	jose "github.com/go-jose/go-jose/v4"
)

// Algorithm is a JWS signature algorithm allowed by the protocol.
type Algorithm = jose.SignatureAlgorithm

// The only algorithms the protocol accepts (PROTOCOL.md section 1).
const (
	EdDSA Algorithm = jose.EdDSA
	ES256 Algorithm = jose.ES256
)

// AllowedAlgorithms is the allow-list passed to every JWS parse. Nothing
// else is accepted, ever.
func AllowedAlgorithms() []Algorithm { return []Algorithm{EdDSA, ES256} }

// MaxJWKLen bounds the JSON of a public key accepted from a peer.
const MaxJWKLen = 1024

// ErrInvalidKey is returned for a key that is malformed, of a type the
// protocol does not allow, or carries private material where a public key
// is expected.
var ErrInvalidKey = errors.New("invalid key")

// PrivateKey is a party's signing key with its public half and identity.
type PrivateKey struct {
	jwk jose.JSONWebKey // private JWK, Algorithm set
	pub PublicKey
}

// PublicKey is a party's public key and its identity (jkt).
type PublicKey struct {
	jwk jose.JSONWebKey
	jkt string
}

// GenerateKey makes a new key for alg (EdDSA or ES256) from rand.
func GenerateKey(alg Algorithm, rand io.Reader) (*PrivateKey, error) {
	var priv crypto.Signer
	switch alg {
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand)
		if err != nil {
			return nil, fmt.Errorf("generate Ed25519 key: %w", err)
		}
		priv = k
	case ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand)
		if err != nil {
			return nil, fmt.Errorf("generate P-256 key: %w", err)
		}
		priv = k
	default:
		return nil, fmt.Errorf("%w: algorithm %q not allowed", ErrInvalidKey, alg)
	}
	return newPrivateKey(jose.JSONWebKey{Key: priv, Algorithm: string(alg)})
}

func newPrivateKey(jwk jose.JSONWebKey) (*PrivateKey, error) {
	alg, err := algorithmFor(jwk.Key)
	if err != nil {
		return nil, err
	}
	jwk.Algorithm = string(alg)
	pubJWK := jwk.Public()
	if !pubJWK.Valid() {
		return nil, fmt.Errorf("%w: not a private key", ErrInvalidKey)
	}
	pub, err := newPublicKey(pubJWK)
	if err != nil {
		return nil, err
	}
	jwk.KeyID = pub.jkt
	return &PrivateKey{jwk: jwk, pub: pub}, nil
}

// algorithmFor returns the protocol algorithm of a key, or ErrInvalidKey
// for any key type outside the allow-list.
func algorithmFor(key any) (Algorithm, error) {
	switch k := key.(type) {
	case ed25519.PrivateKey, ed25519.PublicKey:
		return EdDSA, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("%w: only the P-256 curve is allowed", ErrInvalidKey)
		}
		return ES256, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("%w: only the P-256 curve is allowed", ErrInvalidKey)
		}
		return ES256, nil
	default:
		return "", fmt.Errorf("%w: key type %T not allowed (Ed25519 or P-256 only)", ErrInvalidKey, key)
	}
}

func newPublicKey(jwk jose.JSONWebKey) (PublicKey, error) {
	if !jwk.IsPublic() {
		return PublicKey{}, fmt.Errorf("%w: holds private key material", ErrInvalidKey)
	}
	alg, err := algorithmFor(jwk.Key)
	if err != nil {
		return PublicKey{}, err
	}
	// Normalise: only the members that define the key, plus alg and kid.
	clean := jose.JSONWebKey{Key: jwk.Key, Algorithm: string(alg)}
	tp, err := clean.Thumbprint(crypto.SHA256)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: thumbprint: %v", ErrInvalidKey, err)
	}
	jkt := base64.RawURLEncoding.EncodeToString(tp)
	clean.KeyID = jkt
	return PublicKey{jwk: clean, jkt: jkt}, nil
}

// Public returns the public half of the key.
func (k *PrivateKey) Public() PublicKey { return k.pub }

// Thumbprint returns the key's identity, its RFC 7638 SHA-256 thumbprint,
// base64url without padding.
func (k *PrivateKey) Thumbprint() string { return k.pub.jkt }

// Algorithm returns the key's signature algorithm.
func (k *PrivateKey) Algorithm() Algorithm { return Algorithm(k.jwk.Algorithm) }

// MarshalJSON encodes the private key as a JWK (RFC 7517) holding the
// private parts. Store it only in a file of mode 0600.
func (k *PrivateKey) MarshalJSON() ([]byte, error) { return k.jwk.MarshalJSON() }

// ParsePrivateKey decodes a private JWK written by MarshalJSON.
func ParsePrivateKey(data []byte) (*PrivateKey, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	if jwk.IsPublic() {
		return nil, fmt.Errorf("%w: not a private key", ErrInvalidKey)
	}
	return newPrivateKey(jwk)
}

// Thumbprint returns the key's identity (jkt): its RFC 7638 SHA-256
// thumbprint, base64url without padding (43 characters).
func (k PublicKey) Thumbprint() string { return k.jkt }

// Algorithm returns the signature algorithm the key verifies.
func (k PublicKey) Algorithm() Algorithm { return Algorithm(k.jwk.Algorithm) }

// IsZero reports whether k is the zero PublicKey.
func (k PublicKey) IsZero() bool { return k.jkt == "" }

// MarshalJSON encodes the public key as a JWK with "alg" and "kid" (= jkt).
func (k PublicKey) MarshalJSON() ([]byte, error) { return k.jwk.MarshalJSON() }

// JSON returns the JWK encoding of the key as a string.
func (k PublicKey) JSON() string {
	b, err := k.jwk.MarshalJSON()
	if err != nil {
		// A PublicKey is only made from a valid Ed25519 or P-256 key,
		// which always encodes.
		panic(fmt.Sprintf("consent: encode public key: %v", err))
	}
	return string(b)
}

// ParsePublicKey decodes a public JWK from a peer. It refuses input longer
// than MaxJWKLen, private key material, and key types outside the
// allow-list (Ed25519 and P-256).
func ParsePublicKey(data []byte) (PublicKey, error) {
	if len(data) > MaxJWKLen {
		return PublicKey{}, fmt.Errorf("%w: JWK longer than %d bytes", ErrInvalidKey, MaxJWKLen)
	}
	if hasPrivateMembers(data) {
		return PublicKey{}, fmt.Errorf("%w: holds private key material", ErrInvalidKey)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(data); err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return newPublicKey(jwk)
}

// privateJWKMembers are the JWK members (RFC 7518 section 6) that carry
// private or symmetric key material.
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"}

// hasPrivateMembers reports whether a JWK's JSON has any private member.
// Input that is not a JSON object reports false; the parse that follows
// refuses it.
func hasPrivateMembers(data []byte) bool {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return false
	}
	for _, m := range privateJWKMembers {
		if _, ok := members[m]; ok {
			return true
		}
	}
	return false
}

// signer returns a go-jose signer for k with the given typ and either an
// embedded jwk or a kid.
func (k *PrivateKey) signer(typ string, embedJWK bool) (jose.Signer, error) {
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	key := jose.SigningKey{Algorithm: k.Algorithm(), Key: k.jwk.Key}
	if embedJWK {
		opts.EmbedJWK = true
		// go-jose embeds the public JWK of the signing key; give it a JWK
		// without kid so that the header has exactly one of jwk and kid.
		key.Key = jose.JSONWebKey{Key: k.jwk.Key, Algorithm: k.jwk.Algorithm}
	} else {
		opts.WithHeader(jose.HeaderKey("kid"), k.pub.jkt)
	}
	s, err := jose.NewSigner(key, opts)
	if err != nil {
		return nil, fmt.Errorf("new signer: %w", err)
	}
	return s, nil
}

// Sign returns a compact JWS over payload with the given typ and a kid
// header naming k. Used for consent records, revocations and vault-signed
// documents.
func (k *PrivateKey) Sign(typ string, payload []byte) (string, error) {
	s, err := k.signer(typ, false)
	if err != nil {
		return "", err
	}
	return signCompact(s, payload)
}

func signCompact(s jose.Signer, payload []byte) (string, error) {
	jws, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("serialize JWS: %w", err)
	}
	return out, nil
}

// verifySignature reports whether sig is k's JWS signature over
// signingInput: Ed25519 for EdDSA (RFC 8037 section 3.1), or R || S of
// ECDSA P-256 over SHA-256 for ES256 (RFC 7518 section 3.4), exactly the
// check go-jose makes, without parsing the JWS again.
func (k PublicKey) verifySignature(signingInput, sig []byte) bool {
	switch pub := k.jwk.Key.(type) {
	case ed25519.PublicKey:
		return k.Algorithm() == EdDSA && len(pub) == ed25519.PublicKeySize &&
			len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, signingInput, sig)
	case *ecdsa.PublicKey:
		if k.Algorithm() != ES256 || pub.Curve != elliptic.P256() || len(sig) != 64 {
			return false
		}
		digest := sha256.Sum256(signingInput)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub, digest[:], r, s)
	default:
		return false
	}
}
