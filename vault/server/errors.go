package server

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/store"
)

// errPermission is a valid proof without the right to the call.
var errPermission = errors.New("permission denied")

// statusFor turns an error of the domain into the gRPC status the caller
// sees. It is the only place where codes are chosen. Messages name the
// reason (a rule, a path, a limit) and never a value; an error it does not
// know is logged and answered with a bare INTERNAL.
func (s *Server) statusFor(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err // already a status (from a conversion check)
	}
	var (
		fieldErr *profile.FieldError
		pathErr  *vault.PathError
		proofErr *consent.ProofError
		headErr  *vault.LedgerHeadError
	)
	switch {
	case errors.As(err, &proofErr):
		return status.Error(codes.Unauthenticated, proofErr.Error())
	case errors.Is(err, vault.ErrSuspended):
		return status.Error(codes.FailedPrecondition, vault.ErrSuspended.Error())
	case errors.Is(err, errShuttingDown):
		return status.Error(codes.Unavailable, "vault shutting down")
	case errors.Is(err, vault.ErrCursorAhead):
		return status.Error(codes.InvalidArgument, innermost(err, vault.ErrCursorAhead))
	case errors.Is(err, vault.ErrNotPermitted):
		return status.Error(codes.PermissionDenied, innermost(err, vault.ErrNotPermitted))
	case errors.Is(err, errPermission):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, vault.ErrEnrollmentCode):
		return status.Error(codes.PermissionDenied, vault.ErrEnrollmentCode.Error())
	case errors.As(err, &fieldErr):
		return status.Error(codes.InvalidArgument, fieldErr.Error())
	case errors.As(err, &pathErr):
		code := codes.InvalidArgument
		switch {
		case errors.Is(err, vault.ErrVersionConflict):
			code = codes.Aborted
		case errors.Is(err, vault.ErrFieldNotFound):
			code = codes.NotFound
		case errors.Is(err, vault.ErrFieldShape):
			code = codes.FailedPrecondition
		}
		return status.Error(code, pathErr.Error())
	case errors.As(err, &headErr):
		st, derr := status.New(codes.FailedPrecondition, headErr.Error()).WithDetails(headProto(headErr.Head))
		if derr != nil {
			return status.Error(codes.FailedPrecondition, headErr.Error())
		}
		return st.Err()
	case errors.Is(err, vault.ErrConsentRevoked), errors.Is(err, vault.ErrConsentExpired), errors.Is(err, vault.ErrNoConsent):
		return status.Error(codes.PermissionDenied, innermost(err, vault.ErrConsentRevoked, vault.ErrConsentExpired, vault.ErrNoConsent))
	case errors.Is(err, vault.ErrRequestNotFound):
		return status.Error(codes.NotFound, vault.ErrRequestNotFound.Error())
	case errors.Is(err, vault.ErrConsentNotFound):
		return status.Error(codes.NotFound, vault.ErrConsentNotFound.Error())
	case errors.Is(err, vault.ErrOwnerKeyNotFound):
		return status.Error(codes.NotFound, innermost(err, vault.ErrOwnerKeyNotFound))
	case errors.Is(err, vault.ErrLastOwnerKey):
		return status.Error(codes.FailedPrecondition, vault.ErrLastOwnerKey.Error())
	case errors.Is(err, vault.ErrRequestDecided):
		return status.Error(codes.FailedPrecondition, innermost(err, vault.ErrRequestDecided))
	case errors.Is(err, consent.ErrRequestExpired):
		return status.Error(codes.FailedPrecondition, innermost(err, consent.ErrRequestExpired))
	case errors.Is(err, consent.ErrInvalidRecord), errors.Is(err, consent.ErrInvalidScope),
		errors.Is(err, consent.ErrInvalidPurpose), errors.Is(err, consent.ErrInvalidRequest):
		return status.Error(codes.InvalidArgument, innermost(err, consent.ErrInvalidRecord, consent.ErrInvalidScope,
			consent.ErrInvalidPurpose, consent.ErrInvalidRequest))
	case errors.Is(err, vault.ErrLimit):
		return status.Error(codes.ResourceExhausted, innermost(err, vault.ErrLimit))
	case errors.Is(err, vault.ErrQuota), errors.Is(err, vault.ErrTooManyOwnerKeys):
		return status.Error(codes.ResourceExhausted, innermost(err, vault.ErrQuota, vault.ErrTooManyOwnerKeys))
	case errors.Is(err, vault.ErrInvalidArgument):
		return status.Error(codes.InvalidArgument, innermost(err, vault.ErrInvalidArgument))
	case errors.Is(err, vault.ErrVaultNotFound):
		return status.Error(codes.NotFound, "vault not found")
	case errors.Is(err, store.ErrConflict):
		return status.Error(codes.Aborted, "too many concurrent writes to this vault; try again")
	case errors.Is(err, vault.ErrKeyChanged):
		return status.Error(codes.Aborted, "the caller's key or the vault's hosting settings changed during the call; sign a new proof and try again")
	case errors.Is(err, store.ErrTooLarge):
		return status.Error(codes.ResourceExhausted, "write too large for the store")
	case errors.Is(err, store.ErrNoSpace):
		// The detail (paths, sizes) is in the operator's log (vaultd).
		return status.Error(codes.ResourceExhausted, "the vault's host is out of disk space: nothing was stored; try again later")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "call canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	s.log.ErrorContext(ctx, "internal error", slog.String("error", err.Error()))
	return status.Error(codes.Internal, "internal error")
}

// innermost returns the message from the first of the sentinels onwards:
// the wrapping context (vault id, operation) is for logs, the sentinel and
// its detail for the caller.
func innermost(err error, sentinels ...error) string {
	msg := err.Error()
	for _, s := range sentinels {
		if i := strings.Index(msg, s.Error()); i >= 0 {
			return msg[i:]
		}
	}
	return msg
}
