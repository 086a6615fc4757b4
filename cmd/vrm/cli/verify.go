package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault/audit"
)

// verifyResult is the JSON output of vrm verify.
type verifyResult struct {
	Vault  string `json:"vault"`
	Ledger struct {
		// Entries is how many ledger entries were verified.
		Entries uint64  `json:"entries"`
		Head    headOut `json:"head"`
	} `json:"ledger"`
	OwnerKeys []verifiedKeyOut `json:"owner_keys"`
	Consents  struct {
		// Granted counts granted consents not revoked (expired ones
		// included); Active those of them in force now.
		Granted int `json:"granted"`
		Active  int `json:"active"`
		Revoked int `json:"revoked"`
		Denied  int `json:"denied"`
	} `json:"consents"`
	Audit struct {
		Entries     uint64  `json:"entries"`
		Head        headOut `json:"head"`
		Checkpoints int     `json:"checkpoints"`
	} `json:"audit"`
	// VaultKey is the thumbprint of the vault key that signed the
	// descriptor and the checkpoints.
	VaultKey string `json:"vault_key"`
	// VaultKeyPinnedNow is true when this run pinned the vault key (none
	// was pinned before).
	VaultKeyPinnedNow bool `json:"vault_key_pinned_now"`
	// Warnings are also written to standard error.
	Warnings []string `json:"warnings"`
}

// verifiedKeyOut is an owner key in force in the verified ledger.
type verifiedKeyOut struct {
	JKT        string `json:"jkt"`
	Device     string `json:"device"`
	AddedSeq   uint64 `json:"added_seq"`
	ThisDevice bool   `json:"this_device"`
	// Known is true for this device's key and for keys you trusted
	// (vrm verify --trust).
	Known bool `json:"known"`
}

func (a *app) verifyCommand() *cobra.Command {
	var trust []string
	cmd := &cobra.Command{
		Use:   "verify [--trust JKT...]",
		Short: "Check the vault's consent ledger, owner keys and audit log end to end",
		Long: `Check the vault from your side, trusting nothing the vault says that is not
signed or hashed:

  - the consent ledger: every consent record, revocation and owner-key entry
    is signed by an owner key in force at that point, and each links to the
    one before it by hash;
  - that the ledger extends the head vrm saw last (saved in config.json by
    vrm init, grant, deny, revoke, keys rm and verify). If it does not, the
    vault's host dropped or rewrote history: vrm warns loudly, exits with
    status 1 and keeps the saved head;
  - the vault's descriptor (which brands use to check your consent receipts):
    signed by the vault key pinned at vrm init (or now, on first use), and
    listing the owner keys of the ledger;
  - the audit log's hash chain and the checkpoints signed by the vault key.

Owner keys that are neither this device's nor trusted with --trust are shown
as warnings: a host that issues itself an enrolment code can add an owner key
of its own. If the key is one of your other devices, run
vrm verify --trust JKT once; it is remembered.

On success the new ledger and audit heads are saved. --timeout bounds the
whole check.`,
		Example: `  vrm verify
  vrm verify --trust 0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I`,
		Args: noArgs,
		RunE: cliexit.Run(func(cmd *cobra.Command, _ []string) error {
			for _, k := range trust {
				if !validJKT(k) {
					return cliexit.Usagef(cmd, "--trust must be a key thumbprint (43 characters of A-Z a-z 0-9 _ -); got %q", cliout.Short(k))
				}
			}
			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			saved := s.cfg.ledgerHead()
			known := append([]string{s.key.Thumbprint()}, s.cfg.KnownOwnerKeys...)
			known = append(known, trust...)
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			rep, err := s.client.Verify(ctx, saved, s.cfg.VaultKeyJKT, known)
			if err != nil {
				return a.verifyFailed(s, saved, rep, err)
			}
			if ah := s.cfg.AuditHead; ah != nil && (rep.AuditHead.Seq < ah.Seq || rep.AuditHead.Seq == ah.Seq && rep.AuditHead.Hash != ah.Hash) {
				for _, l := range []string{
					fmt.Sprintf("The vault's audit log ends at entry %d, but when you last verified it", rep.AuditHead.Seq),
					fmt.Sprintf("had entry %d (hash %s): its host dropped or rewrote audit entries.", ah.Seq, ah.Hash),
					"vrm kept the audit head it saved; do not trust this vault's audit log until you know why.",
				} {
					fmt.Fprintf(a.env.Stderr, "WARNING: %s\n", cliexit.OneLine(l))
				}
				return fmt.Errorf("verification failed: the audit log no longer holds entry %d that you verified before", ah.Seq)
			}

			res := a.verifyReport(s, rep, trust)
			err = updateConfig(s.home, s.cfg, func(c *config) {
				if h := c.ledgerHead(); rep.Ledger.Extends(h) && rep.Ledger.Head.Seq >= h.Seq {
					c.setLedgerHead(rep.Ledger.Head)
				}
				if c.AuditHead == nil || rep.AuditHead.Seq >= c.AuditHead.Seq {
					c.AuditHead = &savedHead{Seq: rep.AuditHead.Seq, Hash: rep.AuditHead.Hash}
				}
				if c.VaultKeyJKT == "" {
					c.VaultKeyJKT, res.VaultKeyPinnedNow = rep.VaultKey, true
				}
				for _, k := range trust {
					if !c.knows(k) && slices.ContainsFunc(res.OwnerKeys, func(o verifiedKeyOut) bool { return o.JKT == k }) {
						c.KnownOwnerKeys = append(c.KnownOwnerKeys, k)
					}
				}
			})
			if err != nil {
				return fmt.Errorf("the vault verified, but what vrm saw could not be saved: %w", err)
			}
			for _, w := range res.Warnings {
				warnf(a.env.Stderr, "%s", w)
			}
			if a.format == cliout.JSON {
				return cliout.WriteJSON(a.env.Stdout, res)
			}
			return writeVerifyTable(a, res)
		}),
	}
	cmd.Flags().StringSliceVar(&trust, "trust", nil, "owner key thumbprint of another device of yours, to remember as known (repeatable)")
	return cmd
}

