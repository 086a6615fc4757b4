package consent

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Ledger entry types and limits (PROTOCOL.md sections 3 and 6).
const (
	// RecordType is the "typ" header of a consent record.
	RecordType = "vrm-consent+jwt"
	// RevocationType is the "typ" header of a revocation.
	RevocationType = "vrm-revocation+jwt"
	// KeyEntryType is the "typ" header of an owner-key ledger entry.
	KeyEntryType = "vrm-key+jwt"
	// MaxLedgerEntryLen is the longest ledger entry accepted, in bytes.
	MaxLedgerEntryLen = 16 << 10
	// MaxIDLen is the longest consent, request or vault id.
	MaxIDLen = 64
	// MaxDeviceNameLen is the longest device name of an owner key, in
	// characters.
	MaxDeviceNameLen = 64
	// SubjectLen is the length of a pairwise subject (section 5).
	SubjectLen = 22
)

// Consent record statuses.
const (
	// StatusGranted is a grant: the brand may use the scopes until exp.
	StatusGranted = "granted"
	// StatusDenied is a refusal of the request.
	StatusDenied = "denied"
)

// Owner-key ledger operations.
const (
	// KeyOpAdd adds an owner key. The entry is signed by the key it adds,
	// which proves that the enrolling device holds it.
	KeyOpAdd = "add"
	// KeyOpRemove removes an owner key. The entry is signed by an owner key
	// (possibly the one removed); the last owner key cannot be removed.
	KeyOpRemove = "remove"
)

// ErrInvalidRecord is the kind of every refused ledger entry or receipt:
// malformed, of the wrong type, or signed by the wrong key. Use errors.As
// with *RecordError for the reason.
var ErrInvalidRecord = errors.New("invalid consent record")

// RecordError is a refused ledger entry or receipt with the reason, safe
// to show the caller.
type RecordError struct {
	// Reason says why, in a few words, without secrets.
	Reason string
}

// Error returns the reason with its kind, "invalid consent record: ...".
func (e *RecordError) Error() string { return "invalid consent record: " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidRecord) true.
func (e *RecordError) Unwrap() error { return ErrInvalidRecord }

func recordErr(format string, args ...any) error {
	return &RecordError{Reason: fmt.Sprintf(format, args...)}
}

// RecordClaims are the claims of a consent record (PROTOCOL.md section
// 3.2). Every member is always present in the JSON; exp is 0 only on a
// denial without expiry, prev is "" only on ledger entry 1.
type RecordClaims struct {
	// CID is the consent id, chosen by the owner's client (NewID).
	CID string `json:"cid"`
	// RID is the id of the access request this decides.
	RID string `json:"rid"`
	// Vault is the vault id.
	Vault string `json:"vault"`
	// Brand is the brand's key thumbprint (jkt).
	Brand string `json:"brand"`
	// Sub is the pairwise subject of the customer for this brand.
	Sub string `json:"sub"`
	// Status is StatusGranted or StatusDenied.
	Status string `json:"status"`
	// Scopes are the granted scopes, never broader than requested.
	Scopes []string `json:"scopes"`
	// Purposes are the granted purposes, a subset of those requested.
	Purposes []string `json:"purposes"`
	// Iat is when the owner signed, seconds since the epoch.
	Iat int64 `json:"iat"`
	// Nbf is when the consent starts, seconds since the epoch; 0 means
	// from iat.
	Nbf int64 `json:"nbf"`
	// Exp is when the consent ends, seconds since the epoch; a grant
	// always has one.
	Exp int64 `json:"exp"`
	// Seq is the entry's position in the ledger, from 1.
	Seq uint64 `json:"seq"`
	// Prev is EntryHash of ledger entry Seq-1, "" for entry 1.
	Prev string `json:"prev"`
}

// RevocationClaims are the claims of a revocation (PROTOCOL.md section
// 3.3).
type RevocationClaims struct {
	// CID is the revoked consent.
	CID string `json:"cid"`
	// Iat is when the owner signed, seconds since the epoch.
	Iat int64 `json:"iat"`
	// Seq is the entry's position in the ledger, from 1.
	Seq uint64 `json:"seq"`
	// Prev is EntryHash of ledger entry Seq-1, "" for entry 1.
	Prev string `json:"prev"`
}

