package server

import (
	"context"

	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault"
)

// vaultInfoService is VaultInfoService: public, no proof.
type vaultInfoService struct {
	vrmv1.UnimplementedVaultInfoServiceServer
	s *Server
}

func (v *vaultInfoService) GetVaultDescriptor(ctx context.Context, req *vrmv1.GetVaultDescriptorRequest) (*vrmv1.GetVaultDescriptorResponse, error) {
	s := v.s
	d, err := s.host.Descriptor(ctx, req.GetVaultId())
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	resp := &vrmv1.GetVaultDescriptorResponse{
		VaultId:          d.VaultID,
		VaultJwk:         d.VaultKey.JSON(),
		ProtocolVersion:  vault.ProtocolVersion,
		Limits:           limitsProto(s.host),
		SignedDescriptor: d.Signed,
	}
	for _, k := range d.OwnerKeys {
		resp.OwnerJwks = append(resp.OwnerJwks, k.JSON())
	}
	return resp, nil
}
