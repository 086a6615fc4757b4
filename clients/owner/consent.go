package owner

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// maxHeadRetries bounds how often a ledger write is signed again after
// the head moved under it.
const maxHeadRetries = 3

// ledgerHeadDetail returns the ledger head a FAILED_PRECONDITION status
// carries, if any.
func ledgerHeadDetail(err error) (consent.Head, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.FailedPrecondition {
		return consent.Head{}, false
	}
	for _, d := range st.Details() {
		if h, ok := d.(*vrmv1.LedgerHead); ok {
			return consent.Head{Seq: h.GetSeq(), Hash: h.GetHash()}, true
		}
	}
	return consent.Head{}, false
}

// Enroll registers the client's key as an owner key with a one-time code.
// It signs the key's own ledger entry (an "add", proof of possession)
// against the ledger head; if the vault's head is further on, it signs
// again against the head the vault reports and retries. The code is spent
// only by the call that succeeds.
func (c *Client) Enroll(ctx context.Context, code, deviceName string) (*vrmv1.EnrollResponse, error) {
	head := consent.Head{}
	for attempt := 0; ; attempt++ {
		entry, err := consent.SignKeyEntry(c.key, consent.KeyEntryClaims{
			Op: consent.KeyOpAdd, Device: deviceName, Iat: c.now().Unix(), Seq: head.Seq + 1, Prev: head.Hash,
		})
		if err != nil {
			return nil, fmt.Errorf("sign key entry: %w", err)
		}
		resp, err := c.svc.Enroll(ctx, &vrmv1.EnrollRequest{VaultId: c.addr.VaultID, Code: code, DeviceName: deviceName, KeyEntry: entry})
		if h, ok := ledgerHeadDetail(err); ok && attempt < maxHeadRetries {
			head = h
			continue
		}
		return resp, err
	}
}

// ListRequests returns the vault's access requests in state (pending when
// unspecified).
func (c *Client) ListRequests(ctx context.Context, state vrmv1.ConsentState) ([]*vrmv1.AccessRequest, error) {
	resp, err := c.svc.ListAccessRequests(ctx, &vrmv1.ListAccessRequestsRequest{VaultId: c.addr.VaultID, State: state})
	if err != nil {
		return nil, err
	}
	return resp.GetRequests(), nil
}

// Request returns one access request with the ledger head and the brand's
// pairwise subject.
func (c *Client) Request(ctx context.Context, requestID string) (*vrmv1.GetAccessRequestResponse, error) {
	return c.svc.GetAccessRequest(ctx, &vrmv1.GetAccessRequestRequest{VaultId: c.addr.VaultID, RequestId: requestID})
}

// Grant options.
type Grant struct {
	// Only narrows the grant to these scopes; each must be contained by a
	// requested scope. Empty grants every requested scope.
	Only []string
	// Expires shortens the consent; zero or longer than requested means
	// the requested duration.
	Expires time.Duration
}

// ErrWidens is returned by Grant when an --only scope is broader than
// every requested scope: the owner may narrow, never widen.
var ErrWidens = errors.New("broader than the request")

// Grant signs a consent record granting the request (narrowed by g) with
// the owner's key and submits it. The key signs here; the vault never
// holds it.
func (c *Client) Grant(ctx context.Context, requestID string, g Grant) (*vrmv1.SubmitConsentResponse, error) {
	return c.decide(ctx, requestID, consent.StatusGranted, g)
}

// Deny signs a consent record denying the request and submits it.
func (c *Client) Deny(ctx context.Context, requestID string) (*vrmv1.SubmitConsentResponse, error) {
	return c.decide(ctx, requestID, consent.StatusDenied, Grant{})
}

func (c *Client) decide(ctx context.Context, requestID, decision string, g Grant) (*vrmv1.SubmitConsentResponse, error) {
	cid, err := consent.NewID(rand.Reader)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		info, err := c.Request(ctx, requestID)
		if err != nil {
			return nil, err
		}
		claims, err := c.recordClaims(info, cid, decision, g)
		if err != nil {
			return nil, err
		}
		record, err := consent.SignRecord(c.key, claims)
		if err != nil {
			return nil, fmt.Errorf("sign consent record: %w", err)
		}
		resp, err := c.svc.SubmitConsent(ctx, &vrmv1.SubmitConsentRequest{VaultId: c.addr.VaultID, Record: record})
		if _, ok := ledgerHeadDetail(err); ok && attempt < maxHeadRetries {
			continue // the head moved: read it again and sign again
		}
		return resp, err
	}
}

