package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// maxCodeBytes bounds an enrolment code read from stdin.
const maxCodeBytes = 1024

// initResult is the JSON output of vrm init.
type initResult struct {
	Vault    string `json:"vault"`
	OwnerJKT string `json:"owner_jkt"`
	Device   string `json:"device"`
	Home     string `json:"home"`
	// VaultKey is the thumbprint of the vault key pinned at enrolment;
	// empty if the descriptor could not be fetched (vrm verify pins it).
	VaultKey string `json:"vault_key,omitempty"`
}

func (a *app) initCommand() *cobra.Command {
	var o struct {
		vault, code, device, tlsCA string
		insecure, force            bool
	}
	cmd := &cobra.Command{
		Use:   "init --vault ADDR --code CODE",
		Short: "Create this device's owner key and enrol it in your vault",
		Long: `Create an Ed25519 owner key for this device and enrol it in the vault at
ADDR (host:port/<vault-id>) with the one-time enrolment code your vault host
gave you. The key never leaves this device: it is stored in $VRM_HOME/owner.jwk
(mode 0600) and only written once the vault has accepted it.

Pass --code - to read the code from standard input rather than the command
line (where other users of the machine could see it).`,
		Example: `  vrm init --vault vault.example.net:443/v_3kq9 --code 7H3K-99QX
  vrm init --vault 127.0.0.1:7443/dev --code - --device laptop < code.txt`,
		Args: noArgs,
		RunE: cliexit.Run(func(cmd *cobra.Command, _ []string) error {
			addr, err := vaultconn.ParseAddress(o.vault)
			if err != nil {
				return cliexit.Usagef(cmd, "--vault: %v", err)
			}
			if o.code == "" {
				return cliexit.Usagef(cmd, "--code must not be empty")
			}
			return a.enrol(cmd, addr, o.code, o.device, o.tlsCA, o.insecure, o.force)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.vault, "vault", "", "vault address, host:port/<vault-id>")
	f.StringVar(&o.code, "code", "", "one-time enrolment code (- reads it from stdin)")
	f.StringVar(&o.device, "device", "", "name of this device, shown in the vault's list of owner keys (default: the host name)")
	f.StringVar(&o.tlsCA, "tls-ca", "", "PEM file of CA certificates to trust instead of the system's")
	f.BoolVar(&o.insecure, "insecure", false, "connect without TLS even to a vault that is not on this machine")
	f.BoolVar(&o.force, "force", false, "replace an existing configuration and owner key (the old key is deleted)")
	_ = cmd.MarkFlagRequired("vault")
	_ = cmd.MarkFlagRequired("code")
	_ = cmd.MarkFlagFilename("tls-ca", "pem", "crt")
	return cmd
}

// enrol generates a key in memory, enrols it, and only then writes the key
// and the configuration.
func (a *app) enrol(cmd *cobra.Command, addr vaultconn.Address, code, device, tlsCA string, insecure, force bool) error {
	home, err := homeDir(a.env.Getenv)
	if err != nil {
		return err
	}
	old, err := loadConfig(home)
	if !force {
		if err == nil {
			return fmt.Errorf("already initialised for vault %s (%s); use --force to replace it", old.Vault, filepath.Join(home, configFile))
		} else if !errors.Is(err, errNotInitialised) {
			return fmt.Errorf("%v; use --force to replace it", err)
		}
	}
	if err != nil || old.Vault != addr.String() {
		old = nil // nothing to carry over to a new vault
	}
	if code == "-" {
		if code, err = readCode(a); err != nil {
			return err
		}
	}
	if tlsCA != "" {
		if tlsCA, err = filepath.Abs(tlsCA); err != nil {
			return fmt.Errorf("--tls-ca: %w", err)
		}
		if _, err := os.Stat(tlsCA); err != nil {
			return fmt.Errorf("--tls-ca: %w", err)
		}
	}
	if device == "" {
		device = defaultDeviceName()
	}

	key, err := consent.GenerateKey(consent.EdDSA, a.env.Rand)
	if err != nil {
		return err
	}
	client, err := owner.Dial(vaultconn.Config{Address: addr, Key: key, CAFile: tlsCA, Insecure: insecure})
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := a.callContext(cmd.Context())
	defer cancel()
	resp, err := client.Enroll(ctx, code, device)
	if err != nil {
		return rpcError(addr, a.timeout, err)
	}
	if jkt := resp.GetOwnerJkt(); jkt != "" && jkt != key.Thumbprint() {
		return fmt.Errorf("the vault at %s enrolled key %s, not this device's key %s", addr, jkt, key.Thumbprint())
	}
	cfg := &config{Vault: addr.String(), OwnerJKT: key.Thumbprint(), Device: device, TLSCA: tlsCA, Insecure: insecure}
	if old != nil {
		// Enrolling again in the same vault: keep what vrm saw of it, and
		// the replaced key as one of the owner's.
		cfg.LedgerHead, cfg.AuditHead, cfg.VaultKeyJKT = old.LedgerHead, old.AuditHead, old.VaultKeyJKT
		cfg.KnownOwnerKeys = slices.Clone(old.KnownOwnerKeys)
		if !slices.Contains(cfg.KnownOwnerKeys, old.OwnerJKT) {
			cfg.KnownOwnerKeys = append(cfg.KnownOwnerKeys, old.OwnerJKT)
		}
	} else if h := resp.GetLedgerHead(); h.GetSeq() > 0 {
		cfg.LedgerHead = &savedHead{Seq: h.GetSeq(), Hash: h.GetHash()}
	}
	pinned, err := pinVaultKey(ctx, addr, tlsCA, insecure, cfg.VaultKeyJKT)
	switch {
	case errors.Is(err, consent.ErrInvalidDescriptor) && cfg.VaultKeyJKT != "":
		warnf(a.env.Stderr, "the vault's descriptor does not verify against the vault key pinned before (%s): %v; run vrm verify", cfg.VaultKeyJKT, err)
	case err != nil:
		warnf(a.env.Stderr, "the vault key could not be pinned (%v); vrm verify will pin it", rpcError(addr, a.timeout, err))
	default:
		cfg.VaultKeyJKT = pinned
	}

	// The vault now knows the key: store it, then the configuration that
	// names it. A configuration is only ever written next to its key.
	if err := ensureDir(home); err != nil {
		return err
	}
	if dirIsShared(home) {
		fmt.Fprintf(a.env.Stderr, "vrm: warning: %s is accessible by group or others; consider: chmod 700 %s\n", home, home)
	}
	if err := saveKey(home, key); err != nil {
		return fmt.Errorf("the vault enrolled the key but it could not be saved: %w", err)
	}
	if err := saveConfig(home, cfg); err != nil {
		return fmt.Errorf("the vault enrolled the key but the configuration could not be saved: %w", err)
	}

	res := initResult{Vault: cfg.Vault, OwnerJKT: cfg.OwnerJKT, Device: device, Home: home, VaultKey: cfg.VaultKeyJKT}
	if a.format == cliout.JSON {
		return cliout.WriteJSON(a.env.Stdout, res)
	}
	t := cliout.NewTable()
	t.Row("Vault:", res.Vault)
	t.Row("Owner key:", res.OwnerJKT)
	t.Row("Device:", res.Device)
	t.Row("Config:", res.Home)
	if res.VaultKey != "" {
		t.Row("Vault key:", res.VaultKey+" (pinned)")
	}
	return t.WriteTo(a.env.Stdout)
}

// pinVaultKey fetches the vault's public descriptor and returns the
// thumbprint of the vault key that signed it, which must be pinned when
// pinned is not empty. The first one seen is trusted: that is what pinning
// is; vrm verify then holds the vault to it.
func pinVaultKey(ctx context.Context, addr vaultconn.Address, tlsCA string, insecure bool, pinned string) (string, error) {
	conn, err := vaultconn.DialPublic(vaultconn.Config{Address: addr, CAFile: tlsCA, Insecure: insecure})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	resp, err := vrmv1.NewVaultInfoServiceClient(conn).GetVaultDescriptor(ctx, &vrmv1.GetVaultDescriptorRequest{VaultId: addr.VaultID})
	if err != nil {
		return "", err
	}
	d, err := consent.VerifyDescriptor(resp.GetSignedDescriptor(), addr.VaultID, pinned)
	if err != nil {
		return "", err
	}
	return d.VaultKey.Thumbprint(), nil
}

// readCode reads the enrolment code from the first line of stdin.
func readCode(a *app) (string, error) {
	r := bufio.NewReaderSize(a.env.Stdin, maxCodeBytes)
	line, err := r.ReadSlice('\n')
	if err != nil && len(line) == 0 {
		return "", fmt.Errorf("read enrolment code from stdin: %w", err)
	}
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("enrolment code on stdin is longer than %d bytes", maxCodeBytes)
	}
	code := strings.TrimSpace(string(line))
	if code == "" {
		return "", errors.New("no enrolment code on stdin")
	}
	return code, nil
}

// defaultDeviceName is the host name, or "vrm" when there is none.
func defaultDeviceName() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "vrm"
}
