package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vrmvault/vrmvault/vault/audit"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/store"
)

const (
	prefixField = "p/"
	// MaxSelectors bounds the paths of one read.
	MaxSelectors = 100
)

// Provenance records the brand that wrote a contributed field.
type Provenance struct {
	// BrandJKT is the brand key's thumbprint.
	BrandJKT string `json:"brand_jkt"`
	// BrandName is the brand's self-asserted name at the time.
	BrandName string `json:"brand_name,omitempty"`
	// ConsentID is the consent the brand wrote under.
	ConsentID string `json:"consent_id,omitempty"`
}

// StoredField is a profile field as stored.
type StoredField struct {
	// Path is the field's dotted path.
	Path string
	// Value is the typed value.
	Value profile.Value
	// Version is the vault sequence number of the write that last changed
	// the field.
	Version uint64
	// Updated is when that write happened.
	Updated time.Time
	// Provenance is set for brand contributions.
	Provenance *Provenance
}

// FieldChange is one change of a batch.
type FieldChange struct {
	// Path is the field's path.
	Path string
	// Delete removes the field; otherwise Value is stored.
	Delete bool
	// Value is the value to store when Delete is false.
	Value profile.Value
	// ExpectedVersion, if not nil, must equal the field's version (0: the
	// field must not exist) or the batch fails with ErrVersionConflict.
	ExpectedVersion *uint64
}

// Usage is the size of a vault's profile.
type Usage struct {
	// Fields is the number of fields.
	Fields int64 `json:"fields"`
	// Bytes is the sum of path lengths and value sizes.
	Bytes int64 `json:"bytes"`
}

// fieldRecord is the stored form of a field.
type fieldRecord struct {
	V       int         `json:"v"`
	Kind    string      `json:"k"`
	Str     string      `json:"s,omitempty"`
	Int     int64       `json:"i,omitempty"`
	Bool    bool        `json:"b,omitempty"`
	Time    *time.Time  `json:"t,omitempty"`
	List    []string    `json:"l,omitempty"`
	Version uint64      `json:"ver"`
	Updated time.Time   `json:"upd"`
	Prov    *Provenance `json:"prov,omitempty"`
}

func encodeField(f StoredField) ([]byte, error) {
	rec := fieldRecord{V: 1, Kind: f.Value.Kind.String(), Version: f.Version, Updated: f.Updated.UTC(), Prov: f.Provenance}
	switch f.Value.Kind {
	case profile.KindString:
		rec.Str = f.Value.Str
	case profile.KindInt:
		rec.Int = f.Value.Int
	case profile.KindBool:
		rec.Bool = f.Value.Bool
	case profile.KindTimestamp:
		t := f.Value.Time.UTC()
		rec.Time = &t
	case profile.KindList:
		rec.List = f.Value.List
	default:
		return nil, fmt.Errorf("encode field %s: invalid kind", f.Path)
	}
	return json.Marshal(rec)
}

