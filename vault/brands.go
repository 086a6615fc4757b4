package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault/audit"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/store"
)

// KeyResolver resolves a proof's kid among the keys a vault knows (its
// owners' and the brands' that have asked for access) and remembers the
// role of the key it found. It serves one call: make one per call.
type KeyResolver struct {
	h     *Host
	vault string
	// MemoRole, if set, lets ResolveKey answer from the keys the host
	// remembers, without a transaction, for a key of this role. Only with
	// WantCheck.
	MemoRole string
	// WantCheck makes ResolveKey set Check, which the call's own
	// transaction must confirm (Caller.Key): for the calls that do
	// (ReadProfile, UpdateProfile).
	WantCheck bool
	// Role is the role of the last key resolved: audit.RoleOwner or
	// audit.RoleBrand.
	Role string
	// Suspended and Quota are the vault's, read with the key.
	Suspended bool
	// Quota is the vault's quota in force.
	Quota Quota
	// Check is set with WantCheck: what the call's transaction confirms.
	Check *KeyCheck
}

// NewKeyResolver returns a resolver for the vault's keys. A vault that
// does not exist resolves no key, exactly like an unknown key.
func (h *Host) NewKeyResolver(vaultID string) *KeyResolver {
	return &KeyResolver{h: h, vault: vaultID}
}

// Vault returns the id of the vault whose keys r resolves.
func (r *KeyResolver) Vault() string { return r.vault }

