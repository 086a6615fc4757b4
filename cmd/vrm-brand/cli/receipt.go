package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// Validity of a verified receipt at the time of the check.
const (
	validityActive   = "active"
	validityExpired  = "expired"
	validityNotYet   = "not yet valid"
	descriptorOnline = "vault"
	descriptorFile   = "file"
)

// verifyResult is the JSON output of vrm-brand verify-receipt.
type verifyResult struct {
	// Vault is the vault address given.
	Vault string `json:"vault"`
	// Valid is always true: a receipt that does not verify is an error.
	Valid bool `json:"valid"`
	// ConsentID, RequestID, BrandJKT, Subject and Status are the record's
	// cid, rid, brand, sub and status claims.
	ConsentID string `json:"consent_id"`
	RequestID string `json:"request_id"`
	BrandJKT  string `json:"brand_jkt"`
	Subject   string `json:"subject"`
	Status    string `json:"status"`
	// Scopes and Purposes are those granted.
	Scopes   []string `json:"scopes"`
	Purposes []string `json:"purposes"`
	// Issued, NotBefore and Expires are iat, nbf (iat when 0) and exp,
	// RFC 3339 in UTC.
	Issued    string `json:"issued"`
	NotBefore string `json:"not_before"`
	Expires   string `json:"expires"`
	// Expired says whether exp has passed; Validity is active, expired or
	// "not yet valid". A receipt cannot show a later revocation.
	Expired  bool   `json:"expired"`
	Validity string `json:"validity"`
	// SignedBy is the thumbprint of the owner key that signed it.
	SignedBy string `json:"signed_by"`
	// VaultJKT is the thumbprint of the vault key that signed the
	// descriptor, and VaultKeyPinned whether it is the key pinned for
	// the vault (false: no key was pinned yet).
	VaultJKT       string `json:"vault_jkt"`
	VaultKeyPinned bool   `json:"vault_key_pinned"`
	// Descriptor says where the descriptor came from: vault or file.
	Descriptor string `json:"descriptor"`
}

func (a *app) receiptCommand() *cobra.Command {
	var vault string
	cmd := &cobra.Command{
		Use:   "receipt --vault ADDR [REQUEST_ID] > receipt.jws",
		Short: "Print the customer-signed receipt of a granted request",
		Long: `Print the receipt of a granted request: the consent record the customer
signed, a compact JWS, followed by a newline, whatever -o says. Before it is
printed it is verified against the owner keys of the vault's descriptor
(signed by the pinned vault key), for this brand and this vault.

Keep it: vrm-brand verify-receipt checks it later, offline with a saved
descriptor. Without REQUEST_ID, the latest request this brand key made of
the vault from this home is used.`,
		Example: `  vrm-brand receipt --vault vault.example.net:443/v_3kq9 > receipt.jws`,
		Args:    argsAtMost(1),
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			addr, err := vaultconn.ParseAddress(vault)
			if err != nil {
				return cliexit.Usagef(cmd, "--vault: %v", err)
			}
			if len(args) == 1 && !validRequestID(args[0]) {
				return cliexit.Usagef(cmd, "%q is not a request id", cliout.Short(args[0]))
			}
			s, err := a.open(addr)
			if err != nil {
				return err
			}
			defer s.Close()
			id, err := a.requestID(s, args)
			if err != nil {
				return err
			}
			rec, err := a.receipt(cmd.Context(), s, id)
			if err != nil {
				return err
			}
			return cliout.WriteOut(a.env.Stdout, []byte(rec+"\n"))
		}),
	}
	cmd.Flags().StringVar(&vault, "vault", "", "vault address, host:port/<vault-id>")
	_ = cmd.MarkFlagRequired("vault")
	return cmd
}

