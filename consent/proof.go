package consent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Proof constants (PROTOCOL.md section 2).
const (
	// ProofType is the "typ" header of a request proof.
	ProofType = "vrm-proof+jwt"
	// ProofMetadataKey is the gRPC metadata key that carries the proof.
	ProofMetadataKey = "vrm-proof"
	// MaxProofLen is the longest proof accepted, in bytes.
	MaxProofLen = 4096
	// DefaultProofSkew is the accepted distance between a proof's iat and
	// the verifier's clock.
	DefaultProofSkew = 60 * time.Second
	// MinJTILen is the shortest jti accepted: 22 base64url characters
	// carry 128 bits.
	MinJTILen = 22
	// MaxJTILen is the longest jti accepted.
	MaxJTILen = 64
	// maxProofHeaderLen bounds the decoded protected header.
	maxProofHeaderLen = 2048
)

// ErrInvalidProof is the kind of every proof failure: a missing,
// malformed, expired, replayed or wrongly signed proof. The vault answers
// it with UNAUTHENTICATED. Use errors.As with *ProofError for the reason.
var ErrInvalidProof = errors.New("invalid proof")

// ErrReplayed is returned by a ReplayCache for a jti it has already seen.
var ErrReplayed = errors.New("jti already used")

// ProofError is a refused proof with the reason, safe to show the caller.
type ProofError struct {
	// Reason says why, in a few words, without secrets.
	Reason string
}

func (e *ProofError) Error() string { return "invalid proof: " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidProof) true.
func (e *ProofError) Unwrap() error { return ErrInvalidProof }

func proofErr(format string, args ...any) error {
	return &ProofError{Reason: fmt.Sprintf(format, args...)}
}

// ProofClaims are the claims of a request proof.
type ProofClaims struct {
	// Aud is the vault id (or host id, for host admin calls).
	Aud string `json:"aud"`
	// Htm is the full gRPC method name, e.g. "/vrm.v1.OwnerService/GetProfile".
	Htm string `json:"htm"`
	// Iat is the issue time, seconds since the epoch.
	Iat int64 `json:"iat"`
	// Jti is a single-use random identifier, base64url.
	Jti string `json:"jti"`
}

// NewProof returns a signed request proof for a call of method on aud.
// With embedJWK the header carries the public key as "jwk" (first contact:
// enrolment, access requests); otherwise it carries "kid" = the key's jkt.
// rand supplies the 128-bit jti.
func NewProof(k *PrivateKey, aud, method string, now time.Time, rand io.Reader, embedJWK bool) (string, error) {
	var jti [16]byte
	if _, err := io.ReadFull(rand, jti[:]); err != nil {
		return "", fmt.Errorf("proof jti: %w", err)
	}
	claims, err := json.Marshal(ProofClaims{
		Aud: aud,
		Htm: method,
		Iat: now.Unix(),
		Jti: base64.RawURLEncoding.EncodeToString(jti[:]),
	})
	if err != nil {
		return "", fmt.Errorf("encode proof claims: %w", err)
	}
	s, err := k.signer(ProofType, embedJWK)
	if err != nil {
		return "", err
	}
	return signCompact(s, claims)
}

// ReplayCache remembers the jti values of accepted proofs. Implementations
// must be atomic: of two concurrent calls with the same key and jti, at
// most one succeeds. The vault keeps it in its store so that it survives a
// restart.
type ReplayCache interface {
	// Remember records jti for the key jkt until the given time, or
	// returns ErrReplayed if it is already recorded.
	Remember(ctx context.Context, jkt, jti string, until time.Time) error
}

// KeyResolver finds the public key a "kid" header names.
type KeyResolver interface {
	// ResolveKey returns the key whose thumbprint is jkt, or an error
	// wrapping ErrUnknownKey if the verifier does not know it.
	ResolveKey(ctx context.Context, jkt string) (PublicKey, error)
}

// ErrUnknownKey is returned by a KeyResolver for a kid it does not know.
var ErrUnknownKey = errors.New("unknown key")

