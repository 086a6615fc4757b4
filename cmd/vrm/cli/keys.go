package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// keysResult is the JSON output of vrm keys list.
type keysResult struct {
	Vault string `json:"vault"`
	// OwnerKeys are the vault's owner keys, oldest enrolment first.
	OwnerKeys []ownerKeyOut `json:"owner_keys"`
}

// keysAddResult is the JSON output of vrm keys add.
type keysAddResult struct {
	Vault string `json:"vault"`
	// Code is the one-time enrolment code: a secret until it is used or
	// expires.
	Code string `json:"code"`
	// Expires is when the code stops working, RFC 3339 in UTC.
	Expires string `json:"expires"`
	// Command is what to run on the new device.
	Command string `json:"command"`
}

// keysRmResult is the JSON output of vrm keys rm.
type keysRmResult struct {
	Vault string `json:"vault"`
	// Removed is the key removed, as the vault listed it before.
	Removed ownerKeyOut `json:"removed"`
	// LedgerHead is the ledger's head after the remove entry.
	LedgerHead headOut `json:"ledger_head"`
}

func (a *app) keysCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List, add and remove your devices' owner keys",
		Long: `List, add and remove the owner keys of your vault: one per device of yours,
each able to act as you in the vault.

vrm keys add issues a one-time code on this device; the new device enrols its
own key with vrm init and that code. vrm keys rm removes a key with an entry
signed by this device's key. Both changes are recorded in the vault's consent
ledger, which vrm verify checks.`,
		Args: cobra.ArbitraryArgs,
		RunE: cliexit.Group,
	}
	cmd.AddCommand(a.keysListCommand(), a.keysAddCommand(), a.keysRmCommand())
	return cmd
}

func (a *app) keysListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the vault's owner keys",
		Long: `List the vault's owner keys: each key's thumbprint (JKT, its identity), the
device name given when it was enrolled, and when. This device's key is marked.`,
		Example: `  vrm keys list
  vrm keys list -o json`,
		Args: noArgs,
		RunE: cliexit.Run(func(cmd *cobra.Command, _ []string) error {
			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			keys, err := s.client.OwnerKeys(ctx)
			if err != nil {
				return rpcError(s.addr, a.timeout, err)
			}
			res := keysResult{Vault: s.addr.String(), OwnerKeys: ownerKeysOut(keys, s.key.Thumbprint())}
			slices.SortStableFunc(res.OwnerKeys, func(x, y ownerKeyOut) int {
				if c := strings.Compare(x.Enrolled, y.Enrolled); c != 0 {
					return c
				}
				return strings.Compare(x.JKT, y.JKT)
			})
			if a.format == cliout.JSON {
				return cliout.WriteJSON(a.env.Stdout, res)
			}
			if len(res.OwnerKeys) == 0 {
				return cliout.WriteOut(a.env.Stdout, []byte("No owner keys.\n"))
			}
			t := cliout.NewTable("JKT", "DEVICE", "ENROLLED")
			for _, k := range res.OwnerKeys {
				device := orDash(k.Device)
				if k.ThisDevice {
					device += " (this device)"
				}
				t.Row(k.JKT, device, orDash(k.Enrolled))
			}
			return t.WriteTo(a.env.Stdout)
		}),
	}
}

// ownerKeysOut converts the vault's owner keys for output; this is the
// thumbprint of this device's key.
func ownerKeysOut(keys []*vrmv1.OwnerKey, this string) []ownerKeyOut {
	out := make([]ownerKeyOut, 0, len(keys))
	for _, k := range keys {
		ko := ownerKeyOut{JKT: k.GetJkt(), Device: k.GetDeviceName(), ThisDevice: k.GetJkt() == this}
		if t := k.GetEnrollTime(); t != nil && t.IsValid() {
			ko.Enrolled = t.AsTime().UTC().Format(time.RFC3339)
		}
		out = append(out, ko)
	}
	return out
}

func (a *app) keysAddCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "add",
		Short: "Issue a one-time code to enrol another device",
		Long: `Ask the vault for a one-time enrolment code and print it, when it expires, and
the command to run on the new device:

  vrm init --vault ADDR --code CODE

The new device creates its own owner key and enrols it with the code; its key
never leaves it. Anyone who has the code can enrol a key of their own until it
is used or expires, so give it only to your new device. Once it is enrolled,
run vrm verify --trust JKT here with its key's thumbprint (vrm keys list) so
that vrm verify knows it is yours.`,
		Example: `  vrm keys add
  vrm keys add -o json`,
		Args: noArgs,
		RunE: cliexit.Run(func(cmd *cobra.Command, _ []string) error {
			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			resp, err := s.client.CreateEnrollmentCode(ctx)
			if err != nil {
				return rpcError(s.addr, a.timeout, err)
			}
			res := keysAddResult{
				Vault:   s.addr.String(),
				Code:    resp.GetCode(),
				Expires: tsOut(resp.GetExpireTime()),
				Command: initCommandLine(s.cfg, resp.GetCode()),
			}
			if a.format == cliout.JSON {
				return cliout.WriteJSON(a.env.Stdout, res)
			}
			t := cliout.NewTable()
			t.Row("Code:", res.Code+" (one-time; a secret until used)")
			expires := orDash(res.Expires)
			if ts := resp.GetExpireTime(); ts != nil && ts.IsValid() {
				expires += " (in " + formatDuration(ts.AsTime().Sub(a.env.Now()).Round(time.Minute)) + ")"
			}
			t.Row("Expires:", expires)
			t.Row("On the new device, run:", res.Command)
			return t.WriteTo(a.env.Stdout)
		}),
	}
}

