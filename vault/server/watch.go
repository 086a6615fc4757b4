package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault"
)

// Defaults of the stream limits.
const (
	// DefaultMaxStreamsPerBrand bounds one brand's open streams on one vault.
	DefaultMaxStreamsPerBrand = 16
	// DefaultMaxStreamsPerVault bounds the open streams on one vault.
	DefaultMaxStreamsPerVault = 4096
	// DefaultSendTimeout is how long a stream may wait for its consumer to
	// take an event before the stream ends, asking it to resume.
	DefaultSendTimeout = 30 * time.Second
)

// errSlowConsumer ends a stream whose consumer does not take events.
var errSlowConsumer = errors.New("stream fell behind")

// errShuttingDown ends streams when the server drains.
var errShuttingDown = errors.New("vault shutting down")

// streams counts open streams and enforces the limits.
type streams struct {
	mu       sync.Mutex
	perVault map[string]int
	perBrand map[string]int // vault + "/" + jkt
	maxVault int
	maxBrand int

	drain      context.Context // done once Drain is called
	drainStart context.CancelFunc
}

func newStreams(maxVault, maxBrand int) *streams {
	drain, start := context.WithCancel(context.Background())
	return &streams{perVault: map[string]int{}, perBrand: map[string]int{}, maxVault: maxVault, maxBrand: maxBrand, drain: drain, drainStart: start}
}

// acquire reserves a stream slot; release gives it back.
func (s *streams) acquire(vaultID, jkt string, brandLimit int64) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.drain.Err() != nil {
		return nil, errShuttingDown
	}
	bk := vaultID + "/" + jkt
	maxBrand := s.maxBrand
	if brandLimit > 0 {
		maxBrand = int(brandLimit)
	}
	if n := s.perBrand[bk]; n >= maxBrand {
		return nil, status.Errorf(codes.ResourceExhausted, "%d open streams for this brand, limit is %d (open streams per brand)", n, maxBrand)
	}
	if n := s.perVault[vaultID]; n >= s.maxVault {
		return nil, status.Errorf(codes.ResourceExhausted, "%d open streams on this vault, limit is %d (open streams per vault)", n, s.maxVault)
	}
	s.perBrand[bk]++
	s.perVault[vaultID]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.perBrand[bk]--; s.perBrand[bk] == 0 {
				delete(s.perBrand, bk)
			}
			if s.perVault[vaultID]--; s.perVault[vaultID] == 0 {
				delete(s.perVault, vaultID)
			}
		})
	}, nil
}

// OpenStreams returns the number of open streams.
func (s *Server) OpenStreams() int {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	n := 0
	for _, v := range s.streams.perVault {
		n += v
	}
	return n
}

// Drain ends every open stream with UNAVAILABLE (telling brands to resume
// from their cursor) and refuses new ones. vaultd calls it before a
// graceful stop, since streams never end by themselves.
func (s *Server) Drain() { s.streams.drainStart() }

// streamContext returns a context that ends with the stream, or with
// cause errShuttingDown on Drain.
func (s *Server) streamContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	stop := context.AfterFunc(s.streams.drain, func() { cancel(errShuttingDown) })
	return ctx, func() { stop(); cancel(context.Canceled) }
}

// sendWithin sends msg on ss, giving up after timeout: a consumer that
// does not take events must not hold the stream (and its goroutine) for
// ever. On a timeout the handler returns at once; grpc-go then ends the
// stream, which also ends the pending send.
func sendWithin(ss grpc.ServerStream, msg any, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- ss.SendMsg(msg) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return errSlowConsumer
	}
}

// streamEnd turns the reason a stream ended into its final status. The
// resume hint names no cursor: events the server sent may still have been
// in flight, so only the brand knows the last one it received.
func (s *Server) streamEnd(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, errSlowConsumer):
		return status.Errorf(codes.ResourceExhausted, "stream fell behind: the consumer took no event for %s; resume from the last cursor you received", s.sendTimeout)
	case errors.Is(err, errShuttingDown), errors.Is(context.Cause(ctx), errShuttingDown):
		return status.Error(codes.Unavailable, "vault shutting down; resume from the last cursor you received")
	}
	return s.statusFor(ctx, err)
}

