package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault/audit"
	"github.com/vrmvault/vrmvault/vault/store"
)

// MaxLiveEnrollmentCodes bounds the unused, unexpired enrolment codes a
// vault holds when an owner asks for another (IssueEnrollmentCode): more
// codes than devices a vault may have serve no one.
const MaxLiveEnrollmentCodes = MaxOwnerKeys

// errEnoughCodes stops the count of live enrolment codes at the limit.
var errEnoughCodes = errors.New("enough live enrolment codes counted")

// IssueEnrollmentCode issues a one-time enrolment code for another device
// of the owner c: the same code store, hashing and TTL as the codes the
// host issues (NewEnrollmentCode), spent by Enroll. The code belongs to
// c's owner key as enrolled now: removing that key voids it, and so does
// enrolling the same key again. A caller whose key is no owner key (any
// more) gets ErrKeyChanged. The audit entry is written in the same
// transaction. A vault with MaxOwnerKeys owner keys
// gives ErrTooManyOwnerKeys, and one holding MaxLiveEnrollmentCodes
// unused codes ErrLimit; a suspended vault gives ErrSuspended.
func (h *Host) IssueEnrollmentCode(ctx context.Context, vaultID string, c Caller) (Enrollment, error) {
	now := h.now()
	var enr Enrollment
	err := h.update(ctx, vaultID, func(tx store.Tx) error {
		if hs, err := loadHosting(tx); err != nil {
			return err
		} else if hs.Suspended {
			return ErrSuspended
		}
		keys := 0
		if err := tx.Scan(prefixOwner, "", MaxOwnerKeys+1, func(string, []byte) error { keys++; return nil }); err != nil {
			return err
		}
		if keys >= MaxOwnerKeys {
			return fmt.Errorf("%w: the vault has %d owner keys, limit is %d (owner keys); remove one before enrolling another device", ErrTooManyOwnerKeys, keys, MaxOwnerKeys)
		}
		// Count the live codes, stopping at the limit: the host may have
		// issued more (NewEnrollmentCode is not bounded here).
		live := 0
		err := scanEnrollmentCodes(tx, func(_ string, rec enrollmentRecord) error {
			if now.Before(rec.Expires) {
				live++
			}
			if live >= MaxLiveEnrollmentCodes {
				return errEnoughCodes
			}
			return nil
		})
		if err != nil && !errors.Is(err, errEnoughCodes) {
			return err
		}
		if live >= MaxLiveEnrollmentCodes {
			return fmt.Errorf("%w: the vault holds %d unused enrolment codes, limit is %d (enrolment codes); use one or let it expire", ErrLimit, live, MaxLiveEnrollmentCodes)
		}
		// The code belongs to the caller's enrolment, read here: a
		// removal committed since the caller was admitted makes this
		// fail (or, in a shared transaction, conflict).
		issuer, err := loadCodeIssuer(tx, c.JKT)
		if errors.Is(err, ErrOwnerKeyNotFound) {
			return fmt.Errorf("%w: the calling key is no longer an owner key", ErrKeyChanged)
		} else if err != nil {
			return err
		}
		if enr, err = h.putEnrollmentCode(tx, issuer); err != nil {
			return err
		}
		// A change row makes concurrent issues conflict, so the counts
		// above hold.
		if err := h.appendChange(tx, changeRecord{V: 1, Kind: "code", By: c.JKT}); err != nil {
			return err
		}
		return h.appendAudit(tx, vaultID, c, nil, nil, audit.OutcomeOK)
	})
	if err != nil {
		return Enrollment{}, fmt.Errorf("vault %s: issue enrolment code: %w", vaultID, err)
	}
	h.log.Info("enrolment code issued by an owner", "vault", vaultID, "jkt", c.JKT)
	return enr, nil
}

