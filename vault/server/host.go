package server

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault"
)

// maxListVaultsPage bounds one page of ListVaults.
const maxListVaultsPage = 1000

// hostService is HostService: the operator's calls, signed by a host
// admin key with "aud" = the host id. It returns no vault content.
type hostService struct {
	vrmv1.UnimplementedHostServiceServer
	s *Server
}

// adminKeys resolves host admin keys.
type adminKeys []consent.PublicKey

func (a adminKeys) ResolveKey(_ context.Context, jkt string) (consent.PublicKey, error) {
	i := slices.IndexFunc(a, func(k consent.PublicKey) bool { return k.Thumbprint() == jkt })
	if i < 0 {
		return consent.PublicKey{}, consent.ErrUnknownKey
	}
	return a[i], nil
}

// authHost admits a call signed by a host admin key.
func (s *Server) authHost(ctx context.Context) error {
	if s.hostID == "" {
		return status.Error(codes.Unimplemented, "this vaultd is not in host mode")
	}
	proof, err := proofFrom(ctx)
	if err != nil {
		return err
	}
	method, _ := grpcMethod(ctx)
	v := &consent.ProofVerifier{Now: s.now, Skew: s.skew, Replay: s.host.HostReplayCache()}
	_, err = v.Verify(ctx, proof, consent.Expect{Aud: s.hostID, Method: method, Mode: consent.KeyByID, Keys: s.admins})
	return err
}

func quotaProto(q vault.Quota) *vrmv1.VaultQuota {
	return &vrmv1.VaultQuota{
		MaxSizeBytes: q.MaxSizeBytes, MaxFields: q.MaxFields, CallsPerSecond: q.CallsPerSecond,
		BrandCallsPerSecond: q.BrandCallsPerSecond, BrandPendingRequests: q.BrandPendingRequests,
		BrandOpenStreams: q.BrandOpenStreams,
	}
}

func quotaFromProto(q *vrmv1.VaultQuota) vault.Quota {
	return vault.Quota{
		MaxSizeBytes: q.GetMaxSizeBytes(), MaxFields: q.GetMaxFields(), CallsPerSecond: q.GetCallsPerSecond(),
		BrandCallsPerSecond: q.GetBrandCallsPerSecond(), BrandPendingRequests: q.GetBrandPendingRequests(),
		BrandOpenStreams: q.GetBrandOpenStreams(),
	}
}

func (s *Server) vaultAddress(id string) string {
	if s.advertise == "" {
		return id
	}
	return s.advertise + "/" + id
}

func (h *hostService) CreateVault(ctx context.Context, req *vrmv1.CreateVaultRequest) (*vrmv1.CreateVaultResponse, error) {
	s := h.s
	if err := s.authHost(ctx); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	q := quotaFromProto(req.GetQuota())
	if err := q.Validate(); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	id, enr, err := s.host.CreateVault(ctx)
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	if q != (vault.Quota{}) {
		if _, err := s.host.SetQuota(ctx, id, q); err != nil {
			// No vault without the quota asked for: remove it again.
			if derr := s.host.DestroyVault(ctx, id); derr != nil {
				s.log.ErrorContext(ctx, "remove a vault whose quota failed", "vault", id, "error", derr)
			}
			return nil, s.statusFor(ctx, err)
		}
	}
	return &vrmv1.CreateVaultResponse{
		VaultId: id, Address: s.vaultAddress(id), EnrollmentCode: enr.Code, CodeExpireTime: timestamppb.New(enr.Expires),
	}, nil
}

func (h *hostService) ListVaults(ctx context.Context, req *vrmv1.ListVaultsRequest) (*vrmv1.ListVaultsResponse, error) {
	s := h.s
	if err := s.authHost(ctx); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	size := int(req.GetPageSize())
	if size <= 0 || size > maxListVaultsPage {
		size = maxListVaultsPage
	}
	ids, err := s.host.ListVaults(ctx, req.GetPageToken(), size+1)
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	more := len(ids) > size
	if more {
		ids = ids[:size]
	}
	resp := &vrmv1.ListVaultsResponse{}
	for _, id := range ids {
		u, err := s.host.Usage(ctx, id)
		if errors.Is(err, vault.ErrVaultNotFound) {
			continue // destroyed meanwhile
		}
		if err != nil {
			return nil, s.statusFor(ctx, err)
		}
		resp.Vaults = append(resp.Vaults, &vrmv1.VaultUsage{
			VaultId: id, Address: s.vaultAddress(id), Suspended: u.Suspended,
			SizeBytes: u.Usage.Bytes, FieldCount: u.Usage.Fields, ConsentCount: u.Consents,
			CallCount: s.calls.get(id), CreateTime: timestamppb.New(u.Created), Quota: quotaProto(u.Quota),
		})
	}
	if more {
		resp.NextPageToken = ids[len(ids)-1]
	}
	return resp, nil
}