// recordClaims builds the record for a decision on the request info.
func (c *Client) recordClaims(info *vrmv1.GetAccessRequestResponse, cid, decision string, g Grant) (consent.RecordClaims, error) {
	req := info.GetRequest()
	requested, err := consent.ParseScopes(req.GetScopes())
	if err != nil {
		return consent.RecordClaims{}, fmt.Errorf("request %s: %w", req.GetRequestId(), err)
	}
	scopes := req.GetScopes()
	if len(g.Only) > 0 {
		only, err := consent.ParseScopes(g.Only)
		if err != nil {
			return consent.RecordClaims{}, err
		}
		scopes = scopes[:0:0]
		for _, o := range only {
			if !containedBy(requested, o) {
				return consent.RecordClaims{}, fmt.Errorf("scope %s is %w %v", o, ErrWidens, req.GetScopes())
			}
			scopes = append(scopes, o.String())
		}
	}
	now := c.now()
	head := info.GetLedgerHead()
	claims := consent.RecordClaims{
		CID: cid, RID: req.GetRequestId(), Vault: c.addr.VaultID, Brand: req.GetBrandJkt(),
		Sub: info.GetSubject(), Status: decision, Scopes: scopes, Purposes: req.GetPurposes(),
		Iat: now.Unix(), Seq: head.GetSeq() + 1, Prev: head.GetHash(),
	}
	if decision == consent.StatusGranted {
		d := req.GetDuration().AsDuration()
		if g.Expires > 0 && g.Expires < d {
			d = g.Expires
		}
		claims.Nbf = now.Unix()
		claims.Exp = now.Add(d).Unix()
	}
	return claims, nil
}

func containedBy(requested []consent.Scope, s consent.Scope) bool {
	for _, r := range requested {
		if r.Contains(s) {
			return true
		}
	}
	return false
}

// Revoke signs a revocation of the consent and submits it. From its
// commit, every call of the brand under that consent is refused.
func (c *Client) Revoke(ctx context.Context, consentID string) (*vrmv1.SubmitRevocationResponse, error) {
	for attempt := 0; ; attempt++ {
		ledger, err := c.svc.GetLedger(ctx, &vrmv1.GetLedgerRequest{VaultId: c.addr.VaultID, PageSize: 1, AfterSeq: ^uint64(0) - 1})
		if err != nil {
			return nil, err
		}
		head := ledger.GetHead()
		rev, err := consent.SignRevocation(c.key, consent.RevocationClaims{
			CID: consentID, Iat: c.now().Unix(), Seq: head.GetSeq() + 1, Prev: head.GetHash(),
		})
		if err != nil {
			return nil, fmt.Errorf("sign revocation: %w", err)
		}
		resp, err := c.svc.SubmitRevocation(ctx, &vrmv1.SubmitRevocationRequest{VaultId: c.addr.VaultID, Revocation: rev})
		if _, ok := ledgerHeadDetail(err); ok && attempt < maxHeadRetries {
			continue
		}
		return resp, err
	}
}

// Consents lists the vault's consents (all states when unspecified) and
// the vault's latest sequence number.
func (c *Client) Consents(ctx context.Context, state vrmv1.ConsentState) (*vrmv1.ListConsentsResponse, error) {
	return c.svc.ListConsents(ctx, &vrmv1.ListConsentsRequest{VaultId: c.addr.VaultID, State: state})
}

// Ledger returns the whole consent ledger in order, and its head.
func (c *Client) Ledger(ctx context.Context) ([]string, consent.Head, error) {
	var (
		out   []string
		after uint64
		head  consent.Head
	)
	for {
		resp, err := c.svc.GetLedger(ctx, &vrmv1.GetLedgerRequest{VaultId: c.addr.VaultID, AfterSeq: after, PageSize: 1000})
		if err != nil {
			return nil, consent.Head{}, err
		}
		head = consent.Head{Seq: resp.GetHead().GetSeq(), Hash: resp.GetHead().GetHash()}
		for _, e := range resp.GetEntries() {
			if e.GetSeq() != after+1 {
				return nil, consent.Head{}, fmt.Errorf("ledger page out of order: entry %d after %d", e.GetSeq(), after)
			}
			out = append(out, e.GetJws())
			after = e.GetSeq()
		}
		if len(resp.GetEntries()) == 0 || after >= head.Seq {
			return out, head, nil
		}
	}
}

// AuditPage returns one page of the audit log.
func (c *Client) AuditPage(ctx context.Context, req *vrmv1.ListAuditEntriesRequest) (*vrmv1.ListAuditEntriesResponse, error) {
	req.VaultId = c.addr.VaultID
	return c.svc.ListAuditEntries(ctx, req)
}
