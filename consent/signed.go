package consent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
)

// This file holds the strict parsing shared by the owner- and vault-signed
// documents (ledger entries, receipts, the vault descriptor). It is
// stricter than the request proof parser on purpose: these documents are
// kept and shown as evidence, so exactly one byte string may stand for
// each of them.

// maxSignedHeaderLen bounds the decoded protected header of a signed
// document; a conforming header ({"alg","kid","typ"}) is under 150 bytes.
const maxSignedHeaderLen = 512

// maxTime is the latest time a signed document may carry, 9999-12-31
// 23:59:59 UTC: the end of the range of a protobuf Timestamp, so that
// every time the protocol accepts can be carried over gRPC.
const maxTime = 253402300799

// signedHeader is the protected header of a ledger entry, receipt or
// descriptor: exactly alg, typ and kid.
type signedHeader struct {
	Alg string
	Typ string
	Kid string
}

// signedDoc is a parsed, not yet verified, signed document.
type signedDoc struct {
	hdr     signedHeader
	jws     *jose.JSONWebSignature
	payload []byte
}

// errorf makes the typed refusal of one kind of document.
type errorf func(format string, args ...any) error

// parseSigned parses a compact JWS of one of the types, without verifying
// its signature. It refuses, with a reason made by fail:
//   - input that is empty or longer than maxLen bytes;
//   - anything but three canonical base64url segments (no padding, no
//     line breaks, zero trailing bits), so that the compact string, and
//     therefore its hash, is the only encoding of the signed bytes;
//   - a header that is not a JSON object of exactly alg, typ and kid
//     (no jwk, no crit, no other member, no member twice);
//   - an algorithm outside the allow-list, a typ not in types, a kid that
//     is not a key thumbprint;
//   - more than one signature, and a payload that is not valid UTF-8.
func parseSigned(compact string, maxLen int, types []string, fail errorf) (*signedDoc, error) {
	if compact == "" {
		return nil, fail("empty")
	}
	if len(compact) > maxLen {
		return nil, fail("longer than %d bytes", maxLen)
	}
	if strings.Count(compact, ".") != 2 {
		return nil, fail("not a compact JWS (three base64url parts separated by dots)")
	}
	hdrSeg, rest, _ := strings.Cut(compact, ".")
	paySeg, sigSeg, _ := strings.Cut(rest, ".")
	if base64.RawURLEncoding.DecodedLen(len(hdrSeg)) > maxSignedHeaderLen {
		return nil, fail("header too large")
	}
	rawHdr, ok := canonicalSegment(hdrSeg)
	if !ok {
		return nil, fail("header is not canonical base64url")
	}
	// The header first, so that "alg":"none" with its empty signature is
	// refused for its algorithm.
	hdr, err := decodeSignedHeader(rawHdr, types, fail)
	if err != nil {
		return nil, err
	}
	if _, ok := canonicalSegment(paySeg); !ok || paySeg == "" {
		return nil, fail("payload is not canonical base64url")
	}
	if _, ok := canonicalSegment(sigSeg); !ok || sigSeg == "" {
		return nil, fail("signature is not canonical base64url")
	}
	jws, err := jose.ParseSignedCompact(compact, AllowedAlgorithms())
	if err != nil {
		return nil, fail("malformed JWS")
	}
	if len(jws.Signatures) != 1 {
		return nil, fail("must have exactly one signature")
	}
	payload := jws.UnsafePayloadWithoutVerification()
	if !utf8.Valid(payload) {
		return nil, fail("claims are not valid UTF-8")
	}
	return &signedDoc{hdr: hdr, jws: jws, payload: payload}, nil
}

