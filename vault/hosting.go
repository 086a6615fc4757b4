package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault/store"
)

// HostStateVault is the reserved vault that holds the host's own state
// (the replay cache of host admin proofs). It is never listed, and no
// owner or brand can address it.
const HostStateVault = "_host"

// keyHosting holds the operator's settings of a vault.
const keyHosting = "m/hosting"

// ErrSuspended: the vault is suspended by its host; it answers everyone
// but the host with this.
var ErrSuspended = errors.New("vault suspended")

// Quota is the set of quotas of one vault. A zero field means the host's
// default.
type Quota struct {
	// MaxSizeBytes bounds the profile's size.
	MaxSizeBytes int64 `json:"max_size_bytes,omitempty"`
	// MaxFields bounds the profile's field count.
	MaxFields int64 `json:"max_fields,omitempty"`
	// CallsPerSecond bounds the calls to the vault.
	CallsPerSecond int64 `json:"calls_per_second,omitempty"`
	// BrandCallsPerSecond bounds one brand's calls to the vault.
	BrandCallsPerSecond int64 `json:"brand_calls_per_second,omitempty"`
	// BrandPendingRequests bounds one brand's pending requests.
	BrandPendingRequests int64 `json:"brand_pending_requests,omitempty"`
	// BrandOpenStreams bounds one brand's open streams.
	BrandOpenStreams int64 `json:"brand_open_streams,omitempty"`
}

// Merge returns q with every non-zero field of o.
func (q Quota) Merge(o Quota) Quota {
	set := func(dst *int64, v int64) {
		if v != 0 {
			*dst = v
		}
	}
	set(&q.MaxSizeBytes, o.MaxSizeBytes)
	set(&q.MaxFields, o.MaxFields)
	set(&q.CallsPerSecond, o.CallsPerSecond)
	set(&q.BrandCallsPerSecond, o.BrandCallsPerSecond)
	set(&q.BrandPendingRequests, o.BrandPendingRequests)
	set(&q.BrandOpenStreams, o.BrandOpenStreams)
	return q
}

// Validate refuses negative quotas.
func (q Quota) Validate() error {
	for name, v := range map[string]int64{
		"max_size_bytes": q.MaxSizeBytes, "max_fields": q.MaxFields, "calls_per_second": q.CallsPerSecond,
		"brand_calls_per_second": q.BrandCallsPerSecond, "brand_pending_requests": q.BrandPendingRequests,
		"brand_open_streams": q.BrandOpenStreams,
	} {
		if v < 0 {
			return fmt.Errorf("%w: quota %s must not be negative", ErrInvalidArgument, name)
		}
	}
	return nil
}

// Hosting is the operator's settings of one vault.
type Hosting struct {
	V         int   `json:"v"`
	Suspended bool  `json:"suspended,omitempty"`
	Quota     Quota `json:"quota"`
}

// loadHostingRaw reads the vault's hosting settings (zero if none)
// through the host's decode cache, and returns the record's bytes (nil if
// none) too.
func (h *Host) loadHostingRaw(tx store.Tx) (Hosting, []byte, error) {
	b, err := tx.Get(keyHosting)
	if errors.Is(err, store.ErrNotFound) {
		return Hosting{}, nil, nil
	}
	if err != nil {
		return Hosting{}, nil, err
	}
	hs, err := h.caches.hosting.decode(b, func(b []byte) (Hosting, error) {
		var hs Hosting
		if err := json.Unmarshal(b, &hs); err != nil {
			return Hosting{}, fmt.Errorf("decode %s: %w", keyHosting, err)
		}
		return hs, nil
	})
	return hs, b, err
}

// loadHosting reads the vault's hosting settings (zero if none).
func loadHosting(tx store.Tx) (Hosting, error) {
	var hs Hosting
	if err := getJSON(tx, keyHosting, &hs); err != nil && !errors.Is(err, store.ErrNotFound) {
		return Hosting{}, err
	}
	return hs, nil
}

// DefaultQuota returns the host's default quota: its limits and the
// per-brand defaults.
func (h *Host) DefaultQuota() Quota {
	return Quota{
		MaxSizeBytes:         int64(h.limits.MaxProfileBytes),
		MaxFields:            int64(h.limits.MaxFields),
		CallsPerSecond:       h.defaults.CallsPerSecond,
		BrandCallsPerSecond:  h.defaults.BrandCallsPerSecond,
		BrandPendingRequests: int64(h.maxPending),
		BrandOpenStreams:     h.defaults.BrandOpenStreams,
	}
}

// QuotaOf returns the vault's quota in force: the host's defaults with
// the vault's own settings over them.
func (h *Host) effectiveQuota(hs Hosting) Quota { return h.DefaultQuota().Merge(hs.Quota) }

