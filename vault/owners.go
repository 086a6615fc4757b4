package vault

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault/audit"
	"github.com/vrmvault/vrmvault/vault/store"
)

const (
	prefixOwner      = "o/"
	prefixEnrollment = "e/"
	prefixReplay     = "j/"
	// enrollmentCodeBytes is the entropy of an enrolment code: 160 bits,
	// written as 32 base32 characters in groups of four.
	enrollmentCodeBytes = 20
	// maxEnrollmentCodeLen bounds the code text accepted before hashing.
	maxEnrollmentCodeLen = 128
	// maxDeviceNameLen bounds an owner key's device name.
	maxDeviceNameLen = 64
)

// OwnerKey is an enrolled owner key.
type OwnerKey struct {
	// Key is the public key.
	Key consent.PublicKey
	// Device is the device name given at enrolment.
	Device string
	// Enrolled is when the key was enrolled.
	Enrolled time.Time
}

type ownerRecord struct {
	V        int       `json:"v"`
	JWK      string    `json:"jwk"`
	Device   string    `json:"device"`
	Enrolled time.Time `json:"enrolled"`
}

type enrollmentRecord struct {
	V       int       `json:"v"`
	Expires time.Time `json:"expires"`
	// Issuer is the thumbprint of the owner key that issued the code
	// (IssueEnrollmentCode), and IssuerEnrolled when that key was
	// enrolled; both are empty for a code the host issued. The code is
	// good only while that enrolment of the key stands: not once the key
	// is removed, nor after the same key is enrolled again.
	Issuer         string    `json:"issuer,omitempty"`
	IssuerEnrolled time.Time `json:"issuer_enrolled,omitzero"`
}

// codeIssuer is the owner key enrolment an enrolment code belongs to;
// the zero value is the host.
type codeIssuer struct {
	jkt      string
	enrolled time.Time
}

// loadCodeIssuer returns the enrolment of owner key jkt in tx, or
// ErrOwnerKeyNotFound.
func loadCodeIssuer(tx store.Tx, jkt string) (codeIssuer, error) {
	var rec ownerRecord
	if err := getJSON(tx, prefixOwner+jkt, &rec); errors.Is(err, store.ErrNotFound) {
		return codeIssuer{}, fmt.Errorf("%w: %s", ErrOwnerKeyNotFound, jkt)
	} else if err != nil {
		return codeIssuer{}, fmt.Errorf("owner key %s: %w", jkt, err)
	}
	return codeIssuer{jkt: jkt, enrolled: rec.Enrolled}, nil
}

// codeEncoding writes enrolment codes in upper-case base32 without
// padding: no characters that need quoting in a shell.
var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// normaliseCode removes the separators and case a person may type.
func normaliseCode(code string) string {
	code = strings.ToUpper(code)
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, code)
}

func enrollmentKey(code string) string {
	sum := sha256.Sum256([]byte(normaliseCode(code)))
	return prefixEnrollment + base64.RawURLEncoding.EncodeToString(sum[:])
}

// putEnrollmentCode makes a new code and stores its hash in tx; issuer
// is the owner key enrolment issuing it (zero for the host).
func (h *Host) putEnrollmentCode(tx store.Tx, issuer codeIssuer) (Enrollment, error) {
	var raw [enrollmentCodeBytes]byte
	if _, err := io.ReadFull(h.rand, raw[:]); err != nil {
		return Enrollment{}, fmt.Errorf("enrolment code: %w", err)
	}
	plain := codeEncoding.EncodeToString(raw[:])
	groups := make([]string, 0, len(plain)/4)
	for i := 0; i < len(plain); i += 4 {
		groups = append(groups, plain[i:min(i+4, len(plain))])
	}
	enr := Enrollment{Code: strings.Join(groups, "-"), Expires: h.now().Add(h.enrTTL).UTC()}
	b, err := json.Marshal(enrollmentRecord{V: 1, Expires: enr.Expires, Issuer: issuer.jkt, IssuerEnrolled: issuer.enrolled})
	if err != nil {
		return Enrollment{}, fmt.Errorf("encode enrolment code: %w", err)
	}
	if err := tx.PutTTL(enrollmentKey(enr.Code), b, h.enrTTL); err != nil {
		return Enrollment{}, fmt.Errorf("store enrolment code: %w", err)
	}
	return enr, nil
}

