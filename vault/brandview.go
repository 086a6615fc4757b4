package vault

import (
	"strings"
	"sync/atomic"

	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault/store"
)

// brandView is what a consented read of one brand in one vault needs
// besides the vault's replay cache and audit chain: the brand's consents,
// its pairwise subject and the fields its last read selected. It is
// remembered at the vault's state tag and used only by a transaction that
// reads the same tag, so it is exactly what reading the records again
// would give (see keyStateTag). A brandView is never modified once
// remembered.
type brandView struct {
	tag      stateTag
	consents brandConsents
	subject  string
	// cost is what the view holds, in bytes as viewMaxBytes counts them.
	cost int
	// selected are the fields that the selectors encoded as selKey
	// select, before the consents' scopes filter them; only when
	// hasSelected.
	selKey      string
	selected    []StoredField
	hasSelected bool
}

const (
	// viewMemoShardMax bounds the brand views a host remembers: 4,096 in
	// all.
	viewMemoShardMax = 256
	// viewMaxConsents, viewMaxFields and viewMaxBytes bound what one
	// remembered view holds: its consents (their scopes, not their
	// signed records), the fields its last selectors selected, and the
	// selectors (bytes: scopes, selectors, and fields as fieldCost counts
	// them). A brand whose view would hold more is read from the store
	// every time. The views thus hold at most 4,096 × 8 KiB (about twice
	// that with Go's own overhead); a brand with one consent of a few
	// scopes reading a few fields, the usual case, takes well under 1 KiB.
	viewMaxConsents = 4
	viewMaxFields   = 64
	viewMaxBytes    = 8 << 10
)

// brandView returns the view of brand jkt in the transaction tx of the
// vault, whose state tag is tag: the one remembered at tag, or one read
// from tx (and then remembered, unless tag is zero).
func (h *Host) brandView(tx store.Tx, vaultID, jkt string, tag stateTag) (*brandView, error) {
	id := memoID{vaultID, jkt}
	if v, ok := h.views.get(id); ok && tag != (stateTag{}) && v.tag == tag {
		h.memoStats.viewHits.Add(1)
		return v, nil
	}
	h.memoStats.viewMisses.Add(1)
	consents, err := loadBrandConsents(tx, jkt, h.caches.consents)
	if err != nil {
		return nil, err
	}
	meta, err := h.loadMeta(tx)
	if err != nil {
		return nil, err
	}
	kept, cost := consents.forMemory()
	v := &brandView{tag: tag, consents: kept, subject: consent.PairwiseSubject(meta.PairwiseSecret, jkt), cost: cost}
	h.rememberView(id, v)
	return v, nil
}

// selectedFields returns the fields sel selects in tx, from v when it
// remembers them, and remembers them in a copy of v otherwise, when they
// are few and small.
func (h *Host) selectedFields(tx store.Tx, vaultID, jkt string, v *brandView, sel []Selector) ([]StoredField, error) {
	key := selectorKey(sel)
	if v.hasSelected && v.selKey == key {
		h.memoStats.fieldHits.Add(1)
		return v.selected, nil
	}
	h.memoStats.fieldMisses.Add(1)
	found, err := readFields(tx, sel, h.limits.MaxFields, h.caches.fields)
	if err != nil {
		return nil, err
	}
	if len(found) <= viewMaxFields {
		cost := v.cost + len(key)
		for _, f := range found {
			cost += int(fieldCost(f.Path, f.Value))
		}
		if cost <= viewMaxBytes {
			nv := *v
			nv.selKey, nv.selected, nv.hasSelected, nv.cost = key, found, true, cost
			h.rememberView(memoID{vaultID, jkt}, &nv)
		}
	}
	return found, nil
}

// rememberView remembers v, if it is at a tag and small enough.
func (h *Host) rememberView(id memoID, v *brandView) {
	if v.tag == (stateTag{}) || len(v.consents.granted) > viewMaxConsents || v.cost > viewMaxBytes {
		return
	}
	h.views.put(id, v)
}

// forMemory returns bc with what a read uses only (a consent's id, state,
// validity and parsed scopes; not its signed record, revocation or
// purposes), so that a remembered view holds as little as it needs, and
// the bytes of the scopes kept.
func (bc brandConsents) forMemory() (brandConsents, int) {
	out := brandConsents{ended: bc.ended, granted: make([]parsedConsent, len(bc.granted))}
	cost := 0
	for i, c := range bc.granted {
		out.granted[i] = parsedConsent{
			Consent:  Consent{V: c.V, ID: c.ID, State: c.State, NotBefore: c.NotBefore, Expires: c.Expires},
			scopes:   c.scopes,
			scopeErr: c.scopeErr,
		}
		cost += len(c.ID)
		for _, s := range c.Scopes {
			cost += len(s)
		}
	}
	return out, cost
}

// selectorKey encodes selectors as one string, equal for equal lists.
func selectorKey(sel []Selector) string {
	var b strings.Builder
	for _, s := range sel {
		b.WriteString(s.Path)
		if s.Subtree {
			b.WriteString(".*")
		}
		b.WriteByte(0) // never in a valid path
	}
	return b.String()
}

// MemoStats counts how the consented reads of a host found what they
// need: in memory (at an unchanged state tag) or in the store.
type MemoStats struct {
	// ViewHits and ViewMisses count the reads that found the brand's
	// consents and pairwise subject in memory, and those that read them.
	ViewHits, ViewMisses uint64
	// FieldHits and FieldMisses count the same for the selected fields.
	FieldHits, FieldMisses uint64
}

// memoCounters are a host's MemoStats as they grow.
type memoCounters struct {
	viewHits, viewMisses, fieldHits, fieldMisses atomic.Uint64
}

// MemoStats returns the counts since the host started.
func (h *Host) MemoStats() MemoStats {
	c := &h.memoStats
	return MemoStats{
		ViewHits: c.viewHits.Load(), ViewMisses: c.viewMisses.Load(),
		FieldHits: c.fieldHits.Load(), FieldMisses: c.fieldMisses.Load(),
	}
}