// KeyEntryClaims are the claims of an owner-key ledger entry: an owner
// key added (enrolment) or removed. Entry 1 of every ledger adds the first
// owner key.
type KeyEntryClaims struct {
	// Op is KeyOpAdd or KeyOpRemove.
	Op string `json:"op"`
	// JKT is the thumbprint of the key added or removed.
	JKT string `json:"jkt"`
	// JWK is the public JWK of the key added; absent on a remove.
	JWK json.RawMessage `json:"jwk,omitempty"`
	// Device names the device that holds the key, for the owner's own
	// listing; may be empty.
	Device string `json:"device,omitempty"`
	// Iat is when the entry was signed, seconds since the epoch.
	Iat int64 `json:"iat"`
	// Seq is the entry's position in the ledger, from 1.
	Seq uint64 `json:"seq"`
	// Prev is EntryHash of ledger entry Seq-1, "" for entry 1.
	Prev string `json:"prev"`
}

// The JSON members of each entry type, exactly as spelled.
var (
	recordMembers     = []string{"cid", "rid", "vault", "brand", "sub", "status", "scopes", "purposes", "iat", "nbf", "exp", "seq", "prev"}
	revocationMembers = []string{"cid", "iat", "seq", "prev"}
	keyEntryMembers   = []string{"op", "jkt", "jwk", "device", "iat", "seq", "prev"}
	keyEntryRequired  = []string{"op", "jkt", "iat", "seq", "prev"}
	ledgerTypes       = []string{RecordType, RevocationType, KeyEntryType}
)

// The rules that refusals quote.
const (
	idRule   = "must be 1 to 64 of A-Z a-z 0-9 _ -"
	timeRule = "must be seconds since the epoch, before the year 10000"
)

var (
	errNotParsed = errors.New("consent: ledger entry not made by ParseLedgerEntry")
	errNilKey    = errors.New("consent: nil signing key")
)

// ValidID reports whether id is a valid consent, request or vault id: 1 to
// MaxIDLen characters of [A-Za-z0-9_-].
func ValidID(id string) bool {
	return len(id) >= 1 && len(id) <= MaxIDLen && isBase64URL(id)
}

// NewID returns a fresh id of 128 random bits from rand, base64url (22
// characters): a consent id for a record, or a request id.
//
// An id never starts with '-', so that it can be passed as an argument to
// a command line tool without being read as a flag.
func NewID(rand io.Reader) (string, error) {
	for {
		var b [16]byte
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return "", fmt.Errorf("new id: %w", err)
		}
		if id := base64.RawURLEncoding.EncodeToString(b[:]); id[0] != '-' {
			return id, nil
		}
	}
}

// validSubject reports whether s has the shape of a pairwise subject.
func validSubject(s string) bool { return len(s) == SubjectLen && isBase64URL(s) }

// checkLink checks seq and prev of an entry on their own: seq from 1, prev
// empty on entry 1 and a hash on every other.
func checkLink(seq uint64, prev string) error {
	switch {
	case seq == 0:
		return recordErr("seq must be 1 or more")
	case seq == 1 && prev != "":
		return recordErr("entry 1 must have an empty prev")
	case seq > 1 && !validHash(prev):
		return recordErr("prev must be the base64url SHA-256 of the entry before")
	}
	return nil
}

// checkRecord checks the shape of a consent record: ids, brand and
// subject, status, scopes (valid, writes only in the brand's namespace,
// at least one on a grant), purposes (known, at least one on a grant),
// times (a grant needs exp; nbf not after exp), seq and prev. What a
// record must match (the request, the clock) is CheckDecision's.
func checkRecord(c *RecordClaims) error {
	for _, f := range []struct{ name, v string }{{"cid", c.CID}, {"rid", c.RID}, {"vault", c.Vault}} {
		if !ValidID(f.v) {
			return recordErr("%s %s", f.name, idRule)
		}
	}
	if !validHash(c.Brand) {
		return recordErr("brand is not a key thumbprint")
	}
	if !validSubject(c.Sub) {
		return recordErr("sub is not a pairwise subject (%d base64url characters)", SubjectLen)
	}
	granted := c.Status == StatusGranted
	if !granted && c.Status != StatusDenied {
		return recordErr("status must be %s or %s", StatusGranted, StatusDenied)
	}
	scopes, err := ParseScopes(c.Scopes)
	if err != nil {
		return recordErr("%v", err)
	}
	if granted && len(scopes) == 0 {
		return recordErr("a grant needs at least one scope")
	}
	if err := CheckBrandScopes(scopes, c.Brand); err != nil {
		return recordErr("%v", err)
	}
	if granted || len(c.Purposes) > 0 {
		if _, err := ParsePurposes(c.Purposes); err != nil {
			return recordErr("%v", err)
		}
	}
	if !validTime(c.Iat) {
		return recordErr("iat %s", timeRule)
	}
	if c.Nbf != 0 && !validTime(c.Nbf) {
		return recordErr("nbf %s", timeRule)
	}
	if c.Exp != 0 && !validTime(c.Exp) {
		return recordErr("exp %s", timeRule)
	}
	if granted && c.Exp == 0 {
		return recordErr("a grant needs exp")
	}
	if c.Exp != 0 && c.Nbf > c.Exp {
		return recordErr("nbf is after exp")
	}
	return checkLink(c.Seq, c.Prev)
}

