package load

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/seal"
	"github.com/vrmvault/vrmvault/vault/server"
	"github.com/vrmvault/vrmvault/vault/store/badgerstore"
)

// inProcess is a vaultd run inside vrm-load, in vaultd's layout: the
// data in badger in <dir>/data, sealed (package seal) with per-vault data
// keys kept in a second badger in <dir>/keys and wrapped by a host key
// made for the run; a vault.Host over it; and the gRPC services on
// 127.0.0.1 with an ephemeral port, with vaultd's defaults (no TLS, which
// a loopback listener does not use; no call quotas, vaultd's default).
type inProcess struct {
	dir       string
	removeDir bool
	data      *badgerstore.Store
	keys      *badgerstore.Store
	store     *seal.Store
	host      *vault.Host
	srv       *server.Server
	gs        *grpc.Server
	hostPort  string
	served    chan error

	closeOnce sync.Once
	closeErr  error
}

// startInProcess starts a host on dir (a new temporary directory, removed
// by close, when dir is empty). streamsPerBrand raises the server's
// per-brand stream limit for runs with many watchers; commitDelay is the
// data store's (badgerstore.Config.CommitDelay).
func startInProcess(dir string, streamsPerBrand int, commitDelay time.Duration) (_ *inProcess, err error) {
	p := &inProcess{dir: dir, served: make(chan error, 1)}
	if dir == "" {
		if p.dir, err = os.MkdirTemp("", "vrm-load-*"); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
		p.removeDir = true
	} else {
		// A run makes its own host key: an earlier run's sealed data
		// would not open.
		if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
			return nil, fmt.Errorf("data dir %s is not empty: give a new directory", dir)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.close())
		}
	}()
	if p.data, err = badgerstore.Open(badgerstore.Config{Dir: filepath.Join(p.dir, "data"), CommitDelay: commitDelay}); err != nil {
		return nil, fmt.Errorf("open data store in %s: %w", p.dir, err)
	}
	if p.keys, err = badgerstore.Open(badgerstore.Config{Dir: filepath.Join(p.dir, "keys")}); err != nil {
		return nil, fmt.Errorf("open key store in %s: %w", p.dir, err)
	}
	encoded, err := seal.GenerateHostKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	hk, err := seal.ParseHostKey([]byte(encoded))
	if err != nil {
		return nil, err
	}
	kr, err := seal.OpenKeyring(context.Background(), p.keys, hk, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("open keyring: %w", err)
	}
	p.store = seal.New(p.data, kr)
	if p.host, err = vault.NewHost(vault.Config{Store: p.store}); err != nil {
		return nil, err
	}
	p.srv, err = server.New(server.Config{
		Host:               p.host,
		MaxStreamsPerBrand: max(server.DefaultMaxStreamsPerBrand, streamsPerBrand),
		MaxStreamsPerVault: max(server.DefaultMaxStreamsPerVault, streamsPerBrand),
	})
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	p.gs, _ = p.srv.NewGRPCServer()
	p.hostPort = lis.Addr().String()
	go func() { p.served <- p.gs.Serve(lis) }()
	return p, nil
}

// createVault creates a vault and returns its id and enrolment code.
func (p *inProcess) createVault(ctx context.Context) (string, string, error) {
	id, enr, err := p.host.CreateVault(ctx)
	if err != nil {
		return "", "", err
	}
	return id, enr.Code, nil
}

// close stops the server, closes the stores and removes a temporary data
// directory. Calls after the first return the first's result.
func (p *inProcess) close() error {
	p.closeOnce.Do(func() { p.closeErr = p.shutdown() })
	return p.closeErr
}

func (p *inProcess) shutdown() error {
	var errs []error
	if p.srv != nil {
		p.srv.Drain()
	}
	if p.gs != nil {
		p.gs.Stop()
		if err := <-p.served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			errs = append(errs, fmt.Errorf("serve: %w", err))
		}
	}
	switch {
	case p.store != nil: // closes p.data
		if err := p.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close data store: %w", err))
		}
	case p.data != nil:
		if err := p.data.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close data store: %w", err))
		}
	}
	if p.keys != nil {
		if err := p.keys.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close key store: %w", err))
		}
	}
	if p.removeDir {
		if err := os.RemoveAll(p.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove data dir: %w", err))
		}
	}
	return errors.Join(errs...)
}
