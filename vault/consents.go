package vault

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault/audit"
	"github.com/vrmvault/vrmvault/vault/store"
)

// Consent layout within a vault.
const (
	prefixBrand         = "b/"  // b/<jkt>: brand key and self-asserted name
	prefixRequest       = "r/"  // r/<rid>: access requests
	prefixPending       = "q/"  // q/<jkt>/<rid>: pending requests of a brand
	prefixConsent       = "c/"  // c/<cid>: consents
	prefixBrandConsents = "bc/" // bc/<jkt>/<cid>: consents of a brand
	prefixLedger        = "l/"  // l/<seq>: ledger entries (compact JWS)
	keyLedgerHead       = "m/ledger"

	// DefaultMaxPendingPerBrand bounds a brand's pending requests in one vault.
	DefaultMaxPendingPerBrand = 5
	// DefaultMaxPendingPerVault bounds the pending requests of all brands
	// in one vault: every new key is a new brand, so the per-brand bound
	// alone does not bound a flood.
	DefaultMaxPendingPerVault = 1000
	// MaxConsentsPerBrand bounds the consents of one brand in one vault.
	MaxConsentsPerBrand = 256
	// maxListRequests bounds the rows one listing of requests or consents
	// scans.
	maxListRequests = 10000
	// MaxLedgerPage bounds one page of the ledger.
	MaxLedgerPage = 1000
)

// State is the state of a request and of the consent that answers it.
type State string

// States of requests and consents.
const (
	StatePending State = "pending"
	StateGranted State = "granted"
	StateDenied  State = "denied"
	StateRevoked State = "revoked"
	StateExpired State = "expired"
)

// Request is a stored access request.
type Request struct {
	V         int           `json:"v"`
	ID        string        `json:"id"`
	BrandJKT  string        `json:"brand_jkt"`
	BrandJWK  string        `json:"brand_jwk"`
	BrandName string        `json:"brand_name"`
	BrandURL  string        `json:"brand_url"`
	Scopes    []string      `json:"scopes"`
	Purposes  []string      `json:"purposes"`
	Duration  time.Duration `json:"duration"`
	Reason    string        `json:"reason"`
	Created   time.Time     `json:"created"`
	Expires   time.Time     `json:"expires"`
	State     State         `json:"state"`
	ConsentID string        `json:"consent_id,omitempty"`
}

// stateAt returns the request's state at now: a pending request past its
// expiry is expired.
func (r Request) stateAt(now time.Time) State {
	if r.State == StatePending && !now.Before(r.Expires) {
		return StateExpired
	}
	return r.State
}

// Consent is a stored consent: the owner's decision on a request.
type Consent struct {
	V          int       `json:"v"`
	ID         string    `json:"id"`
	RequestID  string    `json:"rid"`
	BrandJKT   string    `json:"brand_jkt"`
	BrandName  string    `json:"brand_name"`
	State      State     `json:"state"`
	Scopes     []string  `json:"scopes"`
	Purposes   []string  `json:"purposes"`
	NotBefore  time.Time `json:"nbf"`
	Expires    time.Time `json:"exp"`
	Record     string    `json:"record"`
	Revocation string    `json:"revocation,omitempty"`
	Subject    string    `json:"subject"`
	Acked      uint64    `json:"acked,omitempty"`
}

// StateAt returns the consent's state at now: a granted consent past its
// expiry is expired.
func (c Consent) StateAt(now time.Time) State {
	if c.State == StateGranted && !now.Before(c.Expires) {
		return StateExpired
	}
	return c.State
}

// activeAt reports whether the consent grants access at now.
func (c Consent) activeAt(now time.Time) bool {
	return c.StateAt(now) == StateGranted && !now.Before(c.NotBefore)
}

type brandRecord struct {
	V         int       `json:"v"`
	JWK       string    `json:"jwk"`
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	FirstSeen time.Time `json:"first_seen"`
	Ended     State     `json:"ended,omitempty"` // how the brand's latest consent ended
}

