package server

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault"
)

func (o *ownerService) ListAccessRequests(ctx context.Context, req *vrmv1.ListAccessRequestsRequest) (*vrmv1.ListAccessRequestsResponse, error) {
	s := o.s
	if _, err := s.authOwner(ctx, req.GetVaultId()); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	state, err := stateFromProto(req.GetState(), vault.StatePending)
	if err != nil {
		return nil, err
	}
	reqs, err := s.host.ListRequests(ctx, req.GetVaultId(), state)
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	resp := &vrmv1.ListAccessRequestsResponse{}
	for _, r := range reqs {
		resp.Requests = append(resp.Requests, requestProto(r.Request))
	}
	return resp, nil
}

func (o *ownerService) GetAccessRequest(ctx context.Context, req *vrmv1.GetAccessRequestRequest) (*vrmv1.GetAccessRequestResponse, error) {
	s := o.s
	if _, err := s.authOwner(ctx, req.GetVaultId()); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	v, head, sub, err := s.host.OwnerRequest(ctx, req.GetVaultId(), req.GetRequestId())
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	return &vrmv1.GetAccessRequestResponse{Request: requestProto(v.Request), LedgerHead: headProto(head), Subject: sub}, nil
}

func (o *ownerService) SubmitConsent(ctx context.Context, req *vrmv1.SubmitConsentRequest) (*vrmv1.SubmitConsentResponse, error) {
	s := o.s
	caller, err := s.authOwner(ctx, req.GetVaultId())
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	c, head, err := s.host.SubmitConsent(ctx, req.GetVaultId(), caller, req.GetRecord())
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	return &vrmv1.SubmitConsentResponse{Consent: consentProto(c, s.now()), LedgerHead: headProto(head)}, nil
}

func (o *ownerService) SubmitRevocation(ctx context.Context, req *vrmv1.SubmitRevocationRequest) (*vrmv1.SubmitRevocationResponse, error) {
	s := o.s
	caller, err := s.authOwner(ctx, req.GetVaultId())
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	c, head, err := s.host.SubmitRevocation(ctx, req.GetVaultId(), caller, req.GetRevocation())
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	return &vrmv1.SubmitRevocationResponse{Consent: consentProto(c, s.now()), LedgerHead: headProto(head)}, nil
}

func (o *ownerService) ListConsents(ctx context.Context, req *vrmv1.ListConsentsRequest) (*vrmv1.ListConsentsResponse, error) {
	s := o.s
	if _, err := s.authOwner(ctx, req.GetVaultId()); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	state, err := stateFromProto(req.GetState(), "")
	if err != nil {
		return nil, err
	}
	cs, last, err := s.host.ListConsents(ctx, req.GetVaultId(), state)
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	resp := &vrmv1.ListConsentsResponse{LastSeq: last}
	now := s.now()
	for _, c := range cs {
		pc := consentProto(c, now)
		behind, capped, err := s.host.DeliveryState(ctx, req.GetVaultId(), c)
		if err != nil {
			return nil, s.statusFor(ctx, err)
		}
		pc.ChangesBehind, pc.ChangesBehindCapped = behind, capped
		resp.Consents = append(resp.Consents, pc)
	}
	return resp, nil
}

func (o *ownerService) GetLedger(ctx context.Context, req *vrmv1.GetLedgerRequest) (*vrmv1.GetLedgerResponse, error) {
	s := o.s
	if _, err := s.authOwner(ctx, req.GetVaultId()); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	entries, head, err := s.host.Ledger(ctx, req.GetVaultId(), req.GetAfterSeq(), int(req.GetPageSize()))
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	resp := &vrmv1.GetLedgerResponse{Head: headProto(head)}
	for i, e := range entries {
		resp.Entries = append(resp.Entries, &vrmv1.LedgerEntry{Seq: req.GetAfterSeq() + uint64(i) + 1, Jws: e})
	}
	return resp, nil
}

