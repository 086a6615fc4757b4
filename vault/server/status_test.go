package server_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/server"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// TestStatusHostingView: an owner's GetStatus shows the host that serves
// the vault, the quota in force (the host's defaults under the vault's own
// settings, streams resolved to the server's bound), usage as
// HostService.ListVaults counts it, and no host in single-vault mode. A
// suspended vault refuses it.
func TestStatusHostingView(t *testing.T) {
	v, hc, _ := startHost(t, vaulttest.Options{Defaults: vault.Quota{BrandCallsPerSecond: 20}})
	ctx := ctxT(t)
	addr, o := createVault(t, v, hc)
	set(t, o, "name.given", "Ada", "email.home", "ada@example.org")
	grantedBrandAt(t, v, addr, o, "read:name.*")
	if _, err := hc.SetQuota(ctx, addr.VaultID, &vrmv1.VaultQuota{MaxFields: 100, CallsPerSecond: 50}); err != nil {
		t.Fatal(err)
	}

	st, err := o.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l := v.Host.Limits()
	want := &vrmv1.VaultQuota{
		MaxSizeBytes: int64(l.MaxProfileBytes), MaxFields: 100, CallsPerSecond: 50, BrandCallsPerSecond: 20,
		BrandPendingRequests: vault.DefaultMaxPendingPerBrand, BrandOpenStreams: server.DefaultMaxStreamsPerBrand,
	}
	if st.GetHostId() != testHostID || st.GetSuspended() || !proto.Equal(st.GetQuota(), want) {
		t.Errorf("host %q suspended %v quota %v; want host %q, quota %v", st.GetHostId(), st.GetSuspended(), st.GetQuota(), testHostID, want)
	}

	// Usage: what the host lists for the vault.
	list, err := hc.ListVaults(ctx, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	var hosted *vrmv1.VaultUsage
	for _, u := range list.GetVaults() {
		if u.GetVaultId() == addr.VaultID {
			hosted = u
		}
	}
	if hosted == nil {
		t.Fatal("the host does not list the vault")
	}
	st, err = o.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetFieldCount() != 2 || st.GetFieldCount() != hosted.GetFieldCount() || st.GetProfileBytes() != hosted.GetSizeBytes() ||
		st.GetConsentCount() != 1 || st.GetConsentCount() != hosted.GetConsentCount() {
		t.Errorf("status usage: %d fields, %d bytes, %d consents; the host lists %v", st.GetFieldCount(), st.GetProfileBytes(), st.GetConsentCount(), hosted)
	}
	// The host's count was taken before the previous status call, which
	// it does not include.
	if st.GetCallCount() < hosted.GetCallCount() || st.GetCallCount() == 0 {
		t.Errorf("status counts %d calls, the host %d", st.GetCallCount(), hosted.GetCallCount())
	}

	if err := hc.Suspend(ctx, addr.VaultID); err != nil {
		t.Fatal(err)
	}
	_, err = o.Status(ctx)
	wantCode(t, err, codes.FailedPrecondition, "vault suspended")

	// Single-vault mode: no host.
	sv := vaulttest.Start(t)
	so, _ := sv.Owner(t)
	st, err = so.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetHostId() != "" || st.GetQuota().GetBrandOpenStreams() != server.DefaultMaxStreamsPerBrand || st.GetQuota().GetCallsPerSecond() != 0 {
		t.Errorf("single vault: host %q, quota %v", st.GetHostId(), st.GetQuota())
	}
}
