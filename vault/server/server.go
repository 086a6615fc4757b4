// Package server is the gRPC face of a vrmvault host: it checks the
// request proof of every call (PROTOCOL.md section 2), decides the caller's
// role, converts between the wire contract (proto/vrm/v1) and the domain
// (package vault), and is the only package that knows gRPC status codes:
// domain errors become statuses in one function, statusFor.
//
// Each service is registered on a *grpc.Server by Register; NewGRPCServer
// builds a server with the interceptors, health service and reflection
// that vaultd and the tests use.
package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/metrics"
)

// Defaults of Config.
const (
	// DefaultMaxRecvMsgSize bounds one request message.
	DefaultMaxRecvMsgSize = 1 << 20
)

// Config configures the services.
type Config struct {
	// Host serves the vaults; required.
	Host *vault.Host
	// Now is the clock for proof checks; nil means the host's clock.
	Now func() time.Time
	// ProofSkew is the accepted |iat - now|; zero means the protocol's
	// default (60 s).
	ProofSkew time.Duration
	// Logger receives one line per call (method, code, latency, vault);
	// nil discards. Never personal data.
	Logger *slog.Logger
	// MaxRecvMsgSize bounds a request message; zero means
	// DefaultMaxRecvMsgSize.
	MaxRecvMsgSize int
	// MaxStreamsPerBrand bounds one brand's open streams on one vault;
	// zero means DefaultMaxStreamsPerBrand.
	MaxStreamsPerBrand int
	// MaxStreamsPerVault bounds the open streams on one vault; zero means
	// DefaultMaxStreamsPerVault.
	MaxStreamsPerVault int
	// SendTimeout is how long a stream waits for its consumer to take an
	// event before ending; zero means DefaultSendTimeout.
	SendTimeout time.Duration
	// HostID turns on HostService: proofs of host admin calls carry it as
	// "aud". Empty: single-vault mode, HostService is unavailable.
	HostID string
	// AdminKeys are the host admin public keys.
	AdminKeys []consent.PublicKey
	// Advertise is the host:port printed in vault addresses.
	Advertise string
	// UnaryTimeout bounds every unary call on the server side; zero means
	// DefaultUnaryTimeout.
	UnaryTimeout time.Duration
	// MaxConcurrentStreams bounds the concurrent calls on one connection;
	// zero means DefaultMaxConcurrentStreams.
	MaxConcurrentStreams uint32
	// Metrics, if set, records every call.
	Metrics *metrics.Metrics
}

// Defaults of the transport hardening.
const (
	// DefaultUnaryTimeout bounds a unary call.
	DefaultUnaryTimeout = 30 * time.Second
	// DefaultMaxConcurrentStreams bounds concurrent calls per connection.
	DefaultMaxConcurrentStreams = 1024
)

// Server implements the vrm.v1 services over a vault.Host.
type Server struct {
	host *vault.Host
	now  func() time.Time
	skew time.Duration
	log  *slog.Logger
	max  int

	streams     *streams
	sendTimeout time.Duration

	hostID       string
	admins       adminKeys
	advertise    string
	unaryTimeout time.Duration
	maxStreams   uint32
	calls        callCounter
	rates        *rateLimiter
	metrics      *metrics.Metrics
}