// initCommandLine is the vrm init command that enrols a new device in the
// vault of cfg with code, with the transport flags this device uses.
func initCommandLine(cfg *config, code string) string {
	args := []string{"vrm", "init", "--vault", shellQuote(cfg.Vault), "--code", shellQuote(code)}
	if cfg.TLSCA != "" {
		args = append(args, "--tls-ca", shellQuote(cfg.TLSCA))
	}
	if cfg.Insecure {
		args = append(args, "--insecure")
	}
	return strings.Join(args, " ")
}

// shellQuote returns s as one word of a POSIX shell command line: as is
// when it holds only characters no shell treats specially, else in single
// quotes.
func shellQuote(s string) string {
	safe := s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r))
	})
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (a *app) keysRmCommand() *cobra.Command {
	var yes, force bool
	cmd := &cobra.Command{
		Use:   "rm JKT --yes",
		Short: "Remove an owner key, signed with this device's key",
		Long: `Remove the owner key JKT from the vault: vrm signs a "remove" entry with this
device's owner key, and the vault appends it to its consent ledger and forgets
the key in one step. From then on the removed device's calls are refused.

JKT is the key's whole thumbprint as vrm keys list shows it; a prefix is not
accepted. --yes confirms the removal, which only enrolling the device again
(vrm keys add, then vrm init on it) undoes. Removing this device's own key
locks this device out of the vault and needs --force as well. The vault never
removes its last owner key.`,
		Example: `  vrm keys rm 0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I --yes`,
		Args:    argsExactly(1, "JKT"),
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			jkt := args[0]
			if !validJKT(jkt) {
				return cliexit.Usagef(cmd, "JKT must be a whole key thumbprint (43 characters of A-Z a-z 0-9 _ -) as vrm keys list shows it; got %q", cliout.Short(jkt))
			}
			if !yes {
				return cliexit.Usagef(cmd, "removing an owner key cannot be undone; pass --yes to confirm")
			}
			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			this := jkt == s.key.Thumbprint()
			if this && !force {
				return fmt.Errorf("%s is this device's own owner key: removing it locks this device out of the vault; pass --force as well to remove it", jkt)
			}
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			keys, err := s.client.OwnerKeys(ctx)
			if err != nil {
				return rpcError(s.addr, a.timeout, err)
			}
			all := ownerKeysOut(keys, s.key.Thumbprint())
			i := slices.IndexFunc(all, func(k ownerKeyOut) bool { return k.JKT == jkt })
			if i < 0 {
				return fmt.Errorf("%s is not an owner key of the vault at %s (see vrm keys list)", jkt, s.addr)
			}
			if len(all) == 1 {
				return fmt.Errorf("%s is the vault's last owner key: the vault keeps at least one", jkt)
			}
			resp, err := s.client.RemoveOwnerKey(ctx, jkt)
			if err != nil {
				return rpcError(s.addr, a.timeout, err)
			}
			head := consent.Head{Seq: resp.GetLedgerHead().GetSeq(), Hash: resp.GetLedgerHead().GetHash()}
			if this {
				warnf(a.env.Stderr, "this device's key is no longer an owner key of the vault: to use this device again, issue a code on another device (vrm keys add) and run vrm init --force here")
			} else {
				a.rememberHead(cmd, s, "", head)
				err := updateConfig(s.home, s.cfg, func(c *config) {
					c.KnownOwnerKeys = slices.DeleteFunc(c.KnownOwnerKeys, func(k string) bool { return k == jkt })
				})
				if err != nil {
					warnf(a.env.Stderr, "the key was removed, but it could not be dropped from the keys vrm knows: %v", err)
				}
			}
			res := keysRmResult{Vault: s.addr.String(), Removed: all[i], LedgerHead: headOut{Seq: head.Seq, Hash: head.Hash}}
			if a.format == cliout.JSON {
				return cliout.WriteJSON(a.env.Stdout, res)
			}
			t := cliout.NewTable()
			desc := res.Removed.JKT + "  " + orDash(res.Removed.Device)
			if res.Removed.ThisDevice {
				desc += " (this device)"
			}
			t.Row("Removed:", desc)
			t.Row("Ledger entry:", strconv.FormatUint(res.LedgerHead.Seq, 10))
			return t.WriteTo(a.env.Stdout)
		}),
	}
	f := cmd.Flags()
	f.BoolVar(&yes, "yes", false, "confirm the removal")
	f.BoolVar(&force, "force", false, "allow removing this device's own key, which locks this device out")
	return cmd
}
