// Package host is the Go client of HostService, for the operator of a
// multi-vault host (a privacy intermediary). Every call carries a proof
// signed by a host admin key with "aud" = the host id. The service
// manages vaults and never returns their content.
package host

import (
	"context"

	"google.golang.org/grpc"

	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// Client calls one host's HostService as one admin key.
type Client struct {
	conn *grpc.ClientConn
	svc  vrmv1.HostServiceClient
}

// Config says how to reach a host and who is calling.
type Config struct {
	// HostPort is the host's network address.
	HostPort string
	// HostID is the host's id, the "aud" of every proof.
	HostID string
	// Key is the admin key that signs the proofs.
	Key *consent.PrivateKey
	// Conn holds the transport options (CAFile, Insecure, TLS, Now, Rand,
	// DialOptions); its Address, Key and Audience are set from the fields
	// above.
	Conn vaultconn.Config
}

// Dial returns a client for the host.
func Dial(cfg Config) (*Client, error) {
	c := cfg.Conn
	c.Address = vaultconn.Address{HostPort: cfg.HostPort, VaultID: cfg.HostID}
	c.Key = cfg.Key
	c.Audience = cfg.HostID
	conn, err := vaultconn.Dial(c)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, svc: vrmv1.NewHostServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Service returns the raw HostService client (proofs are still signed).
func (c *Client) Service() vrmv1.HostServiceClient { return c.svc }

// CreateVault creates a vault (with quota, nil for the defaults) and
// returns its address and one-time enrolment code for the customer.
func (c *Client) CreateVault(ctx context.Context, quota *vrmv1.VaultQuota) (*vrmv1.CreateVaultResponse, error) {
	return c.svc.CreateVault(ctx, &vrmv1.CreateVaultRequest{Quota: quota})
}

// ListVaults returns one page of vaults with usage; pass the previous
// response's NextPageToken for the next ("" when done).
func (c *Client) ListVaults(ctx context.Context, pageSize int32, pageToken string) (*vrmv1.ListVaultsResponse, error) {
	return c.svc.ListVaults(ctx, &vrmv1.ListVaultsRequest{PageSize: pageSize, PageToken: pageToken})
}

// Suspend suspends a vault: it answers FAILED_PRECONDITION to everyone
// but the host.
func (c *Client) Suspend(ctx context.Context, vaultID string) error {
	_, err := c.svc.SuspendVault(ctx, &vrmv1.SuspendVaultRequest{VaultId: vaultID})
	return err
}

// Resume lifts a suspension.
func (c *Client) Resume(ctx context.Context, vaultID string) error {
	_, err := c.svc.ResumeVault(ctx, &vrmv1.ResumeVaultRequest{VaultId: vaultID})
	return err
}

// SetQuota sets the non-zero fields of quota and returns the quota in force.
func (c *Client) SetQuota(ctx context.Context, vaultID string, quota *vrmv1.VaultQuota) (*vrmv1.VaultQuota, error) {
	resp, err := c.svc.SetVaultQuota(ctx, &vrmv1.SetVaultQuotaRequest{VaultId: vaultID, Quota: quota})
	if err != nil {
		return nil, err
	}
	return resp.GetQuota(), nil
}

// Destroy deletes a vault: its data key first (crypto-shredding), then
// its data.
func (c *Client) Destroy(ctx context.Context, vaultID string) error {
	_, err := c.svc.DestroyVault(ctx, &vrmv1.DestroyVaultRequest{VaultId: vaultID})
	return err
}
