package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	"github.com/vrmvault/vrmvault/consent"
)

// keygenResult is the JSON output of vrm-host keygen.
type keygenResult struct {
	// AdminJKT is the new key's thumbprint.
	AdminJKT string `json:"admin_jkt"`
	// Alg is its signature algorithm.
	Alg string `json:"alg"`
	// KeyFile is the private key's path.
	KeyFile string `json:"key_file"`
	// PublicKeyFile is the public JWK's path, the file for vaultd
	// --admin-key.
	PublicKeyFile string `json:"public_key_file"`
}

func (a *app) keygenCommand() *cobra.Command {
	var o struct {
		alg   string
		force bool
	}
	cmd := &cobra.Command{
		Use:   "keygen [--alg EdDSA|ES256] [--force]",
		Short: "Create the host admin key",
		Long: `Create the host admin key, which signs every call vrm-host makes to the host,
and print its thumbprint (jkt). The private key is stored in
$VRM_HOST_HOME/admin.jwk (mode 0600) and never leaves this machine; its public
JWK is written next to it, to admin.pub.jwk. Give that file to vaultd:

  vaultd --host --admin-key admin.pub.jwk

A vaultd may be given several admin keys (one --admin-key each), so that each
operator has their own. An existing key is only replaced with --force; the
host keeps accepting the old key until it is removed from vaultd's flags.`,
		Example: `  vrm-host keygen
  vrm-host keygen --alg ES256 --force`,
		Args: noArgs,
		RunE: cliexit.Run(func(cmd *cobra.Command, _ []string) error {
			alg, ok := parseAlgorithm(o.alg)
			if !ok {
				return cliexit.Usagef(cmd, "--alg must be EdDSA or ES256, got %q", cliout.Short(o.alg))
			}
			return a.keygen(alg, o.force)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.alg, "alg", string(consent.EdDSA), "signature algorithm: EdDSA (Ed25519) or ES256 (P-256)")
	f.BoolVar(&o.force, "force", false, "replace an existing key (the old private key is deleted)")
	_ = cmd.RegisterFlagCompletionFunc("alg", cliexit.FixedCompletions(string(consent.EdDSA), string(consent.ES256)))
	return cmd
}

// keygen generates a key and writes it, its public half and the
// configuration that names it.
func (a *app) keygen(alg consent.Algorithm, force bool) error {
	home, err := homeDir(a.env.Getenv)
	if err != nil {
		return err
	}
	keyPath := filepath.Join(home, keyFile)
	if _, err := os.Lstat(keyPath); err == nil {
		if !force {
			what := keyPath
			if old, err := loadKey(home, ""); err == nil {
				what = fmt.Sprintf("%s (%s)", keyPath, old.Thumbprint())
			}
			return fmt.Errorf("an admin key already exists at %s; use --force to replace it", what)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("admin key: %w", err)
	}
	// Keep the saved settings; a broken config.json is not overwritten.
	cfg, err := loadConfig(home)
	if err != nil {
		return err
	}

	key, err := consent.GenerateKey(alg, a.env.Rand)
	if err != nil {
		return err
	}
	if err := ensureDir(home); err != nil {
		return err
	}
	if dirIsShared(home) {
		a.warnf("warning: %s is accessible by group or others; consider: chmod 700 %s", home, home)
	}
	if err := saveKeys(home, key); err != nil {
		return err
	}
	cfg.AdminJKT = key.Thumbprint()
	if err := saveConfig(home, cfg); err != nil {
		return err
	}

	res := keygenResult{
		AdminJKT: key.Thumbprint(), Alg: string(key.Algorithm()),
		KeyFile: keyPath, PublicKeyFile: filepath.Join(home, publicKeyFile),
	}
	if a.format == cliout.JSON {
		return cliout.WriteJSON(a.env.Stdout, res)
	}
	t := cliout.NewTable()
	t.Row("Admin key:", res.AdminJKT)
	t.Row("Algorithm:", res.Alg)
	t.Row("Key file:", res.KeyFile)
	t.Row("Public key file:", res.PublicKeyFile)
	return t.WriteTo(a.env.Stdout, "",
		"Give the public key file to the host's vaultd:",
		"  vaultd --host --admin-key "+shellQuote(res.PublicKeyFile))
}

// parseAlgorithm parses --alg, case-insensitively.
func parseAlgorithm(s string) (consent.Algorithm, bool) {
	for _, alg := range consent.AllowedAlgorithms() {
		if strings.EqualFold(s, string(alg)) {
			return alg, true
		}
	}
	return "", false
}
