package vault

import (
	"strings"

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
	// selected are the fields that the selectors encoded as selKey
	// select, before the consents' scopes filter them; only when
	// hasSelected.
	selKey      string
	selected    []StoredField
	hasSelected bool
}

const (
	// viewMemoShardMax bounds the brand views a host remembers: 8,192 in
	// all.
	viewMemoShardMax = 512
	// viewMaxConsents is the most consents of a brand view remembered;
	// a brand with more is read from the store every time.
	viewMaxConsents = 16
	// viewMaxFields and viewMaxFieldBytes bound the selected fields a
	// brand view remembers (bytes as fieldCost counts them); a larger
	// read is read from the store every time. With the bounds above, the
	// views take at most some tens of MiB.
	viewMaxFields     = 64
	viewMaxFieldBytes = 4 << 10
)

// brandView returns the view of brand jkt in the transaction tx of the
// vault, whose state tag is tag: the one remembered at tag, or one read
// from tx (and then remembered, unless tag is zero).
func (h *Host) brandView(tx store.Tx, vaultID, jkt string, tag stateTag) (*brandView, error) {
	id := memoID{vaultID, jkt}
	if v, ok := h.views.get(id); ok && tag != (stateTag{}) && v.tag == tag {
		return v, nil
	}
	consents, err := loadBrandConsents(tx, jkt, h.caches.consents)
	if err != nil {
		return nil, err
	}
	meta, err := h.loadMeta(tx)
	if err != nil {
		return nil, err
	}
	v := &brandView{tag: tag, consents: consents, subject: consent.PairwiseSubject(meta.PairwiseSecret, jkt)}
	h.rememberView(id, v)
	return v, nil
}

// selectedFields returns the fields sel selects in tx, from v when it
// remembers them, and remembers them in a copy of v otherwise, when they
// are few and small.
func (h *Host) selectedFields(tx store.Tx, vaultID, jkt string, v *brandView, sel []Selector) ([]StoredField, error) {
	key := selectorKey(sel)
	if v.hasSelected && v.selKey == key {
		return v.selected, nil
	}
	found, err := readFields(tx, sel, h.limits.MaxFields, h.caches.fields)
	if err != nil {
		return nil, err
	}
	if len(found) <= viewMaxFields {
		var size int64
		for _, f := range found {
			size += fieldCost(f.Path, f.Value)
		}
		if size <= viewMaxFieldBytes {
			nv := *v
			nv.selKey, nv.selected, nv.hasSelected = key, found, true
			h.rememberView(memoID{vaultID, jkt}, &nv)
		}
	}
	return found, nil
}

// rememberView remembers v, if it is at a tag and small enough.
func (h *Host) rememberView(id memoID, v *brandView) {
	if v.tag == (stateTag{}) || len(v.consents.granted) > viewMaxConsents {
		return
	}
	h.views.put(id, v)
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