// NewEnrollmentCode issues another one-time enrolment code for the vault
// (to enrol a further device, or when the first code was lost before use).
func (h *Host) NewEnrollmentCode(ctx context.Context, vaultID string) (Enrollment, error) {
	var enr Enrollment
	err := h.update(ctx, vaultID, func(tx store.Tx) error {
		var err error
		enr, err = h.putEnrollmentCode(tx, codeIssuer{})
		return err
	})
	if err != nil {
		return Enrollment{}, fmt.Errorf("vault %s: new enrolment code: %w", vaultID, err)
	}
	return enr, nil
}

// Enroll consumes a one-time code and records key as an owner key of the
// vault, appending keyEntry (the key's self-signed "add" entry) to the
// consent ledger in the same transaction, with its audit entry. A wrong,
// used or expired code, one whose issuing owner key has been removed (or
// enrolled again) since, and a vault that does not exist, all give
// ErrEnrollmentCode. A key entry that does not extend the ledger head
// gives a *LedgerHeadError and leaves the code unspent.
func (h *Host) Enroll(ctx context.Context, vaultID, code string, key consent.PublicKey, device, keyEntry string, c Caller) (consent.Head, error) {
	if len(code) == 0 || len(code) > maxEnrollmentCodeLen {
		return consent.Head{}, ErrEnrollmentCode
	}
	now := h.now()
	var head ledgerHead
	err := h.update(ctx, vaultID, func(tx store.Tx) error {
		ekey := enrollmentKey(code)
		var rec enrollmentRecord
		if err := getJSON(tx, ekey, &rec); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return ErrEnrollmentCode
			}
			return err
		}
		if !now.Before(rec.Expires) {
			return ErrEnrollmentCode
		}
		// A code an owner key issued dies with that enrolment of the key
		// (RemoveOwnerKey deletes its codes; this refuses any left).
		if rec.Issuer != "" {
			issuer, err := loadCodeIssuer(tx, rec.Issuer)
			if errors.Is(err, ErrOwnerKeyNotFound) || (err == nil && !issuer.enrolled.Equal(rec.IssuerEnrolled)) {
				return ErrEnrollmentCode
			} else if err != nil {
				return err
			}
		}
		// Checked only once the code is: before it, the answer would tell
		// anyone whether the vault exists.
		if len(device) > maxDeviceNameLen {
			return fmt.Errorf("%w: device name longer than %d bytes", ErrInvalidArgument, maxDeviceNameLen)
		}
		if hs, err := loadHosting(tx); err != nil {
			return err
		} else if hs.Suspended {
			return ErrSuspended
		}
		if err := tx.Delete(ekey); err != nil {
			return err
		}
		var err error
		if head, err = loadLedgerHead(tx); err != nil {
			return err
		}
		if _, err := tx.Get(prefixOwner + key.Thumbprint()); err == nil {
			return nil // already an owner key: the code is spent, nothing else changes
		}
		n := 0
		if err := tx.Scan(prefixOwner, "", MaxOwnerKeys+1, func(string, []byte) error { n++; return nil }); err != nil {
			return err
		}
		if n >= MaxOwnerKeys {
			return ErrTooManyOwnerKeys
		}
		e, err := checkKeyEntry(keyEntry, key, head)
		if err != nil {
			return err
		}
		if head, err = appendLedger(tx, e); err != nil {
			return err
		}
		if err := putJSON(tx, prefixOwner+key.Thumbprint(), ownerRecord{V: 1, JWK: key.JSON(), Device: device, Enrolled: now.UTC()}); err != nil {
			return err
		}
		if err := h.appendChange(tx, changeRecord{V: 1, Kind: "key", By: key.Thumbprint()}); err != nil {
			return err
		}
		return h.appendAudit(tx, vaultID, c, nil, nil, audit.OutcomeOK)
	})
	if errors.Is(err, ErrVaultNotFound) {
		return consent.Head{}, ErrEnrollmentCode
	}
	if err != nil {
		return consent.Head{}, fmt.Errorf("enrol: %w", err)
	}
	h.log.Info("owner key enrolled", "vault", vaultID, "jkt", key.Thumbprint())
	return head.consent(), nil
}