func (o *ownerService) ListAuditEntries(ctx context.Context, req *vrmv1.ListAuditEntriesRequest) (*vrmv1.ListAuditEntriesResponse, error) {
	s := o.s
	if _, err := s.authOwner(ctx, req.GetVaultId()); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	f := vault.AuditFilter{After: req.GetAfterSeq(), Limit: int(req.GetPageSize()), Caller: req.GetCallerJkt(), Path: req.GetPath()}
	if req.GetSince() != nil {
		if err := req.GetSince().CheckValid(); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "since: %v", err)
		}
		f.Since = req.GetSince().AsTime()
	}
	page, err := s.host.ListAudit(ctx, req.GetVaultId(), f)
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	resp := &vrmv1.ListAuditEntriesResponse{NextAfterSeq: page.Next}
	for _, r := range page.Records {
		e := r.Entry
		resp.Entries = append(resp.Entries, &vrmv1.AuditEntry{
			Seq: e.Seq, Time: timestamppb.New(e.Time), CallerJkt: e.Caller, Role: e.Role,
			Method: e.Method, ConsentId: e.Consent, Paths: e.Paths, Outcome: e.Outcome,
			Prev: e.Prev, Canonical: r.Canonical,
		})
	}
	for i, c := range page.Checkpoints {
		resp.Checkpoints = append(resp.Checkpoints, &vrmv1.AuditCheckpoint{Jws: c, Seq: page.CheckpointSeqs[i]})
	}
	return resp, nil
}

// stateFromProto maps a wire state filter to the domain; unspecified
// gives def.
func stateFromProto(st vrmv1.ConsentState, def vault.State) (vault.State, error) {
	switch st {
	case vrmv1.ConsentState_CONSENT_STATE_UNSPECIFIED:
		return def, nil
	case vrmv1.ConsentState_CONSENT_STATE_PENDING:
		return vault.StatePending, nil
	case vrmv1.ConsentState_CONSENT_STATE_GRANTED:
		return vault.StateGranted, nil
	case vrmv1.ConsentState_CONSENT_STATE_DENIED:
		return vault.StateDenied, nil
	case vrmv1.ConsentState_CONSENT_STATE_REVOKED:
		return vault.StateRevoked, nil
	case vrmv1.ConsentState_CONSENT_STATE_EXPIRED:
		return vault.StateExpired, nil
	default:
		return "", status.Errorf(codes.InvalidArgument, "unknown state %d", st)
	}
}

func stateProto(st vault.State) vrmv1.ConsentState {
	switch st {
	case vault.StatePending:
		return vrmv1.ConsentState_CONSENT_STATE_PENDING
	case vault.StateGranted:
		return vrmv1.ConsentState_CONSENT_STATE_GRANTED
	case vault.StateDenied:
		return vrmv1.ConsentState_CONSENT_STATE_DENIED
	case vault.StateRevoked:
		return vrmv1.ConsentState_CONSENT_STATE_REVOKED
	case vault.StateExpired:
		return vrmv1.ConsentState_CONSENT_STATE_EXPIRED
	default:
		return vrmv1.ConsentState_CONSENT_STATE_UNSPECIFIED
	}
}

func requestProto(r vault.Request) *vrmv1.AccessRequest {
	return &vrmv1.AccessRequest{
		RequestId: r.ID, BrandJkt: r.BrandJKT, BrandName: r.BrandName, BrandUrl: r.BrandURL,
		Scopes: r.Scopes, Purposes: r.Purposes, Duration: durationpb.New(r.Duration), Reason: r.Reason,
		CreateTime: timestamppb.New(r.Created), ExpireTime: timestamppb.New(r.Expires),
		State: stateProto(r.State), ConsentId: r.ConsentID, BrandJwk: r.BrandJWK,
	}
}

func consentProto(c vault.Consent, now time.Time) *vrmv1.Consent {
	return &vrmv1.Consent{
		ConsentId: c.ID, RequestId: c.RequestID, BrandJkt: c.BrandJKT, BrandName: c.BrandName,
		State: stateProto(c.StateAt(now)), Scopes: c.Scopes, Purposes: c.Purposes,
		NotBefore: optionalTime(c.NotBefore), ExpireTime: optionalTime(c.Expires),
		Record: c.Record, Revocation: c.Revocation, Subject: c.Subject, AcknowledgedCursor: c.Acked,
	}
}

func headProto(h consent.Head) *vrmv1.LedgerHead {
	return &vrmv1.LedgerHead{Seq: h.Seq, Hash: h.Hash}
}

// optionalTime returns nil for the zero time (a denial has no validity).
func optionalTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() || t.Unix() == 0 {
		return nil
	}
	return timestamppb.New(t)
}
