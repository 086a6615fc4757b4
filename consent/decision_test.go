package consent

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckDecision(t *testing.T) {
	k := testKeys(t)
	jkt := k.brand.Thumbprint()
	facts := func() RequestFacts {
		return RequestFacts{
			ID: "r1", Vault: testVault, BrandJKT: jkt, Subject: PairwiseSubject(testSecret, jkt),
			Scopes:   []Scope{mustScope(t, "read:name.*"), mustScope(t, "watch:address.shipping.*"), mustScope(t, "write:brands."+jkt+".*")},
			Purposes: []string{"ServiceProvision", "Delivery", "Marketing"},
			Duration: 30 * 24 * time.Hour,
			Expires:  testNow.Add(PendingRequestTTL),
		}
	}
	denial := func(r *RecordClaims) {
		r.Status, r.Scopes, r.Purposes, r.Exp, r.Nbf = StatusDenied, nil, nil, 0, 0
	}
	tests := []struct {
		name   string
		rec    func(*RecordClaims)
		req    func(*RequestFacts)
		now    time.Time
		reason string // "" = accepted
	}{
		{name: "grant as requested"},
		{name: "narrowed scopes and purposes", rec: func(r *RecordClaims) {
			r.Scopes = []string{"read:name.given", "read:address.shipping.street"}
			r.Purposes = []string{"Delivery"}
		}},
		{name: "watch narrowed to read", rec: func(r *RecordClaims) { r.Scopes = []string{"read:address.shipping.*"} }},
		{name: "shortened", rec: func(r *RecordClaims) { r.Exp = testNow.Add(24 * time.Hour).Unix() }},
		{name: "exactly the duration plus slack", rec: func(r *RecordClaims) { r.Exp = testNow.Add(30*24*time.Hour + time.Minute).Unix() }},
		{name: "later start, same length", rec: func(r *RecordClaims) {
			r.Nbf = testNow.Add(24 * time.Hour).Unix()
			r.Exp = testNow.Add(31 * 24 * time.Hour).Unix()
		}},
		{name: "nbf 0 counts from iat", rec: func(r *RecordClaims) { r.Nbf = 0 }},
		{name: "denial", rec: denial},
		{name: "denial with scopes and exp", rec: func(r *RecordClaims) { r.Status = StatusDenied }},
		{name: "iat 4 minutes off", now: testNow.Add(4 * time.Minute)},

		{name: "widened scope", rec: func(r *RecordClaims) { r.Scopes = []string{"read:email.*"} }, reason: "scope read:email.* is broader than the request"},
		{name: "widened path", rec: func(r *RecordClaims) { r.Scopes = []string{"read:address.*"} }, reason: "scope read:address.* is broader than the request"},
		{name: "read promoted to watch", rec: func(r *RecordClaims) { r.Scopes = []string{"watch:name.given"} }, reason: "scope watch:name.given is broader"},
		{name: "wildcard root widened to field", rec: func(r *RecordClaims) { r.Scopes = []string{"read:name"} }, reason: "scope read:name is broader"},
		{name: "extra purpose", rec: func(r *RecordClaims) { r.Purposes = []string{"Delivery", "Advertising"} }, reason: "purpose Advertising was not requested"},
		{name: "missing exp", rec: func(r *RecordClaims) { r.Exp = 0 }, reason: "a grant needs exp"},
		{name: "exp beyond requested duration", rec: func(r *RecordClaims) { r.Exp = testNow.Add(30*24*time.Hour + 2*time.Minute).Unix() }, reason: "beyond the requested duration of 720h0m0s"},
		{name: "backdated nbf does not lengthen", rec: func(r *RecordClaims) {
			r.Nbf = testNow.Add(-24 * time.Hour).Unix()
			r.Exp = testNow.Add(30*24*time.Hour + time.Hour).Unix()
		}, reason: "beyond the requested duration"},
		{name: "exp already past", rec: func(r *RecordClaims) {
			r.Nbf = testNow.Add(-2 * time.Hour).Unix()
			r.Exp = testNow.Add(-time.Hour).Unix()
		}, reason: "exp is already past"},
		{name: "nbf after exp", rec: func(r *RecordClaims) { r.Nbf = r.Exp + 1 }, reason: "nbf is after exp"},
		{name: "wrong rid", rec: func(r *RecordClaims) { r.RID = "r2" }, reason: "rid does not match the request"},
		{name: "wrong vault", rec: func(r *RecordClaims) { r.Vault = "vault2" }, reason: "vault does not match the request"},
		{name: "wrong brand", rec: func(r *RecordClaims) {
			r.Brand = k.a.Thumbprint()
			r.Scopes = []string{"read:name.given"}
		}, reason: "brand does not match the request"},
		{name: "wrong sub", rec: func(r *RecordClaims) { r.Sub = PairwiseSubject(testSecret, k.a.Thumbprint()) }, reason: "sub is not the pairwise subject"},
		{name: "iat too old", now: testNow.Add(6 * time.Minute), reason: "iat is more than 5m0s before the vault's clock"},
		{name: "iat in the future", now: testNow.Add(-6 * time.Minute), reason: "iat is more than 5m0s after the vault's clock"},
		{name: "denial with wrong rid", rec: func(r *RecordClaims) { denial(r); r.RID = "r9" }, reason: "rid does not match"},
		{name: "malformed record", rec: func(r *RecordClaims) { r.Status = "granted!" }, reason: "status must be"},
		{name: "request without duration", req: func(q *RequestFacts) { q.Duration = 0 }, reason: "the request has no duration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, req, now := grant(k, 3, EntryHash("2")), facts(), testNow
			if tc.rec != nil {
				tc.rec(&rec)
			}
			if tc.req != nil {
				tc.req(&req)
			}
			if !tc.now.IsZero() {
				now = tc.now
			}
			err := CheckDecision(rec, req, now)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var re *RecordError
			if !errors.As(err, &re) || !errors.Is(err, ErrInvalidRecord) || !strings.Contains(re.Reason, tc.reason) {
				t.Fatalf("CheckDecision = %v, want reason %q", err, tc.reason)
			}
		})
	}

	// A decision on an expired request.
	req := facts()
	req.Expires = testNow
	if err := CheckDecision(grant(k, 3, EntryHash("2")), req, testNow); !errors.Is(err, ErrRequestExpired) {
		t.Errorf("decision at the pending expiry = %v, want ErrRequestExpired", err)
	}
	req.Expires = time.Time{}
	if err := CheckDecision(grant(k, 3, EntryHash("2")), req, testNow); !errors.Is(err, ErrRequestExpired) {
		t.Errorf("decision without a pending expiry = %v, want ErrRequestExpired", err)
	}
}

func TestCheckRevocation(t *testing.T) {
	rev := RevocationClaims{CID: "c1", Iat: testNow.Unix(), Seq: 4, Prev: EntryHash("3")}
	if err := CheckRevocation(rev, "c1", testNow.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		rev    RevocationClaims
		cid    string
		now    time.Time
		reason string
	}{
		{"other consent", rev, "c2", testNow, "names another consent"},
		{"iat too old", rev, "c1", testNow.Add(time.Hour), "iat is more than 5m0s before"},
		{"iat in the future", rev, "c1", testNow.Add(-time.Hour), "iat is more than 5m0s after"},
		{"malformed", RevocationClaims{CID: "c1", Iat: testNow.Unix(), Seq: 0}, "c1", testNow, "seq must be 1 or more"},
	} {
		err := CheckRevocation(tc.rev, tc.cid, tc.now)
		if !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: CheckRevocation = %v, want %q", tc.name, err, tc.reason)
		}
	}
}