// Hosting returns the vault's settings and its quota in force.
func (h *Host) Hosting(ctx context.Context, vaultID string) (Hosting, Quota, error) {
	var hs Hosting
	err := h.view(ctx, vaultID, func(tx store.Tx) error {
		var err error
		hs, err = loadHosting(tx)
		return err
	})
	if err != nil {
		return Hosting{}, Quota{}, err
	}
	return hs, h.effectiveQuota(hs), nil
}

// SetSuspended suspends or resumes the vault.
func (h *Host) SetSuspended(ctx context.Context, vaultID string, suspended bool) error {
	err := h.update(ctx, vaultID, func(tx store.Tx) error {
		hs, err := loadHosting(tx)
		if err != nil {
			return err
		}
		hs.V, hs.Suspended = 1, suspended
		return putJSON(tx, keyHosting, hs)
	})
	if err != nil {
		return fmt.Errorf("vault %s: suspend: %w", vaultID, err)
	}
	h.log.Info("vault suspension changed", "vault", vaultID, "suspended", suspended)
	return nil
}

// SetQuota sets the non-zero fields of q on the vault and returns the
// quota in force.
func (h *Host) SetQuota(ctx context.Context, vaultID string, q Quota) (Quota, error) {
	if err := q.Validate(); err != nil {
		return Quota{}, err
	}
	var out Quota
	err := h.update(ctx, vaultID, func(tx store.Tx) error {
		hs, err := loadHosting(tx)
		if err != nil {
			return err
		}
		hs.V, hs.Quota = 1, hs.Quota.Merge(q)
		out = h.effectiveQuota(hs)
		return putJSON(tx, keyHosting, hs)
	})
	if err != nil {
		return Quota{}, fmt.Errorf("vault %s: set quota: %w", vaultID, err)
	}
	return out, nil
}

// VaultUsage is a vault's usage, with no content.
type VaultUsage struct {
	// VaultID is the vault's id.
	VaultID string
	// Created is when the vault was made.
	Created time.Time
	// Suspended is the suspension state.
	Suspended bool
	// Usage is the profile's field count and bytes.
	Usage Usage
	// Consents is the number of consents in any state (counted up to
	// maxListRequests).
	Consents int64
	// Quota is the quota in force.
	Quota Quota
}

// Usage returns a vault's usage figures: counts and sizes, never content.
func (h *Host) Usage(ctx context.Context, vaultID string) (VaultUsage, error) {
	u := VaultUsage{VaultID: vaultID}
	err := h.view(ctx, vaultID, func(tx store.Tx) error {
		meta, err := loadMeta(tx)
		if err != nil {
			return err
		}
		u.Created = meta.Created
		hs, err := loadHosting(tx)
		if err != nil {
			return err
		}
		u.Suspended, u.Quota = hs.Suspended, h.effectiveQuota(hs)
		if err := getJSON(tx, keyUsage, &u.Usage); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.Scan(prefixConsent, "", maxListRequests, func(string, []byte) error { u.Consents++; return nil })
	})
	if err != nil {
		return VaultUsage{}, fmt.Errorf("vault %s: usage: %w", vaultID, err)
	}
	return u, nil
}

// DestroyVault deletes a vault: on a sealed store its data key is
// destroyed first (crypto-shredding), then its rows are erased.
func (h *Host) DestroyVault(ctx context.Context, vaultID string) error {
	if !publicVaultID(vaultID) {
		return ErrVaultNotFound
	}
	if err := mapStoreErr(h.store.EraseVault(ctx, vaultID)); err != nil {
		return fmt.Errorf("vault %s: destroy: %w", vaultID, err)
	}
	// Nothing of it stays in memory either: the fields, consents and keys
	// the host remembered for its reads.
	h.views.forgetVault(vaultID)
	h.keys.forgetVault(vaultID)
	h.log.Info("vault destroyed", "vault", vaultID)
	return nil
}

// publicVaultID reports whether id may name a customer's vault: a valid
// store id that is not reserved for the host.
func publicVaultID(id string) bool { return store.ValidVaultID(id) && id != HostStateVault }

// EnsureHostState creates the reserved host state vault if it does not
// exist yet. Call it once at start, before serving host admin calls: made
// lazily, a concurrent first call could see the vault before its data key.
func (h *Host) EnsureHostState(ctx context.Context) error {
	if err := h.store.CreateVault(ctx, HostStateVault); err != nil && !errors.Is(err, store.ErrVaultExists) {
		return fmt.Errorf("host state: %w", err)
	}
	return nil
}

// HostReplayCache returns the replay cache of host admin proofs, kept in
// the reserved host state vault (see EnsureHostState).
func (h *Host) HostReplayCache() consent.ReplayCache {
	return &replayCache{h: h, vault: HostStateVault, internal: true}
}
