package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
)

// session is the brand key loaded from the home and a client of one vault
// (connected lazily).
type session struct {
	home   string
	key    *consent.PrivateKey
	cfg    *config
	addr   vaultconn.Address
	client *brand.Client
}

// loadIdentity returns the home and the brand key in it.
func (a *app) loadIdentity() (string, *consent.PrivateKey, *config, error) {
	home, err := homeDir(a.env.Getenv)
	if err != nil {
		return "", nil, nil, err
	}
	key, cfg, err := loadKey(home)
	if err != nil {
		return "", nil, nil, err
	}
	return home, key, cfg, nil
}

// open loads the brand key and dials the vault at addr.
func (a *app) open(addr vaultconn.Address) (*session, error) {
	home, key, cfg, err := a.loadIdentity()
	if err != nil {
		return nil, err
	}
	client, err := brand.Dial(vaultconn.Config{
		Address: addr, Key: key, CAFile: a.tlsCA, Insecure: a.insecure, Now: a.env.Now, Rand: a.env.Rand,
	})
	if err != nil {
		return nil, err
	}
	return &session{home: home, key: key, cfg: cfg, addr: addr, client: client}, nil
}

// Close closes the connection.
func (s *session) Close() error { return s.client.Close() }

// fetchDescriptor fetches the vault's signed descriptor and verifies it:
// signed by the vault key it carries and, once a key is pinned for the
// vault, by the pinned key. On first contact it pins the key in the state
// file (trust on first use) and notes it on standard error. It returns
// the descriptor and whether its key was pinned before this call.
func (a *app) fetchDescriptor(ctx context.Context, s *session) (*consent.Descriptor, bool, error) {
	st, err := loadState(s.home)
	if err != nil {
		return nil, false, err
	}
	pin := st.pinnedKey(s.addr)
	cctx, cancel := a.callContext(ctx)
	defer cancel()
	// The client checks the signature by the descriptor's own key; the
	// pin is checked here, so that a mismatch says what to do.
	d, _, err := s.client.Descriptor(cctx)
	if err != nil {
		if errors.Is(err, consent.ErrInvalidDescriptor) {
			return nil, false, descriptorError(s.addr, err)
		}
		return nil, false, rpcError(s.addr, a.timeout, err)
	}
	if pin != "" {
		return d, true, checkPin(s.addr, d, pin, s.home)
	}
	st.vault(s.addr).pin(d.VaultKey.Thumbprint(), a.env.Now())
	if err := saveState(s.home, st); err != nil {
		return nil, false, fmt.Errorf("pin the vault key: %w", err)
	}
	a.warnf("first contact with vault %s: pinned its vault key %s", s.addr, d.VaultKey.Thumbprint())
	return d, false, nil
}

// checkPin refuses a descriptor of the vault at addr that is not signed
// by the pinned vault key.
func checkPin(addr vaultconn.Address, d *consent.Descriptor, pin, home string) error {
	if d.VaultKey.Thumbprint() == pin {
		return nil
	}
	return fmt.Errorf("vault descriptor: signed by vault key %s, but the key pinned for %s is %s; "+
		"if the vault's key was replaced legitimately, remove the vault from %s",
		d.VaultKey.Thumbprint(), addr, pin, filepath.Join(home, stateFile))
}

// descriptorError returns the reason a descriptor was refused, as
// "vault descriptor: <reason>".
func descriptorError(addr vaultconn.Address, err error) error {
	msg := err.Error()
	prefix := consent.ErrInvalidDescriptor.Error() + ": "
	if i := strings.Index(msg, prefix); i >= 0 {
		msg = msg[i+len(prefix):]
	}
	return fmt.Errorf("vault descriptor of %s: %s", addr, msg)
}

// receiptError returns the reason a receipt was refused, as
// "receipt: <reason>".
func receiptError(err error) error {
	var re *consent.RecordError
	if errors.As(err, &re) {
		return fmt.Errorf("receipt: %s", re.Reason)
	}
	return fmt.Errorf("receipt: %w", err)
}

// rpcError turns the error of a call to the vault at addr into the error
// vrm-brand reports: "consent revoked" for a call under a revoked consent,
// the status message for other refusals, and a sentence about the vault
// for transport failures.
func rpcError(addr vaultconn.Address, timeout time.Duration, err error) error {
	if brand.IsRevoked(err) {
		return errors.New("consent revoked")
	}
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
	}
	return errors.New(st.Message())
}
