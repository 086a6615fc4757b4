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

// changesPerRead is how many change rows a watch reads at once.
const changesPerRead = 100

// ErrCursorAhead is returned for a resume cursor beyond the vault's latest
// change.
var ErrCursorAhead = errors.New("cursor is ahead of the vault's latest change")

// WatchEvent is one event of a profile watch: the fields a change set (as
// they were stored by it) and the paths it deleted, restricted to what the
// brand may watch. The first event of a watch from cursor 0 holds the
// current values instead.
type WatchEvent struct {
	// Cursor is the change's sequence number; resume after it.
	Cursor uint64
	// Fields are the fields set.
	Fields []StoredField
	// Deleted are the paths deleted.
	Deleted []string
}

// WatchOptions configure a profile watch.
type WatchOptions struct {
	// Selectors narrow the watch; none means every path the brand's
	// watch scopes cover.
	Selectors []Selector
	// After resumes after this cursor; 0 starts with the current values.
	After uint64
}

// decodeChange decodes a change row's payload.
func decodeChange(c store.Change) (changeRecord, error) {
	var rec changeRecord
	if err := json.Unmarshal(c.Data, &rec); err != nil {
		return changeRecord{}, fmt.Errorf("change %d: %w", c.Seq, err)
	}
	return rec, nil
}

// watchGrant is what a brand may watch at a moment: the watch scopes of
// its active consents, their ids, and when the set next changes by
// expiry.
type watchGrant struct {
	scopes []consent.Scope
	ids    []string
	next   time.Time // earliest exp among the active consents; zero if none
}

// watchScopes returns the brand's watch grant at now, or why it has none.
func watchScopes(all brandConsents, now time.Time) (watchGrant, error) {
	var g watchGrant
	for _, c := range all.granted {
		if !c.activeAt(now) {
			continue
		}
		parsed, err := c.scopes, c.scopeErr
		if err != nil {
			return watchGrant{}, fmt.Errorf("stored consent %s: %w", c.ID, err)
		}
		found := false
		for _, s := range parsed {
			if s.Action == consent.ActionWatch {
				g.scopes = append(g.scopes, s)
				found = true
			}
		}
		if found {
			g.ids = append(g.ids, c.ID)
			if g.next.IsZero() || c.Expires.Before(g.next) {
				g.next = c.Expires
			}
		}
	}
	if len(g.ids) > 0 {
		return g, nil
	}
	if _, _, err := all.active(now); err != nil {
		return watchGrant{}, err // revoked, expired or none at all
	}
	return watchGrant{}, fmt.Errorf("%w: no active consent has a watch scope", ErrNoConsent)
}

// selected reports whether path is wanted by the selectors (all when
// there are none).
func selected(sel []Selector, path string) bool {
	if len(sel) == 0 {
		return true
	}
	for _, s := range sel {
		if path == s.Path && !s.Subtree {
			return true
		}
		if s.Subtree && (s.Path == "" || len(path) > len(s.Path) && path[:len(s.Path)] == s.Path && path[len(s.Path)] == '.') {
			return true
		}
	}
	return false
}