// verifyReport turns what Verify checked into vrm's result, with its
// warnings.
func (a *app) verifyReport(s *session, rep *owner.VerifyReport, trust []string) verifyResult {
	var res verifyResult
	res.Vault = s.addr.String()
	res.Ledger.Entries = rep.Ledger.Head.Seq
	res.Ledger.Head = headOut{Seq: rep.Ledger.Head.Seq, Hash: rep.Ledger.Head.Hash}
	res.Audit.Entries = rep.AuditHead.Seq
	res.Audit.Head = headOut{Seq: rep.AuditHead.Seq, Hash: rep.AuditHead.Hash}
	res.Audit.Checkpoints = rep.Checkpoints
	res.VaultKey = rep.VaultKey
	res.OwnerKeys = []verifiedKeyOut{}
	res.Warnings = []string{}

	this := s.key.Thumbprint()
	for _, o := range rep.Ledger.Owners {
		jkt := o.Key.Thumbprint()
		res.OwnerKeys = append(res.OwnerKeys, verifiedKeyOut{
			JKT: jkt, Device: o.Device, AddedSeq: o.AddedSeq, ThisDevice: jkt == this,
			Known: s.cfg.knows(jkt) || slices.Contains(trust, jkt),
		})
	}
	if !slices.ContainsFunc(res.OwnerKeys, func(o verifiedKeyOut) bool { return o.ThisDevice }) {
		res.Warnings = append(res.Warnings, fmt.Sprintf("this device's owner key %s is not an owner key in the vault's ledger", this))
	}
	for _, jkt := range rep.UnknownOwnerKeys {
		i := slices.IndexFunc(res.OwnerKeys, func(o verifiedKeyOut) bool { return o.JKT == jkt })
		desc := ""
		if i >= 0 {
			desc = fmt.Sprintf(" (device %q, added by ledger entry %d)", res.OwnerKeys[i].Device, res.OwnerKeys[i].AddedSeq)
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("owner key %s%s is not one this vrm knows: if it is another device of yours, run vrm verify --trust %s; if not, someone else can act as you in this vault", jkt, desc, jkt))
	}
	if rep.DescriptorMismatch {
		res.Warnings = append(res.Warnings, "the vault's signed descriptor lists other owner keys than its ledger: brands checking your consent receipts trust the descriptor's keys")
	}
	for _, k := range trust {
		if !slices.ContainsFunc(res.OwnerKeys, func(o verifiedKeyOut) bool { return o.JKT == k }) {
			res.Warnings = append(res.Warnings, fmt.Sprintf("--trust %s: not an owner key in the vault's ledger; not remembered", k))
		}
	}

	now := a.env.Now()
	for _, c := range rep.Ledger.Consents {
		switch {
		case c.Record.Status != consent.StatusGranted:
			res.Consents.Denied++
		case c.Revoked():
			res.Consents.Revoked++
		default:
			res.Consents.Granted++
			if c.ActiveAt(now) {
				res.Consents.Active++
			}
		}
	}
	return res
}

