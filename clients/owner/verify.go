package owner

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/audit"
)

// ErrHistoryRewritten is returned by Verify when the vault's ledger does
// not extend the head the owner saw last: the host dropped or rewrote
// history.
var ErrHistoryRewritten = errors.New("the vault's ledger does not extend the head you saw last: history was dropped or rewritten")

// ErrVaultKeyChanged is returned by Verify when the vault's descriptor is
// signed by another key than the one pinned.
var ErrVaultKeyChanged = errors.New("the vault key changed since you enrolled")

// VerifyReport is what Verify checked.
type VerifyReport struct {
	// Ledger is the verified ledger's state.
	Ledger *consent.LedgerState
	// AuditHead is the head of the verified audit log.
	AuditHead audit.Head
	// Checkpoints is how many signed checkpoints were verified.
	Checkpoints int
	// VaultKey is the thumbprint of the key that signed the descriptor and
	// the checkpoints.
	VaultKey string
	// UnknownOwnerKeys are owner keys the vault lists that the caller did
	// not name as known (see Verify).
	UnknownOwnerKeys []string
	// DescriptorMismatch is set when the descriptor's owner keys differ
	// from the ledger's.
	DescriptorMismatch bool
}

// Verify checks the vault end to end from the owner's side: the consent
// ledger (every signature, the hash chain, the owner keys in force), that
// it extends savedHead (the head this owner saw last; zero to skip), the
// descriptor's signature by the vault key (pinned to pinnedVaultJKT when
// not empty) and its owner keys against the ledger's, and the audit log's
// hash chain and signed checkpoints. A broken chain is a
// *consent.ChainError or *audit.ChainError naming the entry.
func (c *Client) Verify(ctx context.Context, savedHead consent.Head, pinnedVaultJKT string, knownKeys []string) (*VerifyReport, error) {
	entries, head, err := c.Ledger(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch ledger: %w", err)
	}
	state, err := consent.VerifyChain(c.addr.VaultID, entries)
	if err != nil {
		return nil, err
	}
	if state.Head != head {
		return nil, fmt.Errorf("ledger head reported as %d but the entries end at %d", head.Seq, state.Head.Seq)
	}
	rep := &VerifyReport{Ledger: state}
	if !state.Extends(savedHead) {
		return rep, fmt.Errorf("%w (you saw entry %d)", ErrHistoryRewritten, savedHead.Seq)
	}

	desc, err := c.info.GetVaultDescriptor(ctx, &vrmv1.GetVaultDescriptorRequest{VaultId: c.addr.VaultID})
	if err != nil {
		return rep, fmt.Errorf("fetch descriptor: %w", err)
	}
	d, err := consent.VerifyDescriptor(desc.GetSignedDescriptor(), c.addr.VaultID, pinnedVaultJKT)
	if err != nil {
		if pinnedVaultJKT != "" {
			return rep, fmt.Errorf("%w: %v", ErrVaultKeyChanged, err)
		}
		return rep, err
	}
	rep.VaultKey = d.VaultKey.Thumbprint()
	ledgerKeys := thumbprints(state.OwnerKeys())
	if !slices.Equal(ledgerKeys, thumbprints(d.OwnerKeys)) {
		rep.DescriptorMismatch = true
	}
	for _, k := range ledgerKeys {
		if len(knownKeys) > 0 && !slices.Contains(knownKeys, k) {
			rep.UnknownOwnerKeys = append(rep.UnknownOwnerKeys, k)
		}
	}

	v := audit.NewVerifier()
	checked := map[uint64]bool{}
	var after uint64
	for {
		page, err := c.AuditPage(ctx, &vrmv1.ListAuditEntriesRequest{AfterSeq: after, PageSize: 500})
		if err != nil {
			return rep, fmt.Errorf("fetch audit log: %w", err)
		}
		for _, e := range page.GetEntries() {
			if _, err := v.Add(e.GetCanonical()); err != nil {
				return rep, err
			}
		}
		for _, cp := range page.GetCheckpoints() {
			if cp.GetSeq() > v.Head().Seq {
				continue // covers entries of a later page; seen again there
			}
			if _, err := v.CheckCheckpoint(cp.GetJws(), cp.GetSeq(), c.addr.VaultID, d.VaultKey); err != nil {
				return rep, err
			}
			checked[cp.GetSeq()] = true
			rep.Checkpoints++
		}
		if page.GetNextAfterSeq() == 0 {
			break
		}
		after = page.GetNextAfterSeq()
	}
	rep.AuditHead = v.Head()
	// The vault signs a checkpoint at least every CheckpointEvery entries.
	for seq := uint64(audit.CheckpointEvery); seq <= rep.AuditHead.Seq; seq += audit.CheckpointEvery {
		if !checked[seq] {
			return rep, &audit.ChainError{Seq: seq, Reason: "no signed checkpoint covers this entry"}
		}
	}
	return rep, nil
}

func thumbprints(keys []consent.PublicKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Thumbprint()
	}
	slices.Sort(out)
	return out
}
