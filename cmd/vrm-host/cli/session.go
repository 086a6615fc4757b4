package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/host"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	"github.com/vrmvault/vrmvault/consent"
)

// target is the host a command calls and how, with where each setting
// came from ("flag", "env $NAME", "config", or "" when unset).
type target struct {
	host, hostSource     string
	hostID, hostIDSource string
	tlsCA, tlsCASource   string
	insecure             bool
	insecureSource       string
}

// resolveTarget works out the host from the flags, the environment and
// cfg, in that order. It does not require any of them.
func (a *app) resolveTarget(cmd *cobra.Command, cfg *config) (target, error) {
	var t target
	pick := func(flag, envName, saved string) (string, string) {
		switch {
		case flag != "":
			return flag, "flag"
		case a.env.Getenv(envName) != "":
			return a.env.Getenv(envName), "env $" + envName
		case saved != "":
			return saved, "config"
		}
		return "", ""
	}
	// The flags were checked by prepare and the config by loadConfig;
	// the environment is checked here.
	t.host, t.hostSource = pick(a.host, envAddr, cfg.Host)
	if t.hostSource == "env $"+envAddr {
		if err := checkHostPort(t.host); err != nil {
			return target{}, cliexit.Usagef(cmd, "$%s: %v", envAddr, err)
		}
	}
	t.hostID, t.hostIDSource = pick(a.hostID, envHostID, cfg.HostID)
	if t.hostIDSource == "env $"+envHostID && !consent.ValidID(t.hostID) {
		return target{}, cliexit.Usagef(cmd, "$%s: %q is not a host id (1 to 64 of A-Z a-z 0-9 _ -)", envHostID, cliout.Short(t.hostID))
	}
	switch {
	case a.tlsCA != "":
		t.tlsCA, t.tlsCASource = a.tlsCA, "flag"
	case cfg.TLSCA != "":
		t.tlsCA, t.tlsCASource = cfg.TLSCA, "config"
	}
	switch {
	case a.insecure:
		t.insecure, t.insecureSource = true, "flag"
	case cfg.Insecure:
		t.insecure, t.insecureSource = true, "config"
	}
	return t, nil
}

// requireHost refuses a target without a host or a host id, saying where
// each can come from.
func requireHost(cmd *cobra.Command, t target) error {
	switch {
	case t.host == "":
		return cliexit.Usagef(cmd, "no host: pass --host HOST:PORT, set $%s, or save one with %s config --host HOST:PORT", envAddr, programName)
	case t.hostID == "":
		return cliexit.Usagef(cmd, "no host id: pass --host-id ID, set $%s, or save one with %s config --host-id ID", envHostID, programName)
	}
	return nil
}

// session is the admin key loaded from the home and a client of the host
// (connected lazily).
type session struct {
	target
	home   string
	key    *consent.PrivateKey
	client *host.Client
}

// open resolves the host, loads the admin key and dials the host. A
// missing host or host id is a usage error; a missing key a failure.
func (a *app) open(cmd *cobra.Command) (*session, error) {
	home, err := homeDir(a.env.Getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := loadConfig(home)
	if err != nil {
		return nil, err
	}
	t, err := a.resolveTarget(cmd, cfg)
	if err != nil {
		return nil, err
	}
	if err := requireHost(cmd, t); err != nil {
		return nil, err
	}
	key, err := loadKey(home, cfg.AdminJKT)
	if err != nil {
		return nil, err
	}
	client, err := host.Dial(host.Config{
		HostPort: t.host, HostID: t.hostID, Key: key,
		Conn: vaultconn.Config{CAFile: t.tlsCA, Insecure: t.insecure, Now: a.env.Now, Rand: a.env.Rand},
	})
	if err != nil {
		return nil, err
	}
	return &session{target: t, home: home, key: key, client: client}, nil
}

// Close closes the connection.
func (s *session) Close() error { return s.client.Close() }

// rpcError turns the error of a call to the host into the error vrm-host
// reports: a sentence about the host for transport failures and
// configuration mistakes, else the host's status message. what names the
// operation ("suspend vault v_3kq9") and prefixes refusals.
func (s *session) rpcError(what string, timeout time.Duration, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", what, err)
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		return fmt.Errorf("the host could not be reached at %s: %s", s.host, msg)
	case codes.DeadlineExceeded:
		return fmt.Errorf("the host at %s did not answer within %s (see --timeout)", s.host, timeout)
	case codes.Canceled:
		return errors.New("interrupted")
	case codes.Unimplemented:
		return fmt.Errorf("the vaultd at %s is not a host (start it with --host): %s", s.host, msg)
	case codes.Unauthenticated:
		switch {
		case strings.HasSuffix(msg, "unknown key"):
			msg += fmt.Sprintf(": admin key %s is not one of the host's admin keys; give vaultd --admin-key %s",
				s.key.Thumbprint(), shellQuote(filepath.Join(s.home, publicKeyFile)))
		case strings.HasSuffix(msg, "aud does not match the vault"):
			msg += fmt.Sprintf(": is %s the host id of %s? (see --host-id)", s.hostID, s.host)
		case strings.Contains(msg, "iat too old"), strings.Contains(msg, "iat in the future"):
			msg += ": check this machine's clock"
		}
	case codes.OK:
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %s", what, msg)
}