func writeVerifyTable(a *app, res verifyResult) error {
	t := cliout.NewTable()
	t.Row("Vault:", res.Vault)
	t.Row("Ledger:", fmt.Sprintf("%d entries: signatures and hash chain verified", res.Ledger.Entries))
	t.Row("Ledger head:", fmt.Sprintf("%d %s (saved)", res.Ledger.Head.Seq, orDash(res.Ledger.Head.Hash)))
	var keys []string
	for _, k := range res.OwnerKeys {
		desc := fmt.Sprintf("%s  %s (added by entry %d)", k.JKT, k.Device, k.AddedSeq)
		switch {
		case k.ThisDevice:
			desc += " (this device)"
		case !k.Known:
			desc += " (NOT KNOWN to this vrm)"
		}
		keys = append(keys, desc)
	}
	rows(t, "Owner keys:", keys)
	c := res.Consents
	t.Row("Consents:", fmt.Sprintf("%d granted (%d active), %d revoked, %d denied", c.Granted, c.Active, c.Revoked, c.Denied))
	t.Row("Audit log:", fmt.Sprintf("%d entries: hash chain verified; %d signed checkpoints verified", res.Audit.Entries, res.Audit.Checkpoints))
	pinned := "(pinned)"
	if res.VaultKeyPinnedNow {
		pinned = "(pinned now)"
	}
	t.Row("Vault key:", res.VaultKey+" "+pinned)
	if len(res.Warnings) > 0 {
		t.Row("Warnings:", strconv.Itoa(len(res.Warnings))+" (see above)")
	}
	return t.WriteTo(a.env.Stdout)
}

// verifyFailed reports a failed verification: loudly for a rewritten
// history or a changed vault key, as one line naming the entry for a
// broken chain. Nothing is saved.
func (a *app) verifyFailed(s *session, saved consent.Head, rep *owner.VerifyReport, err error) error {
	var (
		ce *consent.ChainError
		ae *audit.ChainError
		gs interface{ GRPCStatus() *status.Status }
	)
	switch {
	case errors.Is(err, owner.ErrHistoryRewritten):
		detail := []string{}
		if rep != nil && rep.Ledger != nil {
			detail = append(detail, fmt.Sprintf("The vault's ledger now has %d entries, each validly signed, but not the one you saw.", rep.Ledger.Head.Seq))
		}
		detail = append(detail,
			"vrm kept the head saved in "+filepath.Join(s.home, configFile)+";",
			"do not trust this vault's consent records until you know why.")
		warnHistory(a.env.Stderr, saved, detail...)
		return fmt.Errorf("verification failed: %v", err)
	case errors.Is(err, owner.ErrVaultKeyChanged):
		for _, l := range []string{
			fmt.Sprintf("The vault's descriptor is not signed by the vault key pinned when you enrolled (%s).", s.cfg.VaultKeyJKT),
			"Either the host replaced the vault's key or someone else answers for your vault;",
			"brands checking your consent receipts would trust what it signs.",
			"vrm kept the pinned key; do not trust this vault until you know why.",
		} {
			fmt.Fprintf(a.env.Stderr, "WARNING: %s\n", cliexit.OneLine(l))
		}
		return fmt.Errorf("verification failed: %v", err)
	case errors.As(err, &ce):
		return fmt.Errorf("verification failed: %v", ce)
	case errors.As(err, &ae):
		if ae.Seq == 0 {
			return fmt.Errorf("verification failed: audit checkpoint: %s", ae.Reason)
		}
		return fmt.Errorf("verification failed: %v", ae)
	case errors.As(err, &gs):
		if inner, ok := gs.(error); ok {
			prefix := strings.TrimSuffix(err.Error(), inner.Error())
			return fmt.Errorf("verification failed: %s%v", prefix, rpcError(s.addr, a.timeout, inner))
		}
	}
	return fmt.Errorf("verification failed: %v", err)
}
