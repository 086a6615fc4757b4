package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/audit"
	"github.com/vrmvault/vrmvault/vault/profile/profilepb"
)

// ownerService is OwnerService: the customer's own calls.
type ownerService struct {
	vrmv1.UnimplementedOwnerServiceServer
	s *Server
}

func (o *ownerService) Enroll(ctx context.Context, req *vrmv1.EnrollRequest) (*vrmv1.EnrollResponse, error) {
	s := o.s
	key, caller, err := s.authFirstContact(ctx, req.GetVaultId(), audit.RoleOwner)
	if errors.Is(err, vault.ErrVaultNotFound) {
		// The replay cache of a vault that does not exist: answer as for a
		// wrong code, so that enrolment is no oracle of vault ids.
		err = vault.ErrEnrollmentCode
	}
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	head, err := s.host.Enroll(ctx, req.GetVaultId(), req.GetCode(), key, req.GetDeviceName(), req.GetKeyEntry(), caller)
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	return &vrmv1.EnrollResponse{VaultId: req.GetVaultId(), OwnerJkt: key.Thumbprint(), LedgerHead: headProto(head)}, nil
}

func (o *ownerService) GetStatus(ctx context.Context, req *vrmv1.GetStatusRequest) (*vrmv1.GetStatusResponse, error) {
	s := o.s
	if _, err := s.authOwner(ctx, req.GetVaultId()); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	st, err := s.host.Status(ctx, req.GetVaultId())
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	resp := &vrmv1.GetStatusResponse{
		VaultId:      st.VaultID,
		FieldCount:   st.Usage.Fields,
		ProfileBytes: st.Usage.Bytes,
		LastSeq:      st.LastSeq,
		Limits:       limitsProto(s.host),
		HostId:       s.hostID,
		Quota:        s.quotaInForce(st.Quota),
		Suspended:    st.Suspended,
		ConsentCount: st.Consents,
		CallCount:    s.calls.get(st.VaultID),
	}
	for _, k := range st.OwnerKeys {
		resp.OwnerKeys = append(resp.OwnerKeys, &vrmv1.OwnerKey{
			Jkt:        k.Key.Thumbprint(),
			DeviceName: k.Device,
			EnrollTime: timestamppb.New(k.Enrolled),
			Jwk:        k.Key.JSON(),
		})
	}
	return resp, nil
}

// quotaInForce is the quota an owner is shown: the vault's quota in
// force with the bound on a brand's open streams resolved to the one the
// server applies (a quota of 0 there means the server's default).
func (s *Server) quotaInForce(q vault.Quota) *vrmv1.VaultQuota {
	if q.BrandOpenStreams <= 0 {
		q.BrandOpenStreams = int64(s.streams.maxBrand)
	}
	return quotaProto(q)
}

func limitsProto(h *vault.Host) *vrmv1.Limits {
	l := h.Limits()
	return &vrmv1.Limits{
		MaxValueBytes:     int64(l.MaxValueBytes),
		MaxFieldsPerBatch: int64(l.MaxFieldsPerBatch),
		MaxPathDepth:      int64(l.MaxPathDepth),
		MaxFields:         int64(l.MaxFields),
		MaxProfileBytes:   int64(l.MaxProfileBytes),
		MaxListItems:      int64(l.MaxListItems),
	}
}

func (o *ownerService) GetProfile(ctx context.Context, req *vrmv1.GetProfileRequest) (*vrmv1.GetProfileResponse, error) {
	s := o.s
	if _, err := s.authOwner(ctx, req.GetVaultId()); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	sel, err := vault.ParseSelectors(req.GetPaths(), s.host.Limits().MaxPathDepth)
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	fields, last, err := s.host.GetProfile(ctx, req.GetVaultId(), sel)
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	return &vrmv1.GetProfileResponse{Fields: fieldsProto(fields), LastSeq: last}, nil
}

func (o *ownerService) UpdateProfile(ctx context.Context, req *vrmv1.UpdateProfileRequest) (*vrmv1.UpdateProfileResponse, error) {
	s := o.s
	var (
		seq    uint64
		stored []vault.StoredField
	)
	err := s.deferredCall(ctx, req.GetVaultId(), audit.RoleOwner, func(caller vault.Caller) error {
		changes, err := changesFromProto(req.GetChanges(), s.host.Limits().MaxFieldsPerBatch)
		if err != nil {
			s.host.RememberFailedCallProof(ctx, req.GetVaultId(), caller, err)
			return err
		}
		seq, stored, err = s.host.UpdateProfile(ctx, req.GetVaultId(), caller, changes)
		return err
	})
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	return &vrmv1.UpdateProfileResponse{Seq: seq, Fields: fieldsProto(stored)}, nil
}

// changesFromProto converts a batch, refusing a change that neither sets
// nor deletes and a value with no kind. The count is bounded before any
// work is done.
func changesFromProto(in []*vrmv1.FieldChange, maxBatch int) ([]vault.FieldChange, error) {
	if len(in) > maxBatch {
		return nil, status.Errorf(codes.InvalidArgument, "batch has %d changes, limit is %d (max fields per batch)", len(in), maxBatch)
	}
	out := make([]vault.FieldChange, 0, len(in))
	for _, c := range in {
		fc := vault.FieldChange{Path: c.GetPath()}
		if c.ExpectedVersion != nil {
			v := c.GetExpectedVersion()
			fc.ExpectedVersion = &v
		}
		switch ch := c.GetChange().(type) {
		case *vrmv1.FieldChange_Set:
			v, err := profilepb.FromProto(ch.Set)
			if err != nil {
				return nil, status.Errorf(codes.InvalidArgument, "%s: %v", vault.QuotePath(c.GetPath()), err)
			}
			fc.Value = v
		case *vrmv1.FieldChange_Delete:
			if !ch.Delete {
				return nil, status.Errorf(codes.InvalidArgument, "%s: delete must be true when chosen", vault.QuotePath(c.GetPath()))
			}
			fc.Delete = true
		default:
			return nil, status.Errorf(codes.InvalidArgument, "%s: a change must set a value or delete the field", vault.QuotePath(c.GetPath()))
		}
		out = append(out, fc)
	}
	return out, nil
}

func fieldsProto(in []vault.StoredField) []*vrmv1.Field {
	out := make([]*vrmv1.Field, 0, len(in))
	for _, f := range in {
		pf := &vrmv1.Field{
			Path:       f.Path,
			Value:      profilepb.ToProto(f.Value),
			Version:    f.Version,
			UpdateTime: timestamppb.New(f.Updated),
		}
		if f.Provenance != nil {
			pf.Provenance = &vrmv1.Provenance{
				BrandJkt:  f.Provenance.BrandJKT,
				BrandName: f.Provenance.BrandName,
				ConsentId: f.Provenance.ConsentID,
			}
		}
		out = append(out, pf)
	}
	return out
}
