package server

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/audit"
)

// brandService is BrandService: brands' calls. Watches and contributions
// answer UNIMPLEMENTED until the live issue.
type brandService struct {
	vrmv1.UnimplementedBrandServiceServer
	s *Server
}

func (b *brandService) RequestAccess(ctx context.Context, req *vrmv1.RequestAccessRequest) (*vrmv1.RequestAccessResponse, error) {
	s := b.s
	key, caller, err := s.authFirstContact(ctx, req.GetVaultId(), audit.RoleBrand)
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	if err := req.GetDuration().CheckValid(); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "duration: %v", err)
	}
	scopes, err := consent.ParseScopes(req.GetScopes())
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	purposes, err := consent.ParsePurposes(req.GetPurposes())
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	ar := consent.AccessRequest{
		BrandName: req.GetBrandName(), BrandURL: req.GetBrandUrl(), Scopes: scopes,
		Purposes: purposes, Duration: req.GetDuration().AsDuration(), Reason: req.GetReason(),
	}
	r, err := s.host.RequestAccess(ctx, req.GetVaultId(), caller, key, ar)
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	return &vrmv1.RequestAccessResponse{Request: requestProto(r)}, nil
}

func (b *brandService) GetConsent(ctx context.Context, req *vrmv1.GetConsentRequest) (*vrmv1.GetConsentResponse, error) {
	s := b.s
	caller, err := s.authBrand(ctx, req.GetVaultId())
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	v, err := s.host.BrandRequest(ctx, req.GetVaultId(), caller.JKT, req.GetRequestId())
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	resp := &vrmv1.GetConsentResponse{Request: requestProto(v.Request)}
	if v.Consent != nil {
		resp.Consent = consentProto(*v.Consent, s.now())
	}
	return resp, nil
}

func (b *brandService) ReadProfile(ctx context.Context, req *vrmv1.ReadProfileRequest) (*vrmv1.ReadProfileResponse, error) {
	s := b.s
	var (
		fields []vault.StoredField
		sub    string
	)
	err := s.deferredCall(ctx, req.GetVaultId(), audit.RoleBrand, func(caller vault.Caller) error {
		sel, err := vault.ParseSelectors(req.GetPaths(), s.host.Limits().MaxPathDepth)
		if err != nil {
			s.host.RememberFailedCallProof(ctx, req.GetVaultId(), caller, err)
			return err
		}
		fields, sub, err = s.host.ReadProfile(ctx, req.GetVaultId(), caller, sel)
		return err
	})
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	return &vrmv1.ReadProfileResponse{Fields: fieldsProto(fields), Subject: sub}, nil
}