func (h *hostService) SuspendVault(ctx context.Context, req *vrmv1.SuspendVaultRequest) (*vrmv1.SuspendVaultResponse, error) {
	s := h.s
	if err := s.authHost(ctx); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	if err := s.host.SetSuspended(ctx, req.GetVaultId(), true); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	return &vrmv1.SuspendVaultResponse{}, nil
}

func (h *hostService) ResumeVault(ctx context.Context, req *vrmv1.ResumeVaultRequest) (*vrmv1.ResumeVaultResponse, error) {
	s := h.s
	if err := s.authHost(ctx); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	if err := s.host.SetSuspended(ctx, req.GetVaultId(), false); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	return &vrmv1.ResumeVaultResponse{}, nil
}

func (h *hostService) SetVaultQuota(ctx context.Context, req *vrmv1.SetVaultQuotaRequest) (*vrmv1.SetVaultQuotaResponse, error) {
	s := h.s
	if err := s.authHost(ctx); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	q, err := s.host.SetQuota(ctx, req.GetVaultId(), quotaFromProto(req.GetQuota()))
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	return &vrmv1.SetVaultQuotaResponse{Quota: quotaProto(q)}, nil
}

func (h *hostService) DestroyVault(ctx context.Context, req *vrmv1.DestroyVaultRequest) (*vrmv1.DestroyVaultResponse, error) {
	s := h.s
	if err := s.authHost(ctx); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	if err := s.host.DestroyVault(ctx, req.GetVaultId()); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	s.calls.forget(req.GetVaultId())
	s.rates.forget(req.GetVaultId())
	return &vrmv1.DestroyVaultResponse{}, nil
}

// callCounter counts calls per vault since the process started.
type callCounter struct{ m sync.Map } // vault id -> *atomic.Int64

func (c *callCounter) add(vaultID string) {
	v, ok := c.m.Load(vaultID)
	if !ok {
		v, _ = c.m.LoadOrStore(vaultID, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

func (c *callCounter) get(vaultID string) int64 {
	if v, ok := c.m.Load(vaultID); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (c *callCounter) forget(vaultID string) { c.m.Delete(vaultID) }

// rateLimiter is a set of token buckets, one per vault and one per brand
// per vault, made on first use and dropped when idle.
type rateLimiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	now     func() time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxIdleBuckets is how many buckets may exist before idle ones are swept.
const maxIdleBuckets = 10000

func newRateLimiter(now func() time.Time) *rateLimiter {
	return &rateLimiter{buckets: map[string]*bucket{}, now: now}
}

// allow takes a token from the bucket key refilled at rate per second
// (burst: one second's worth); rate 0 means unlimited.
func (r *rateLimiter) allow(key string, rate int64) bool {
	if rate <= 0 {
		return true
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.buckets[key]
	if !ok {
		if len(r.buckets) >= maxIdleBuckets {
			r.sweep(now)
		}
		b = &bucket{tokens: float64(rate), last: now}
		r.buckets[key] = b
	}
	b.tokens = min(float64(rate), b.tokens+now.Sub(b.last).Seconds()*float64(rate))
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep drops buckets idle long enough to be full again.
func (r *rateLimiter) sweep(now time.Time) {
	for k, b := range r.buckets {
		if now.Sub(b.last) > 10*time.Second {
			delete(r.buckets, k)
		}
	}
}

func (r *rateLimiter) forget(vaultID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.buckets {
		if k == vaultID || len(k) > len(vaultID) && k[:len(vaultID)+1] == vaultID+"/" {
			delete(r.buckets, k)
		}
	}
}

// checkRates applies the vault's and the brand's call rates.
func (s *Server) checkRates(vaultID, role, jkt string, q vault.Quota) error {
	if !s.rates.allow(vaultID, q.CallsPerSecond) {
		return status.Errorf(codes.ResourceExhausted, "rate limit: %d calls per second (calls per second per vault)", q.CallsPerSecond)
	}
	if role == "brand" && !s.rates.allow(vaultID+"/"+jkt, q.BrandCallsPerSecond) {
		return status.Errorf(codes.ResourceExhausted, "rate limit: %d calls per second (calls per second per brand)", q.BrandCallsPerSecond)
	}
	return nil
}
