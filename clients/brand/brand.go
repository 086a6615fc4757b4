// Package brand is the Go client a brand integrates to ask customers'
// vaults for access, verify the customer-signed receipt, and read the
// consented fields. It signs a proof with the brand's key for every call
// (PROTOCOL.md section 2) and verifies receipts offline with package
// consent, against the owner keys of the vault's signed descriptor.
package brand

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// Client calls one vault as one brand key.
type Client struct {
	close func() error // closes the connection, if the Client owns it
	svc   vrmv1.BrandServiceClient
	info  vrmv1.VaultInfoServiceClient
	addr  vaultconn.Address
	key   *consent.PrivateKey
	now   func() time.Time

	pinnedVaultJKT string
}

// Dial returns a client for the vault at cfg.Address signing with cfg.Key,
// on a connection of its own. RequestAccess proofs carry the brand key as
// "jwk" (first contact); all others name it by "kid".
func Dial(cfg vaultconn.Config) (*Client, error) {
	conn, err := vaultconn.DialHost(cfg)
	if err != nil {
		return nil, err
	}
	c, err := New(conn, cfg)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	c.close = conn.Close
	return c, nil
}

// New returns a client for the vault at cfg.Address signing with cfg.Key,
// calling over conn: a connection to the vault's host that clients of
// other vaults on that host may share, so that a brand with many
// customers on one host holds one connection to it. cfg.Address must be
// on conn's host; cfg's transport settings are conn's, not cfg's.
// Closing the client leaves conn open; its owner closes it.
func New(conn *vaultconn.HostConn, cfg vaultconn.Config) (*Client, error) {
	// Clip, so that the caller's slice is never written to.
	cfg.EmbedJWKMethods = append(slices.Clip(cfg.EmbedJWKMethods), vrmv1.BrandService_RequestAccess_FullMethodName)
	signed, err := conn.Signed(cfg)
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Client{
		close: func() error { return nil },
		svc:   vrmv1.NewBrandServiceClient(signed),
		info:  vrmv1.NewVaultInfoServiceClient(signed),
		addr:  cfg.Address,
		key:   cfg.Key,
		now:   now,
	}, nil
}

// Close closes the connection, if the client has one of its own (Dial);
// a client from New leaves its shared connection open.
func (c *Client) Close() error { return c.close() }

// Address returns the vault's address.
func (c *Client) Address() vaultconn.Address { return c.addr }

// Service returns the raw BrandService client (proofs are still signed).
func (c *Client) Service() vrmv1.BrandServiceClient { return c.svc }

// Request is what a brand asks a customer for.
type Request struct {
	// Name is the brand's display name, shown to the customer.
	Name string
	// URL is the brand's URL, shown to the customer.
	URL string
	// Scopes are "action:path" scopes, e.g. "read:name.*".
	Scopes []string
	// Purposes are DPV purpose terms, e.g. "ServiceProvision".
	Purposes []string
	// Duration is how long the consent should last.
	Duration time.Duration
	// Reason says why, in at most 500 characters.
	Reason string
}

// RequestAccess asks the vault's owner for access and returns the stored
// (pending) request; keep its RequestId.
func (c *Client) RequestAccess(ctx context.Context, r Request) (*vrmv1.AccessRequest, error) {
	resp, err := c.svc.RequestAccess(ctx, &vrmv1.RequestAccessRequest{
		VaultId: c.addr.VaultID, BrandName: r.Name, BrandUrl: r.URL, Scopes: r.Scopes,
		Purposes: r.Purposes, Duration: durationpb.New(r.Duration), Reason: r.Reason,
	})
	if err != nil {
		return nil, err
	}
	return resp.GetRequest(), nil
}

// Consent returns the state of a request and, once decided, the consent
// with the owner-signed record.
func (c *Client) Consent(ctx context.Context, requestID string) (*vrmv1.GetConsentResponse, error) {
	return c.svc.GetConsent(ctx, &vrmv1.GetConsentRequest{VaultId: c.addr.VaultID, RequestId: requestID})
}

// WaitForDecision polls the request every interval until it is no longer
// pending or ctx is done.
func (c *Client) WaitForDecision(ctx context.Context, requestID string, interval time.Duration) (*vrmv1.GetConsentResponse, error) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		resp, err := c.Consent(ctx, requestID)
		if err != nil {
			return nil, err
		}
		if resp.GetRequest().GetState() != vrmv1.ConsentState_CONSENT_STATE_PENDING {
			return resp, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// Read returns the consented fields among paths ("a.b" or "a.*"; none
// means every consented path) and the customer's pairwise subject.
func (c *Client) Read(ctx context.Context, paths ...string) (*vrmv1.ReadProfileResponse, error) {
	return c.svc.ReadProfile(ctx, &vrmv1.ReadProfileRequest{VaultId: c.addr.VaultID, Paths: paths})
}

// PinVaultKey makes Descriptor (and so receipt verification) accept only
// a descriptor signed by the vault key with thumbprint jkt. Pin the key
// seen on first contact: a descriptor alone proves only that its own key
// signed it.
func (c *Client) PinVaultKey(jkt string) { c.pinnedVaultJKT = jkt }

// Descriptor fetches the vault's descriptor and verifies its signature by
// the vault key it names.
func (c *Client) Descriptor(ctx context.Context) (*consent.Descriptor, string, error) {
	resp, err := c.info.GetVaultDescriptor(ctx, &vrmv1.GetVaultDescriptorRequest{VaultId: c.addr.VaultID})
	if err != nil {
		return nil, "", err
	}
	d, err := consent.VerifyDescriptor(resp.GetSignedDescriptor(), c.addr.VaultID, c.pinnedVaultJKT)
	if err != nil {
		return nil, "", fmt.Errorf("vault descriptor: %w", err)
	}
	return d, resp.GetSignedDescriptor(), nil
}

// ErrNotGranted is returned by Receipt for a request that was not granted:
// pending, denied, or expired before a decision.
var ErrNotGranted = errors.New("request is not granted")

// Receipt returns the owner-signed consent record of a granted request,
// verified against the vault descriptor's owner keys, for this brand and
// vault, and answering requestID.
func (c *Client) Receipt(ctx context.Context, requestID string) (string, *consent.RecordClaims, error) {
	resp, err := c.Consent(ctx, requestID)
	if err != nil {
		return "", nil, err
	}
	rec := resp.GetConsent().GetRecord()
	if rec == "" || resp.GetRequest().GetState() == vrmv1.ConsentState_CONSENT_STATE_PENDING ||
		resp.GetConsent().GetState() == vrmv1.ConsentState_CONSENT_STATE_DENIED {
		return "", nil, fmt.Errorf("%w: state %s", ErrNotGranted, resp.GetRequest().GetState())
	}
	claims, err := c.VerifyReceipt(ctx, rec)
	if err != nil {
		return "", nil, err
	}
	if claims.RID != requestID {
		return "", nil, fmt.Errorf("vault sent the receipt of request %s for request %s", claims.RID, requestID)
	}
	return rec, claims, nil
}

// VerifyReceipt checks a receipt against the owner keys of the vault's
// signed descriptor, fetched now.
func (c *Client) VerifyReceipt(ctx context.Context, receipt string) (*consent.RecordClaims, error) {
	d, _, err := c.Descriptor(ctx)
	if err != nil {
		return nil, err
	}
	return consent.VerifyReceipt(receipt, d.OwnerKeys, c.addr.VaultID, c.key.Thumbprint(), c.now())
}

// IsRevoked reports whether err is the vault's answer to a call under a
// revoked consent.
func IsRevoked(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.PermissionDenied && st.Message() == "consent revoked"
}
