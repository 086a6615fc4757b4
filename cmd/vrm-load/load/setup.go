package load

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault/profile"
)

// watchPath is the field owner writes set, and watchers watch. Its value
// is the write's start time in Unix nanoseconds, so a watcher can tell
// how long the change took to reach it.
const watchPath = "notes.load"

// brandScopes are what every brand asks for and is granted: its reads
// return 5 of the profile's 6 fields.
var brandScopes = []string{"read:name.*", "read:email.*", "watch:notes.*"}

// profileFields is the profile each vault starts with.
func profileFields(now time.Time) []profile.Field {
	s := profile.StringValue
	return []profile.Field{
		{Path: "name.given", Value: s("Ada")},
		{Path: "name.family", Value: s("Lovelace")},
		{Path: "email.home", Value: s("ada@example.org")},
		{Path: "email.work", Value: s("ada@analytical.example")},
		{Path: "phone.mobile", Value: s("+447700900123")},
		{Path: watchPath, Value: s(fmt.Sprint(now.UnixNano()))},
	}
}

// vaultState is one vault of the run: its owner, and its brands.
type vaultState struct {
	addr  vaultconn.Address
	owner *owner.Client
	// ledger serializes this vault's ledger writes (revocations and
	// grants), which would otherwise race for the ledger head.
	ledger sync.Mutex
	slots  []*slot
}

// slot is one brand of one vault, with its current consent.
type slot struct {
	v      *vaultState
	brand  *fleetBrand // its key is the same in every vault
	client *brand.Client

	// mu is held shared by reads and exclusively by a revocation and its
	// regrant, so no read runs without a consent.
	mu        sync.RWMutex
	consentID string // under mu
	// alive is false once a regrant failed: the slot has no consent.
	alive atomic.Bool

	gmu         sync.Mutex
	regranted   chan struct{} // closed when the consent is granted again; under gmu
	revokeStart atomic.Int64  // Unix ns of the latest revoke call's start

	// presigned holds the slot's read proofs signed before the measured
	// time (--presign); nil without.
	presigned *proofPool
}

// regrantedCh returns the channel closed when the slot's current
// revocation (if any) has been followed by a new grant.
func (s *slot) regrantedCh() chan struct{} {
	s.gmu.Lock()
	defer s.gmu.Unlock()
	return s.regranted
}

// fleet is every vault and brand of the run.
type fleet struct {
	vaults []*vaultState
	slots  []*slot // brand-major: brand 0 of every vault, then brand 1...
	brands []*fleetBrand

	closeOnce sync.Once
}

// fleetBrand is one brand of the run: its key, the same in every vault,
// and (with shared connections) its one connection to the host.
type fleetBrand struct {
	key *consent.PrivateKey

	share    bool
	dialOnce sync.Once
	conn     *vaultconn.HostConn
	dialErr  error
}

// client returns a brand client of the vault at addr: on the brand's
// shared connection to the host, or on a connection of its own.
func (b *fleetBrand) client(addr vaultconn.Address) (*brand.Client, error) {
	cfg := vaultconn.Config{Address: addr, Key: b.key}
	if !b.share {
		return brand.Dial(cfg)
	}
	// Every vault of the run is on one host.
	b.dialOnce.Do(func() { b.conn, b.dialErr = vaultconn.DialHost(cfg) })
	if b.dialErr != nil {
		return nil, b.dialErr
	}
	return brand.New(b.conn, cfg)
}

// close closes every client connection; later calls do nothing.
func (f *fleet) close() { f.closeOnce.Do(f.closeConns) }

func (f *fleet) closeConns() {
	for _, v := range f.vaults {
		if v == nil {
			continue
		}
		if v.owner != nil {
			_ = v.owner.Close()
		}
		for _, s := range v.slots {
			if s.client != nil {
				_ = s.client.Close()
			}
		}
	}
	for _, b := range f.brands {
		if b.conn != nil {
			_ = b.conn.Close()
		}
	}
}

// newVault is how the fleet gets an empty vault: its address and a
// one-time enrolment code.
type newVault func(ctx context.Context) (vaultconn.Address, string, error)

// buildFleet creates n vaults with newVault, enrols an owner in each,
// stores the profile and grants brands brands, running workers vaults at
// a time. Each brand has one key for every vault and, when share is set,
// one connection to the host that its clients of every vault share. Each
// call is bounded by timeout. progress is called after each vault is
// ready.
func buildFleet(ctx context.Context, n, brands int, share bool, workers int, timeout time.Duration, create newVault, progress func()) (*fleet, error) {
	f := &fleet{vaults: make([]*vaultState, n)}
	for range brands {
		key, err := consent.GenerateKey(consent.EdDSA, rand.Reader)
		if err != nil {
			return nil, err
		}
		f.brands = append(f.brands, &fleetBrand{key: key, share: share})
	}
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				v, err := buildVault(ctx, f.brands, timeout, create)
				f.vaults[i] = v
				if err != nil {
					errOnce.Do(func() { first = fmt.Errorf("vault %d: %w", i+1, err); cancel() })
					return
				}
				progress()
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	if first != nil {
		f.close()
		return nil, first
	}
	for b := range brands {
		for _, v := range f.vaults {
			f.slots = append(f.slots, v.slots[b])
		}
	}
	return f, nil
}

func buildVault(ctx context.Context, brands []*fleetBrand, timeout time.Duration, create newVault) (*vaultState, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	addr, code, err := create(cctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	v := &vaultState{addr: addr}
	key, err := consent.GenerateKey(consent.EdDSA, rand.Reader)
	if err != nil {
		return v, err
	}
	if v.owner, err = owner.Dial(vaultconn.Config{Address: addr, Key: key}); err != nil {
		return v, err
	}
	cctx, cancel = context.WithTimeout(ctx, timeout)
	_, err = v.owner.Enroll(cctx, code, "vrm-load")
	cancel()
	if err != nil {
		return v, fmt.Errorf("enrol owner: %w", err)
	}
	cctx, cancel = context.WithTimeout(ctx, timeout)
	_, err = v.owner.SetFields(cctx, profileFields(time.Now()))
	cancel()
	if err != nil {
		return v, fmt.Errorf("store profile: %w", err)
	}
	for b, fb := range brands {
		s := &slot{v: v, brand: fb, regranted: make(chan struct{})}
		close(s.regranted)
		v.slots = append(v.slots, s)
		if s.client, err = fb.client(addr); err != nil {
			return v, err
		}
		if s.consentID, err = grant(ctx, v, s, timeout); err != nil {
			return v, fmt.Errorf("brand %d: %w", b+1, err)
		}
		s.alive.Store(true)
	}
	return v, nil
}

// grant makes the slot's brand ask for brandScopes and the owner grant
// it; it returns the consent id. The caller holds v.ledger or is the
// vault's only user.
func grant(ctx context.Context, v *vaultState, s *slot, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := s.client.RequestAccess(ctx, brand.Request{
		Name: "Load Shop", URL: "https://load.example", Scopes: brandScopes,
		Purposes: []string{"ServiceProvision"}, Duration: 24 * time.Hour, Reason: "load test",
	})
	if err != nil {
		return "", fmt.Errorf("request access: %w", err)
	}
	g, err := v.owner.Grant(ctx, req.GetRequestId(), owner.Grant{})
	if err != nil {
		return "", fmt.Errorf("grant: %w", err)
	}
	id := g.GetConsent().GetConsentId()
	if id == "" {
		return "", errors.New("grant: no consent id in the answer")
	}
	return id, nil
}
