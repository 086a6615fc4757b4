// Package vaultconn connects a Go client to a vault: it parses vault
// addresses ("host:port/<vault-id>"), chooses transport security, and signs
// a fresh request proof (PROTOCOL.md section 2) for every call: through
// gRPC client interceptors on a connection of its own (Dial), or on a
// connection to a host that clients of many of its vaults share
// (DialHost, HostConn.Signed). The owner, brand and host clients are built on it; it
// holds no role-specific logic.
package vaultconn

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/vrmvault/vrmvault/consent"
)

// ErrBadAddress is returned by ParseAddress for an address that is not
// "host:port/<vault-id>".
var ErrBadAddress = errors.New("vault address must look like host:port/<vault-id>")

// Address is a parsed vault address.
type Address struct {
	// HostPort is the network address of the vaultd serving the vault.
	HostPort string
	// VaultID is the vault's id, the "aud" of every proof.
	VaultID string
}

// String returns the address in its canonical form, host:port/<vault-id>.
func (a Address) String() string { return a.HostPort + "/" + a.VaultID }

// ParseAddress parses "host:port/<vault-id>". The vault id is 1 to 64
// characters of [A-Za-z0-9_-].
func ParseAddress(s string) (Address, error) {
	hostPort, id, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok || id == "" || hostPort == "" {
		return Address{}, fmt.Errorf("%w: %q", ErrBadAddress, s)
	}
	if _, _, err := net.SplitHostPort(hostPort); err != nil {
		return Address{}, fmt.Errorf("%w: %q: %v", ErrBadAddress, s, err)
	}
	if !consent.ValidID(id) {
		return Address{}, fmt.Errorf("%w: %q: vault id must be 1 to 64 characters of A-Z a-z 0-9 _ -", ErrBadAddress, s)
	}
	return Address{HostPort: hostPort, VaultID: id}, nil
}

// Config says how to reach a vault and who is calling.
type Config struct {
	// Address is the vault's address.
	Address Address
	// Key signs the proofs.
	Key *consent.PrivateKey
	// EmbedJWKMethods are the full method names whose proofs carry the
	// key as "jwk" (first contact); all others carry "kid".
	EmbedJWKMethods []string
	// Audience overrides the proof's "aud" (host admin calls use the host
	// id); empty means Address.VaultID.
	Audience string
	// TLS, if set, is used for the connection. If nil, a loopback host is
	// dialled in plaintext and any other host with TLS and the system's
	// roots (or CAFile).
	TLS *tls.Config
	// CAFile is a PEM bundle of roots to trust instead of the system's.
	CAFile string
	// Insecure dials in plaintext even to a non-loopback host.
	Insecure bool
	// Now is the clock for iat; nil means time.Now.
	Now func() time.Time
	// Rand is the source of jti values; nil means crypto/rand.
	Rand io.Reader
	// DialOptions are appended to the options vaultconn sets.
	DialOptions []grpc.DialOption
}

// Dial returns a connection whose every call carries a fresh proof. The
// connection is lazy: nothing is sent until the first call.
func Dial(cfg Config) (*grpc.ClientConn, error) {
	p, err := newProver(cfg)
	if err != nil {
		return nil, err
	}
	return dial(cfg,
		grpc.WithChainUnaryInterceptor(p.unary),
		grpc.WithChainStreamInterceptor(p.stream),
	)
}

// HostConn is a connection to one vault host that signs nothing itself:
// clients of any number of that host's vaults share it, each signing its
// own proofs (Signed). A brand talking to many customers' vaults on one
// host so opens one connection, not one per vault. A host serves a
// bounded number of concurrent calls and streams per connection (vaultd:
// 1,024); a client holding more open watch streams than that needs more
// than one HostConn.
type HostConn struct {
	conn     *grpc.ClientConn
	hostPort string
}

// DialHost returns a connection to the host of cfg.Address, with the
// transport security and dial options of cfg (cfg.Key is not used). The
// connection is lazy: nothing is sent until the first call.
func DialHost(cfg Config) (*HostConn, error) {
	conn, err := dial(cfg)
	if err != nil {
		return nil, err
	}
	return &HostConn{conn: conn, hostPort: cfg.Address.HostPort}, nil
}

// HostPort returns the host:port the connection goes to.
func (h *HostConn) HostPort() string { return h.hostPort }

// Close closes the connection, for every client sharing it.
func (h *HostConn) Close() error { return h.conn.Close() }