// RemoveOwnerKey removes the owner key jkt on the strength of keyEntry, an
// owner-key "remove" entry naming jkt, signed by an owner key in force
// (another device's, or jkt itself) and extending the ledger head. In one
// transaction it appends the entry to the consent ledger, deletes the key
// and writes the audit entry; from its commit the key is unknown to the
// vault; the unused enrolment codes it issued are deleted (and Enroll
// refuses any left). The rules are those of consent.LedgerState.Apply, so
// the ledger stays verifiable: an entry that is not a remove of jkt is
// ErrInvalidArgument, a signature by a key that is no owner key a
// consent.RecordError, a jkt that is no owner key ErrOwnerKeyNotFound,
// the last owner key ErrLastOwnerKey, and an entry that does not extend
// the head a *LedgerHeadError. Any refusal leaves the ledger and the keys
// unchanged.
func (h *Host) RemoveOwnerKey(ctx context.Context, vaultID string, c Caller, jkt, keyEntry string) (consent.Head, error) {
	e, err := checkRemoveEntry(jkt, keyEntry)
	if err != nil {
		return consent.Head{}, fmt.Errorf("vault %s: remove owner key: %w", vaultID, err)
	}
	var head ledgerHead
	err = h.update(ctx, vaultID, func(tx store.Tx) error {
		if hs, err := loadHosting(tx); err != nil {
			return err
		} else if hs.Suspended {
			return ErrSuspended
		}
		owners, err := ownerPublicKeys(tx)
		if err != nil {
			return err
		}
		if _, err := e.VerifySignature(owners); err != nil {
			return err
		}
		if _, err := tx.Get(prefixOwner + jkt); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrOwnerKeyNotFound, jkt)
		} else if err != nil {
			return err
		}
		if len(owners) <= 1 {
			return ErrLastOwnerKey
		}
		if head, err = appendLedger(tx, e); err != nil {
			return err
		}
		if err := tx.Delete(prefixOwner + jkt); err != nil {
			return err
		}
		if err := deleteCodesIssuedBy(tx, jkt); err != nil {
			return err
		}
		if err := h.appendChange(tx, changeRecord{V: 1, Kind: "key", By: c.JKT}); err != nil {
			return err
		}
		return h.appendAudit(tx, vaultID, c, nil, nil, audit.OutcomeOK)
	})
	if err != nil {
		return consent.Head{}, fmt.Errorf("vault %s: remove owner key: %w", vaultID, err)
	}
	h.log.Info("owner key removed", "vault", vaultID, "jkt", c.JKT, "removed", jkt)
	return head.consent(), nil
}

// checkRemoveEntry parses an owner-key "remove" entry and checks that it
// removes jkt. Its signature is checked in the transaction, against the
// owner keys in force.
func checkRemoveEntry(jkt, compact string) (*consent.LedgerEntry, error) {
	if !validJKT(jkt) {
		return nil, fmt.Errorf("%w: jkt must be a key thumbprint (43 base64url characters)", ErrInvalidArgument)
	}
	if compact == "" {
		return nil, fmt.Errorf("%w: removing an owner key needs its ledger entry (%s, op %s)", ErrInvalidArgument, consent.KeyEntryType, consent.KeyOpRemove)
	}
	e, err := consent.ParseLedgerEntry(compact)
	if err != nil {
		return nil, err
	}
	if e.Type != consent.KeyEntryType || e.Key == nil || e.Key.Op != consent.KeyOpRemove {
		return nil, fmt.Errorf("%w: not an owner-key entry with op %s (typ %s)", ErrInvalidArgument, consent.KeyOpRemove, consent.KeyEntryType)
	}
	if e.Key.JKT != jkt {
		return nil, fmt.Errorf("%w: the key entry removes %s, not %s", ErrInvalidArgument, e.Key.JKT, jkt)
	}
	return e, nil
}

// deleteCodesIssuedBy deletes in tx the unused enrolment codes the owner
// key jkt issued: a removed device's codes must not enrol anyone.
func deleteCodesIssuedBy(tx store.Tx, jkt string) error {
	var issued []string
	err := scanEnrollmentCodes(tx, func(k string, rec enrollmentRecord) error {
		if rec.Issuer == jkt {
			issued = append(issued, k)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan enrolment codes: %w", err)
	}
	for _, k := range issued {
		if err := tx.Delete(k); err != nil {
			return fmt.Errorf("delete enrolment code: %w", err)
		}
	}
	return nil
}

// scanEnrollmentCodes calls fn with the key and record of every unused,
// unexpired enrolment code of the vault in tx.
func scanEnrollmentCodes(tx store.Tx, fn func(key string, rec enrollmentRecord) error) error {
	return tx.Scan(prefixEnrollment, "", 0, func(k string, v []byte) error {
		var rec enrollmentRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("enrolment code %s: %w", k, err)
		}
		return fn(k, rec)
	})
}