func (b *brandService) WatchProfile(req *vrmv1.WatchProfileRequest, ss grpc.ServerStreamingServer[vrmv1.WatchProfileResponse]) error {
	s := b.s
	ctx, cancel := s.streamContext(ss.Context())
	defer cancel()
	caller, err := s.authBrand(ctx, req.GetVaultId())
	if err != nil {
		return s.streamEnd(ctx, err)
	}
	sel, err := vault.ParseSelectors(req.GetPaths(), s.host.Limits().MaxPathDepth)
	if err != nil {
		return s.streamEnd(ctx, err)
	}
	release, err := s.streams.acquire(req.GetVaultId(), caller.JKT, caller.Quota.BrandOpenStreams)
	if err != nil {
		return s.streamEnd(ctx, err)
	}
	defer release()
	err = s.host.WatchProfile(ctx, req.GetVaultId(), caller, vault.WatchOptions{Selectors: sel, After: req.GetAfterCursor()}, func(ev vault.WatchEvent) error {
		msg := &vrmv1.WatchProfileResponse{Cursor: ev.Cursor, Fields: fieldsProto(ev.Fields), DeletedPaths: ev.Deleted}
		return sendWithin(ss, msg, s.sendTimeout)
	})
	return s.streamEnd(ctx, err)
}

func (b *brandService) WatchConsent(req *vrmv1.WatchConsentRequest, ss grpc.ServerStreamingServer[vrmv1.WatchConsentResponse]) error {
	s := b.s
	ctx, cancel := s.streamContext(ss.Context())
	defer cancel()
	caller, err := s.authBrand(ctx, req.GetVaultId())
	if err != nil {
		return s.streamEnd(ctx, err)
	}
	release, err := s.streams.acquire(req.GetVaultId(), caller.JKT, caller.Quota.BrandOpenStreams)
	if err != nil {
		return s.streamEnd(ctx, err)
	}
	defer release()
	err = s.host.WatchConsent(ctx, req.GetVaultId(), caller.JKT, req.GetRequestId(), func(v vault.RequestView) error {
		msg := &vrmv1.WatchConsentResponse{Request: requestProto(v.Request)}
		if v.Consent != nil {
			msg.Consent = consentProto(*v.Consent, s.now())
		}
		return sendWithin(ss, msg, s.sendTimeout)
	})
	if err == nil {
		return nil
	}
	return s.streamEnd(ctx, err)
}

func (b *brandService) WriteContributions(ctx context.Context, req *vrmv1.WriteContributionsRequest) (*vrmv1.WriteContributionsResponse, error) {
	s := b.s
	caller, err := s.authBrand(ctx, req.GetVaultId())
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	changes, err := changesFromProto(req.GetChanges(), s.host.Limits().MaxFieldsPerBatch)
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	seq, err := s.host.WriteContributions(ctx, req.GetVaultId(), caller, changes)
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	return &vrmv1.WriteContributionsResponse{Seq: seq}, nil
}

func (b *brandService) AcknowledgeProfileChanges(ctx context.Context, req *vrmv1.AcknowledgeProfileChangesRequest) (*vrmv1.AcknowledgeProfileChangesResponse, error) {
	s := b.s
	caller, err := s.authBrand(ctx, req.GetVaultId())
	if err != nil {
		return nil, s.statusFor(ctx, err)
	}
	if err := s.host.AcknowledgeChanges(ctx, req.GetVaultId(), caller.JKT, req.GetCursor()); err != nil {
		return nil, s.statusFor(ctx, err)
	}
	return &vrmv1.AcknowledgeProfileChangesResponse{}, nil
}
