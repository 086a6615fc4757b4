package consent

import (
	"errors"
	"fmt"
	"time"
)

// DecisionSkew is the accepted distance between the iat of an owner's
// record or revocation and the vault's clock when the vault receives it.
// It is wider than the proof skew because a person signs it, possibly on
// a device whose clock is off by a little.
const DecisionSkew = 5 * time.Minute

// durationSlack is what a grant may exceed the requested duration by, to
// absorb rounding to seconds and the time between reading a request and
// signing the record.
const durationSlack = time.Minute

// ErrRequestExpired is returned by CheckDecision for a decision on a
// request past its pending expiry.
var ErrRequestExpired = errors.New("access request expired")

// RequestFacts is what the vault knows of the access request that a
// record decides.
type RequestFacts struct {
	// ID is the request id.
	ID string
	// Vault is the vault id.
	Vault string
	// BrandJKT is the requesting brand's key thumbprint.
	BrandJKT string
	// Subject is the pairwise subject of the customer for that brand.
	Subject string
	// Scopes are the requested scopes.
	Scopes []Scope
	// Purposes are the requested purposes.
	Purposes []string
	// Duration is the requested duration.
	Duration time.Duration
	// Expires is when the pending request expires.
	Expires time.Time
}

// CheckDecision checks a consent record (already parsed and signature
// checked) against the request it decides, at the vault's time now. It
// refuses, with a *RecordError naming the reason:
//   - a record of the wrong shape (as ParseLedgerEntry);
//   - rid, vault, brand or sub that do not match the request;
//   - iat more than DecisionSkew away from now;
//   - for a grant: a scope that no requested scope contains (the owner may
//     narrow, never widen), a purpose not requested, no exp, exp already
//     past, or a span from max(nbf, iat) to exp longer than the requested
//     duration (plus a minute of slack).
//
// A denial needs no scopes and no exp. A decision on a request whose
// pending expiry has passed is refused with ErrRequestExpired; so is one
// whose RequestFacts have no Expires (fail closed).
func CheckDecision(rec RecordClaims, req RequestFacts, now time.Time) error {
	if err := checkRecord(&rec); err != nil {
		return err
	}
	if req.Expires.IsZero() {
		return fmt.Errorf("%w: the request has no pending expiry", ErrRequestExpired)
	}
	if !now.Before(req.Expires) {
		return fmt.Errorf("%w at %s", ErrRequestExpired, req.Expires.UTC().Format(time.RFC3339))
	}
	switch {
	case rec.RID != req.ID:
		return recordErr("rid does not match the request")
	case rec.Vault != req.Vault:
		return recordErr("vault does not match the request")
	case rec.Brand != req.BrandJKT:
		return recordErr("brand does not match the request")
	case rec.Sub != req.Subject:
		return recordErr("sub is not the pairwise subject for this brand")
	}
	if err := checkIat(rec.Iat, now); err != nil {
		return err
	}
	if rec.Status != StatusGranted {
		return nil
	}
	granted, err := ParseScopes(rec.Scopes)
	if err != nil { // checkRecord parsed them already
		return recordErr("%v", err)
	}
	for _, g := range granted {
		if !anyContains(req.Scopes, g) {
			return recordErr("scope %s is broader than the request", g)
		}
	}
	for _, p := range rec.Purposes {
		if !contains(req.Purposes, p) {
			return recordErr("purpose %s was not requested", p)
		}
	}
	if rec.Exp == 0 {
		return recordErr("a grant needs exp")
	}
	if rec.Exp <= now.Unix() {
		return recordErr("exp is already past")
	}
	if req.Duration <= 0 {
		return recordErr("the request has no duration")
	}
	start := max(rec.Nbf, rec.Iat)
	limit := int64((req.Duration + durationSlack) / time.Second)
	if rec.Exp-start > limit {
		return recordErr("exp is beyond the requested duration of %s", req.Duration)
	}
	return nil
}

func anyContains(scopes []Scope, o Scope) bool {
	for _, s := range scopes {
		if s.Contains(o) {
			return true
		}
	}
	return false
}

// checkIat refuses an iat more than DecisionSkew away from now.
func checkIat(iat int64, now time.Time) error {
	t := time.Unix(iat, 0)
	if t.Before(now.Add(-DecisionSkew)) {
		return recordErr("iat is more than %s before the vault's clock", DecisionSkew)
	}
	if t.After(now.Add(DecisionSkew)) {
		return recordErr("iat is more than %s after the vault's clock", DecisionSkew)
	}
	return nil
}

// CheckRevocation checks a revocation (already parsed and signature
// checked) of the consent consentID at the vault's time now: well formed,
// naming that consent, iat within DecisionSkew of now. Whether the
// consent exists, was granted and is not yet revoked is the caller's to
// check (LedgerState.Apply does it for a whole ledger).
func CheckRevocation(rev RevocationClaims, consentID string, now time.Time) error {
	if err := checkRevocation(&rev); err != nil {
		return err
	}
	if rev.CID != consentID {
		return recordErr("revocation names another consent")
	}
	return checkIat(rev.Iat, now)
}
