package server

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// CreateEnrollmentCode issues a one-time enrolment code for another device
// of the calling owner.
func (o *ownerService) CreateEnrollmentCode(ctx context.Context, req *vrmv1.CreateEnrollmentCodeRequest) (*vrmv1.CreateEnrollmentCodeResponse, error) {
	s := o.s
	caller, err := s.authOwner(ctx, req.GetVaultId())
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	enr, err := s.host.IssueEnrollmentCode(ctx, req.GetVaultId(), caller)
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	return &vrmv1.CreateEnrollmentCodeResponse{Code: enr.Code, ExpireTime: timestamppb.New(enr.Expires)}, nil
}

// RemoveOwnerKey appends the owner-signed remove entry to the ledger and
// removes the key.
func (o *ownerService) RemoveOwnerKey(ctx context.Context, req *vrmv1.RemoveOwnerKeyRequest) (*vrmv1.RemoveOwnerKeyResponse, error) {
	s := o.s
	caller, err := s.authOwner(ctx, req.GetVaultId())
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	head, err := s.host.RemoveOwnerKey(ctx, req.GetVaultId(), caller, req.GetJkt(), req.GetKeyEntry())
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	return &vrmv1.RemoveOwnerKeyResponse{LedgerHead: headProto(head)}, nil
}