// LedgerHeadError reports a ledger entry that does not extend the head;
// Head is the head it must extend. It wraps consent.ErrLedgerConflict.
type LedgerHeadError struct {
	// Head is the ledger's current head.
	Head consent.Head
	// Reason says how the entry misses it.
	Reason string
}

func (e *LedgerHeadError) Error() string {
	if e.Reason != "" {
		return "entry does not extend the ledger head: " + e.Reason
	}
	return fmt.Sprintf("entry does not extend the ledger head (seq %d)", e.Head.Seq)
}

// Unwrap returns consent.ErrLedgerConflict.
func (e *LedgerHeadError) Unwrap() error { return consent.ErrLedgerConflict }

// checkKeyEntry parses an owner key's self-signed "add" entry and checks
// that it names key, is signed by it, and extends head.
func checkKeyEntry(compact string, key consent.PublicKey, head ledgerHead) (*consent.LedgerEntry, error) {
	if compact == "" {
		return nil, fmt.Errorf("%w: enrolment needs the key's ledger entry (%s)", ErrInvalidArgument, consent.KeyEntryType)
	}
	e, err := consent.ParseLedgerEntry(compact)
	if err != nil {
		return nil, err
	}
	if e.Type != consent.KeyEntryType || e.Key == nil || e.Key.Op != consent.KeyOpAdd || e.Key.JKT != key.Thumbprint() {
		return nil, fmt.Errorf("%w: the key entry must add the enrolling key", ErrInvalidArgument)
	}
	if _, err := e.VerifySignature([]consent.PublicKey{key}); err != nil {
		return nil, err
	}
	if err := head.consent().Next(e); err != nil {
		return nil, &LedgerHeadError{Head: head.consent(), Reason: strings.TrimPrefix(err.Error(), consent.ErrLedgerConflict.Error()+": ")}
	}
	return e, nil
}

// OwnerKeys returns the vault's owner keys in thumbprint order.
func (h *Host) OwnerKeys(ctx context.Context, vaultID string) ([]OwnerKey, error) {
	var keys []OwnerKey
	err := h.view(ctx, vaultID, func(tx store.Tx) error {
		var err error
		keys, err = ownerKeys(tx)
		return err
	})
	return keys, err
}

func ownerKeys(tx store.Tx) ([]OwnerKey, error) {
	var keys []OwnerKey
	err := tx.Scan(prefixOwner, "", MaxOwnerKeys, func(k string, v []byte) error {
		ok, err := decodeOwner(v)
		if err != nil {
			return fmt.Errorf("owner key %s: %w", k, err)
		}
		keys = append(keys, ok)
		return nil
	})
	return keys, err
}

func decodeOwner(b []byte) (OwnerKey, error) {
	var rec ownerRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return OwnerKey{}, fmt.Errorf("decode owner key: %w", err)
	}
	pub, err := consent.ParsePublicKey([]byte(rec.JWK))
	if err != nil {
		return OwnerKey{}, err
	}
	return OwnerKey{Key: pub, Device: rec.Device, Enrolled: rec.Enrolled}, nil
}

