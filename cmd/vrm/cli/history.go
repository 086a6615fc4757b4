package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// ledgerPage is the page size vrm asks for when it reads the ledger.
const ledgerPage = 1000

// rememberHead records head, the vault's ledger head after this device
// appended the ledger entry entry (a consent record, a revocation or an
// owner-key removal; "" when the caller does not hold it, and the links
// are then followed from the saved head), as the last head vrm saw. It does so only when the ledger provably extends
// the head saved before: from the saved head to head, each entry's prev is
// the hash of the entry before it. Otherwise the saved head is kept, so
// that vrm verify still catches a host that dropped or rewrote history, and
// a warning says so. The decision is already stored in the vault, so
// nothing here fails the command: problems are warnings.
func (a *app) rememberHead(cmd *cobra.Command, s *session, entry string, head consent.Head) {
	cfg, err := loadConfig(s.home)
	if err != nil {
		warnf(a.env.Stderr, "the ledger head could not be saved: %v", err)
		return
	}
	saved := cfg.ledgerHead()
	ctx, cancel := a.callContext(cmd.Context())
	defer cancel()
	why, err := a.extendsHead(ctx, s, saved, entry, head)
	switch {
	case err != nil:
		warnf(a.env.Stderr, "could not check that the vault's ledger extends the head you saw last (%v); the saved head is kept: run vrm verify", rpcError(s.addr, a.timeout, err))
		return
	case why != "":
		warnHistory(a.env.Stderr, saved,
			strings.ToUpper(why[:1])+why[1:]+".",
			"Your decision was stored, but vrm kept the head it saved: run vrm verify,",
			"and do not trust this vault's consent records until you know why.")
		return
	}
	err = updateConfig(s.home, s.cfg, func(c *config) {
		if c.ledgerHead() == saved { // not moved by another vrm meanwhile
			c.setLedgerHead(head)
		}
	})
	if err != nil {
		warnf(a.env.Stderr, "the ledger head could not be saved: %v", err)
	}
}

// extendsHead checks that the vault's ledger, whose head is head after
// this device appended entry, extends saved. It returns "" if it does, the
// reason if it does not, and an error if it could not tell.
func (a *app) extendsHead(ctx context.Context, s *session, saved consent.Head, entry string, head consent.Head) (string, error) {
	switch {
	case head == saved, saved.Seq == 0:
		return "", nil
	case head.Seq < saved.Seq:
		return fmt.Sprintf("the vault's ledger now ends at entry %d, before entry %d that you saw", head.Seq, saved.Seq), nil
	case head.Seq == saved.Seq:
		return fmt.Sprintf("the vault's ledger entry %d is not the one you saw", saved.Seq), nil
	}
	// Usually the new entry follows the saved head directly, and says so.
	if e, err := consent.ParseLedgerEntry(entry); err == nil && e.Seq == saved.Seq+1 && e.Seq == head.Seq && consent.EntryHash(entry) == head.Hash {
		if e.Prev != saved.Hash {
			return fmt.Sprintf("the vault's ledger entry %d is not the one you saw", saved.Seq), nil
		}
		return "", nil
	}
	// Otherwise (another device wrote meanwhile) follow the links.
	prev, after := saved.Hash, saved.Seq
	for after < head.Seq {
		resp, err := s.client.Service().GetLedger(ctx, &vrmv1.GetLedgerRequest{
			VaultId: s.addr.VaultID, AfterSeq: after, PageSize: int32(min(head.Seq-after, ledgerPage)),
		})
		if err != nil {
			return "", err
		}
		if len(resp.GetEntries()) == 0 {
			return fmt.Sprintf("the vault's ledger has no entry %d, though it reported %d entries", after+1, head.Seq), nil
		}
		for _, le := range resp.GetEntries() {
			if after == head.Seq {
				break
			}
			e, err := consent.ParseLedgerEntry(le.GetJws())
			if err != nil {
				return fmt.Sprintf("the vault's ledger entry %d is malformed: %v", after+1, err), nil
			}
			if e.Seq != after+1 || e.Prev != prev {
				if after == saved.Seq {
					return fmt.Sprintf("the vault's ledger entry %d is not the one you saw", saved.Seq), nil
				}
				return fmt.Sprintf("the vault's ledger entry %d does not follow entry %d", after+1, after), nil
			}
			prev, after = consent.EntryHash(le.GetJws()), e.Seq
		}
	}
	if prev != head.Hash {
		return fmt.Sprintf("the vault's ledger entry %d is not the head it reported", head.Seq), nil
	}
	return "", nil
}

// warnf writes a one-line warning, "vrm: warning: ...".
func warnf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "vrm: warning: %s\n", cliexit.OneLine(fmt.Sprintf(format, args...)))
}

// warnHistory writes the loud warning about a ledger that does not extend
// the head vrm saw last, followed by lines of detail: several lines, each
// starting with "WARNING:", on purpose.
func warnHistory(w io.Writer, saved consent.Head, detail ...string) {
	lines := []string{
		"The vault's consent ledger does not extend the head you saw last",
		fmt.Sprintf("(entry %d, hash %s): its host dropped or rewrote history, and", saved.Seq, saved.Hash),
		"consents, denials or revocations you signed may be gone.",
	}
	for _, l := range append(lines, detail...) {
		fmt.Fprintf(w, "WARNING: %s\n", cliexit.OneLine(l))
	}
}
