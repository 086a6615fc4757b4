package brand

import (
	"context"

	"google.golang.org/grpc"

	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/profile/profilepb"
)

// Watch opens a stream of the consented fields: with afterCursor 0 the
// current values first, then every change as it commits, each with a
// cursor. Pass the last cursor received to resume without loss or
// duplicates. The stream ends with PERMISSION_DENIED "consent revoked" or
// "consent expired" when the brand loses its watch consent.
func (c *Client) Watch(ctx context.Context, afterCursor uint64, paths ...string) (grpc.ServerStreamingClient[vrmv1.WatchProfileResponse], error) {
	return c.svc.WatchProfile(ctx, &vrmv1.WatchProfileRequest{VaultId: c.addr.VaultID, Paths: paths, AfterCursor: afterCursor})
}

// WatchConsent opens a stream of the request's states: the current one,
// then each change (granted, denied, revoked, expired), ending after a
// final state.
func (c *Client) WatchConsent(ctx context.Context, requestID string) (grpc.ServerStreamingClient[vrmv1.WatchConsentResponse], error) {
	return c.svc.WatchConsent(ctx, &vrmv1.WatchConsentRequest{VaultId: c.addr.VaultID, RequestId: requestID})
}

// Acknowledge tells the vault the brand has processed every change up to
// cursor, so the customer sees it is up to date.
func (c *Client) Acknowledge(ctx context.Context, cursor uint64) error {
	_, err := c.svc.AcknowledgeProfileChanges(ctx, &vrmv1.AcknowledgeProfileChangesRequest{VaultId: c.addr.VaultID, Cursor: cursor})
	return err
}

// Namespace returns the brand's own namespace in every vault,
// "brands.<jkt>": contributions are written below it.
func (c *Client) Namespace() string { return "brands." + c.key.Thumbprint() }

// Write stores the brand's own records (paths under Namespace()) as one
// atomic batch; it needs a write:brands.<jkt>.* consent.
func (c *Client) Write(ctx context.Context, fields ...profile.Field) (uint64, error) {
	changes := make([]*vrmv1.FieldChange, 0, len(fields))
	for _, f := range fields {
		changes = append(changes, &vrmv1.FieldChange{Path: f.Path, Change: &vrmv1.FieldChange_Set{Set: profilepb.ToProto(f.Value)}})
	}
	resp, err := c.svc.WriteContributions(ctx, &vrmv1.WriteContributionsRequest{VaultId: c.addr.VaultID, Changes: changes})
	if err != nil {
		return 0, err
	}
	return resp.GetSeq(), nil
}