// receipt fetches the receipt of request id and verifies it.
func (a *app) receipt(ctx context.Context, s *session, id string) (string, error) {
	d, _, err := a.fetchDescriptor(ctx, s)
	if err != nil {
		return "", err
	}
	cctx, cancel := a.callContext(ctx)
	defer cancel()
	resp, err := s.client.Consent(cctx, id)
	if err != nil {
		return "", rpcError(s.addr, a.timeout, err)
	}
	c := resp.GetConsent()
	reqState := resp.GetRequest().GetState()
	switch {
	case reqState == vrmv1.ConsentState_CONSENT_STATE_PENDING:
		return "", fmt.Errorf("request %s is still pending: there is no receipt yet", id)
	case c.GetState() == vrmv1.ConsentState_CONSENT_STATE_DENIED:
		return "", fmt.Errorf("request %s was denied: there is no receipt", id)
	case c.GetRecord() == "":
		return "", fmt.Errorf("request %s has no consent record (state %s)", id, stateName(reqState))
	}
	rec := c.GetRecord()
	claims, err := consent.VerifyReceipt(rec, d.OwnerKeys, s.addr.VaultID, s.key.Thumbprint(), a.env.Now())
	if err != nil {
		return "", fmt.Errorf("the vault at %s sent a receipt that does not verify: %w", s.addr, receiptError(err))
	}
	if claims.RID != id {
		return "", fmt.Errorf("the vault at %s sent the receipt of request %s, not of %s", s.addr, claims.RID, id)
	}
	switch c.GetState() {
	case vrmv1.ConsentState_CONSENT_STATE_REVOKED:
		a.warnf("note: consent %s has been revoked; the receipt shows only that it was granted", claims.CID)
	case vrmv1.ConsentState_CONSENT_STATE_EXPIRED:
		a.warnf("note: consent %s has expired", claims.CID)
	}
	return rec, nil
}

func (a *app) descriptorCommand() *cobra.Command {
	var vault string
	cmd := &cobra.Command{
		Use:   "descriptor --vault ADDR > vault.jws",
		Short: "Print the vault's signed descriptor",
		Long: `Print the vault's descriptor, a compact JWS signed by the vault key that lists
the owner keys in force, followed by a newline, whatever -o says. It is
verified first: signed by the vault key it carries and, once a key is
pinned for the vault, by the pinned key (on first contact, the key is
pinned). Save it to check receipts offline with verify-receipt --descriptor.`,
		Example: `  vrm-brand descriptor --vault vault.example.net:443/v_3kq9 > vault.jws`,
		Args:    noArgs,
		RunE: cliexit.Run(func(cmd *cobra.Command, _ []string) error {
			addr, err := vaultconn.ParseAddress(vault)
			if err != nil {
				return cliexit.Usagef(cmd, "--vault: %v", err)
			}
			s, err := a.open(addr)
			if err != nil {
				return err
			}
			defer s.Close()
			d, _, err := a.fetchDescriptor(cmd.Context(), s)
			if err != nil {
				return err
			}
			return cliout.WriteOut(a.env.Stdout, []byte(d.JWS+"\n"))
		}),
	}
	cmd.Flags().StringVar(&vault, "vault", "", "vault address, host:port/<vault-id>")
	_ = cmd.MarkFlagRequired("vault")
	return cmd
}

func (a *app) verifyReceiptCommand() *cobra.Command {
	var vault, descFile string
	cmd := &cobra.Command{
		Use:   "verify-receipt RECEIPT_FILE --vault ADDR [--descriptor FILE]",
		Short: "Check a receipt against the vault's owner keys",
		Long: `Check a receipt saved by vrm-brand receipt (- reads it from standard input):
that it is a consent record granting access to this brand (this home's key)
in the vault at ADDR, signed by one of the vault's owner keys. The owner
keys come from the vault's descriptor, fetched from the vault or, offline,
read from a descriptor saved by vrm-brand descriptor; either way it must be
signed by the vault key pinned for the vault.

It prints the consent id, the scopes and purposes granted, the customer's
pairwise subject and the validity. An expired receipt still verifies (exit
status 0, validity "expired"); a receipt cannot show that the consent was
not revoked since: ask vrm-brand status for that. Any failure is exit
status 1 with one line saying why.`,
		Example: `  vrm-brand verify-receipt receipt.jws --vault vault.example.net:443/v_3kq9
  vrm-brand verify-receipt receipt.jws --vault vault.example.net:443/v_3kq9 --descriptor vault.jws`,
		Args: argsExactly(1, "RECEIPT_FILE"),
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			addr, err := vaultconn.ParseAddress(vault)
			if err != nil {
				return cliexit.Usagef(cmd, "--vault: %v", err)
			}
			if args[0] == "" {
				return cliexit.Usagef(cmd, "empty RECEIPT_FILE")
			}
			if cmd.Flags().Changed("descriptor") && descFile == "" {
				return cliexit.Usagef(cmd, "--descriptor: empty file name")
			}
			return a.verifyReceipt(cmd.Context(), addr, args[0], descFile)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&vault, "vault", "", "vault address, host:port/<vault-id>")
	f.StringVar(&descFile, "descriptor", "", "signed vault descriptor saved by vrm-brand descriptor (default: fetch it from the vault)")
	_ = cmd.MarkFlagRequired("vault")
	_ = cmd.MarkFlagFilename("descriptor", "jws")
	return cmd
}