func decodeField(path string, b []byte) (StoredField, error) {
	f, err := decodeFieldRecord(b)
	if err != nil {
		return StoredField{}, fmt.Errorf("decode field %s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

// decodeFieldRecord decodes a stored field without its path, which is
// not in the record: what decodeCache keeps for fields.
func decodeFieldRecord(b []byte) (StoredField, error) {
	var rec fieldRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return StoredField{}, err
	}
	if rec.V != 1 {
		return StoredField{}, fmt.Errorf("unknown record version %d", rec.V)
	}
	kind, err := profile.ParseKind(rec.Kind)
	if err != nil {
		return StoredField{}, err
	}
	f := StoredField{Version: rec.Version, Updated: rec.Updated, Provenance: rec.Prov}
	switch kind {
	case profile.KindString:
		f.Value = profile.StringValue(rec.Str)
	case profile.KindInt:
		f.Value = profile.IntValue(rec.Int)
	case profile.KindBool:
		f.Value = profile.BoolValue(rec.Bool)
	case profile.KindTimestamp:
		if rec.Time == nil {
			return StoredField{}, errors.New("timestamp missing")
		}
		f.Value = profile.TimeValue(*rec.Time)
	case profile.KindList:
		f.Value = profile.ListValue(rec.List)
	}
	return f, nil
}

// fieldCost is what a field counts against the profile size limit.
func fieldCost(path string, v profile.Value) int64 { return int64(len(path) + v.Size()) }

// Selector is a parsed read selector: a field path, or a subtree when
// Subtree is set (written "a.b.*").
type Selector struct {
	// Path is the field path or the subtree's root.
	Path string
	// Subtree selects every field below Path.
	Subtree bool
}

// ParseSelectors validates read selectors: each a field path or a path
// followed by ".*". An empty list selects the whole profile.
func ParseSelectors(paths []string, maxDepth int) ([]Selector, error) {
	if len(paths) > MaxSelectors {
		return nil, fmt.Errorf("%w: %d paths asked, limit is %d", ErrInvalidArgument, len(paths), MaxSelectors)
	}
	out := make([]Selector, 0, len(paths))
	for _, p := range paths {
		s := Selector{Path: p}
		if root, ok := strings.CutSuffix(p, ".*"); ok {
			s = Selector{Path: root, Subtree: true}
		}
		if err := profile.ValidatePath(s.Path, maxDepth); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// GetProfile returns the fields the selectors name, sorted by path, and
// the vault's latest sequence number; absent paths are simply not listed.
func (h *Host) GetProfile(ctx context.Context, vaultID string, selectors []Selector) ([]StoredField, uint64, error) {
	var (
		fields  []StoredField
		lastSeq uint64
	)
	err := h.view(ctx, vaultID, func(tx store.Tx) error {
		var err error
		fields, err = readFields(tx, selectors, h.limits.MaxFields, h.caches.fields)
		if err != nil {
			return err
		}
		lastSeq, err = tx.LastSeq()
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("vault %s: get profile: %w", vaultID, err)
	}
	return fields, lastSeq, nil
}

// readFields collects the selected fields, each once, sorted by path,
// decoding them through cache (nil decodes every record).
func readFields(tx store.Tx, selectors []Selector, max int, cache *decodeCache[StoredField]) ([]StoredField, error) {
	if len(selectors) == 0 {
		selectors = []Selector{{Subtree: true}}
	}
	seen := map[string]bool{}
	var out []StoredField
	add := func(path string, b []byte) error {
		if seen[path] {
			return nil
		}
		f, err := cache.decode(b, decodeFieldRecord)
		if err != nil {
			return fmt.Errorf("decode field %s: %w", path, err)
		}
		f.Path = path
		seen[path] = true
		out = append(out, f)
		return nil
	}
	for _, s := range selectors {
		if !s.Subtree {
			b, err := tx.Get(prefixField + s.Path)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if err := add(s.Path, b); err != nil {
				return nil, err
			}
			continue
		}
		prefix := prefixField
		if s.Path != "" {
			prefix += s.Path + "."
		}
		err := tx.Scan(prefix, "", max, func(k string, v []byte) error {
			return add(strings.TrimPrefix(k, prefixField), v)
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b StoredField) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// changedField is a field set by a change, with its stored record.
type changedField struct {
	Path   string          `json:"p"`
	Record json.RawMessage `json:"r"`
}

// changeRecord is the payload of a change row: the fields a write set
// (with their values as stored) and deleted, the request or consent a
// consent change concerns, and who wrote it. Watches read it.
type changeRecord struct {
	V       int            `json:"v"`
	Kind    string         `json:"kind"` // profile, request, consent, revocation, key, ack
	Fields  []changedField `json:"set,omitempty"`
	Deleted []string       `json:"del,omitempty"`
	Request string         `json:"rid,omitempty"`
	Brand   string         `json:"brand,omitempty"` // the brand a request or consent change concerns
	Consent string         `json:"cid,omitempty"`
	By      string         `json:"by"`
}

// UpdateProfile applies changes as one atomic batch written by the owner
// c, with its audit entry in the same transaction: all of it or none.
// Every set is validated (path syntax, well-known rules, limits); owner batches may delete but not set
// brands.* fields. It returns the batch's sequence number (the new version
// of every field it set) and the fields as stored. A batch that changes
// nothing returns the current sequence number and changes nothing. With
// c.Proof set, the proof's jti is recorded in the same transaction (or,
// if the call fails, in one of its own).
func (h *Host) UpdateProfile(ctx context.Context, vaultID string, c Caller, changes []FieldChange) (uint64, []StoredField, error) {
	if err := h.validateBatch(changes); err != nil {
		h.RememberFailedCallProof(ctx, vaultID, c, err)
		return 0, nil, err
	}
	var (
		seq    uint64
		stored []StoredField
	)
	err := h.update(ctx, vaultID, func(tx store.Tx) error {
		var (
			err     error
			changed []string
		)
		tag, err := txStateTag(tx)
		if err != nil {
			return err
		}
		if _, err := confirmCallerKey(tx, c, tag); err != nil {
			return refuse(err)
		}
		if err := rememberCallerProof(tx, h.now(), c); err != nil {
			return err
		}
		seq, stored, changed, err = h.applyBatch(tx, c.JKT, nil, changes)
		if err != nil {
			return err
		}
		return h.appendAudit(tx, vaultID, c, nil, changed, audit.OutcomeOK) // the paths it changed
	})
	if err != nil {
		h.RememberFailedCallProof(ctx, vaultID, c, err)
		return 0, nil, fmt.Errorf("vault %s: update profile: %w", vaultID, err)
	}
	return seq, stored, nil
}

func (h *Host) validateBatch(changes []FieldChange) error {
	if len(changes) == 0 {
		return fmt.Errorf("%w: a batch needs at least one change", ErrInvalidArgument)
	}
	if len(changes) > h.limits.MaxFieldsPerBatch {
		return &profile.FieldError{
			Rule: fmt.Sprintf("batch has %d changes, limit is %d (max fields per batch)", len(changes), h.limits.MaxFieldsPerBatch),
			Err:  profile.ErrLimit,
		}
	}
	now := h.now()
	var sets []profile.Field
	seen := make(map[string]bool, len(changes))
	for _, c := range changes {
		if seen[c.Path] {
			return &profile.FieldError{Path: c.Path, Rule: "appears twice in one batch", Err: profile.ErrInvalidPath}
		}
		seen[c.Path] = true
		if c.Delete {
			if err := profile.ValidatePath(c.Path, h.limits.MaxPathDepth); err != nil {
				return err
			}
			continue
		}
		sets = append(sets, profile.Field{Path: c.Path, Value: c.Value})
	}
	if len(sets) > 0 {
		if err := profile.ValidateBatch(sets, now, h.limits); err != nil {
			return err
		}
	}
	return nil
}

// applyBatch plans the batch against the snapshot, then writes it.
func (h *Host) applyBatch(tx store.Tx, by string, prov *Provenance, changes []FieldChange) (uint64, []StoredField, []string, error) {
	var usage Usage
	if err := getJSON(tx, keyUsage, &usage); err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, nil, nil, err
	}
	type op struct {
		change FieldChange
		old    *StoredField
	}
	ops := make([]op, 0, len(changes))
	for _, c := range changes {
		var old *StoredField
		b, err := tx.Get(prefixField + c.Path)
		switch {
		case err == nil:
			f, err := decodeField(c.Path, b)
			if err != nil {
				return 0, nil, nil, err
			}
			old = &f
		case !errors.Is(err, store.ErrNotFound):
			return 0, nil, nil, err
		}
		if c.ExpectedVersion != nil {
			have := uint64(0)
			if old != nil {
				have = old.Version
			}
			if have != *c.ExpectedVersion {
				return 0, nil, nil, &PathError{Path: c.Path, Err: ErrVersionConflict,
					Detail: fmt.Sprintf("version is %d, expected %d", have, *c.ExpectedVersion)}
			}
		}
		if c.Delete && old == nil {
			return 0, nil, nil, &PathError{Path: c.Path, Err: ErrFieldNotFound, Detail: "no such field"}
		}
		if !c.Delete && old != nil && old.Value.Equal(c.Value) {
			continue // unchanged: no new version, no change row
		}
		ops = append(ops, op{change: c, old: old})
	}
	if len(ops) == 0 {
		seq, err := tx.LastSeq()
		return seq, nil, nil, err
	}

	// The batch's sequence number is the next one (Tx.AppendChange's
	// contract); the change row, appended last, carries the values as
	// stored, so that a watch delivers each change as it was.
	last, err := tx.LastSeq()
	if err != nil {
		return 0, nil, nil, err
	}
	seq := last + 1
	now := tx.Now().UTC()
	rec := changeRecord{V: 1, Kind: "profile", By: by}
	var stored []StoredField
	for _, o := range ops {
		c := o.change
		if o.old != nil {
			usage.Fields--
			usage.Bytes -= fieldCost(c.Path, o.old.Value)
		}
		if c.Delete {
			if err := tx.Delete(prefixField + c.Path); err != nil {
				return 0, nil, nil, err
			}
			rec.Deleted = append(rec.Deleted, c.Path)
			continue
		}
		if o.old == nil {
			if err := checkShape(tx, c.Path); err != nil {
				return 0, nil, nil, err
			}
		}
		f := StoredField{Path: c.Path, Value: c.Value, Version: seq, Updated: now, Provenance: prov}
		b, err := encodeField(f)
		if err != nil {
			return 0, nil, nil, err
		}
		if err := tx.Put(prefixField+c.Path, b); err != nil {
			return 0, nil, nil, err
		}
		rec.Fields = append(rec.Fields, changedField{Path: c.Path, Record: b})
		usage.Fields++
		usage.Bytes += fieldCost(c.Path, c.Value)
		stored = append(stored, f)
	}
	payload, err := json.Marshal(rec)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("encode change: %w", err)
	}
	got, err := tx.AppendChange(payload)
	if err != nil {
		return 0, nil, nil, err
	}
	if got != seq {
		return 0, nil, nil, fmt.Errorf("store assigned change %d, expected %d", got, seq)
	}
	hs, err := loadHosting(tx)
	if err != nil {
		return 0, nil, nil, err
	}
	q := h.effectiveQuota(hs)
	if usage.Fields > q.MaxFields {
		return 0, nil, nil, fmt.Errorf("%w: profile would have %d fields, limit is %d (max fields)", ErrQuota, usage.Fields, q.MaxFields)
	}
	if usage.Bytes > q.MaxSizeBytes {
		return 0, nil, nil, fmt.Errorf("%w: profile would be %d bytes, limit is %d (max profile size)", ErrQuota, usage.Bytes, q.MaxSizeBytes)
	}
	if err := putJSON(tx, keyUsage, usage); err != nil {
		return 0, nil, nil, err
	}
	slices.SortFunc(stored, func(a, b StoredField) int { return strings.Compare(a.Path, b.Path) })
	changed := make([]string, 0, len(ops))
	for _, o := range ops {
		changed = append(changed, o.change.Path)
	}
	return seq, stored, changed, nil
}

// checkShape refuses a new field at path when an ancestor path is a field
// or path already has fields below it: a profile is a tree whose leaves
// are the fields. It sees the batch's own earlier writes.
func checkShape(tx store.Tx, path string) error {
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		if _, err := tx.Get(prefixField + path[:i]); err == nil {
			return &PathError{Path: path, Err: ErrFieldShape, Detail: fmt.Sprintf("%s is a field, so it cannot have fields below it", path[:i])}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	found := false
	err := tx.Scan(prefixField+path+".", "", 1, func(string, []byte) error { found = true; return nil })
	if err != nil {
		return err
	}
	if found {
		return &PathError{Path: path, Err: ErrFieldShape, Detail: "has fields below it; delete them first or set a path below it"}
	}
	return nil
}

// Status is a vault's identity, usage and hosting, as its owner sees
// them.
type Status struct {
	// VaultID is the vault's id.
	VaultID string
	// OwnerKeys are the enrolled owner keys.
	OwnerKeys []OwnerKey
	// Usage is the profile's size.
	Usage Usage
	// LastSeq is the vault's latest change sequence number.
	LastSeq uint64
	// Consents is the number of consents in any state (counted up to
	// maxListRequests), as Usage counts them for the host.
	Consents int64
	// Suspended is whether the host has suspended the vault.
	Suspended bool
	// Quota is the quota in force: the host's defaults with the vault's
	// own settings over them.
	Quota Quota
}

// Status returns the vault's owner keys, usage, suspension and quota in
// force, read in one transaction.
func (h *Host) Status(ctx context.Context, vaultID string) (Status, error) {
	st := Status{VaultID: vaultID}
	err := h.view(ctx, vaultID, func(tx store.Tx) error {
		var err error
		if st.OwnerKeys, err = ownerKeys(tx); err != nil {
			return err
		}
		if err := getJSON(tx, keyUsage, &st.Usage); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		hs, err := loadHosting(tx)
		if err != nil {
			return err
		}
		st.Suspended, st.Quota = hs.Suspended, h.effectiveQuota(hs)
		err = tx.Scan(prefixConsent, "", maxListRequests, func(string, []byte) error { st.Consents++; return nil })
		if err != nil {
			return err
		}
		st.LastSeq, err = tx.LastSeq()
		return err
	})
	if err != nil {
		return Status{}, fmt.Errorf("vault %s: status: %w", vaultID, err)
	}
	return st, nil
}