func checkRevocation(c *RevocationClaims) error {
	if !ValidID(c.CID) {
		return recordErr("cid %s", idRule)
	}
	if !validTime(c.Iat) {
		return recordErr("iat %s", timeRule)
	}
	return checkLink(c.Seq, c.Prev)
}

// checkKeyEntry checks the shape of an owner-key entry and returns, for
// an add, the key it adds.
func checkKeyEntry(c *KeyEntryClaims) (PublicKey, error) {
	var key PublicKey
	if !validHash(c.JKT) {
		return key, recordErr("jkt is not a key thumbprint")
	}
	switch c.Op {
	case KeyOpAdd:
		if len(c.JWK) == 0 {
			return key, recordErr("an add entry needs the jwk of the key it adds")
		}
		k, err := parseJWK(c.JWK)
		if err != nil {
			return key, recordErr("jwk: %v", err)
		}
		if k.Thumbprint() != c.JKT {
			return key, recordErr("jwk does not match jkt")
		}
		key = k
	case KeyOpRemove:
		if len(c.JWK) != 0 {
			return key, recordErr("a remove entry carries no jwk")
		}
	default:
		return key, recordErr("op must be %s or %s", KeyOpAdd, KeyOpRemove)
	}
	if err := checkText(c.Device, MaxDeviceNameLen); err != nil {
		return key, recordErr("device name %v", err)
	}
	if !validTime(c.Iat) {
		return key, recordErr("iat %s", timeRule)
	}
	return key, checkLink(c.Seq, c.Prev)
}

// signEntry signs claims as a ledger entry of type typ.
func signEntry(k *PrivateKey, typ string, claims any) (string, error) {
	if k == nil {
		return "", errNilKey
	}
	b, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode %s claims: %w", typ, err)
	}
	out, err := k.Sign(typ, b)
	if err != nil {
		return "", err
	}
	if len(out) > MaxLedgerEntryLen {
		return "", recordErr("entry longer than %d bytes", MaxLedgerEntryLen)
	}
	return out, nil
}

// SignRecord checks the shape of c (as ParseLedgerEntry would) and returns
// it signed by the owner key k as a consent record. Nil scopes and
// purposes are written as empty lists.
func SignRecord(k *PrivateKey, c RecordClaims) (string, error) {
	if err := checkRecord(&c); err != nil {
		return "", err
	}
	if c.Scopes == nil {
		c.Scopes = []string{}
	}
	if c.Purposes == nil {
		c.Purposes = []string{}
	}
	return signEntry(k, RecordType, c)
}

// SignRevocation checks the shape of c and returns it signed by the owner
// key k as a revocation.
func SignRevocation(k *PrivateKey, c RevocationClaims) (string, error) {
	if err := checkRevocation(&c); err != nil {
		return "", err
	}
	return signEntry(k, RevocationType, c)
}

// SignKeyEntry checks the shape of c and returns it signed by k as an
// owner-key entry. For an add, k must be the key added (proof of
// possession); an empty JKT or JWK is filled in from k. For a remove, k is
// the owner key that authorises it.
func SignKeyEntry(k *PrivateKey, c KeyEntryClaims) (string, error) {
	if k == nil {
		return "", errNilKey
	}
	if c.Op == KeyOpAdd {
		if c.JKT == "" {
			c.JKT = k.Thumbprint()
		}
		if len(c.JWK) == 0 {
			c.JWK = json.RawMessage(k.Public().JSON())
		}
		if c.JKT != k.Thumbprint() {
			return "", recordErr("an add entry must be signed by the key it adds")
		}
	}
	if _, err := checkKeyEntry(&c); err != nil {
		return "", err
	}
	return signEntry(k, KeyEntryType, c)
}

// LedgerEntry is a parsed ledger entry whose shape has been checked but
// whose signature has not: call VerifySignature with the owner keys in
// force. Exactly one of Record, Revocation and Key is set, as Type says.
type LedgerEntry struct {
	// Type is RecordType, RevocationType or KeyEntryType.
	Type string
	// KID is the thumbprint of the signing key, from the header.
	KID string
	// Seq is the entry's position in the ledger, from its claims.
	Seq uint64
	// Prev is the hash of the entry before, from its claims.
	Prev string
	// Record holds the claims of a consent record.
	Record *RecordClaims
	// Revocation holds the claims of a revocation.
	Revocation *RevocationClaims
	// Key holds the claims of an owner-key entry.
	Key *KeyEntryClaims
	// JWS is the entry as parsed, the bytes its hash is taken over.
	JWS string

	doc    *signedDoc
	addKey PublicKey // the key an add entry adds
}

