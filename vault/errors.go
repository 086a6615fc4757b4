package vault

import (
	"errors"
	"fmt"
)

// Sentinel errors of the vault domain. Package vault/server maps each to a
// gRPC status code in one place; profile validation errors (package
// profile) pass through unchanged.
var (
	// ErrInvalidArgument: a request argument outside the domain's rules
	// (the wrapping error names it).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrVaultNotFound: no such vault. Callers that must not reveal whether
	// a vault exists answer it exactly as an unknown key or a bad code.
	ErrVaultNotFound = errors.New("vault not found")
	// ErrEnrollmentCode: the enrolment code is wrong, used or expired
	// (one error for all three, so the answer is no oracle).
	ErrEnrollmentCode = errors.New("enrolment code invalid, used or expired")
	// ErrTooManyOwnerKeys: the vault already has MaxOwnerKeys owner keys.
	ErrTooManyOwnerKeys = errors.New("too many owner keys")
	// ErrOwnerKeyNotFound: a removal names a key that is not an owner key
	// of the vault.
	ErrOwnerKeyNotFound = errors.New("no such owner key")
	// ErrLastOwnerKey: a removal would leave the vault without an owner
	// key.
	ErrLastOwnerKey = errors.New("cannot remove the last owner key")
	// ErrFieldNotFound: a delete names a field that does not exist.
	ErrFieldNotFound = errors.New("no such field")
	// ErrVersionConflict: an expected version did not match.
	ErrVersionConflict = errors.New("version conflict")
	// ErrQuota: a write would take the profile over its field count or
	// size limit.
	ErrQuota = errors.New("profile quota exceeded")
	// ErrLimit: a per-brand or per-vault count limit (pending requests,
	// consents) would be crossed; the wrapping error names it.
	ErrLimit = errors.New("limit exceeded")
	// ErrRequestNotFound: no such request, or not the caller's: a brand
	// gets the same answer for another brand's request, a missing one, and
	// a vault that does not exist.
	ErrRequestNotFound = errors.New("request not found")
	// ErrConsentNotFound: no such consent.
	ErrConsentNotFound = errors.New("consent not found")
	// ErrRequestDecided: the request is no longer pending, or the consent
	// no longer granted.
	ErrRequestDecided = errors.New("already decided")
	// ErrNoConsent: the brand has no active consent in this vault.
	ErrNoConsent = errors.New("no active consent")
	// ErrConsentRevoked: the brand's consent was revoked.
	ErrConsentRevoked = errors.New("consent revoked")
	// ErrConsentExpired: the brand's consent expired.
	ErrConsentExpired = errors.New("consent expired")
	// ErrFieldShape: a write would make a path both a field and a group of
	// fields (a.b set while a.b.c exists, or the other way round).
	ErrFieldShape = errors.New("path conflicts with the profile's tree")
)

// PathError is an error about one path of a batch. Its message is one line
// naming the path and never the value.
type PathError struct {
	// Path is the field's path.
	Path string
	// Detail says what is wrong.
	Detail string
	// Err is the sentinel: ErrFieldNotFound, ErrVersionConflict,
	// ErrFieldShape.
	Err error
}

func (e *PathError) Error() string { return fmt.Sprintf("%s: %s", e.Path, e.Detail) }

// Unwrap returns the sentinel.
func (e *PathError) Unwrap() error { return e.Err }
