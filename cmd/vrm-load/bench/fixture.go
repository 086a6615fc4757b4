package bench

import (
	"context"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// setupTimeout bounds the calls that prepare a measurement.
const setupTimeout = 30 * time.Second

// ProfileFields is the profile every vault-backed measurement stores: a
// customer's name, two emails, a phone and a home address (10 fields).
func ProfileFields() []profile.Field {
	s := profile.StringValue
	return []profile.Field{
		{Path: "name.given", Value: s("Ada")},
		{Path: "name.family", Value: s("Lovelace")},
		{Path: "email.home", Value: s("ada@example.org")},
		{Path: "email.work", Value: s("ada@analytical.example")},
		{Path: "phone.mobile", Value: s("+447700900123")},
		{Path: "address.home.street", Value: s("12 St James's Square")},
		{Path: "address.home.locality", Value: s("London")},
		{Path: "address.home.region", Value: s("Greater London")},
		{Path: "address.home.postal_code", Value: s("SW1Y 4JH")},
		{Path: "address.home.country", Value: s("GB")},
	}
}

// ReadScopes are the scopes the measured brand holds: 9 of the 10
// fields (not the phone), so the read filters as well as reads.
func ReadScopes() []string { return []string{"read:name.*", "read:email.*", "read:address.*"} }

// readVault is one vault of a measurement: an enrolled owner, the
// profile, and one brand granted ReadScopes.
type readVault struct {
	addr  vaultconn.Address
	owner *owner.Client
	brand *brand.Client
}

// startVault starts a real vault server (badger in a temporary directory,
// gRPC on 127.0.0.1:0) and prepares its first vault. The server stops at
// the end of the benchmark.
func startVault(tb testing.TB, opts ...vaulttest.Options) (*vaulttest.Vault, *readVault) {
	tb.Helper()
	v := vaulttest.Start(tb, opts...)
	o, _ := v.Owner(tb)
	rv := &readVault{addr: v.Address, owner: o}
	prepare(tb, v, rv)
	return v, rv
}

// addVault creates another vault on v's host and prepares it.
func addVault(tb testing.TB, v *vaulttest.Vault) *readVault {
	tb.Helper()
	addr, code := v.NewVault(tb)
	o := v.ClientAt(tb, addr, vaulttest.NewKey(tb))
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if _, err := o.Enroll(ctx, code, "bench"); err != nil {
		tb.Fatalf("enrol: %v", err)
	}
	rv := &readVault{addr: addr, owner: o}
	prepare(tb, v, rv)
	return rv
}

// prepare stores the profile and grants a fresh brand ReadScopes.
func prepare(tb testing.TB, v *vaulttest.Vault, rv *readVault) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if _, err := rv.owner.SetFields(ctx, ProfileFields()); err != nil {
		tb.Fatalf("store profile: %v", err)
	}
	rv.brand = v.BrandAt(tb, rv.addr, vaulttest.NewKey(tb))
	req, err := rv.brand.RequestAccess(ctx, brand.Request{
		Name: "Floor Shop", URL: "https://floor.example", Scopes: ReadScopes(),
		Purposes: []string{"ServiceProvision"}, Duration: 24 * time.Hour, Reason: "benchmark",
	})
	if err != nil {
		tb.Fatalf("request access: %v", err)
	}
	if _, err := rv.owner.Grant(ctx, req.GetRequestId(), owner.Grant{}); err != nil {
		tb.Fatalf("grant: %v", err)
	}
	resp, err := rv.brand.Read(ctx)
	if err != nil {
		tb.Fatalf("first read: %v", err)
	}
	if got, want := len(resp.GetFields()), len(ProfileFields())-1; got != want {
		tb.Fatalf("first read returned %d fields, want %d", got, want)
	}
}
