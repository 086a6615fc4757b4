package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
)

// configResult is the JSON output of vrm-host config: the settings in
// force and where each came from ("flag", "env $NAME", "config", or "").
type configResult struct {
	Home           string `json:"home"`
	ConfigFile     string `json:"config_file"`
	AdminJKT       string `json:"admin_jkt"`
	PublicKeyFile  string `json:"public_key_file"`
	Host           string `json:"host"`
	HostSource     string `json:"host_source"`
	HostID         string `json:"host_id"`
	HostIDSource   string `json:"host_id_source"`
	TLSCA          string `json:"tls_ca"`
	TLSCASource    string `json:"tls_ca_source"`
	Insecure       bool   `json:"insecure"`
	InsecureSource string `json:"insecure_source"`
}

func (a *app) configCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config [--host HOST:PORT] [--host-id ID] [--tls-ca FILE] [--insecure]",
		Short: "Save which host to manage, and show the settings in force",
		Long: `Save the host's address (--host HOST:PORT), its id (--host-id, vaultd's host
id) and the transport settings (--tls-ca FILE, --insecure) in
$VRM_HOST_HOME/config.json, so that other commands need not repeat them. Only
the settings given are changed; an empty value (--host "", --insecure=false)
removes one.

Then print the settings the next command will use and where each comes from:
$` + envAddr + ` and $` + envHostID + ` override config.json (and a flag given to that
command overrides both). Without flags, only print them.`,
		Example: `  vrm-host config --host vaults.example.net:443 --host-id h_7Qx2
  vrm-host config --tls-ca /etc/vrm/ca.pem
  vrm-host config`,
		Args: noArgs,
		RunE: cliexit.Run(func(cmd *cobra.Command, _ []string) error {
			return a.config(cmd)
		}),
	}
	return cmd
}

// config saves the settings given as flags and prints those in force.
func (a *app) config(cmd *cobra.Command) error {
	home, err := homeDir(a.env.Getenv)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(home)
	if err != nil {
		return err
	}
	changed := false
	flags := cmd.Flags()
	if flags.Changed("host") {
		cfg.Host, changed = a.host, true
	}
	if flags.Changed("host-id") {
		cfg.HostID, changed = a.hostID, true
	}
	if flags.Changed("tls-ca") {
		cfg.TLSCA, changed = "", true
		if a.tlsCA != "" {
			abs, err := filepath.Abs(a.tlsCA)
			if err != nil {
				return fmt.Errorf("--tls-ca: %w", err)
			}
			if _, err := os.Stat(abs); err != nil {
				return fmt.Errorf("--tls-ca: %w", err)
			}
			cfg.TLSCA = abs
		}
	}
	if flags.Changed("insecure") {
		cfg.Insecure, changed = a.insecure, true
	}
	if changed {
		if err := ensureDir(home); err != nil {
			return err
		}
		if err := saveConfig(home, cfg); err != nil {
			return err
		}
	}

	// What is in force for the next command: the flags given here were
	// saved, so resolve as if none were given (the environment may still
	// override the saved values).
	next := *a
	next.host, next.hostID, next.tlsCA, next.insecure = "", "", "", false
	t, err := next.resolveTarget(cmd, cfg)
	if err != nil {
		return err
	}
	if changed && t.hostSource != "" && t.host != cfg.Host {
		a.warnf("note: $%s overrides the saved host", envAddr)
	}
	if changed && t.hostIDSource != "" && t.hostID != cfg.HostID {
		a.warnf("note: $%s overrides the saved host id", envHostID)
	}
	res := configResult{
		Home: home, ConfigFile: filepath.Join(home, configFile),
		Host: t.host, HostSource: t.hostSource, HostID: t.hostID, HostIDSource: t.hostIDSource,
		TLSCA: t.tlsCA, TLSCASource: t.tlsCASource, Insecure: t.insecure, InsecureSource: t.insecureSource,
	}
	key, err := loadKey(home, cfg.AdminJKT)
	switch {
	case err == nil:
		res.AdminJKT = key.Thumbprint()
		res.PublicKeyFile = filepath.Join(home, publicKeyFile)
	case !errors.Is(err, errNoKey):
		a.warnf("warning: %v", err)
	}
	if a.format == cliout.JSON {
		return cliout.WriteJSON(a.env.Stdout, res)
	}
	tb := cliout.NewTable()
	tb.Row("Home:", res.Home)
	if res.AdminJKT != "" {
		tb.Row("Admin key:", res.AdminJKT)
		tb.Row("Public key file:", res.PublicKeyFile)
	} else {
		tb.Row("Admin key:", "none (run "+programName+" keygen)")
	}
	tb.Row("Host:", withSource(res.Host, res.HostSource))
	tb.Row("Host id:", withSource(res.HostID, res.HostIDSource))
	tb.Row("TLS CA:", withSource(res.TLSCA, res.TLSCASource))
	tb.Row("Insecure:", withSource(yesNo(res.Insecure), res.InsecureSource))
	return tb.WriteTo(a.env.Stdout)
}

// withSource formats a setting and where it came from; "-" when unset.
func withSource(value, source string) string {
	switch {
	case value == "":
		return "-"
	case source == "":
		return value
	}
	return value + " (" + source + ")"
}
