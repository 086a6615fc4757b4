package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/audit"
)

// proofFrom returns the one vrm-proof metadata value of the call. No
// proof, or more than one, is refused as an invalid proof.
func proofFrom(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(consent.ProofMetadataKey)
	switch len(vals) {
	case 0:
		return "", &consent.ProofError{Reason: "missing (" + consent.ProofMetadataKey + " metadata)"}
	case 1:
		return vals[0], nil
	default:
		return "", &consent.ProofError{Reason: "more than one " + consent.ProofMetadataKey + " metadata entry"}
	}
}

// grpcMethod returns the full method name of the call.
func grpcMethod(ctx context.Context) (string, bool) { return grpc.Method(ctx) }

// verifyProof checks the call's proof for the vault (aud) and the call's
// method (htm), records its jti in replay (the vault's replay cache when
// nil), and returns it with the method.
func (s *Server) verifyProof(ctx context.Context, vaultID string, mode consent.KeyMode, keys consent.KeyResolver, replay consent.ReplayCache) (*consent.VerifiedProof, string, error) {
	method, ok := grpc.Method(ctx)
	if !ok {
		return nil, "", errors.New("server: no method in context")
	}
	proof, err := proofFrom(ctx)
	if err != nil {
		return nil, "", err
	}
	if replay == nil {
		replay = s.host.ReplayCache(vaultID)
	}
	v := &consent.ProofVerifier{Now: s.now, Skew: s.skew, Replay: replay}
	p, err := v.Verify(ctx, proof, consent.Expect{Aud: vaultID, Method: method, Mode: mode, Keys: keys})
	if err != nil {
		return nil, "", err
	}
	return p, method, nil
}

// authKID admits a call whose proof names (kid) a key of the vault with
// the given role. A vault that does not exist and a key it does not know
// get the same answer (UNAUTHENTICATED, unknown key); a known key of the
// other role gets PERMISSION_DENIED.
func (s *Server) authKID(ctx context.Context, vaultID, role string, replay consent.ReplayCache) (vault.Caller, error) {
	return s.authKIDFrom(ctx, s.host.NewKeyResolver(vaultID), role, replay)
}

// authKIDFrom is authKID with the resolver r of the call's vault.
func (s *Server) authKIDFrom(ctx context.Context, r *vault.KeyResolver, role string, replay consent.ReplayCache) (vault.Caller, error) {
	vaultID := r.Vault()
	p, method, err := s.verifyProof(ctx, vaultID, consent.KeyByID, r, replay)
	if err != nil {
		return vault.Caller{}, err
	}
	if r.Role != role {
		return vault.Caller{}, fmt.Errorf("%w: this call is for the vault's %s", errPermission, role)
	}
	if r.Suspended {
		return vault.Caller{}, vault.ErrSuspended
	}
	if err := s.checkRates(vaultID, role, p.Key.Thumbprint(), r.Quota); err != nil {
		return vault.Caller{}, err
	}
	return vault.Caller{JKT: p.Key.Thumbprint(), Role: role, Method: method, Quota: r.Quota, Key: r.Check}, nil
}

// authOwner admits a call signed by one of the vault's owner keys.
func (s *Server) authOwner(ctx context.Context, vaultID string) (vault.Caller, error) {
	return s.authKID(ctx, vaultID, audit.RoleOwner, nil)
}

// authBrand admits a call signed by a brand key the vault knows.
func (s *Server) authBrand(ctx context.Context, vaultID string) (vault.Caller, error) {
	return s.authKID(ctx, vaultID, audit.RoleBrand, nil)
}

// authDeferred admits a call like authOwner or authBrand (by role), but
// leaves the proof's jti for the call's own transaction to record
// (Caller.Proof): one synced commit per call instead of two. Its key may
// come from the keys the host remembers (KeyResolver.MemoRole), without a
// transaction of its own; the call's transaction then confirms it
// (Caller.Key). Only for the Host methods documented to do both
// (ReadProfile, UpdateProfile); run them with deferredCall.
func (s *Server) authDeferred(ctx context.Context, vaultID, role string, memo bool) (vault.Caller, error) {
	var replay vault.DeferredReplay
	r := s.host.NewKeyResolver(vaultID)
	r.WantCheck = true // the call's transaction confirms the key, however resolved
	if memo {
		r.MemoRole = role
	}
	c, err := s.authKIDFrom(ctx, r, role, &replay)
	if err != nil {
		// Refused after its proof was accepted (other role, suspended,
		// rate): the jti is seen all the same.
		s.host.RememberFailedCallProof(ctx, vaultID, vault.Caller{Proof: replay.Use()}, err)
		return vault.Caller{}, err
	}
	if c.Proof = replay.Use(); c.Proof == nil {
		return vault.Caller{}, errors.New("server: proof accepted without its jti")
	}
	return c, nil
}

// deferredCall admits the call with authDeferred and runs call with its
// caller. If the call's transaction found the key it was admitted with
// changed (vault.ErrKeyChanged: the host remembered an older one) or the
// vault gone, the key is forgotten, the call admitted again from the
// store, and run once more; the proof's jti was not recorded by the
// refused attempt. The second attempt's transaction confirms its key too.
func (s *Server) deferredCall(ctx context.Context, vaultID, role string, call func(vault.Caller) error) error {
	c, err := s.authDeferred(ctx, vaultID, role, true)
	if err != nil {
		return err
	}
	// A vault destroyed since its key was remembered is, like a changed
	// key, decided again on the store: the caller then gets exactly the
	// answer of a vault that does not exist (unknown key).
	if err = call(c); !errors.Is(err, vault.ErrKeyChanged) && !errors.Is(err, vault.ErrVaultNotFound) {
		return err
	}
	s.host.ForgetKey(vaultID, c.JKT)
	if c, err = s.authDeferred(ctx, vaultID, role, false); err != nil {
		return err
	}
	if err = call(c); errors.Is(err, vault.ErrKeyChanged) {
		// Changed again: the caller gets ABORTED, and the jti is spent
		// like that of any call that failed.
		s.host.RememberFailedCallProof(ctx, vaultID, vault.Caller{Proof: c.Proof}, errAbortedTwice)
	}
	return err
}

// errAbortedTwice marks a call whose key changed under both its attempts.
var errAbortedTwice = errors.New("server: key changed under both attempts")

// authFirstContact admits a first-contact call: the proof carries the
// caller's key as jwk.
func (s *Server) authFirstContact(ctx context.Context, vaultID, role string) (consent.PublicKey, vault.Caller, error) {
	p, method, err := s.verifyProof(ctx, vaultID, consent.KeyEmbedded, nil, nil)
	if err != nil {
		return consent.PublicKey{}, vault.Caller{}, err
	}
	return p.Key, vault.Caller{JKT: p.Key.Thumbprint(), Role: role, Method: method}, nil
}
