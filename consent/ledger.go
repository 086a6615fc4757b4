package consent

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// MaxOwnerKeys is the most owner keys a vault has at once (one per device).
const MaxOwnerKeys = 16

// ErrLedgerConflict is returned by Head.Next for an entry that does not
// extend the head: the client signed against a stale head and should
// fetch the head, sign again and retry.
var ErrLedgerConflict = errors.New("ledger conflict")

// ErrInvalidLedger is the kind of every failure of VerifyChain and
// LedgerState.Apply. Use errors.As with *ChainError for the entry.
var ErrInvalidLedger = errors.New("invalid ledger")

// ChainError is a ledger that failed verification at entry Seq.
type ChainError struct {
	// Seq is the position of the failing entry, from 1.
	Seq uint64
	// Reason says why, in a few words.
	Reason string
	// Err is the underlying error, if any (a *RecordError, or one
	// wrapping ErrLedgerConflict).
	Err error
}

// Error says which entry failed and why: "ledger entry 3: bad signature".
func (e *ChainError) Error() string { return fmt.Sprintf("ledger entry %d: %s", e.Seq, e.Reason) }

// Unwrap makes errors.Is(err, ErrInvalidLedger) true, and exposes Err.
func (e *ChainError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalidLedger}
	}
	return []error{ErrInvalidLedger, e.Err}
}

