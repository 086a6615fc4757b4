// Package audit defines the vault's audit log (PROTOCOL.md section 7): the
// canonical encoding of an entry, the hash chain that links entries, and
// the checkpoints of the chain's head signed with the vault key.
//
// It is pure (no I/O) so that the vault that writes the log and the owner's
// client that verifies it (`vrm verify`) share one definition: the client
// re-hashes the canonical bytes it receives and never trusts decoded
// fields it did not check.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vrmvault/vrmvault/consent"
)

// Roles of a caller.
const (
	RoleOwner = "owner"
	RoleBrand = "brand"
	RoleHost  = "host"
)

// Outcomes other than a status code name.
const (
	OutcomeOK = "ok"
)

// CheckpointEvery is the most entries between two signed checkpoints.
const CheckpointEvery = 1000

// CheckpointType is the typ header of a checkpoint JWS.
const CheckpointType = "vrm-checkpoint+jwt"

// maxCheckpointLen bounds a checkpoint JWS.
const maxCheckpointLen = 2048

// maxEntryLen bounds one canonical entry.
const maxEntryLen = 64 << 10

// Entry is one audit entry. Its canonical encoding is its JSON encoding
// with the members in the order below (Go's encoder is deterministic).
type Entry struct {
	// Seq is the entry's position, from 1.
	Seq uint64 `json:"seq"`
	// Time is when the audited call happened (UTC).
	Time time.Time `json:"time"`
	// Caller is the caller key's thumbprint.
	Caller string `json:"caller"`
	// Role is RoleOwner, RoleBrand or RoleHost.
	Role string `json:"role"`
	// Method is the full gRPC method name.
	Method string `json:"method"`
	// Consent is the consent id(s) the call used, comma-separated.
	Consent string `json:"consent,omitempty"`
	// Paths are the profile paths the call touched.
	Paths []string `json:"paths,omitempty"`
	// Outcome is OutcomeOK or the name of the refusal.
	Outcome string `json:"outcome"`
	// Prev is Hash of the previous entry's canonical encoding; "" for the
	// first entry.
	Prev string `json:"prev"`
}

// Canonical returns the canonical encoding of e, the bytes the chain hashes.
func (e Entry) Canonical() ([]byte, error) {
	e.Time = e.Time.UTC()
	if b, ok := appendCanonical(make([]byte, 0, 384), e); ok {
		return b, nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode audit entry: %w", err)
	}
	return b, nil
}

// Hash returns base64url(SHA-256(canonical)), unpadded.
func Hash(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Decode parses canonical bytes, refusing unknown members and any
// encoding that is not exactly canonical (so the hash binds the fields).
func Decode(canonical []byte) (Entry, error) {
	if len(canonical) > maxEntryLen {
		return Entry{}, fmt.Errorf("audit entry longer than %d bytes", maxEntryLen)
	}
	dec := json.NewDecoder(bytes.NewReader(canonical))
	dec.DisallowUnknownFields()
	var e Entry
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("decode audit entry: %w", err)
	}
	again, err := e.Canonical()
	if err != nil {
		return Entry{}, err
	}
	if !bytes.Equal(again, canonical) {
		return Entry{}, errors.New("audit entry is not in canonical form")
	}
	return e, nil
}

// Head identifies the latest entry of a log.
type Head struct {
	// Seq is the latest entry's seq; 0 for an empty log.
	Seq uint64 `json:"seq"`
	// Hash is Hash of the latest entry's canonical encoding; "" for an
	// empty log.
	Hash string `json:"hash"`
}

// Checkpoint is the signed claim that a vault's audit log had Head.
type Checkpoint struct {
	// Vault is the vault id.
	Vault string `json:"vault"`
	// Seq is the head's seq.
	Seq uint64 `json:"seq"`
	// Hash is the head's hash.
	Hash string `json:"hash"`
	// Iat is when it was signed, seconds since the epoch.
	Iat int64 `json:"iat"`
}

// SignCheckpoint signs c with the vault key.
func SignCheckpoint(vaultKey *consent.PrivateKey, c Checkpoint) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode checkpoint: %w", err)
	}
	return vaultKey.Sign(CheckpointType, b)
}

// VerifyCheckpoint checks a checkpoint JWS against the vault key and
// returns its claims.
func VerifyCheckpoint(compact string, vaultKey consent.PublicKey) (Checkpoint, error) {
	payload, err := consent.VerifyCompact(compact, CheckpointType, vaultKey, maxCheckpointLen)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	var c Checkpoint
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint claims: %w", err)
	}
	return c, nil
}

// ChainError names the entry at which verification failed.
type ChainError struct {
	// Seq is the entry (or checkpoint) seq that failed.
	Seq uint64
	// Reason says why.
	Reason string
}

func (e *ChainError) Error() string { return fmt.Sprintf("audit entry %d: %s", e.Seq, e.Reason) }

// Verifier checks a log read in order, entry by entry, from seq 1.
type Verifier struct {
	head Head
	seen map[uint64]string // entry hashes by seq, for checkpoints
}

// NewVerifier returns a Verifier at the empty head.
func NewVerifier() *Verifier { return &Verifier{seen: map[uint64]string{}} }

// Head returns the head after the entries added so far.
func (v *Verifier) Head() Head { return v.head }

// Add checks the next entry's canonical bytes: canonical form, seq one
// more than the head, prev equal to the head's hash.
func (v *Verifier) Add(canonical []byte) (Entry, error) {
	next := v.head.Seq + 1
	e, err := Decode(canonical)
	if err != nil {
		return Entry{}, &ChainError{Seq: next, Reason: err.Error()}
	}
	if e.Seq != next {
		return Entry{}, &ChainError{Seq: next, Reason: fmt.Sprintf("has seq %d, want %d", e.Seq, next)}
	}
	if e.Prev != v.head.Hash {
		return Entry{}, &ChainError{Seq: e.Seq, Reason: "prev does not match the hash of the entry before it"}
	}
	v.head = Head{Seq: e.Seq, Hash: Hash(canonical)}
	v.seen[e.Seq] = v.head.Hash
	return e, nil
}

// CheckCheckpoint verifies a checkpoint against the vault key and the
// entries added so far: its hash must equal the hash of the entry it
// names. seq is the position the vault listed it at, used to name it in
// an error when its signature fails.
func (v *Verifier) CheckCheckpoint(compact string, seq uint64, vaultID string, vaultKey consent.PublicKey) (Checkpoint, error) {
	c, err := VerifyCheckpoint(compact, vaultKey)
	if err != nil {
		return Checkpoint{}, &ChainError{Seq: seq, Reason: err.Error()}
	}
	if c.Seq != seq {
		return Checkpoint{}, &ChainError{Seq: seq, Reason: fmt.Sprintf("checkpoint listed at %d covers entry %d", seq, c.Seq)}
	}
	if c.Vault != vaultID {
		return Checkpoint{}, &ChainError{Seq: c.Seq, Reason: "checkpoint of another vault"}
	}
	h, ok := v.seen[c.Seq]
	if !ok {
		return Checkpoint{}, &ChainError{Seq: c.Seq, Reason: "checkpoint names an entry not in the log"}
	}
	if h != c.Hash {
		return Checkpoint{}, &ChainError{Seq: c.Seq, Reason: "checkpoint hash does not match the entry"}
	}
	return c, nil
}
