package server_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/clients/host"
	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

const testHostID = "test-host"

// startHost starts a server in host mode and returns it with an admin
// client.
func startHost(t testing.TB, o vaulttest.Options) (*vaulttest.Vault, *host.Client, *consent.PrivateKey) {
	t.Helper()
	admin := vaulttest.NewKey(t)
	o.HostID, o.AdminKeys = testHostID, []consent.PublicKey{admin.Public()}
	v := vaulttest.Start(t, o)
	hc, err := host.Dial(host.Config{HostPort: v.Address.HostPort, HostID: testHostID, Key: admin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hc.Close() })
	return v, hc, admin
}

// createVault creates a vault through HostService and enrols an owner.
func createVault(t testing.TB, v *vaulttest.Vault, hc *host.Client) (vaultconn.Address, *owner.Client) {
	t.Helper()
	ctx := context.Background()
	cr, err := hc.CreateVault(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := vaultconn.ParseAddress(cr.GetAddress())
	if err != nil {
		t.Fatal(err)
	}
	o := v.ClientAt(t, addr, vaulttest.NewKey(t))
	if _, err := o.Enroll(ctx, cr.GetEnrollmentCode(), "phone"); err != nil {
		t.Fatal(err)
	}
	return addr, o
}

func TestTenThousandVaultsIsolation(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 10,000 vaults")
	}
	v, hc, _ := startHost(t, vaulttest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const n, workers = 10000, 16
	ids := make(chan string, n)
	var wg sync.WaitGroup
	start := time.Now()
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/workers; i++ {
				cr, err := hc.CreateVault(context.Background(), nil)
				if err != nil {
					errs <- err
					return
				}
				ids <- cr.GetVaultId()
			}
		}()
	}
	wg.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("created %d vaults through HostService in %s", n, time.Since(start))
	// Every vault is listed, page by page.
	listed, token := 0, ""
	for {
		page, err := hc.ListVaults(ctx, 1000, token)
		if err != nil {
			t.Fatal(err)
		}
		listed += len(page.GetVaults())
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if listed != n+1 { // and the one vaulttest.Start made
		t.Fatalf("listed %d vaults, want %d", listed, n+1)
	}

	// Owners in a sample; a brand with consent in vault A.
	addrA, oA := createVault(t, v, hc)
	set(t, oA, "name.given", "Ada")
	addrB, oB := createVault(t, v, hc)
	set(t, oB, "name.given", "Grace")
	bkey := vaulttest.NewKey(t)
	bA := v.BrandAt(t, addrA, bkey)
	r, err := bA.RequestAccess(ctx, nameEmailRequest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oA.Grant(ctx, r.GetRequestId(), owner.Grant{}); err != nil {
		t.Fatal(err)
	}
	if got, err := bA.Read(ctx); err != nil || len(got.GetFields()) != 1 {
		t.Fatalf("read in vault A: %v, %v", got, err)
	}
	missing := addrB
	missing.VaultID = "AAAAAAAAAAAAAAAAAAAAAA"
	for name, call := range map[string]func(vaultconn.Address) error{
		"ReadProfile": func(a vaultconn.Address) error { _, err := v.BrandAt(t, a, bkey).Read(ctx); return err },
		"GetConsent": func(a vaultconn.Address) error {
			_, err := v.BrandAt(t, a, bkey).Consent(ctx, r.GetRequestId())
			return err
		},
		"WatchProfile": func(a vaultconn.Address) error {
			s, err := v.BrandAt(t, a, bkey).Watch(ctx, 0)
			if err == nil {
				_, err = s.Recv()
			}
			return err
		},
	} {
		errB, errMissing := call(addrB), call(missing)
		if errB == nil || status.Code(errB) != status.Code(errMissing) || status.Convert(errB).Message() != status.Convert(errMissing).Message() {
			t.Errorf("%s: vault B %v, missing vault %v: they must be the same", name, errB, errMissing)
		}
	}
}

// valuesIn reports the paths of any profile Value or Field inside m.
func valuesIn(m protoreflect.Message, path string, found *[]string) {
	switch m.Descriptor().FullName() {
	case "vrm.v1.Value", "vrm.v1.Field", "vrm.v1.AuditEntry", "vrm.v1.Consent", "vrm.v1.AccessRequest":
		*found = append(*found, path)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		name := path + "." + string(fd.Name())
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < val.List().Len(); i++ {
				valuesIn(val.List().Get(i).Message(), fmt.Sprintf("%s[%d]", name, i), found)
			}
		case fd.IsMap():
		case fd.Message() != nil:
			valuesIn(val.Message(), name, found)
		}
		return true
	})
}