// ResolveKey implements consent.KeyResolver.
func (r *KeyResolver) ResolveKey(ctx context.Context, jkt string) (consent.PublicKey, error) {
	if !validJKT(jkt) {
		return consent.PublicKey{}, consent.ErrUnknownKey
	}
	id := memoID{r.vault, jkt}
	if r.MemoRole != "" && r.WantCheck {
		// Only an answer that admits the call is taken from memory: a
		// refusal (other role, suspended) is decided on the store.
		if e, ok := r.h.keys.get(id); ok && e.check.role == r.MemoRole {
			r.Role, r.Suspended, r.Quota, r.Check = e.check.role, false, e.quota, e.check
			return e.key, nil
		}
	}
	var (
		key    consent.PublicKey
		role   string
		record []byte
		hs     Hosting
		hsRaw  []byte
		tag    stateTag
	)
	err := r.h.view(ctx, r.vault, func(tx store.Tx) error {
		var err error
		// The tag first: what is read after it is at least as new.
		if tag, err = txStateTag(tx); err != nil {
			return err
		}
		if hs, hsRaw, err = r.h.loadHostingRaw(tx); err != nil {
			return err
		}
		if b, err := tx.Get(prefixOwner + jkt); err == nil {
			ok, err := r.h.caches.owners.decode(b, decodeOwner)
			key, role, record = ok.Key, audit.RoleOwner, b
			return err
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		b, err := tx.Get(prefixBrand + jkt)
		if err != nil {
			return err
		}
		bk, err := r.h.caches.brands.decode(b, decodeBrandKey)
		key, role, record = bk.key, audit.RoleBrand, b
		return err
	})
	if errors.Is(err, ErrVaultNotFound) || errors.Is(err, store.ErrNotFound) {
		return consent.PublicKey{}, consent.ErrUnknownKey
	}
	if err != nil {
		return consent.PublicKey{}, fmt.Errorf("vault %s: resolve key: %w", r.vault, err)
	}
	r.Role, r.Suspended, r.Quota = role, hs.Suspended, r.h.effectiveQuota(hs)
	check := &KeyCheck{jkt: jkt, role: role, record: record, hosting: hsRaw, tag: tag}
	if !hs.Suspended {
		r.h.keys.put(id, memoKey{key: key, check: check, quota: r.Quota})
	}
	if r.WantCheck {
		r.Check = check
	}
	return key, nil
}

// brandKey is the public key of a stored brand record.
type brandKey struct{ key consent.PublicKey }

func decodeBrandKey(b []byte) (brandKey, error) {
	var br brandRecord
	if err := json.Unmarshal(b, &br); err != nil {
		return brandKey{}, fmt.Errorf("decode brand: %w", err)
	}
	k, err := consent.ParsePublicKey([]byte(br.JWK))
	if err != nil {
		return brandKey{}, fmt.Errorf("brand key: %w", err)
	}
	return brandKey{key: k}, nil
}

// brandConsents is what a vault holds for one brand's access: its granted
// consents (the bc/ index holds granted consents only, so its size is
// bounded by MaxConsentsPerBrand however many have ended) and how its
// latest consent ended, for the reason a refusal gives.
type brandConsents struct {
	granted []parsedConsent
	ended   State // StateRevoked or StateExpired of the latest ended consent; "" if none
}

// parsedConsent is a stored consent with its scopes parsed (or the reason
// they do not parse, which makes the consent grant nothing).
type parsedConsent struct {
	Consent
	scopes   []consent.Scope
	scopeErr error
}

// decodeConsent decodes a stored consent record and parses its scopes.
func decodeConsent(b []byte) (parsedConsent, error) {
	var c parsedConsent
	if err := json.Unmarshal(b, &c.Consent); err != nil {
		return parsedConsent{}, fmt.Errorf("decode consent: %w", err)
	}
	c.scopes, c.scopeErr = consent.ParseScopes(c.Scopes)
	return c, nil
}

// loadBrandConsents loads the brand's consents, decoding them through
// cache (nil decodes every record).
func loadBrandConsents(tx store.Tx, jkt string, cache *decodeCache[parsedConsent]) (brandConsents, error) {
	var bc brandConsents
	err := tx.Scan(prefixBrandConsents+jkt+"/", "", MaxConsentsPerBrand, func(k string, _ []byte) error {
		id := k[strings.LastIndexByte(k, '/')+1:]
		b, err := tx.Get(prefixConsent + id)
		if err != nil {
			return fmt.Errorf("consent %s: %w", id, err)
		}
		c, err := cache.decode(b, decodeConsent)
		if err != nil {
			return fmt.Errorf("consent %s: %w", id, err)
		}
		bc.granted = append(bc.granted, c)
		return nil
	})
	if err != nil {
		return brandConsents{}, err
	}
	var br brandRecord
	if err := getJSON(tx, prefixBrand+jkt, &br); err != nil && !errors.Is(err, store.ErrNotFound) {
		return brandConsents{}, err
	}
	bc.ended = br.Ended
	return bc, nil
}

// active returns the scopes of the brand's active consents and their ids,
// or the reason there are none: consent revoked or expired (whichever
// ended its latest consent), or no consent at all.
func (bc brandConsents) active(now time.Time) ([]consent.Scope, []string, error) {
	var (
		scopes  []consent.Scope
		ids     []string
		expired bool
	)
	for _, c := range bc.granted {
		if !c.activeAt(now) {
			expired = expired || c.StateAt(now) == StateExpired
			continue
		}
		if c.scopeErr != nil {
			return nil, nil, fmt.Errorf("stored consent %s: %w", c.ID, c.scopeErr)
		}
		scopes = append(scopes, c.scopes...)
		ids = append(ids, c.ID)
	}
	switch {
	case len(ids) > 0:
		return scopes, ids, nil
	case expired:
		return nil, nil, ErrConsentExpired
	case bc.ended == StateRevoked:
		return nil, nil, ErrConsentRevoked
	case bc.ended == StateExpired:
		return nil, nil, ErrConsentExpired
	}
	return nil, nil, ErrNoConsent
}

// allowed reports whether some scope allows action on path.
func allowed(scopes []consent.Scope, action consent.Action, path string) bool {
	for _, s := range scopes {
		if s.Allows(action, path) {
			return true
		}
	}
	return false
}

// ReadProfile returns the fields the selectors name that the brand's
// active consents allow it to read, and the brand's pairwise subject. A
// path the brand may not read is simply absent. The read and its audit
// entry are one transaction: if the entry cannot be written, nothing is
// returned (fail closed). A brand without an active consent gets
// ErrConsentRevoked, ErrConsentExpired or ErrNoConsent, and the refusal is
// audited too. With c.Proof set, the proof's jti is recorded in the same
// transaction, and a jti already used is refused (consent.ErrInvalidProof)
// with nothing returned or audited.
//
// Reads of one vault that arrive together share one transaction and one
// synced commit (groupCommit), in the order they arrived.
func (h *Host) ReadProfile(ctx context.Context, vaultID string, c Caller, selectors []Selector) ([]StoredField, string, error) {
	now := h.now()
	var (
		fields  []StoredField
		subject string
		denied  error
		tag     stateTag
		retag   bool
	)
	err := h.groups.run(ctx, h, vaultID, func(tx store.Tx) error {
		fields, denied, retag = nil, nil, false
		// The state tag first: what the host remembers at it stands for
		// the records, and what is read after it is at least as new.
		var err error
		if tag, err = txStateTag(tx); err != nil {
			return err
		}
		if retag, err = confirmCallerKey(tx, c, tag); err != nil {
			return refuse(err)
		}
		// Every read first, then the writes (the jti, the audit entry):
		// the store's iterator serves all the scans of a read until the
		// transaction writes.
		view, err := h.brandView(tx, vaultID, c.JKT, tag)
		if err != nil {
			return err
		}
		scopes, ids, err := view.consents.active(now)
		if err != nil {
			if errors.Is(err, ErrConsentRevoked) || errors.Is(err, ErrConsentExpired) || errors.Is(err, ErrNoConsent) {
				if err := rememberReadProof(tx, now, c); err != nil {
					return err
				}
				if err := ensureStateTag(tx, tag); err != nil {
					return err
				}
				denied = err
				return h.appendAudit(tx, vaultID, c, nil, nil, outcomeOf(err))
			}
			return err
		}
		sel := selectors
		if len(sel) == 0 {
			for _, s := range scopes {
				if s.Action == consent.ActionRead || s.Action == consent.ActionWatch {
					sel = append(sel, Selector{Path: s.Path, Subtree: s.Wildcard})
				}
			}
		}
		found, err := h.selectedFields(tx, vaultID, c.JKT, view, sel)
		if err != nil {
			return err
		}
		paths := make([]string, 0, len(found))
		fields = make([]StoredField, 0, len(found))
		for _, f := range found {
			if allowed(scopes, consent.ActionRead, f.Path) {
				fields = append(fields, f)
				paths = append(paths, f.Path)
			}
		}
		subject = view.subject
		if err := rememberReadProof(tx, now, c); err != nil {
			return err
		}
		if err := ensureStateTag(tx, tag); err != nil {
			return err
		}
		return h.appendAudit(tx, vaultID, c, ids, paths, audit.OutcomeOK)
	})
	if err != nil {
		h.RememberFailedCallProof(ctx, vaultID, c, err)
		return nil, "", fmt.Errorf("vault %s: read profile: %w", vaultID, err)
	}
	if retag {
		h.retagKey(vaultID, c.Key, tag)
	}
	if denied != nil {
		return nil, "", denied
	}
	slices.SortFunc(fields, func(a, b StoredField) int { return strings.Compare(a.Path, b.Path) })
	return fields, subject, nil
}

// rememberReadProof records the read's jti in tx, before any other
// write of the read; a jti already used refuses the read.
func rememberReadProof(tx store.Tx, now time.Time, c Caller) error {
	err := rememberCallerProof(tx, now, c)
	if errors.Is(err, consent.ErrInvalidProof) {
		return refuse(err)
	}
	return err
}

func outcomeOf(err error) string {
	switch {
	case errors.Is(err, ErrConsentRevoked):
		return "consent_revoked"
	case errors.Is(err, ErrConsentExpired):
		return "consent_expired"
	default:
		return "no_consent"
	}
}

// Descriptor is a vault's public descriptor.
type Descriptor struct {
	// VaultID is the vault's id.
	VaultID string
	// OwnerKeys are the owners' public keys.
	OwnerKeys []consent.PublicKey
	// VaultKey is the vault's public key.
	VaultKey consent.PublicKey
	// Signed is the descriptor as a compact JWS signed by the vault key.
	Signed string
}

// ProtocolVersion is the protocol this vault speaks.
const ProtocolVersion = "vrm/1"

// Descriptor returns the vault's descriptor, signed now by the vault key.
func (h *Host) Descriptor(ctx context.Context, vaultID string) (Descriptor, error) {
	var d Descriptor
	err := h.view(ctx, vaultID, func(tx store.Tx) error {
		key, err := vaultKey(tx)
		if err != nil {
			return err
		}
		owners, err := ownerPublicKeys(tx)
		if err != nil {
			return err
		}
		claims := consent.DescriptorClaims{
			Vault:    vaultID,
			VaultKey: json.RawMessage(key.Public().JSON()),
			Protocol: ProtocolVersion,
			Limits:   h.limitsMap(),
			Iat:      h.now().Unix(),
		}
		for _, o := range owners {
			claims.OwnerKeys = append(claims.OwnerKeys, json.RawMessage(o.JSON()))
		}
		signed, err := consent.SignDescriptor(key, claims)
		if err != nil {
			return err
		}
		d = Descriptor{VaultID: vaultID, OwnerKeys: owners, VaultKey: key.Public(), Signed: signed}
		return nil
	})
	if err != nil {
		return Descriptor{}, fmt.Errorf("vault %s: descriptor: %w", vaultID, err)
	}
	return d, nil
}

func (h *Host) limitsMap() map[string]int64 {
	l := h.limits
	return map[string]int64{
		"max_value_bytes":       int64(l.MaxValueBytes),
		"max_list_items":        int64(l.MaxListItems),
		"max_fields_per_batch":  int64(l.MaxFieldsPerBatch),
		"max_path_depth":        int64(l.MaxPathDepth),
		"max_fields":            int64(l.MaxFields),
		"max_profile_bytes":     int64(l.MaxProfileBytes),
		"max_pending_per_brand": int64(h.maxPending),
	}
}

// ErrNotPermitted: a valid caller asked for something its consents do not
// allow (a write outside its namespace, or a path no write scope covers).
var ErrNotPermitted = errors.New("not permitted")

// WriteContributions writes a brand's own records under brands.<its
// jkt>.*, as one atomic batch with provenance (the brand, its name, the
// consent it wrote under) kept with each field, and its audit entry. Every
// path must lie in the brand's namespace and be covered by a write scope
// of an active consent; otherwise nothing is written (ErrNotPermitted).
func (h *Host) WriteContributions(ctx context.Context, vaultID string, c Caller, changes []FieldChange) (uint64, error) {
	ns := consent.BrandNamespace(c.JKT)
	var sets []profile.Field
	paths := make([]string, 0, len(changes))
	for _, ch := range changes {
		if !strings.HasPrefix(ch.Path, ns+".") {
			return 0, fmt.Errorf("%w: %s is outside the brand's namespace %s.*", ErrNotPermitted, QuotePath(ch.Path), ns)
		}
		paths = append(paths, ch.Path)
		if !ch.Delete {
			sets = append(sets, profile.Field{Path: ch.Path, Value: ch.Value})
		}
	}
	if len(changes) == 0 {
		return 0, fmt.Errorf("%w: a batch needs at least one change", ErrInvalidArgument)
	}
	if err := profile.ValidateBrandBatch(c.JKT, sets, h.limits); err != nil {
		return 0, err
	}
	for _, ch := range changes {
		if ch.Delete {
			if err := profile.ValidatePath(ch.Path, h.limits.MaxPathDepth); err != nil {
				return 0, err
			}
		}
	}
	now := h.now()
	var seq uint64
	err := h.update(ctx, vaultID, func(tx store.Tx) error {
		all, err := loadBrandConsents(tx, c.JKT, h.caches.consents)
		if err != nil {
			return err
		}
		if _, _, err := all.active(now); err != nil {
			return err
		}
		var consentID string
		for _, p := range paths {
			id := writeConsentFor(all.granted, now, p)
			if id == "" {
				return fmt.Errorf("%w: no active consent lets this brand write %s", ErrNotPermitted, p)
			}
			if consentID == "" {
				consentID = id
			}
		}
		var br brandRecord
		if err := getJSON(tx, prefixBrand+c.JKT, &br); err != nil {
			return err
		}
		prov := &Provenance{BrandJKT: c.JKT, BrandName: br.Name, ConsentID: consentID}
		var changed []string
		if seq, _, changed, err = h.applyBatch(tx, c.JKT, prov, changes); err != nil {
			return err
		}
		return h.appendAudit(tx, vaultID, c, []string{consentID}, changed, audit.OutcomeOK)
	})
	if err != nil {
		return 0, fmt.Errorf("vault %s: write contributions: %w", vaultID, err)
	}
	return seq, nil
}

// writeConsentFor returns the id of an active consent with a write scope
// covering path, or "".
func writeConsentFor(all []parsedConsent, now time.Time, path string) string {
	for _, c := range all {
		if !c.activeAt(now) || c.scopeErr != nil {
			continue
		}
		if allowed(c.scopes, consent.ActionWrite, path) {
			return c.ID
		}
	}
	return ""
}

// QuotePath shortens and quotes a path that has not been validated, for
// an error message: it stays one line and carries little more than a path.
func QuotePath(p string) string {
	if len(p) > 80 {
		p = p[:80] + "..."
	}
	return fmt.Sprintf("%q", p)
}
