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

// keygenResult is the JSON output of vrm-brand keygen.
type keygenResult struct {
	BrandJKT string `json:"brand_jkt"`
	Alg      string `json:"alg"`
	KeyFile  string `json:"key_file"`
	Name     string `json:"name,omitempty"`
	URL      string `json:"url,omitempty"`
}

func (a *app) keygenCommand() *cobra.Command {
	var o struct {
		alg, name, url string
		force          bool
	}
	cmd := &cobra.Command{
		Use:   "keygen [--alg EdDSA|ES256] [--name NAME --url URL]",
		Short: "Create the brand's key",
		Long: `Create the brand's signing key and print its thumbprint (jkt), the brand's
identity in every vault. The private key is stored in $VRM_BRAND_HOME/brand.jwk
(mode 0600) and never leaves this machine; keep a backup: a new key is a new
brand to every customer, and it cannot see the old key's consents.

--name and --url store the display name and URL that requests use when
they are not given; customers see them beside the thumbprint. An existing
key is only replaced with --force, which keeps the stored name and URL
unless new ones are given.`,
		Example: `  vrm-brand keygen --name "Example Shop" --url https://shop.example.com
  vrm-brand keygen --alg ES256 --force`,
		Args: noArgs,
		RunE: cliexit.Run(func(cmd *cobra.Command, _ []string) error {
			alg, ok := parseAlgorithm(o.alg)
			if !ok {
				return cliexit.Usagef(cmd, "--alg must be EdDSA or ES256, got %q", cliout.Short(o.alg))
			}
			if err := checkBrandIdentity(o.name, o.url); err != nil {
				return cliexit.Usagef(cmd, "%v", err)
			}
			return a.keygen(alg, o.name, o.url, o.force)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.alg, "alg", string(consent.EdDSA), "signature algorithm: EdDSA (Ed25519) or ES256 (P-256)")
	f.StringVar(&o.name, "name", "", "default brand display name of requests")
	f.StringVar(&o.url, "url", "", "default brand URL of requests (https://...)")
	f.BoolVar(&o.force, "force", false, "replace an existing key (the old key is deleted)")
	_ = cmd.RegisterFlagCompletionFunc("alg", cliexit.FixedCompletions(string(consent.EdDSA), string(consent.ES256)))
	return cmd
}

// keygen generates a key and writes it and the configuration.
func (a *app) keygen(alg consent.Algorithm, name, url string, force bool) error {
	home, err := homeDir(a.env.Getenv)
	if err != nil {
		return err
	}
	keyPath := filepath.Join(home, keyFile)
	if _, err := os.Lstat(keyPath); err == nil {
		if !force {
			what := keyPath
			if old, _, err := loadKey(home); err == nil {
				what = fmt.Sprintf("%s (%s)", keyPath, old.Thumbprint())
			}
			return fmt.Errorf("a brand key already exists at %s; use --force to replace it", what)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("brand key: %w", err)
	}
	// Keep the stored defaults unless new ones are given.
	if old, err := loadConfig(home); err == nil && old != nil {
		if name == "" {
			name = old.Name
		}
		if url == "" {
			url = old.URL
		}
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
	if err := saveKey(home, key); err != nil {
		return err
	}
	cfg := &config{BrandJKT: key.Thumbprint(), Name: name, URL: url}
	if err := saveConfig(home, cfg); err != nil {
		return err
	}

	res := keygenResult{BrandJKT: key.Thumbprint(), Alg: string(key.Algorithm()), KeyFile: keyPath, Name: name, URL: url}
	if a.format == cliout.JSON {
		return cliout.WriteJSON(a.env.Stdout, res)
	}
	t := cliout.NewTable()
	t.Row("Brand key:", res.BrandJKT)
	t.Row("Algorithm:", res.Alg)
	t.Row("Key file:", res.KeyFile)
	if name != "" {
		t.Row("Name:", name)
	}
	if url != "" {
		t.Row("URL:", url)
	}
	return t.WriteTo(a.env.Stdout)
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

// Placeholders that complete a request in checkBrandIdentity.
const (
	placeholderName  = "Brand"
	placeholderURL   = "https://brand.example"
	placeholderScope = "read:name.given"
	placeholderJKT   = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)

// checkBrandIdentity checks a brand name and URL, either of which may be
// empty, by the rules the vault applies to a request (consent's
// AccessRequest.Validate), so that keygen does not store defaults every
// request would be refused for.
func checkBrandIdentity(name, url string) error {
	if name == "" && url == "" {
		return nil
	}
	r := consent.AccessRequest{
		BrandName: name, BrandURL: url, Purposes: []string{"ServiceProvision"},
		Duration: consent.MinConsentDuration,
	}
	if r.BrandName == "" {
		r.BrandName = placeholderName
	}
	if r.BrandURL == "" {
		r.BrandURL = placeholderURL
	}
	s, err := consent.ParseScope(placeholderScope)
	if err != nil {
		return err
	}
	r.Scopes = []consent.Scope{s}
	return r.Validate(placeholderJKT)
}