// Unsigned returns the connection without proofs, for a caller that
// attaches proofs of its own (signed ahead of time, say) or calls the
// public VaultInfoService.
func (h *HostConn) Unsigned() grpc.ClientConnInterface { return h.conn }

// Signed returns the connection as one whose every call carries a fresh
// proof signed with cfg.Key for cfg's audience (cfg.Address.VaultID
// unless cfg.Audience is set). cfg.Address must be on h's host: a proof
// is bound to a vault id, not to a host, so a client must never send it
// to another. Only the proof fields of cfg are used (Key,
// EmbedJWKMethods, Audience, Now, Rand); the transport is h's.
func (h *HostConn) Signed(cfg Config) (grpc.ClientConnInterface, error) {
	if cfg.Address.HostPort != h.hostPort {
		return nil, fmt.Errorf("vaultconn: vault %s is not on this connection's host %s", cfg.Address, h.hostPort)
	}
	p, err := newProver(cfg)
	if err != nil {
		return nil, err
	}
	return &signedConn{conn: h.conn, p: p}, nil
}

// dial opens a lazy connection to cfg.Address.HostPort with the transport
// security cfg asks for, keepalives, and opts.
func dial(cfg Config, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	creds, err := transportCredentials(cfg)
	if err != nil {
		return nil, err
	}
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		// Notice a connection that died silently (a watch would otherwise
		// wait in Recv until the OS gives up); vaultd permits pings every
		// 10 s.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: false}),
	}, append(opts, cfg.DialOptions...)...)
	conn, err := grpc.NewClient(cfg.Address.HostPort, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", cfg.Address.HostPort, err)
	}
	return conn, nil
}

// signedConn adds a proof to each call on a shared connection.
type signedConn struct {
	conn grpc.ClientConnInterface
	p    *prover
}

func (c *signedConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	ctx, err := c.p.withProof(ctx, method)
	if err != nil {
		return err
	}
	return c.conn.Invoke(ctx, method, args, reply, opts...)
}

func (c *signedConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx, err := c.p.withProof(ctx, method)
	if err != nil {
		return nil, err
	}
	return c.conn.NewStream(ctx, desc, method, opts...)
}

// DialPublic returns a connection without proofs, for the public
// VaultInfoService.
func DialPublic(cfg Config) (*grpc.ClientConn, error) { return dial(cfg) }

// IsLoopback reports whether host:port names a loopback host
// ("localhost", 127.0.0.0/8 or ::1).
func IsLoopback(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func transportCredentials(cfg Config) (credentials.TransportCredentials, error) {
	if cfg.TLS != nil {
		return credentials.NewTLS(cfg.TLS), nil
	}
	if cfg.Insecure || (cfg.CAFile == "" && IsLoopback(cfg.Address.HostPort)) {
		return insecure.NewCredentials(), nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return credentials.NewTLS(tc), nil
}

// prover signs a proof for each outgoing call.
type prover struct {
	cfg   Config
	embed map[string]bool
}

// newProver returns the prover of cfg, with its defaults filled in.
func newProver(cfg Config) (*prover, error) {
	if cfg.Key == nil {
		return nil, errors.New("vaultconn: Config.Key is required")
	}
	p := &prover{cfg: cfg, embed: map[string]bool{}}
	for _, m := range cfg.EmbedJWKMethods {
		p.embed[m] = true
	}
	if p.cfg.Now == nil {
		p.cfg.Now = time.Now
	}
	if p.cfg.Rand == nil {
		p.cfg.Rand = rand.Reader
	}
	if p.cfg.Audience == "" {
		p.cfg.Audience = cfg.Address.VaultID
	}
	return p, nil
}

func (p *prover) withProof(ctx context.Context, method string) (context.Context, error) {
	proof, err := consent.NewProof(p.cfg.Key, p.cfg.Audience, method, p.cfg.Now(), p.cfg.Rand, p.embed[method])
	if err != nil {
		return nil, fmt.Errorf("sign proof for %s: %w", method, err)
	}
	return metadata.AppendToOutgoingContext(ctx, consent.ProofMetadataKey, proof), nil
}

func (p *prover) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx, err := p.withProof(ctx, method)
	if err != nil {
		return err
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

func (p *prover) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx, err := p.withProof(ctx, method)
	if err != nil {
		return nil, err
	}
	return streamer(ctx, desc, cc, method, opts...)
}
