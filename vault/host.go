// Package vault is the domain of a vrmvault host: the vaults it serves,
// each with its identity (vault key, pairwise secret), owner keys and
// one-time enrolment codes, its profile (typed fields with versions,
// changed in atomic batches) and its replay cache of request proofs.
//
// It is written against the storage boundary (package store), so every
// engine serves it unchanged, and knows nothing of gRPC: it returns the
// sentinel errors of errors.go, which package vault/server alone turns into
// status codes. A single-vault vaultd is a Host with one vault.
//
// Key layout within a vault (keys are relative to the vault's prefix):
//
//	m/meta          vault metadata: id, creation time, vault key, pairwise secret
//	m/usage         field count and profile bytes, kept in every profile write
//	m/state         state tag, replaced by every write but a read's (statetag.go)
//	o/<jkt>         owner keys
//	e/<hash>        enrolment codes, by base64url(SHA-256(code)), with a TTL
//	p/<path>        profile fields
//	j/<jkt>/<jti>   replay cache of proofs, with a TTL
//
// Records are private JSON structs with a format version ("v"), never the
// API types.
package vault

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/store"
)

// Defaults of Config.
const (
	// DefaultEnrollmentTTL is how long a one-time enrolment code is valid.
	DefaultEnrollmentTTL = 24 * time.Hour
	// MaxOwnerKeys bounds the owner keys (devices) of one vault.
	MaxOwnerKeys = 16
	// pairwiseSecretBytes is the size of the pairwise-subject HMAC key.
	pairwiseSecretBytes = 32
)

// Config configures a Host.
type Config struct {
	// Store is the storage engine; required.
	Store store.Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of keys, ids and codes; nil means crypto/rand.
	Rand io.Reader
	// Limits are the profile limits; the zero value means
	// profile.DefaultLimits().
	Limits profile.Limits
	// EnrollmentTTL is how long an enrolment code is valid; zero means
	// DefaultEnrollmentTTL.
	EnrollmentTTL time.Duration
	// MaxPendingPerBrand bounds a brand's pending requests per vault; zero
	// means DefaultMaxPendingPerBrand.
	MaxPendingPerBrand int
	// MaxPendingPerVault bounds the pending requests of all brands in one
	// vault, so that brands with fresh keys cannot flood it; zero means
	// DefaultMaxPendingPerVault.
	MaxPendingPerVault int
	// Defaults are the host's default rate and stream quotas (per vault
	// overrides are set with SetQuota); zero fields mean unlimited rates
	// and the server's stream default.
	Defaults Quota
	// Logger receives structured logs (never personal data); nil discards.
	Logger *slog.Logger
}

// Host serves the vaults of one store.
type Host struct {
	store  store.Store
	now    func() time.Time
	rand   io.Reader
	limits profile.Limits
	enrTTL time.Duration
	log    *slog.Logger

	maxPending int
	defaults   Quota
	caches     recordCaches
	keys       memo[memoKey]
	views      memo[*brandView]
	memoStats  memoCounters
	groups     groupCommit

	maxPendingVault int // Config.MaxPendingPerVault
}