// WatchProfile streams the fields the brand may watch: from cursor 0 the
// current values first, then every change to them as it commits, each
// with its cursor. Changes to paths the brand may not watch are never
// sent. It returns when ctx ends (ctx.Err()), when send fails (that
// error), or when the brand loses its last watch consent
// (ErrConsentRevoked, ErrConsentExpired or ErrNoConsent), which it notices
// as soon as the revocation commits or the expiry passes. Nothing is
// buffered: the watch reads the change feed at the pace send returns.
func (h *Host) WatchProfile(ctx context.Context, vaultID string, c Caller, opts WatchOptions, send func(WatchEvent) error) (err error) {
	cursor := opts.After
	var grant watchGrant
	var first *WatchEvent
	// The start reads and checks, then appends its audit entry: run with
	// the other reads and watch starts of the vault (groupCommit), so that
	// many watches started at once do not conflict on the audit chain.
	start := func(tx store.Tx) error {
		first = nil
		now := h.now()
		all, err := loadBrandConsents(tx, c.JKT, h.caches.consents)
		if err != nil {
			return err
		}
		if grant, err = watchScopes(all, now); err != nil {
			return err
		}
		last, err := tx.LastSeq()
		if err != nil {
			return err
		}
		if opts.After > last {
			return fmt.Errorf("%w (%d > %d)", ErrCursorAhead, opts.After, last)
		}
		if opts.After == 0 {
			cursor = last
			ev := WatchEvent{Cursor: last}
			sel := opts.Selectors
			if len(sel) == 0 {
				for _, s := range grant.scopes {
					sel = append(sel, Selector{Path: s.Path, Subtree: s.Wildcard})
				}
			}
			found, err := readFields(tx, sel, h.limits.MaxFields, h.caches.fields)
			if err != nil {
				return err
			}
			for _, f := range found {
				if allowed(grant.scopes, consent.ActionWatch, f.Path) {
					ev.Fields = append(ev.Fields, f)
				}
			}
			first = &ev
		}
		return nil
	}
	err = h.groups.run(ctx, h, vaultID, func(tx store.Tx) error {
		if err := start(tx); err != nil {
			return refuse(err) // nothing written yet
		}
		return h.appendAudit(tx, vaultID, c, grant.ids, nil, "watch_start")
	})
	if err != nil {
		if denial(err) {
			h.auditDenial(vaultID, c, err)
		}
		return fmt.Errorf("vault %s: watch profile: %w", vaultID, err)
	}
	defer func() { h.auditWatchEnd(vaultID, c, err) }()
	if first != nil {
		if err := send(*first); err != nil {
			return err
		}
	}
	for {
		changes, err := h.store.Changes(ctx, vaultID, cursor, changesPerRead)
		if err != nil {
			return mapStoreErr(err)
		}
		for _, ch := range changes {
			rec, err := decodeChange(ch)
			if err != nil {
				return err
			}
			switch {
			case rec.Kind == "profile":
				ev, err := profileEvent(ch.Seq, rec, grant.scopes, opts.Selectors)
				if err != nil {
					return err
				}
				if ev != nil {
					if err := send(*ev); err != nil {
						return err
					}
				}
			case rec.Brand == c.JKT && (rec.Kind == "consent" || rec.Kind == "revocation"):
				if grant, err = h.reloadWatchGrant(ctx, vaultID, c.JKT); err != nil {
					return err
				}
			}
			cursor = ch.Seq
		}
		if len(changes) == changesPerRead {
			continue
		}
		if err := h.waitOrExpire(ctx, vaultID, cursor, grant.next); err != nil {
			return err
		}
		if !grant.next.IsZero() && !h.now().Before(grant.next) {
			if grant, err = h.reloadWatchGrant(ctx, vaultID, c.JKT); err != nil {
				return err
			}
		}
	}
}

// denial reports whether err is a refusal for want of an active consent.
func denial(err error) bool {
	return errors.Is(err, ErrConsentRevoked) || errors.Is(err, ErrConsentExpired) || errors.Is(err, ErrNoConsent)
}

func (h *Host) reloadWatchGrant(ctx context.Context, vaultID, jkt string) (watchGrant, error) {
	var g watchGrant
	err := h.view(ctx, vaultID, func(tx store.Tx) error {
		all, err := loadBrandConsents(tx, jkt, h.caches.consents)
		if err != nil {
			return err
		}
		g, err = watchScopes(all, h.now())
		return err
	})
	return g, err
}

// waitOrExpire waits for a change after cursor, or until deadline (if
// not zero), whichever comes first; reaching the deadline is not an error.
func (h *Host) waitOrExpire(ctx context.Context, vaultID string, cursor uint64, deadline time.Time) error {
	wctx := ctx
	if !deadline.IsZero() {
		d := deadline.Sub(h.now())
		if d <= 0 {
			return nil
		}
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	err := h.store.Wait(wctx, vaultID, cursor)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil // the expiry deadline, not the caller's
	}
	return mapStoreErr(err)
}

// profileEvent returns the event a profile change makes for a watcher
// with scopes and selectors, or nil if it may see none of it.
func profileEvent(seq uint64, rec changeRecord, scopes []consent.Scope, sel []Selector) (*WatchEvent, error) {
	ev := WatchEvent{Cursor: seq}
	for _, f := range rec.Fields {
		if !allowed(scopes, consent.ActionWatch, f.Path) || !selected(sel, f.Path) {
			continue
		}
		sf, err := decodeField(f.Path, f.Record)
		if err != nil {
			return nil, err
		}
		ev.Fields = append(ev.Fields, sf)
	}
	for _, p := range rec.Deleted {
		if allowed(scopes, consent.ActionWatch, p) && selected(sel, p) {
			ev.Deleted = append(ev.Deleted, p)
		}
	}
	if len(ev.Fields) == 0 && len(ev.Deleted) == 0 {
		return nil, nil
	}
	return &ev, nil
}

// auditDenial records a refused brand call in its own transaction.
func (h *Host) auditDenial(vaultID string, c Caller, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.update(ctx, vaultID, func(tx store.Tx) error {
		return h.appendAudit(tx, vaultID, c, nil, nil, outcomeOf(cause))
	})
	if err != nil {
		h.log.Error("audit of a refused call", "vault", vaultID, "error", err)
	}
}