// KeyMode says which header a call's proof must carry.
type KeyMode int

const (
	// KeyByID requires a "kid" header resolved by the KeyResolver: every
	// call but first contact.
	KeyByID KeyMode = iota + 1
	// KeyEmbedded requires a "jwk" header: first contact calls only.
	KeyEmbedded
)

// ProofVerifier checks request proofs exactly as PROTOCOL.md section 2
// says. Its zero value is not usable; fill Now and Replay.
type ProofVerifier struct {
	// Now is the verifier's clock.
	Now func() time.Time
	// Skew is the accepted |iat - now|; zero means DefaultProofSkew.
	Skew time.Duration
	// Replay remembers used jti values.
	Replay ReplayCache
}

// Expect describes the call a proof must be bound to.
type Expect struct {
	// Aud is the vault id (or host id) the call addresses.
	Aud string
	// Method is the full gRPC method name of the call.
	Method string
	// Mode says whether the key comes embedded (jwk) or by id (kid).
	Mode KeyMode
	// Keys resolves a kid; required when Mode is KeyByID.
	Keys KeyResolver
}

// VerifiedProof is an accepted proof.
type VerifiedProof struct {
	// Key is the caller's public key.
	Key PublicKey
	// Claims are the proof's claims.
	Claims ProofClaims
}

// proofHeader is the protected header as the protocol defines it. It is
// decoded before go-jose parses the JWS so that each refusal names its
// reason; go-jose then enforces the algorithm allow-list again.
type proofHeader struct {
	Alg  string          `json:"alg"`
	Typ  string          `json:"typ"`
	Kid  *string         `json:"kid"`
	JWK  json.RawMessage `json:"jwk"`
	Crit json.RawMessage `json:"crit"`
}

