package server

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/vrmvault/vrmvault/consent"
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

// verifyProof checks the call's proof for the vault (aud) and the call's
// method (htm), records its jti, and returns it.
func (s *Server) verifyProof(ctx context.Context, vaultID string, mode consent.KeyMode, keys consent.KeyResolver) (*consent.VerifiedProof, error) {
	method, ok := grpc.Method(ctx)
	if !ok {
		return nil, fmt.Errorf("server: no method in context")
	}
	proof, err := proofFrom(ctx)
	if err != nil {
		return nil, err
	}
	v := &consent.ProofVerifier{Now: s.now, Skew: s.skew, Replay: s.host.ReplayCache(vaultID)}
	return v.Verify(ctx, proof, consent.Expect{Aud: vaultID, Method: method, Mode: mode, Keys: keys})
}

// authOwner admits a call signed by one of the vault's owner keys and
// returns the key's thumbprint. A vault that does not exist and a key that
// is not an owner's get the same answer.
func (s *Server) authOwner(ctx context.Context, vaultID string) (string, error) {
	p, err := s.verifyProof(ctx, vaultID, consent.KeyByID, s.host.OwnerKeyResolver(vaultID))
	if err != nil {
		return "", err
	}
	return p.Key.Thumbprint(), nil
}
