// Package owner is the Go client of OwnerService, used by the `vrm` CLI and
// by anything else that acts for a vault's owner. It signs a proof with
// the owner's key for every call; the key never leaves the caller.
package owner

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/profile/profilepb"
)

// Client calls one vault's OwnerService as one owner key.
type Client struct {
	conn *grpc.ClientConn
	svc  vrmv1.OwnerServiceClient
	info vrmv1.VaultInfoServiceClient
	addr vaultconn.Address
	key  *consent.PrivateKey
	now  func() time.Time
}

// Dial returns a client for the vault at cfg.Address signing with cfg.Key.
// Enroll's proofs carry the key as "jwk"; every other call's carry "kid".
func Dial(cfg vaultconn.Config) (*Client, error) {
	cfg.EmbedJWKMethods = append(cfg.EmbedJWKMethods, vrmv1.OwnerService_Enroll_FullMethodName)
	conn, err := vaultconn.Dial(cfg)
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Client{
		conn: conn,
		svc:  vrmv1.NewOwnerServiceClient(conn),
		info: vrmv1.NewVaultInfoServiceClient(conn),
		addr: cfg.Address,
		key:  cfg.Key,
		now:  now,
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Address returns the vault's address.
func (c *Client) Address() vaultconn.Address { return c.addr }

// Service returns the raw OwnerService client, for calls this package does
// not wrap. Proofs are still signed for every call.
func (c *Client) Service() vrmv1.OwnerServiceClient { return c.svc }

// Status returns the vault's identity and usage.
func (c *Client) Status(ctx context.Context) (*vrmv1.GetStatusResponse, error) {
	return c.svc.GetStatus(ctx, &vrmv1.GetStatusRequest{VaultId: c.addr.VaultID})
}

// GetProfile returns the fields at paths ("a.b" or "a.*"); none means all.
func (c *Client) GetProfile(ctx context.Context, paths ...string) (*vrmv1.GetProfileResponse, error) {
	return c.svc.GetProfile(ctx, &vrmv1.GetProfileRequest{VaultId: c.addr.VaultID, Paths: paths})
}

// Update applies changes as one atomic batch.
func (c *Client) Update(ctx context.Context, changes []*vrmv1.FieldChange) (*vrmv1.UpdateProfileResponse, error) {
	return c.svc.UpdateProfile(ctx, &vrmv1.UpdateProfileRequest{VaultId: c.addr.VaultID, Changes: changes})
}

// SetFields stores fields as one atomic batch, without version checks.
func (c *Client) SetFields(ctx context.Context, fields []profile.Field) (*vrmv1.UpdateProfileResponse, error) {
	changes := make([]*vrmv1.FieldChange, 0, len(fields))
	for _, f := range fields {
		changes = append(changes, SetChange(f))
	}
	return c.Update(ctx, changes)
}

// DeleteFields removes the fields at paths as one atomic batch.
func (c *Client) DeleteFields(ctx context.Context, paths ...string) (*vrmv1.UpdateProfileResponse, error) {
	changes := make([]*vrmv1.FieldChange, 0, len(paths))
	for _, p := range paths {
		changes = append(changes, DeleteChange(p))
	}
	return c.Update(ctx, changes)
}

// SetChange returns the change that stores f.
func SetChange(f profile.Field) *vrmv1.FieldChange {
	return &vrmv1.FieldChange{Path: f.Path, Change: &vrmv1.FieldChange_Set{Set: profilepb.ToProto(f.Value)}}
}

// DeleteChange returns the change that removes the field at path.
func DeleteChange(path string) *vrmv1.FieldChange {
	return &vrmv1.FieldChange{Path: path, Change: &vrmv1.FieldChange_Delete{Delete: true}}
}

// WithExpectedVersion returns ch applied only if the field's version is
// version (0: the field must not exist).
func WithExpectedVersion(ch *vrmv1.FieldChange, version uint64) *vrmv1.FieldChange {
	ch.ExpectedVersion = &version
	return ch
}

// Fields converts wire fields to domain fields, dropping none: a value
// that cannot be converted is an error.
func Fields(in []*vrmv1.Field) ([]profile.Field, error) {
	out := make([]profile.Field, 0, len(in))
	for _, f := range in {
		v, err := profilepb.FromProto(f.GetValue())
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.GetPath(), err)
		}
		out = append(out, profile.Field{Path: f.GetPath(), Value: v})
	}
	return out, nil
}