// ParseLedgerEntry parses a ledger entry (consent record, revocation or
// owner-key entry) without verifying its signature. It refuses input
// longer than MaxLedgerEntryLen; anything but a compact JWS in canonical
// base64url with exactly one signature; an algorithm outside the
// allow-list; a header other than exactly alg, typ and kid (so no jwk, no
// crit); a typ other than the three entry types; and claims that are not
// exactly the members of that type, each once, of the right JSON type and
// shape (see SignRecord, SignRevocation, SignKeyEntry). An add entry must
// name itself as its signer. Every refusal is a *RecordError.
func ParseLedgerEntry(compact string) (*LedgerEntry, error) {
	d, err := parseSigned(compact, MaxLedgerEntryLen, ledgerTypes, recordErr)
	if err != nil {
		return nil, err
	}
	e := &LedgerEntry{Type: d.hdr.Typ, KID: d.hdr.Kid, JWS: compact, doc: d}
	switch d.hdr.Typ {
	case RecordType:
		var c RecordClaims
		if _, err := decodeExact(d.payload, &c, recordMembers, recordMembers, "claims", recordErr); err != nil {
			return nil, err
		}
		if err := checkRecord(&c); err != nil {
			return nil, err
		}
		e.Record, e.Seq, e.Prev = &c, c.Seq, c.Prev
	case RevocationType:
		var c RevocationClaims
		if _, err := decodeExact(d.payload, &c, revocationMembers, revocationMembers, "claims", recordErr); err != nil {
			return nil, err
		}
		if err := checkRevocation(&c); err != nil {
			return nil, err
		}
		e.Revocation, e.Seq, e.Prev = &c, c.Seq, c.Prev
	case KeyEntryType:
		var c KeyEntryClaims
		if _, err := decodeExact(d.payload, &c, keyEntryMembers, keyEntryRequired, "claims", recordErr); err != nil {
			return nil, err
		}
		k, err := checkKeyEntry(&c)
		if err != nil {
			return nil, err
		}
		if c.Op == KeyOpAdd && e.KID != c.JKT {
			return nil, recordErr("an add entry must be signed by the key it adds")
		}
		e.Key, e.Seq, e.Prev, e.addKey = &c, c.Seq, c.Prev, k
	}
	return e, nil
}

// Hash returns EntryHash of the entry: what the next entry's prev must be.
func (e *LedgerEntry) Hash() string { return EntryHash(e.JWS) }

// VerifySignature verifies the entry's signature and returns the key that
// made it. An owner-key add is verified with the key it adds, whose
// thumbprint must equal both its jkt claim and the kid header; every other
// entry with the key among keys (the owner keys in force when the entry
// was appended) whose thumbprint is the kid. A refusal is a *RecordError.
func (e *LedgerEntry) VerifySignature(keys []PublicKey) (PublicKey, error) {
	if e == nil || e.doc == nil {
		return PublicKey{}, errNotParsed
	}
	var key PublicKey
	if e.Key != nil && e.Key.Op == KeyOpAdd {
		key = e.addKey
		if key.IsZero() || key.Thumbprint() != e.KID || key.Thumbprint() != e.Key.JKT {
			return PublicKey{}, recordErr("an add entry must be signed by the key it adds")
		}
	} else {
		found := false
		for _, k := range keys {
			if !k.IsZero() && k.Thumbprint() == e.KID {
				key, found = k, true
				break
			}
		}
		if !found {
			return PublicKey{}, recordErr("signed by a key that is not an owner key of this vault")
		}
	}
	if err := e.doc.verifyWith(key, recordErr); err != nil {
		return PublicKey{}, err
	}
	return key, nil
}

// Expired reports whether the consent has reached its exp at now. A
// record without exp (a denial) never expires.
func (c RecordClaims) Expired(now time.Time) bool {
	return c.Exp != 0 && now.Unix() >= c.Exp
}

// ActiveAt reports whether the record grants access at now: status
// granted, nbf reached, exp not reached. It does not know about
// revocations; see LedgerState.
func (c RecordClaims) ActiveAt(now time.Time) bool {
	return c.Status == StatusGranted && now.Unix() >= c.Nbf && !c.Expired(now)
}