// canonicalSegment decodes one segment of a compact JWS and reports
// whether it is the canonical base64url encoding of what it decodes to.
func canonicalSegment(s string) ([]byte, bool) {
	if !isBase64URL(s) {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return b, err == nil
}

func decodeSignedHeader(raw []byte, types []string, fail errorf) (signedHeader, error) {
	members, err := objectMembers(raw)
	if err != nil {
		return signedHeader{}, fail("header is not a JSON object: %v", err)
	}
	var hdr signedHeader
	str := func(name string, dst *string) error {
		m, ok := members[name]
		if !ok {
			return nil
		}
		if err := json.Unmarshal(m, dst); err != nil {
			return fail("header %s is not a string", name)
		}
		return nil
	}
	if err := str("alg", &hdr.Alg); err != nil {
		return hdr, err
	}
	if hdr.Alg != string(EdDSA) && hdr.Alg != string(ES256) {
		return hdr, fail("algorithm %q not allowed", truncate(hdr.Alg, 16))
	}
	if err := str("typ", &hdr.Typ); err != nil {
		return hdr, err
	}
	if !contains(types, hdr.Typ) {
		return hdr, fail("typ must be %s", strings.Join(types, " or "))
	}
	if _, ok := members["crit"]; ok {
		return hdr, fail("crit header not allowed")
	}
	if _, ok := members["jwk"]; ok {
		return hdr, fail("jwk header not allowed: name the signing key with kid")
	}
	for name := range members {
		if name != "alg" && name != "typ" && name != "kid" {
			return hdr, fail("header member %q not allowed", truncate(name, 32))
		}
	}
	if _, ok := members["kid"]; !ok {
		return hdr, fail("kid header missing")
	}
	if err := str("kid", &hdr.Kid); err != nil {
		return hdr, err
	}
	if !validHash(hdr.Kid) {
		return hdr, fail("kid is not a key thumbprint")
	}
	return hdr, nil
}

// verifyWith checks the document's signature with key, whose algorithm
// must be the one the header names.
func (d *signedDoc) verifyWith(key PublicKey, fail errorf) error {
	if string(key.Algorithm()) != d.hdr.Alg {
		return fail("algorithm does not match the key")
	}
	if _, err := d.jws.Verify(key.jwk.Key); err != nil {
		return fail("bad signature")
	}
	return nil
}

// errDuplicateMember is returned by objectMembers for a member that
// appears twice: parsers disagree on which one wins, so a signed document
// that has one means different things to different readers.
var errDuplicateMember = errors.New("duplicate member")

// objectMembers splits one JSON object into its members, exactly as
// spelled. It refuses anything but a single object, a member named twice,
// and trailing data.
func objectMembers(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not an object")
	}
	members := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("member name is not a string")
		}
		if _, dup := members[name]; dup {
			return nil, fmt.Errorf("%w %q", errDuplicateMember, truncate(name, 32))
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		members[name] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return members, nil
}

// decodeExact decodes a JSON object into v, whose members must be exactly
// named (case-sensitively: encoding/json alone would match "CID" to
// "cid") from allowed, each at most once, none null (encoding/json would
// read null as the zero value, a second spelling of it), with every
// member of required present. fail makes the refusal.
//
// Nested objects are decoded by encoding/json as usual; those that carry
// meaning a second parser could read differently (JWKs, limits) are
// checked for duplicate members by their own checks.
func decodeExact(data []byte, v any, allowed, required []string, what string, fail errorf) (map[string]json.RawMessage, error) {
	members, err := objectMembers(data)
	if err != nil {
		return nil, fail("%s are not a JSON object: %v", what, err)
	}
	for name, raw := range members {
		if !contains(allowed, name) {
			return nil, fail("unknown member %q in %s", truncate(name, 32), what)
		}
		if string(raw) == "null" {
			return nil, fail("%s member %q is null", what, name)
		}
	}
	for _, name := range required {
		if _, ok := members[name]; !ok {
			return nil, fail("%s lack %q", what, name)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fail("%s member %q has the wrong type", what, te.Field)
		}
		return nil, fail("%s are malformed", what)
	}
	return members, nil
}

// parseJWK parses a public JWK carried in a signed document. Besides
// ParsePublicKey's rules it refuses a member named twice, which two JWK
// parsers could read as two different keys.
func parseJWK(raw json.RawMessage) (PublicKey, error) {
	if len(raw) > MaxJWKLen {
		return PublicKey{}, fmt.Errorf("%w: JWK longer than %d bytes", ErrInvalidKey, MaxJWKLen)
	}
	if _, err := objectMembers(raw); err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return ParsePublicKey(raw)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// validHash reports whether s is the base64url (unpadded, canonical)
// encoding of 32 bytes: a SHA-256 hash or a key thumbprint (jkt).
func validHash(s string) bool {
	if len(s) != 43 {
		return false
	}
	b, ok := canonicalSegment(s)
	return ok && len(b) == 32
}

// validTime reports whether t, seconds since the epoch, is in the range
// the protocol accepts for iat, nbf and exp: after the epoch and before
// the year 10000.
func validTime(t int64) bool { return t > 0 && t <= maxTime }