func TestHostSeesNoContent(t *testing.T) {
	v, hc, admin := startHost(t, vaulttest.Options{})
	ctx := ctxT(t)
	addr, o := createVault(t, v, hc)
	set(t, o, "name.given", "Ada", "email.home", "ada@example.org")
	b := v.BrandAt(t, addr, vaulttest.NewKey(t))
	r, err := b.RequestAccess(ctx, nameEmailRequest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Grant(ctx, r.GetRequestId(), owner.Grant{}); err != nil {
		t.Fatal(err)
	}

	// Every HostService RPC, and what it returned.
	var responses []proto.Message
	cr, err := hc.CreateVault(ctx, &vrmv1.VaultQuota{MaxFields: 50})
	if err != nil {
		t.Fatal(err)
	}
	responses = append(responses, cr)
	lv, err := hc.ListVaults(ctx, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	responses = append(responses, lv)
	svc := hc.Service()
	for _, call := range []func() (proto.Message, error){
		func() (proto.Message, error) {
			return svc.SuspendVault(ctx, &vrmv1.SuspendVaultRequest{VaultId: addr.VaultID})
		},
		func() (proto.Message, error) {
			return svc.ResumeVault(ctx, &vrmv1.ResumeVaultRequest{VaultId: addr.VaultID})
		},
		func() (proto.Message, error) {
			return svc.SetVaultQuota(ctx, &vrmv1.SetVaultQuotaRequest{VaultId: addr.VaultID, Quota: &vrmv1.VaultQuota{MaxFields: 100}})
		},
		func() (proto.Message, error) {
			return svc.DestroyVault(ctx, &vrmv1.DestroyVaultRequest{VaultId: cr.GetVaultId()})
		},
	} {
		m, err := call()
		if err != nil {
			t.Fatal(err)
		}
		responses = append(responses, m)
	}
	if got := len(vrmv1.HostService_ServiceDesc.Methods); len(responses) != got {
		t.Fatalf("walked %d responses for %d HostService methods", len(responses), got)
	}
	for _, m := range responses {
		var found []string
		valuesIn(m.ProtoReflect(), string(m.ProtoReflect().Descriptor().Name()), &found)
		if len(found) > 0 {
			t.Errorf("HostService response carries content: %v", found)
		}
	}

	// The admin key cannot make a receipt a brand would accept.
	rv, err := o.Request(ctx, r.GetRequestId())
	if err != nil {
		t.Fatal(err)
	}
	cid, _ := consent.NewID(rand.Reader)
	now := time.Now()
	forged, err := consent.SignRecord(admin, consent.RecordClaims{
		CID: cid, RID: r.GetRequestId(), Vault: addr.VaultID, Brand: r.GetBrandJkt(), Sub: rv.GetSubject(),
		Status: consent.StatusGranted, Scopes: []string{"read:name.*"}, Purposes: []string{"ServiceProvision"},
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(time.Hour).Unix(), Seq: 9, Prev: consent.EntryHash("x"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.VerifyReceipt(ctx, forged); err == nil {
		t.Fatal("a record signed by the host admin key verified as a receipt")
	}
	// Nor submit one, nor call an owner RPC with its key.
	_, err = v.ClientAt(t, addr, admin).GetProfile(ctx)
	wantCode(t, err, codes.Unauthenticated, "unknown key")
}

func TestSuspendAndResume(t *testing.T) {
	v, hc, _ := startHost(t, vaulttest.Options{})
	ctx := ctxT(t)
	addr, o := createVault(t, v, hc)
	b, _ := grantedBrandAt(t, v, addr, o, "read:name.*")
	if err := hc.Suspend(ctx, addr.VaultID); err != nil {
		t.Fatal(err)
	}
	_, err := o.GetProfile(ctx)
	wantCode(t, err, codes.FailedPrecondition, "vault suspended")
	_, err = b.Read(ctx)
	wantCode(t, err, codes.FailedPrecondition, "vault suspended")
	_, err = v.BrandAt(t, addr, vaulttest.NewKey(t)).RequestAccess(ctx, nameEmailRequest)
	wantCode(t, err, codes.FailedPrecondition, "vault suspended")
	if _, err := hc.ListVaults(ctx, 10, ""); err != nil {
		t.Fatalf("the host is still served: %v", err)
	}
	if err := hc.Resume(ctx, addr.VaultID); err != nil {
		t.Fatal(err)
	}
	if _, err := o.GetProfile(ctx); err != nil {
		t.Fatalf("after resume: %v", err)
	}
}

// grantedBrandAt is grantedBrand for a vault at addr.
func grantedBrandAt(t testing.TB, v *vaulttest.Vault, addr vaultconn.Address, o *owner.Client, scopes ...string) (*brand.Client, string) {
	t.Helper()
	ctx := context.Background()
	b := v.BrandAt(t, addr, vaulttest.NewKey(t))
	req := nameEmailRequest
	req.Scopes = scopes
	r, err := b.RequestAccess(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	g, err := o.Grant(ctx, r.GetRequestId(), owner.Grant{})
	if err != nil {
		t.Fatal(err)
	}
	return b, g.GetConsent().GetConsentId()
}

func TestQuotasAndRates(t *testing.T) {
	v, hc, _ := startHost(t, vaulttest.Options{})
	ctx := ctxT(t)
	addr, o := createVault(t, v, hc)
	b, _ := grantedBrandAt(t, v, addr, o, "watch:name.*")

	if _, err := hc.SetQuota(ctx, addr.VaultID, &vrmv1.VaultQuota{MaxFields: 2, MaxSizeBytes: 200}); err != nil {
		t.Fatal(err)
	}
	_, err := o.SetFields(ctx, []profile.Field{
		{Path: "notes.a", Value: profile.IntValue(1)}, {Path: "notes.b", Value: profile.IntValue(2)}, {Path: "notes.c", Value: profile.IntValue(3)},
	})
	wantCode(t, err, codes.ResourceExhausted, "(max fields)")
	_, err = o.SetFields(ctx, []profile.Field{{Path: "notes.big", Value: profile.StringValue(string(make([]byte, 300)))}})
	if status.Code(err) != codes.ResourceExhausted && status.Code(err) != codes.InvalidArgument {
		t.Fatalf("over the size quota: %v", err)
	}
	if _, err := hc.SetQuota(ctx, addr.VaultID, &vrmv1.VaultQuota{MaxFields: 100, MaxSizeBytes: 100000, BrandOpenStreams: 1}); err != nil {
		t.Fatal(err)
	}
	s1, err := b.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Recv(); err != nil {
		t.Fatal(err)
	}
	s2, err := b.Watch(ctx, 0)
	if err == nil {
		_, err = s2.Recv()
	}
	wantCode(t, err, codes.ResourceExhausted, "(open streams per brand)")

	if _, err := hc.SetQuota(ctx, addr.VaultID, &vrmv1.VaultQuota{BrandCallsPerSecond: 3}); err != nil {
		t.Fatal(err)
	}
	var limited error
	for i := 0; i < 20 && limited == nil; i++ {
		_, limited = b.Read(ctx)
	}
	wantCode(t, limited, codes.ResourceExhausted, "(calls per second per brand)")
	if _, err := hc.SetQuota(ctx, addr.VaultID, &vrmv1.VaultQuota{CallsPerSecond: 3}); err != nil {
		t.Fatal(err)
	}
	limited = nil
	for i := 0; i < 20 && limited == nil; i++ {
		_, limited = o.GetProfile(ctx)
	}
	wantCode(t, limited, codes.ResourceExhausted, "(calls per second per vault)")

	if _, err := hc.SetQuota(ctx, addr.VaultID, &vrmv1.VaultQuota{CallsPerSecond: 100000, BrandCallsPerSecond: 100000, BrandPendingRequests: 1}); err != nil {
		t.Fatal(err)
	}
	nb := v.BrandAt(t, addr, vaulttest.NewKey(t))
	if _, err := nb.RequestAccess(ctx, nameEmailRequest); err != nil {
		t.Fatal(err)
	}
	_, err = nb.RequestAccess(ctx, nameEmailRequest)
	wantCode(t, err, codes.ResourceExhausted, "(pending requests per brand)")
	_, err = hc.SetQuota(ctx, addr.VaultID, &vrmv1.VaultQuota{MaxFields: -1})
	wantCode(t, err, codes.InvalidArgument, "must not be negative")
}

func TestDestroyVault(t *testing.T) {
	v, hc, _ := startHost(t, vaulttest.Options{})
	ctx := ctxT(t)
	addr, o := createVault(t, v, hc)
	set(t, o, "name.given", "Ada")
	if err := hc.Destroy(ctx, addr.VaultID); err != nil {
		t.Fatal(err)
	}
	_, err := o.GetProfile(ctx)
	wantCode(t, err, codes.Unauthenticated, "unknown key")
	err = hc.Destroy(ctx, addr.VaultID)
	wantCode(t, err, codes.NotFound, "vault not found")
	_, err = hc.Service().SuspendVault(ctx, &vrmv1.SuspendVaultRequest{VaultId: vault.HostStateVault})
	wantCode(t, err, codes.NotFound, "vault not found")
}

func TestHostAuth(t *testing.T) {
	v, hc, _ := startHost(t, vaulttest.Options{})
	ctx := ctxT(t)
	stranger, err := host.Dial(host.Config{HostPort: v.Address.HostPort, HostID: testHostID, Key: vaulttest.NewKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	_, err = stranger.ListVaults(ctx, 10, "")
	wantCode(t, err, codes.Unauthenticated, "unknown key")
	wrongAud, err := host.Dial(host.Config{HostPort: v.Address.HostPort, HostID: "other-host", Key: vaulttest.NewKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer wrongAud.Close()
	_, err = wrongAud.ListVaults(ctx, 10, "")
	wantCode(t, err, codes.Unauthenticated, "")
	if _, err := hc.ListVaults(ctx, 10, ""); err != nil {
		t.Fatal(err)
	}
	// Single-vault mode has no HostService.
	single := vaulttest.Start(t)
	sc, err := host.Dial(host.Config{HostPort: single.Address.HostPort, HostID: testHostID, Key: vaulttest.NewKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	_, err = sc.ListVaults(ctx, 10, "")
	wantCode(t, err, codes.Unimplemented, "not in host mode")
}
