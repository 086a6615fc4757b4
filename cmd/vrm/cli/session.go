package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
)

// session is an initialised vrm connected (lazily) to its vault.
type session struct {
	home   string
	cfg    *config
	key    *consent.PrivateKey
	addr   vaultconn.Address
	client *owner.Client
}

// open loads the configuration and the owner key and dials the vault.
func (a *app) open() (*session, error) {
	home, err := homeDir(a.env.Getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := loadConfig(home)
	if err != nil {
		return nil, err
	}
	key, err := loadKey(home, cfg.OwnerJKT)
	if err != nil {
		return nil, err
	}
	addr, err := vaultconn.ParseAddress(cfg.Vault)
	if err != nil {
		return nil, err
	}
	client, err := owner.Dial(vaultconn.Config{Address: addr, Key: key, CAFile: cfg.TLSCA, Insecure: cfg.Insecure})
	if err != nil {
		return nil, err
	}
	return &session{home: home, cfg: cfg, key: key, addr: addr, client: client}, nil
}

// Close closes the connection.
func (s *session) Close() error { return s.client.Close() }

// msgSuspended is the whole message of the FAILED_PRECONDITION status a
// vault its host suspended answers every owner and brand call with.
const msgSuspended = "vault suspended"

// rpcError turns the error of a call to the vault at addr into the error
// vrm reports: the status message (which names the path and the rule) for
// refusals, and a sentence about the vault for transport failures.
func rpcError(addr vaultconn.Address, timeout time.Duration, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unavailable:
		return fmt.Errorf("the vault could not be reached at %s: %s", addr, st.Message())
	case codes.DeadlineExceeded:
		return fmt.Errorf("the vault at %s did not answer within %s (see --timeout)", addr, timeout)
	case codes.Canceled:
		return errors.New("interrupted")
	case codes.OK:
		return err
	case codes.FailedPrecondition:
		if st.Message() == msgSuspended {
			return fmt.Errorf("the vault at %s is suspended by its host: it refuses your calls and brands' until the host resumes it; ask your host why", addr)
		}
	case codes.Unauthenticated:
		if strings.HasSuffix(st.Message(), "unknown key") {
			// The vault cannot tell an unknown key from a vault that
			// does not exist (by design); say both.
			return fmt.Errorf("%s: the vault at %s does not know this device's key (not enrolled there, removed from it, or the vault was deleted)", st.Message(), addr)
		}
	}
	return errors.New(st.Message())
}