// EntryHash is the hash that links ledger entries (PROTOCOL.md section
// 6): base64url, unpadded, of SHA-256 over the bytes of the compact JWS.
func EntryHash(compact string) string {
	sum := sha256.Sum256([]byte(compact))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Head is the latest entry of a ledger: its seq and EntryHash. The zero
// Head is the empty ledger.
type Head struct {
	// Seq is the latest entry's position, 0 for an empty ledger.
	Seq uint64
	// Hash is EntryHash of the latest entry, "" for an empty ledger.
	Hash string
}

// Next checks that e extends h: e's seq is h.Seq+1 and its prev is h.Hash
// ("" for entry 1). A refusal wraps ErrLedgerConflict.
func (h Head) Next(e *LedgerEntry) error {
	if r := h.next(e); r != "" {
		return fmt.Errorf("%w: %s", ErrLedgerConflict, r)
	}
	return nil
}

func (h Head) next(e *LedgerEntry) string {
	switch {
	case e == nil:
		return "no entry"
	case e.Seq != h.Seq+1:
		return fmt.Sprintf("seq %d does not extend the ledger head %d", e.Seq, h.Seq)
	case h.Seq == 0 && e.Prev != "":
		return "entry 1 must have an empty prev"
	case e.Prev != h.Hash:
		return fmt.Sprintf("prev does not match the hash of entry %d", h.Seq)
	}
	return ""
}

// Advance returns the head after appending the entry compact, which Next
// has accepted.
func (h Head) Advance(compact string) Head {
	return Head{Seq: h.Seq + 1, Hash: EntryHash(compact)}
}

// OwnerKey is an owner key in force, as the ledger added it.
type OwnerKey struct {
	// Key is the public key.
	Key PublicKey
	// Device is the device name of its add entry.
	Device string
	// AddedSeq is the position of its add entry.
	AddedSeq uint64
	// AddedAt is the iat of its add entry, seconds since the epoch.
	AddedAt int64
}

// ConsentState is a consent as the ledger records it.
type ConsentState struct {
	// Record is the consent record's claims.
	Record RecordClaims
	// JWS is the consent record, the brand's receipt.
	JWS string
	// Seq is the record's position in the ledger.
	Seq uint64
	// SignedBy is the thumbprint of the owner key that signed the record.
	SignedBy string
	// Revocation is the revocation's claims, nil while not revoked.
	Revocation *RevocationClaims
	// RevocationJWS is the revocation, "" while not revoked.
	RevocationJWS string
	// RevocationSeq is the revocation's position, 0 while not revoked.
	RevocationSeq uint64
}

// Revoked reports whether the consent has been revoked.
func (c *ConsentState) Revoked() bool { return c.Revocation != nil }

// ActiveAt reports whether the consent grants access at now: granted,
// within nbf and exp, not revoked.
func (c *ConsentState) ActiveAt(now time.Time) bool {
	return !c.Revoked() && c.Record.ActiveAt(now)
}

// LedgerState is the state of a vault's consent ledger after the entries
// applied so far: its head, the owner keys in force, and every consent.
// Its zero value is not usable; use NewLedgerState or VerifyChain.
type LedgerState struct {
	// Vault is the vault id every record must name.
	Vault string
	// Head is the head after the last entry applied.
	Head Head
	// Owners are the owner keys in force, in the order they were added.
	Owners []OwnerKey
	// Consents are the recorded consents by consent id.
	Consents map[string]*ConsentState

	hashes  []string          // hashes[i] is EntryHash of entry i+1
	decided map[string]string // request id -> consent id
}

// NewLedgerState returns the state of the empty ledger of vault vaultID.
func NewLedgerState(vaultID string) *LedgerState {
	return &LedgerState{Vault: vaultID, Consents: map[string]*ConsentState{}, decided: map[string]string{}}
}

// VerifyChain verifies the whole consent ledger of vault vaultID, entries
// in order from seq 1, and returns its state. It is what `vrm verify` and
// brands run; the rules are those of LedgerState.Apply. An empty ledger is
// valid and has no owner keys. A failure is a *ChainError naming the
// position of the first entry that fails.
func VerifyChain(vaultID string, entries []string) (*LedgerState, error) {
	if !ValidID(vaultID) {
		return nil, fmt.Errorf("%w: vault id %s", ErrInvalidLedger, idRule)
	}
	s := NewLedgerState(vaultID)
	for _, e := range entries {
		if _, err := s.Apply(e); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// OwnerKeys returns the public keys of the owner keys in force.
func (s *LedgerState) OwnerKeys() []PublicKey {
	out := make([]PublicKey, len(s.Owners))
	for i, o := range s.Owners {
		out[i] = o.Key
	}
	return out
}

// Extends reports whether the ledger holds h: either h is the empty head,
// or the entry at h.Seq has hash h.Hash. `vrm` uses it to check that the
// vault's ledger extends the head it saw last; false means the host
// dropped or rewrote history.
func (s *LedgerState) Extends(h Head) bool {
	if h.Seq == 0 {
		return h.Hash == ""
	}
	return h.Seq <= uint64(len(s.hashes)) && s.hashes[h.Seq-1] == h.Hash
}

func (s *LedgerState) ownerIndex(jkt string) int {
	for i, o := range s.Owners {
		if o.Key.Thumbprint() == jkt {
			return i
		}
	}
	return -1
}

// Apply checks the next entry and, if it is valid, appends it to the
// state. The rules:
//   - the entry parses (ParseLedgerEntry) and extends the head (Head.Next);
//   - entry 1 adds an owner key;
//   - an add entry is signed by the key it adds (its proof of
//     possession), adds a key that is not already an owner key, and keeps
//     the owner keys at most MaxOwnerKeys;
//   - every other entry is signed by an owner key in force just before it;
//   - a remove entry removes an owner key, never the last one (a key may
//     remove itself);
//   - a record names this vault, a consent id not recorded before, and a
//     request not decided before;
//   - a revocation names a granted consent of the ledger not revoked
//     before.
//
// Note what this does not prove: an add entry is authorised by the
// enrolment code that the vault checked, not by a signature of an earlier
// owner key, so a host that issues itself an enrolment code can add an
// owner key of its own. Every add shows in Owners with its device name and
// seq, and `vrm` should show owner keys it does not know.
//
// On failure the state is unchanged and the error is a *ChainError.
func (s *LedgerState) Apply(compact string) (*LedgerEntry, error) {
	seq := s.Head.Seq + 1
	fail := func(reason string, err error) error { return &ChainError{Seq: seq, Reason: reason, Err: err} }
	e, err := ParseLedgerEntry(compact)
	if err != nil {
		var re *RecordError
		if errors.As(err, &re) {
			return nil, fail(re.Reason, err)
		}
		return nil, fail(err.Error(), err)
	}
	if r := s.Head.next(e); r != "" {
		return nil, fail(r, fmt.Errorf("%w: %s", ErrLedgerConflict, r))
	}
	if seq == 1 && (e.Key == nil || e.Key.Op != KeyOpAdd) {
		return nil, fail("the first entry must add an owner key", nil)
	}
	signer, err := e.VerifySignature(s.OwnerKeys())
	if err != nil {
		var re *RecordError
		if errors.As(err, &re) {
			return nil, fail(re.Reason, err)
		}
		return nil, fail(err.Error(), err)
	}
	switch {
	case e.Key != nil:
		i := s.ownerIndex(e.Key.JKT)
		if e.Key.Op == KeyOpAdd {
			if i >= 0 {
				return nil, fail(fmt.Sprintf("key %s is already an owner key", e.Key.JKT), nil)
			}
			if len(s.Owners) >= MaxOwnerKeys {
				return nil, fail(fmt.Sprintf("more than %d owner keys", MaxOwnerKeys), nil)
			}
			s.Owners = append(s.Owners, OwnerKey{Key: signer, Device: e.Key.Device, AddedSeq: seq, AddedAt: e.Key.Iat})
			break
		}
		if i < 0 {
			return nil, fail(fmt.Sprintf("key %s is not an owner key", e.Key.JKT), nil)
		}
		if len(s.Owners) == 1 {
			return nil, fail("cannot remove the last owner key", nil)
		}
		s.Owners = append(s.Owners[:i:i], s.Owners[i+1:]...)
	case e.Record != nil:
		r := e.Record
		if r.Vault != s.Vault {
			return nil, fail(fmt.Sprintf("record of vault %s, not %s", r.Vault, s.Vault), nil)
		}
		if c, ok := s.Consents[r.CID]; ok {
			return nil, fail(fmt.Sprintf("consent %s already recorded at entry %d", r.CID, c.Seq), nil)
		}
		if cid, ok := s.decided[r.RID]; ok {
			return nil, fail(fmt.Sprintf("request %s already decided by consent %s", r.RID, cid), nil)
		}
		s.Consents[r.CID] = &ConsentState{Record: *r, JWS: compact, Seq: seq, SignedBy: signer.Thumbprint()}
		s.decided[r.RID] = r.CID
	case e.Revocation != nil:
		r := e.Revocation
		c, ok := s.Consents[r.CID]
		switch {
		case !ok:
			return nil, fail(fmt.Sprintf("revokes consent %s, which is not in the ledger", r.CID), nil)
		case c.Record.Status != StatusGranted:
			return nil, fail(fmt.Sprintf("revokes consent %s, which was denied", r.CID), nil)
		case c.Revoked():
			return nil, fail(fmt.Sprintf("consent %s already revoked at entry %d", r.CID, c.RevocationSeq), nil)
		}
		c.Revocation, c.RevocationJWS, c.RevocationSeq = r, compact, seq
	}
	s.Head = s.Head.Advance(compact)
	s.hashes = append(s.hashes, s.Head.Hash)
	return e, nil
}