// New returns the services for cfg.Host.
func New(cfg Config) (*Server, error) {
	if cfg.Host == nil {
		return nil, errors.New("server: Config.Host is required")
	}
	s := &Server{host: cfg.Host, now: cfg.Now, skew: cfg.ProofSkew, log: cfg.Logger, max: cfg.MaxRecvMsgSize}
	if s.now == nil {
		s.now = cfg.Host.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.max <= 0 {
		s.max = DefaultMaxRecvMsgSize
	}
	s.sendTimeout = cfg.SendTimeout
	if s.sendTimeout <= 0 {
		s.sendTimeout = DefaultSendTimeout
	}
	maxBrand, maxVault := cfg.MaxStreamsPerBrand, cfg.MaxStreamsPerVault
	if maxBrand <= 0 {
		maxBrand = DefaultMaxStreamsPerBrand
	}
	if maxVault <= 0 {
		maxVault = DefaultMaxStreamsPerVault
	}
	s.streams = newStreams(maxVault, maxBrand)
	s.hostID, s.admins, s.advertise = cfg.HostID, cfg.AdminKeys, cfg.Advertise
	if s.hostID != "" {
		if len(s.admins) == 0 {
			return nil, errors.New("server: host mode needs at least one admin key")
		}
		if err := cfg.Host.EnsureHostState(context.Background()); err != nil {
			return nil, err
		}
	}
	s.unaryTimeout = cfg.UnaryTimeout
	if s.unaryTimeout <= 0 {
		s.unaryTimeout = DefaultUnaryTimeout
	}
	s.maxStreams = cfg.MaxConcurrentStreams
	if s.maxStreams == 0 {
		s.maxStreams = DefaultMaxConcurrentStreams
	}
	s.rates = newRateLimiter(s.now)
	if s.metrics = cfg.Metrics; s.metrics != nil {
		s.metrics.OpenStreams(s.OpenStreams)
	}
	return s, nil
}

// Register registers every vrm.v1 service on gs.
func (s *Server) Register(gs grpc.ServiceRegistrar) {
	vrmv1.RegisterOwnerServiceServer(gs, &ownerService{s: s})
	vrmv1.RegisterBrandServiceServer(gs, &brandService{s: s})
	vrmv1.RegisterHostServiceServer(gs, &hostService{s: s})
	vrmv1.RegisterVaultInfoServiceServer(gs, &vaultInfoService{s: s})
}

// streamWorkers is the number of goroutines the gRPC server keeps to run
// calls on: about the concurrency a busy host sees.
const streamWorkers = 128

// maxHeaderListSize bounds the (uncompressed) request headers of a call.
const maxHeaderListSize = 32 << 10

// NewGRPCServer returns a gRPC server with the services registered, the
// logging interceptors, the standard health service (SERVING) and server
// reflection. extra options are appended (e.g. TLS credentials).
func (s *Server) NewGRPCServer(extra ...grpc.ServerOption) (*grpc.Server, *health.Server) {
	opts := append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.max),
		// Headers carry a proof of at most 4 KiB and little else: refuse
		// megabytes of metadata in the transport, before anything decodes
		// them (gRPC's own bound is 16 MiB).
		grpc.MaxHeaderListSize(maxHeaderListSize),
		grpc.MaxConcurrentStreams(s.maxStreams),
		// Refuse clients that ping more often than every 10 s; close
		// connections idle for 15 minutes.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 15 * time.Minute, Time: 2 * time.Minute, Timeout: 20 * time.Second}),
		// Calls run on long-lived goroutines whose stacks have grown to
		// what a call needs, instead of a new goroutine per call that
		// grows its stack again (5% of a signed read's CPU); calls beyond
		// them still get a goroutine each.
		grpc.NumStreamWorkers(streamWorkers),
		grpc.ChainUnaryInterceptor(s.logUnary, s.deadlineUnary),
		grpc.ChainStreamInterceptor(s.logStream),
	}, extra...)
	gs := grpc.NewServer(opts...)
	s.Register(gs)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	for _, name := range []string{vrmv1.OwnerService_ServiceDesc.ServiceName, vrmv1.BrandService_ServiceDesc.ServiceName,
		vrmv1.HostService_ServiceDesc.ServiceName, vrmv1.VaultInfoService_ServiceDesc.ServiceName} {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	reflection.Register(gs)
	return gs, hs
}

type vaultScoped interface{ GetVaultId() string }

// deadlineUnary bounds every unary call on the server side.
func (s *Server) deadlineUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, s.unaryTimeout)
	defer cancel()
	return handler(ctx, req)
}

func (s *Server) logUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	vaultID := ""
	if v, ok := req.(vaultScoped); ok {
		vaultID = v.GetVaultId()
		if status.Code(err) != codes.Unauthenticated && status.Code(err) != codes.Unimplemented {
			s.calls.add(vaultID)
		}
	}
	s.logCall(ctx, info.FullMethod, vaultID, start, err)
	return resp, err
}

func (s *Server) logStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	s.logCall(ss.Context(), info.FullMethod, "", start, err)
	return err
}

func (s *Server) logCall(ctx context.Context, method, vaultID string, start time.Time, err error) {
	code := status.Code(err)
	if s.metrics != nil {
		s.metrics.ObserveCall(method, code.String(), time.Since(start))
	}
	level := slog.LevelInfo
	if code == codes.Internal || code == codes.Unknown {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("code", code.String()),
		slog.Duration("latency", time.Since(start)),
	}
	if vaultID != "" && len(vaultID) <= 64 {
		attrs = append(attrs, slog.String("vault", vaultID))
	}
	s.log.LogAttrs(ctx, level, "call", attrs...)
}