// auditWatchEnd records the end of a watch and why it ended.
func (h *Host) auditWatchEnd(vaultID string, c Caller, cause error) {
	outcome := "watch_end"
	if denial(cause) {
		outcome = "watch_end_" + outcomeOf(cause)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.update(ctx, vaultID, func(tx store.Tx) error {
		return h.appendAudit(tx, vaultID, c, nil, nil, outcome)
	})
	if err != nil && !errors.Is(err, ErrVaultNotFound) {
		h.log.Error("audit of a watch end", "vault", vaultID, "error", err)
	}
}

// WatchConsent streams the state of the brand's request and its consent:
// the current state first, then every change (a decision, a revocation,
// an expiry) as it happens. It returns nil once the state is final
// (denied, revoked or expired).
func (h *Host) WatchConsent(ctx context.Context, vaultID, brandJKT, requestID string, send func(RequestView) error) error {
	var (
		v      RequestView
		cursor uint64
	)
	load := func() error {
		return h.view(ctx, vaultID, func(tx store.Tx) error {
			var err error
			if v, err = getRequest(tx, requestID, h.now()); err != nil {
				return err
			}
			if v.BrandJKT != brandJKT {
				return ErrRequestNotFound
			}
			cursor, err = tx.LastSeq()
			return err
		})
	}
	if err := load(); err != nil {
		if errors.Is(err, ErrVaultNotFound) {
			return ErrRequestNotFound
		}
		return err
	}
	last := viewState(v)
	if err := send(v); err != nil {
		return err
	}
	for !finalState(last) {
		deadline := v.Expires
		if v.Consent != nil {
			deadline = v.Consent.Expires
		}
		if err := h.waitOrExpire(ctx, vaultID, cursor, deadline); err != nil {
			return err
		}
		if err := load(); err != nil {
			return err
		}
		if st := viewState(v); st != last {
			last = st
			if err := send(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// viewState is the state a brand sees: the consent's once decided.
func viewState(v RequestView) State {
	if v.Consent != nil {
		return v.Consent.State
	}
	return v.State
}

func finalState(s State) bool {
	return s == StateDenied || s == StateRevoked || s == StateExpired
}

// AcknowledgeChanges records that the brand has processed every change up
// to cursor, on each of its active consents (never moving backwards).
func (h *Host) AcknowledgeChanges(ctx context.Context, vaultID, brandJKT string, cursor uint64) error {
	now := h.now()
	err := h.update(ctx, vaultID, func(tx store.Tx) error {
		last, err := tx.LastSeq()
		if err != nil {
			return err
		}
		if cursor > last {
			return fmt.Errorf("%w (%d > %d)", ErrCursorAhead, cursor, last)
		}
		all, err := loadBrandConsents(tx, brandJKT, h.caches.consents)
		if err != nil {
			return err
		}
		if _, _, err := all.active(now); err != nil {
			return err
		}
		for _, c := range all.granted {
			if !c.activeAt(now) || c.Acked >= cursor {
				continue
			}
			c.Acked = cursor
			if err := putJSON(tx, prefixConsent+c.ID, c.Consent); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault %s: acknowledge: %w", vaultID, err)
	}
	return nil
}

// maxBehindScan bounds the change rows counted for one consent's delivery
// state.
const maxBehindScan = 1000

// changesBehind counts the changes after c.Acked that c lets its brand
// see, up to maxBehindScan rows; capped reports that the count stopped.
func (h *Host) changesBehind(ctx context.Context, vaultID string, c Consent) (n int64, capped bool, err error) {
	scopes, err := consent.ParseScopes(c.Scopes)
	if err != nil {
		return 0, false, err
	}
	cursor, scanned := c.Acked, 0
	for scanned < maxBehindScan {
		changes, err := h.store.Changes(ctx, vaultID, cursor, changesPerRead)
		if err != nil {
			return 0, false, mapStoreErr(err)
		}
		for _, ch := range changes {
			rec, err := decodeChange(ch)
			if err != nil {
				return 0, false, err
			}
			if rec.Kind == "profile" && visibleChange(rec, scopes) {
				n++
			}
			cursor = ch.Seq
		}
		scanned += len(changes)
		if len(changes) < changesPerRead {
			return n, false, nil
		}
	}
	return n, true, nil
}

func visibleChange(rec changeRecord, scopes []consent.Scope) bool {
	for _, f := range rec.Fields {
		if allowed(scopes, consent.ActionRead, f.Path) {
			return true
		}
	}
	for _, p := range rec.Deleted {
		if allowed(scopes, consent.ActionRead, p) {
			return true
		}
	}
	return false
}

// DeliveryState returns, for a granted consent, how many changes its
// brand may see came after the cursor it acknowledged (capped counts stop
// at 1,000 rows scanned).
func (h *Host) DeliveryState(ctx context.Context, vaultID string, c Consent) (behind int64, capped bool, err error) {
	if c.State != StateGranted {
		return 0, false, nil
	}
	return h.changesBehind(ctx, vaultID, c)
}