// NewHost returns a Host over cfg.Store.
func NewHost(cfg Config) (*Host, error) {
	if cfg.Store == nil {
		return nil, errors.New("vault: Config.Store is required")
	}
	h := &Host{
		store:  cfg.Store,
		now:    cfg.Now,
		rand:   cfg.Rand,
		limits: cfg.Limits,
		enrTTL: cfg.EnrollmentTTL,
		log:    cfg.Logger,
		caches: newRecordCaches(),
		keys:   newMemo[memoKey](keyMemoShardMax),
		views:  newMemo[*brandView](viewMemoShardMax),
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.rand == nil {
		h.rand = rand.Reader
	}
	if h.limits == (profile.Limits{}) {
		h.limits = profile.DefaultLimits()
	}
	if err := h.limits.Validate(); err != nil {
		return nil, fmt.Errorf("vault limits: %w", err)
	}
	h.defaults = cfg.Defaults
	h.maxPending = cfg.MaxPendingPerBrand
	if h.maxPending <= 0 {
		h.maxPending = DefaultMaxPendingPerBrand
	}
	h.maxPendingVault = cfg.MaxPendingPerVault
	if h.maxPendingVault <= 0 {
		h.maxPendingVault = DefaultMaxPendingPerVault
	}
	if h.enrTTL <= 0 {
		h.enrTTL = DefaultEnrollmentTTL
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h, nil
}

// Limits returns the profile limits in force.
func (h *Host) Limits() profile.Limits { return h.limits }

// Now returns the host's clock.
func (h *Host) Now() time.Time { return h.now() }

// metaRecord is the stored form of a vault's identity.
type metaRecord struct {
	V              int             `json:"v"`
	ID             string          `json:"id"`
	Created        time.Time       `json:"created"`
	VaultKey       json.RawMessage `json:"vault_key"`
	PairwiseSecret []byte          `json:"pairwise_secret"`
}

const (
	keyMeta  = "m/meta"
	keyUsage = "m/usage"
)

// Enrollment is a one-time enrolment code.
type Enrollment struct {
	// Code is the code to give the owner; it is stored only as a hash.
	Code string
	// Expires is when it stops being accepted.
	Expires time.Time
}

// CreateVault makes a new vault with a fresh id, vault key and pairwise
// secret, and returns its id and a first enrolment code.
func (h *Host) CreateVault(ctx context.Context) (string, Enrollment, error) {
	id, err := h.newID()
	if err != nil {
		return "", Enrollment{}, fmt.Errorf("vault id: %w", err)
	}
	key, err := consent.GenerateKey(consent.EdDSA, h.rand)
	if err != nil {
		return "", Enrollment{}, fmt.Errorf("vault key: %w", err)
	}
	keyJSON, err := key.MarshalJSON()
	if err != nil {
		return "", Enrollment{}, fmt.Errorf("encode vault key: %w", err)
	}
	secret := make([]byte, pairwiseSecretBytes)
	if _, err := io.ReadFull(h.rand, secret); err != nil {
		return "", Enrollment{}, fmt.Errorf("pairwise secret: %w", err)
	}
	meta, err := json.Marshal(metaRecord{V: 1, ID: id, Created: h.now().UTC(), VaultKey: keyJSON, PairwiseSecret: secret})
	if err != nil {
		return "", Enrollment{}, fmt.Errorf("encode vault metadata: %w", err)
	}
	if err := h.store.CreateVault(ctx, id); err != nil {
		return "", Enrollment{}, fmt.Errorf("create vault: %w", err)
	}
	var enr Enrollment
	err = h.store.Update(ctx, id, func(stx store.Tx) error {
		tx := tagged(stx, true)
		if err := tx.Put(keyMeta, meta); err != nil {
			return err
		}
		enr, err = h.putEnrollmentCode(tx, codeIssuer{})
		return err
	})
	if err != nil {
		return "", Enrollment{}, fmt.Errorf("initialise vault %s: %w", id, err)
	}
	h.log.Info("vault created", "vault", id)
	return id, enr, nil
}

// ListVaults returns up to limit vault ids after the id after.
// The reserved host state vault is not listed.
func (h *Host) ListVaults(ctx context.Context, after string, limit int) ([]string, error) {
	ids, err := h.store.ListVaults(ctx, after, limit+1)
	if err != nil {
		return nil, fmt.Errorf("list vaults: %w", err)
	}
	out := ids[:0]
	for _, id := range ids {
		if id != HostStateVault {
			out = append(out, id)
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// view runs fn in a read-only transaction of the vault, mapping a missing
// vault to ErrVaultNotFound.
func (h *Host) view(ctx context.Context, vaultID string, fn func(store.Tx) error) error {
	if !publicVaultID(vaultID) {
		return ErrVaultNotFound
	}
	return mapStoreErr(h.store.View(ctx, vaultID, func(tx store.Tx) error { return fn(tagged(tx, false)) }))
}

// update runs fn in a read-write transaction of the vault, mapping a
// missing vault to ErrVaultNotFound. Every write transaction of a vault
// touches its audit chain or change sequence, so run apart they conflict
// and retry: they go through the vault's groupCommit, which runs the ones
// that arrive together one after another in a single transaction (and,
// should one of them fail, each in a transaction of its own).
func (h *Host) update(ctx context.Context, vaultID string, fn func(store.Tx) error) error {
	if !publicVaultID(vaultID) {
		return ErrVaultNotFound
	}
	return h.groups.run(ctx, h, vaultID, fn)
}

// updateAlone runs fn in a read-write transaction of its own.
func (h *Host) updateAlone(ctx context.Context, vaultID string, fn func(store.Tx) error) error {
	if !publicVaultID(vaultID) {
		return ErrVaultNotFound
	}
	return mapStoreErr(h.store.Update(ctx, vaultID, func(tx store.Tx) error { return fn(tagged(tx, true)) }))
}

func mapStoreErr(err error) error {
	if errors.Is(err, store.ErrVaultNotFound) {
		return ErrVaultNotFound
	}
	return err
}

// getJSON decodes the record at key into v.
func getJSON(tx store.Tx, key string, v any) error {
	b, err := tx.Get(key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

// putJSON encodes v at key.
func putJSON(tx store.Tx, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return tx.Put(key, b)
}