// Verify checks a compact proof against want. On success the proof's jti
// has been recorded in the replay cache. Every refusal wraps
// ErrInvalidProof with a *ProofError naming the reason; an error of the
// replay cache or key resolver other than ErrReplayed / ErrUnknownKey is
// returned as is (the call fails closed).
func (v *ProofVerifier) Verify(ctx context.Context, compact string, want Expect) (*VerifiedProof, error) {
	if compact == "" {
		return nil, proofErr("missing")
	}
	if len(compact) > MaxProofLen {
		return nil, proofErr("longer than %d bytes", MaxProofLen)
	}
	if strings.Count(compact, ".") != 2 {
		return nil, proofErr("not a compact JWS")
	}
	hdr, err := decodeProofHeader(compact[:strings.IndexByte(compact, '.')])
	if err != nil {
		return nil, err
	}
	if hdr.Alg != string(EdDSA) && hdr.Alg != string(ES256) {
		return nil, proofErr("algorithm %q not allowed", truncate(hdr.Alg, 16))
	}
	if hdr.Typ != ProofType {
		return nil, proofErr("typ must be %s", ProofType)
	}
	if len(hdr.Crit) > 0 {
		return nil, proofErr("crit header not allowed")
	}
	hasJWK, hasKid := len(hdr.JWK) > 0, hdr.Kid != nil
	if hasJWK == hasKid {
		return nil, proofErr("header must carry exactly one of jwk and kid")
	}

	if hasJWK && hasPrivateMembers(hdr.JWK) {
		// Refused on every call: a caller that sends its private key has
		// leaked it, and must be told so whatever the call.
		return nil, proofErr("jwk holds private key material")
	}

	var key PublicKey
	switch want.Mode {
	case KeyEmbedded:
		if !hasJWK {
			return nil, proofErr("this call needs the caller's jwk in the header")
		}
		key, err = ParsePublicKey(hdr.JWK)
		if err != nil {
			return nil, proofErr("jwk: %v", err)
		}
	case KeyByID:
		if !hasKid {
			return nil, proofErr("jwk is only allowed on first contact; use kid")
		}
		if want.Keys == nil {
			return nil, errors.New("consent: KeyByID without a KeyResolver")
		}
		key, err = want.Keys.ResolveKey(ctx, *hdr.Kid)
		if errors.Is(err, ErrUnknownKey) {
			return nil, proofErr("unknown key")
		}
		if err != nil {
			return nil, fmt.Errorf("resolve proof key: %w", err)
		}
	default:
		return nil, errors.New("consent: Expect.Mode not set")
	}
	if string(key.Algorithm()) != hdr.Alg {
		return nil, proofErr("algorithm does not match the key")
	}

	// The header was decoded and checked above; what remains of the JWS is
	// its payload and signature (RFC 7515 section 5.2), checked here
	// directly rather than by parsing the whole JWS a second time.
	dot1, dot2 := strings.IndexByte(compact, '.'), strings.LastIndexByte(compact, '.')
	payload, err := base64.RawURLEncoding.DecodeString(compact[dot1+1 : dot2])
	if err != nil {
		return nil, proofErr("malformed JWS")
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(compact[dot2+1:])
	if err != nil {
		return nil, proofErr("malformed JWS")
	}
	if !key.verifySignature([]byte(compact[:dot2]), sig) {
		return nil, proofErr("bad signature")
	}
	claims, err := decodeProofClaims(payload)
	if err != nil {
		return nil, err
	}
	if claims.Aud != want.Aud {
		return nil, proofErr("aud does not match the vault")
	}
	if claims.Htm != want.Method {
		return nil, proofErr("htm does not match the method")
	}
	skew := v.Skew
	if skew <= 0 {
		skew = DefaultProofSkew
	}
	now := v.Now()
	iat := time.Unix(claims.Iat, 0)
	if iat.Before(now.Add(-skew)) {
		return nil, proofErr("iat too old (more than %s ago)", skew)
	}
	if iat.After(now.Add(skew)) {
		return nil, proofErr("iat in the future (more than %s ahead)", skew)
	}
	// Remember the jti until no proof with this iat can be accepted.
	if err := v.Replay.Remember(ctx, key.jkt, claims.Jti, iat.Add(skew+time.Second)); err != nil {
		if errors.Is(err, ErrReplayed) {
			return nil, proofErr("jti already used")
		}
		return nil, fmt.Errorf("replay cache: %w", err)
	}
	return &VerifiedProof{Key: key, Claims: claims}, nil
}

func decodeProofHeader(segment string) (proofHeader, error) {
	if base64.RawURLEncoding.DecodedLen(len(segment)) > maxProofHeaderLen {
		return proofHeader{}, proofErr("header too large")
	}
	raw, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		return proofHeader{}, proofErr("header is not base64url")
	}
	var hdr proofHeader
	if err := strictUnmarshal(raw, &hdr); err != nil {
		return proofHeader{}, proofErr("header is not a JSON object: %v", err)
	}
	return hdr, nil
}

func decodeProofClaims(payload []byte) (ProofClaims, error) {
	var c ProofClaims
	if err := strictUnmarshal(payload, &c); err != nil {
		return c, proofErr("claims are not a JSON object of aud, htm, iat, jti")
	}
	if c.Aud == "" || c.Htm == "" || c.Iat == 0 {
		return c, proofErr("claims aud, htm and iat are required")
	}
	// Bounded before it becomes a time.Time, whose arithmetic would wrap
	// an iat near the int64 limit into the distant past.
	if !validTime(c.Iat) {
		return c, proofErr("iat %s", timeRule)
	}
	if !validJTI(c.Jti) {
		return c, proofErr("jti must be %d to %d base64url characters", MinJTILen, MaxJTILen)
	}
	return c, nil
}

// strictUnmarshal decodes one JSON object into v. Unknown members are
// allowed (JOSE headers and claims are extensible) but trailing data is
// not.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

func validJTI(jti string) bool {
	if len(jti) < MinJTILen || len(jti) > MaxJTILen {
		return false
	}
	return isBase64URL(jti)
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