// verifyReceipt checks the receipt in file against the descriptor of the
// vault at addr, read from descFile or, when it is "", fetched.
func (a *app) verifyReceipt(ctx context.Context, addr vaultconn.Address, file, descFile string) error {
	receipt, err := a.readJWS(file, "receipt", consent.MaxLedgerEntryLen)
	if err != nil {
		return err
	}
	home, key, _, err := a.loadIdentity()
	if err != nil {
		return err
	}
	var (
		d      *consent.Descriptor
		pinned bool
		source = descriptorOnline
	)
	if descFile != "" {
		source = descriptorFile
		compact, err := a.readJWS(descFile, "descriptor", consent.MaxDescriptorLen)
		if err != nil {
			return err
		}
		if d, err = consent.VerifyDescriptor(compact, addr.VaultID, ""); err != nil {
			return descriptorError(addr, err)
		}
		st, err := loadState(home)
		if err != nil {
			return err
		}
		if pin := st.pinnedKey(addr); pin != "" {
			if err := checkPin(addr, d, pin, home); err != nil {
				return err
			}
			pinned = true
		}
	} else {
		s, err := a.open(addr)
		if err != nil {
			return err
		}
		defer s.Close()
		if d, pinned, err = a.fetchDescriptor(ctx, s); err != nil {
			return err
		}
	}

	now := a.env.Now()
	c, err := consent.VerifyReceipt(receipt, d.OwnerKeys, addr.VaultID, key.Thumbprint(), now)
	if err != nil {
		return receiptError(err)
	}
	e, err := consent.ParseLedgerEntry(receipt)
	if err != nil { // cannot happen: VerifyReceipt parsed it
		return receiptError(err)
	}
	if !pinned && source == descriptorFile {
		a.warnf("warning: no vault key is pinned for %s (no contact from this home); the descriptor's key %s was trusted", addr, d.VaultKey.Thumbprint())
	}
	nbf := c.Nbf
	if nbf == 0 {
		nbf = c.Iat
	}
	res := verifyResult{
		Vault: addr.String(), Valid: true,
		ConsentID: c.CID, RequestID: c.RID, BrandJKT: c.Brand, Subject: c.Sub, Status: c.Status,
		Scopes: nonNil(c.Scopes), Purposes: nonNil(c.Purposes),
		Issued: formatTime(time.Unix(c.Iat, 0)), NotBefore: formatTime(time.Unix(nbf, 0)), Expires: formatTime(time.Unix(c.Exp, 0)),
		Expired: c.Expired(now), SignedBy: e.KID,
		VaultJKT: d.VaultKey.Thumbprint(), VaultKeyPinned: pinned, Descriptor: source,
	}
	switch {
	case res.Expired:
		res.Validity = validityExpired
	case now.Unix() < nbf:
		res.Validity = validityNotYet
	default:
		res.Validity = validityActive
	}
	if a.format == cliout.JSON {
		return cliout.WriteJSON(a.env.Stdout, res)
	}
	t := cliout.NewTable()
	t.Row("Receipt:", "valid: signed by owner key "+res.SignedBy+" of vault "+res.Vault)
	t.Row("Consent:", res.ConsentID)
	t.Row("Request:", res.RequestID)
	t.Row("Brand key:", res.BrandJKT)
	t.Row("Subject:", res.Subject)
	t.Row("Scopes:", orNone(res.Scopes))
	t.Row("Purposes:", orNone(res.Purposes))
	t.Row("Issued:", res.Issued)
	t.Row("Valid:", "from "+res.NotBefore+" until "+res.Expires+" ("+res.Validity+")")
	vk := res.VaultJKT
	if res.VaultKeyPinned {
		vk += " (pinned)"
	} else {
		vk += " (not pinned before)"
	}
	t.Row("Vault key:", vk)
	return t.WriteTo(a.env.Stdout)
}

// readJWS reads a compact JWS saved to file ("-": standard input) by
// receipt or descriptor, named what in errors, of at most max bytes. The
// one newline those commands print after it is removed, and nothing else:
// any other change to the file makes the JWS fail to verify.
func (a *app) readJWS(file, what string, max int) (string, error) {
	var (
		data []byte
		err  error
	)
	limit := int64(max) + 2 // and "\r\n"
	if file == "-" {
		data, err = readAllBounded(a.env.Stdin, what+" on standard input", limit)
	} else {
		var f *os.File
		if f, err = os.Open(file); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		defer f.Close()
		data, err = readAllBounded(f, file, limit)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if b, ok := bytes.CutSuffix(data, []byte("\r\n")); ok {
		data = b
	} else {
		data, _ = bytes.CutSuffix(data, []byte("\n"))
	}
	if len(data) == 0 {
		return "", fmt.Errorf("%s: %s is empty", what, file)
	}
	return string(data), nil
}
