package owner

import (
	"context"
	"fmt"

	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// CreateEnrollmentCode asks the vault for a one-time enrolment code for
// another device of the owner. The new device spends it with Enroll (vrm
// init) before it expires; anyone holding it until then can enrol a key,
// so it is a secret.
func (c *Client) CreateEnrollmentCode(ctx context.Context) (*vrmv1.CreateEnrollmentCodeResponse, error) {
	return c.svc.CreateEnrollmentCode(ctx, &vrmv1.CreateEnrollmentCodeRequest{VaultId: c.addr.VaultID})
}

// OwnerKeys returns the vault's owner keys, in thumbprint order.
func (c *Client) OwnerKeys(ctx context.Context) ([]*vrmv1.OwnerKey, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return nil, err
	}
	return st.GetOwnerKeys(), nil
}

// RemoveOwnerKey removes the owner key jkt (the exact thumbprint): it
// signs an owner-key "remove" entry with the client's key against the
// ledger head and submits it. If the vault's head moved meanwhile, it
// signs again against the head the vault reports and retries. The key may
// be the client's own: its later calls are then refused as an unknown key.
func (c *Client) RemoveOwnerKey(ctx context.Context, jkt string) (*vrmv1.RemoveOwnerKeyResponse, error) {
	ledger, err := c.svc.GetLedger(ctx, &vrmv1.GetLedgerRequest{VaultId: c.addr.VaultID, PageSize: 1, AfterSeq: ^uint64(0) - 1})
	if err != nil {
		return nil, err
	}
	head := consent.Head{Seq: ledger.GetHead().GetSeq(), Hash: ledger.GetHead().GetHash()}
	for attempt := 0; ; attempt++ {
		entry, err := consent.SignKeyEntry(c.key, consent.KeyEntryClaims{
			Op: consent.KeyOpRemove, JKT: jkt, Iat: c.now().Unix(), Seq: head.Seq + 1, Prev: head.Hash,
		})
		if err != nil {
			return nil, fmt.Errorf("sign key entry: %w", err)
		}
		resp, err := c.svc.RemoveOwnerKey(ctx, &vrmv1.RemoveOwnerKeyRequest{VaultId: c.addr.VaultID, Jkt: jkt, KeyEntry: entry})
		if h, ok := ledgerHeadDetail(err); ok && attempt < maxHeadRetries {
			head = h
			continue
		}
		return resp, err
	}
}