type ledgerHead struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

func (l ledgerHead) consent() consent.Head { return consent.Head{Seq: l.Seq, Hash: l.Hash} }

// newID returns 128 random bits, base64url.
func (h *Host) newID() (string, error) { return consent.NewID(h.rand) }

// validID reports whether s may name a request or consent: 16 to 64
// base64url characters, so that no other string reaches a store key.
func validID(s string) bool {
	if len(s) < 16 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// RequestAccess stores a brand's access request as pending. The brand's
// key (first contact, from the proof's jwk) is remembered so that its
// later calls can name it by kid. A brand may have the quota's
// BrandPendingRequests pending at once, and the vault
// Config.MaxPendingPerVault from all brands together; both are counted in
// the transaction that adds the request, which conflicts with every other
// (each appends to the change feed), so neither can be exceeded by
// concurrent requests.
func (h *Host) RequestAccess(ctx context.Context, vaultID string, c Caller, brand consent.PublicKey, req consent.AccessRequest) (Request, error) {
	if err := req.Validate(brand.Thumbprint()); err != nil {
		return Request{}, err
	}
	id, err := h.newID()
	if err != nil {
		return Request{}, err
	}
	now := h.now().UTC()
	rec := Request{
		V: 1, ID: id, BrandJKT: brand.Thumbprint(), BrandJWK: brand.JSON(),
		BrandName: req.BrandName, BrandURL: req.BrandURL, Purposes: req.Purposes,
		Duration: req.Duration, Reason: req.Reason, Created: now,
		Expires: now.Add(consent.PendingRequestTTL), State: StatePending,
	}
	for _, s := range req.Scopes {
		rec.Scopes = append(rec.Scopes, s.String())
	}
	err = h.update(ctx, vaultID, func(tx store.Tx) error {
		// One scan of the pending index counts the brand's and the vault's
		// pending requests, and drops the expired entries it meets: the
		// index holds at most the vault's limit of live entries, plus
		// those that expired since (at most a week's worth of them).
		pending, vaultPending := 0, 0
		var stale []string
		brandPrefix := prefixPending + rec.BrandJKT + "/"
		err := tx.Scan(prefixPending, "", 0, func(k string, v []byte) error {
			var exp time.Time
			if err := json.Unmarshal(v, &exp); err != nil {
				return fmt.Errorf("pending index %s: %w", k, err)
			}
			switch {
			case !now.Before(exp):
				stale = append(stale, k)
			case strings.HasPrefix(k, brandPrefix):
				pending++
				vaultPending++
			default:
				vaultPending++
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range stale {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		hs, err := loadHosting(tx)
		if err != nil {
			return err
		}
		if hs.Suspended {
			return ErrSuspended
		}
		if limit := h.effectiveQuota(hs).BrandPendingRequests; int64(pending) >= limit {
			return fmt.Errorf("%w: %d pending requests, limit is %d (pending requests per brand)", ErrLimit, pending, limit)
		}
		if vaultPending >= h.maxPendingVault {
			return fmt.Errorf("%w: the vault has %d pending requests, limit is %d (pending requests per vault)", ErrLimit, vaultPending, h.maxPendingVault)
		}
		var b brandRecord
		if err := getJSON(tx, prefixBrand+rec.BrandJKT, &b); errors.Is(err, store.ErrNotFound) {
			b = brandRecord{V: 1, JWK: brand.JSON(), FirstSeen: now}
		} else if err != nil {
			return err
		}
		b.Name, b.URL = req.BrandName, req.BrandURL
		if err := putJSON(tx, prefixBrand+rec.BrandJKT, b); err != nil {
			return err
		}
		if err := putJSON(tx, prefixRequest+id, rec); err != nil {
			return err
		}
		if err := putJSON(tx, prefixPending+rec.BrandJKT+"/"+id, rec.Expires); err != nil {
			return err
		}
		if err := h.appendChange(tx, changeRecord{V: 1, Kind: "request", Request: id, Brand: rec.BrandJKT, By: c.JKT}); err != nil {
			return err
		}
		return h.appendAudit(tx, vaultID, c, nil, nil, audit.OutcomeOK)
	})
	if err != nil {
		return Request{}, fmt.Errorf("vault %s: request access: %w", vaultID, err)
	}
	h.log.Info("access requested", "vault", vaultID, "jkt", rec.BrandJKT, "request", id)
	return rec, nil
}

func (h *Host) appendChange(tx store.Tx, rec changeRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode change: %w", err)
	}
	_, err = tx.AppendChange(b)
	return err
}

// RequestView is a request with its state at the time of reading and,
// once decided, its consent.
type RequestView struct {
	Request
	// Consent is the consent that answered the request, if decided.
	Consent *Consent
}

// getRequest loads a request and its consent; ErrRequestNotFound if absent.
func getRequest(tx store.Tx, id string, now time.Time) (RequestView, error) {
	if !validID(id) {
		return RequestView{}, ErrRequestNotFound
	}
	var r Request
	if err := getJSON(tx, prefixRequest+id, &r); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return RequestView{}, ErrRequestNotFound
		}
		return RequestView{}, err
	}
	r.State = r.stateAt(now)
	v := RequestView{Request: r}
	if r.ConsentID != "" {
		var c Consent
		if err := getJSON(tx, prefixConsent+r.ConsentID, &c); err != nil {
			return RequestView{}, fmt.Errorf("consent of request %s: %w", id, err)
		}
		c.State = c.StateAt(now)
		v.Consent = &c
		v.State = c.State // a decided request follows its consent: revoked, expired
	}
	return v, nil
}

// BrandRequest returns the brand's own request. A request of another
// brand, a missing request and a missing vault all give
// ErrRequestNotFound.
func (h *Host) BrandRequest(ctx context.Context, vaultID, brandJKT, requestID string) (RequestView, error) {
	var v RequestView
	err := h.view(ctx, vaultID, func(tx store.Tx) error {
		var err error
		v, err = getRequest(tx, requestID, h.now())
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(v.BrandJKT), []byte(brandJKT)) != 1 {
			return ErrRequestNotFound
		}
		return nil
	})
	if errors.Is(err, ErrVaultNotFound) {
		err = ErrRequestNotFound
	}
	return v, err
}

// OwnerRequest returns a request with the ledger head its decision must
// extend and the brand's pairwise subject.
func (h *Host) OwnerRequest(ctx context.Context, vaultID, requestID string) (RequestView, consent.Head, string, error) {
	var (
		v    RequestView
		head ledgerHead
		sub  string
	)
	err := h.view(ctx, vaultID, func(tx store.Tx) error {
		var err error
		if v, err = getRequest(tx, requestID, h.now()); err != nil {
			return err
		}
		if head, err = loadLedgerHead(tx); err != nil {
			return err
		}
		meta, err := loadMeta(tx)
		if err != nil {
			return err
		}
		sub = consent.PairwiseSubject(meta.PairwiseSecret, v.BrandJKT)
		return nil
	})
	if err != nil {
		return RequestView{}, consent.Head{}, "", fmt.Errorf("vault %s: get request: %w", vaultID, err)
	}
	return v, head.consent(), sub, nil
}

// ListRequests returns the vault's requests in the given state (pending
// if empty), oldest first.
func (h *Host) ListRequests(ctx context.Context, vaultID string, state State) ([]RequestView, error) {
	if state == "" {
		state = StatePending
	}
	now := h.now()
	var out []RequestView
	err := h.view(ctx, vaultID, func(tx store.Tx) error {
		// Pending requests have their own index, bounded by the brands'
		// pending limit; other states scan the requests.
		prefix := prefixRequest
		if state == StatePending {
			prefix = prefixPending
		}
		return tx.Scan(prefix, "", maxListRequests, func(k string, _ []byte) error {
			v, err := getRequest(tx, k[strings.LastIndexByte(k, '/')+1:], now)
			if err != nil {
				return err
			}
			if v.State == state {
				out = append(out, v)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("vault %s: list requests: %w", vaultID, err)
	}
	slices.SortFunc(out, func(a, b RequestView) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// ListConsents returns the vault's consents (all states if state is
// empty), oldest first, and the vault's latest sequence number.
func (h *Host) ListConsents(ctx context.Context, vaultID string, state State) ([]Consent, uint64, error) {
	now := h.now()
	var (
		out  []Consent
		last uint64
	)
	err := h.view(ctx, vaultID, func(tx store.Tx) error {
		err := tx.Scan(prefixConsent, "", maxListRequests, func(k string, v []byte) error {
			var c Consent
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("consent %s: %w", k, err)
			}
			c.State = c.StateAt(now)
			if state == "" || c.State == state {
				out = append(out, c)
			}
			return nil
		})
		if err != nil {
			return err
		}
		last, err = tx.LastSeq()
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("vault %s: list consents: %w", vaultID, err)
	}
	slices.SortFunc(out, func(a, b Consent) int { return a.NotBefore.Compare(b.NotBefore) })
	return out, last, nil
}

func loadLedgerHead(tx store.Tx) (ledgerHead, error) {
	var head ledgerHead
	if err := getJSON(tx, keyLedgerHead, &head); err != nil && !errors.Is(err, store.ErrNotFound) {
		return ledgerHead{}, err
	}
	return head, nil
}

// appendLedger checks that entry extends the head and stores it.
func appendLedger(tx store.Tx, e *consent.LedgerEntry) (ledgerHead, error) {
	head, err := loadLedgerHead(tx)
	if err != nil {
		return ledgerHead{}, err
	}
	if err := head.consent().Next(e); err != nil {
		return ledgerHead{}, &LedgerHeadError{Head: head.consent(), Reason: strings.TrimPrefix(err.Error(), consent.ErrLedgerConflict.Error()+": ")}
	}
	next := head.consent().Advance(e.JWS)
	if err := tx.Put(seqKey(prefixLedger, next.Seq), []byte(e.JWS)); err != nil {
		return ledgerHead{}, fmt.Errorf("ledger entry: %w", err)
	}
	nh := ledgerHead{Seq: next.Seq, Hash: next.Hash}
	return nh, putJSON(tx, keyLedgerHead, nh)
}

// ownerPublicKeys returns the public keys of the vault's owners.
func ownerPublicKeys(tx store.Tx) ([]consent.PublicKey, error) {
	keys, err := ownerKeys(tx)
	if err != nil {
		return nil, err
	}
	out := make([]consent.PublicKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, k.Key)
	}
	return out, nil
}

// SubmitConsent checks an owner-signed consent record (grant or deny)
// against the request it answers and the ledger head, and in one
// transaction appends it to the ledger, stores the consent, decides the
// request and writes the audit entry. Any refusal leaves the ledger
// unchanged.
func (h *Host) SubmitConsent(ctx context.Context, vaultID string, c Caller, record string) (Consent, consent.Head, error) {
	e, err := consent.ParseLedgerEntry(record)
	if err != nil {
		return Consent{}, consent.Head{}, err
	}
	if e.Type != consent.RecordType || e.Record == nil {
		return Consent{}, consent.Head{}, fmt.Errorf("%w: not a consent record (typ %s)", ErrInvalidArgument, consent.RecordType)
	}
	claims := *e.Record
	var (
		out  Consent
		head ledgerHead
	)
	now := h.now()
	err = h.update(ctx, vaultID, func(tx store.Tx) error {
		owners, err := ownerPublicKeys(tx)
		if err != nil {
			return err
		}
		if _, err := e.VerifySignature(owners); err != nil {
			return err
		}
		if !validID(claims.CID) {
			return fmt.Errorf("%w: cid must be 16 to 64 base64url characters", ErrInvalidArgument)
		}
		if _, err := tx.Get(prefixConsent + claims.CID); err == nil {
			return fmt.Errorf("%w: consent id %s is already used", ErrInvalidArgument, claims.CID)
		}
		v, err := getRequest(tx, claims.RID, now)
		if err != nil {
			return err
		}
		if v.State != StatePending {
			return fmt.Errorf("%w: request %s is %s, not pending", ErrRequestDecided, v.ID, v.State)
		}
		meta, err := loadMeta(tx)
		if err != nil {
			return err
		}
		scopes, err := consent.ParseScopes(v.Scopes)
		if err != nil {
			return fmt.Errorf("stored request %s: %w", v.ID, err)
		}
		facts := consent.RequestFacts{
			ID: v.ID, Vault: vaultID, BrandJKT: v.BrandJKT,
			Subject: consent.PairwiseSubject(meta.PairwiseSecret, v.BrandJKT),
			Scopes:  scopes, Purposes: v.Purposes, Duration: v.Duration, Expires: v.Expires,
		}
		if err := consent.CheckDecision(claims, facts, now); err != nil {
			return err
		}
		if head, err = appendLedger(tx, e); err != nil {
			return err
		}
		state := StateDenied
		if claims.Status == consent.StatusGranted {
			state = StateGranted
		}
		out = Consent{
			V: 1, ID: claims.CID, RequestID: v.ID, BrandJKT: v.BrandJKT, BrandName: v.BrandName,
			State: state, Scopes: claims.Scopes, Purposes: claims.Purposes,
			NotBefore: time.Unix(claims.Nbf, 0).UTC(), Expires: time.Unix(claims.Exp, 0).UTC(),
			Record: record, Subject: facts.Subject,
		}
		if err := putJSON(tx, prefixConsent+out.ID, out); err != nil {
			return err
		}
		if state == StateGranted {
			if err := indexGrant(tx, v.BrandJKT, out.ID, now); err != nil {
				return err
			}
		}
		req := v.Request
		req.State, req.ConsentID = state, out.ID
		if err := putJSON(tx, prefixRequest+req.ID, req); err != nil {
			return err
		}
		if err := tx.Delete(prefixPending + v.BrandJKT + "/" + v.ID); err != nil {
			return err
		}
		if err := h.appendChange(tx, changeRecord{V: 1, Kind: "consent", Request: v.ID, Consent: out.ID, Brand: v.BrandJKT, By: c.JKT}); err != nil {
			return err
		}
		return h.appendAudit(tx, vaultID, c, []string{out.ID}, nil, audit.OutcomeOK)
	})
	if err != nil {
		return Consent{}, consent.Head{}, fmt.Errorf("vault %s: submit consent: %w", vaultID, err)
	}
	h.log.Info("consent recorded", "vault", vaultID, "consent", out.ID, "state", string(out.State))
	return out, head.consent(), nil
}

// SubmitRevocation checks an owner-signed revocation and, in one
// transaction, appends it to the ledger, marks the consent revoked and
// writes the audit entry. From its commit, every call under the consent is
// refused.
func (h *Host) SubmitRevocation(ctx context.Context, vaultID string, c Caller, revocation string) (Consent, consent.Head, error) {
	e, err := consent.ParseLedgerEntry(revocation)
	if err != nil {
		return Consent{}, consent.Head{}, err
	}
	if e.Type != consent.RevocationType || e.Revocation == nil {
		return Consent{}, consent.Head{}, fmt.Errorf("%w: not a revocation (typ %s)", ErrInvalidArgument, consent.RevocationType)
	}
	claims := *e.Revocation
	var (
		out  Consent
		head ledgerHead
	)
	now := h.now()
	err = h.update(ctx, vaultID, func(tx store.Tx) error {
		owners, err := ownerPublicKeys(tx)
		if err != nil {
			return err
		}
		if _, err := e.VerifySignature(owners); err != nil {
			return err
		}
		if !validID(claims.CID) {
			return ErrConsentNotFound
		}
		if err := getJSON(tx, prefixConsent+claims.CID, &out); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return ErrConsentNotFound
			}
			return err
		}
		if out.State != StateGranted {
			return fmt.Errorf("%w: consent %s is %s", ErrRequestDecided, out.ID, out.State)
		}
		if err := consent.CheckRevocation(claims, out.ID, now); err != nil {
			return err
		}
		if head, err = appendLedger(tx, e); err != nil {
			return err
		}
		out.State, out.Revocation = StateRevoked, revocation
		if err := putJSON(tx, prefixConsent+out.ID, out); err != nil {
			return err
		}
		if err := tx.Delete(prefixBrandConsents + out.BrandJKT + "/" + out.ID); err != nil {
			return err
		}
		if err := setBrandEnded(tx, out.BrandJKT, StateRevoked); err != nil {
			return err
		}
		if err := h.appendChange(tx, changeRecord{V: 1, Kind: "revocation", Request: out.RequestID, Consent: out.ID, Brand: out.BrandJKT, By: c.JKT}); err != nil {
			return err
		}
		return h.appendAudit(tx, vaultID, c, []string{out.ID}, nil, audit.OutcomeOK)
	})
	if err != nil {
		return Consent{}, consent.Head{}, fmt.Errorf("vault %s: submit revocation: %w", vaultID, err)
	}
	h.log.Info("consent revoked", "vault", vaultID, "consent", out.ID)
	return out, head.consent(), nil
}

// Ledger returns up to limit ledger entries after seq after, and the head.
func (h *Host) Ledger(ctx context.Context, vaultID string, after uint64, limit int) ([]string, consent.Head, error) {
	if limit <= 0 || limit > MaxLedgerPage {
		limit = MaxLedgerPage
	}
	var (
		out  []string
		head ledgerHead
	)
	err := h.view(ctx, vaultID, func(tx store.Tx) error {
		var err error
		if head, err = loadLedgerHead(tx); err != nil {
			return err
		}
		return tx.Scan(prefixLedger, seqKey(prefixLedger, after), limit, func(_ string, v []byte) error {
			out = append(out, string(v))
			return nil
		})
	})
	if err != nil {
		return nil, consent.Head{}, fmt.Errorf("vault %s: ledger: %w", vaultID, err)
	}
	return out, head.consent(), nil
}

// indexGrant adds a granted consent to its brand's index, first dropping
// the brand's expired grants from it; a brand may hold at most
// MaxConsentsPerBrand unexpired grants in one vault.
func indexGrant(tx store.Tx, jkt, id string, now time.Time) error {
	all, err := loadBrandConsents(tx, jkt, nil)
	if err != nil {
		return err
	}
	live := 0
	for _, c := range all.granted {
		if c.StateAt(now) != StateExpired {
			live++
			continue
		}
		if err := tx.Delete(prefixBrandConsents + jkt + "/" + c.ID); err != nil {
			return err
		}
		if err := setBrandEnded(tx, jkt, StateExpired); err != nil {
			return err
		}
	}
	if live >= MaxConsentsPerBrand {
		return fmt.Errorf("%w: the brand holds %d consents, limit is %d (consents per brand); revoke some first", ErrLimit, live, MaxConsentsPerBrand)
	}
	return tx.Put(prefixBrandConsents+jkt+"/"+id, []byte{1})
}

// setBrandEnded records how the brand's latest consent ended.
func setBrandEnded(tx store.Tx, jkt string, st State) error {
	var br brandRecord
	if err := getJSON(tx, prefixBrand+jkt, &br); err != nil {
		return err
	}
	br.Ended = st
	return putJSON(tx, prefixBrand+jkt, br)
}