// validJKT reports whether s has the shape of a key thumbprint (43
// base64url characters), so that no other string reaches a store key.
func validJKT(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// ReplayCache returns the vault's replay cache of proof jti values. It
// lives in the store with a TTL, so it survives a restart; the check and
// the record are one transaction, so of two concurrent uses of a jti one
// fails.
func (h *Host) ReplayCache(vaultID string) consent.ReplayCache {
	return replayCache{h: h, vault: vaultID}
}

type replayCache struct {
	h        *Host
	vault    string
	internal bool // the host's own state vault, not a customer's
}

func (c replayCache) Remember(ctx context.Context, jkt, jti string, until time.Time) error {
	update := c.h.update
	if c.internal {
		update = func(ctx context.Context, vault string, fn func(store.Tx) error) error {
			return mapStoreErr(c.h.store.Update(ctx, vault, func(tx store.Tx) error { return fn(tagged(tx, true)) }))
		}
	}
	return update(ctx, c.vault, func(tx store.Tx) error {
		err := rememberProof(tx, c.h.now(), ProofUse{JKT: jkt, JTI: jti, Until: until})
		if errors.Is(err, consent.ErrReplayed) {
			return refuse(err) // nothing written: the rest of a group goes on
		}
		return err
	})
}

// rememberProof records a proof's jti in the vault's replay cache in tx,
// or returns consent.ErrReplayed if it is there already.
func rememberProof(tx store.Tx, now time.Time, p ProofUse) error {
	key := prefixReplay + p.JKT + "/" + p.JTI
	if _, err := tx.Get(key); err == nil {
		return consent.ErrReplayed
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	ttl := p.Until.Sub(now)
	if ttl < time.Second {
		ttl = time.Second
	}
	return tx.PutTTL(key, []byte{1}, ttl)
}

// rememberCallerProof records c.Proof, if set, in tx; a jti already used
// is refused as an invalid proof.
func rememberCallerProof(tx store.Tx, now time.Time, c Caller) error {
	if c.Proof == nil {
		return nil
	}
	err := rememberProof(tx, now, *c.Proof)
	if errors.Is(err, consent.ErrReplayed) {
		return &consent.ProofError{Reason: "jti already used"}
	}
	return err
}

// RememberFailedCallProof records c.Proof, if set, in a transaction of
// its own after the call failed (in its transaction, or before it, on a
// bad argument): a jti the vault has seen is
// refused from then on, whatever became of the call (PROTOCOL.md
// section 2), so that a proof whose call failed cannot be used for
// another. Its own failure is logged; the call's error is what the caller
// gets either way.
func (h *Host) RememberFailedCallProof(ctx context.Context, vaultID string, c Caller, callErr error) {
	// A call refused with ErrKeyChanged is admitted again and runs once
	// more with the same proof.
	if c.Proof == nil || errors.Is(callErr, consent.ErrInvalidProof) || errors.Is(callErr, ErrVaultNotFound) || errors.Is(callErr, ErrKeyChanged) {
		return
	}
	err := h.ReplayCache(vaultID).Remember(context.WithoutCancel(ctx), c.Proof.JKT, c.Proof.JTI, c.Proof.Until)
	if err != nil && !errors.Is(err, consent.ErrReplayed) {
		h.log.Warn("record the jti of a failed call", "vault", vaultID, "error", err)
	}
}

// ProofUse is an accepted proof's jti that the call's own transaction is
// to record in the replay cache (Caller.Proof), saving the separate
// commit of a ReplayCache.
type ProofUse struct {
	// JKT is the proof key's thumbprint.
	JKT string
	// JTI is the proof's jti.
	JTI string
	// Until is when the record may be forgotten.
	Until time.Time
}

// DeferredReplay is a consent.ReplayCache that records nothing itself: it
// keeps the jti for the call's own transaction, which must record it
// (Caller.Proof) before it answers. Only calls documented to do so take
// one (ReadProfile).
type DeferredReplay struct {
	use *ProofUse
}

// Remember implements consent.ReplayCache: it keeps the jti.
func (d *DeferredReplay) Remember(_ context.Context, jkt, jti string, until time.Time) error {
	d.use = &ProofUse{JKT: jkt, JTI: jti, Until: until}
	return nil
}

// Use returns the kept jti, nil if none.
func (d *DeferredReplay) Use() *ProofUse { return d.use }
