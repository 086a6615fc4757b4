package brand_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

var request = brand.Request{
	Name:     "Example Shop",
	URL:      "https://shop.example.com",
	Scopes:   []string{"read:name.*"},
	Purposes: []string{"ServiceProvision"},
	Duration: 30 * 24 * time.Hour,
	Reason:   "To address your orders to you.",
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// setup starts a vault with an owner and a profile, and a brand client.
func setup(t *testing.T) (*vaulttest.Vault, *owner.Client, *brand.Client) {
	t.Helper()
	v := vaulttest.Start(t)
	o, _ := v.Owner(t)
	if _, err := o.SetFields(ctxT(t), []profile.Field{{Path: "name.given", Value: profile.StringValue("Ada")}}); err != nil {
		t.Fatal(err)
	}
	return v, o, v.Brand(t, vaulttest.NewKey(t))
}

func TestWaitReceiptReadRevoke(t *testing.T) {
	_, o, b := setup(t)
	ctx := ctxT(t)
	req, err := b.RequestAccess(ctx, request)
	if err != nil {
		t.Fatal(err)
	}
	// Pending: no receipt, and a wait that ends with its context.
	if _, _, err := b.Receipt(ctx, req.GetRequestId()); !errors.Is(err, brand.ErrNotGranted) {
		t.Fatalf("receipt of a pending request: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = b.WaitForDecision(short, req.GetRequestId(), 20*time.Millisecond)
	cancel()
	if err == nil {
		t.Fatal("WaitForDecision returned for a pending request")
	}
	_, err = b.Read(ctx)
	if err == nil || brand.IsRevoked(err) {
		t.Fatalf("read before a decision: %v (IsRevoked %v)", err, brand.IsRevoked(err))
	}

	go func() {
		time.Sleep(100 * time.Millisecond)
		if _, err := o.Grant(context.Background(), req.GetRequestId(), owner.Grant{}); err != nil {
			t.Error(err)
		}
	}()
	resp, err := b.WaitForDecision(ctx, req.GetRequestId(), 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRequest().GetState() != vrmv1.ConsentState_CONSENT_STATE_GRANTED {
		t.Fatalf("decision %s", resp.GetRequest().GetState())
	}
	_, claims, err := b.Receipt(ctx, req.GetRequestId())
	if err != nil {
		t.Fatal(err)
	}
	if claims.RID != req.GetRequestId() || claims.Status != consent.StatusGranted {
		t.Fatalf("receipt claims %+v", claims)
	}
	read, err := b.Read(ctx)
	if err != nil || brand.IsRevoked(err) {
		t.Fatal(err)
	}
	if len(read.GetFields()) != 1 || read.GetFields()[0].GetPath() != "name.given" {
		t.Fatalf("read %v", read.GetFields())
	}

	if _, err := o.Revoke(ctx, claims.CID); err != nil {
		t.Fatal(err)
	}
	_, err = b.Read(ctx)
	if !brand.IsRevoked(err) {
		t.Fatalf("read after revoke: %v, IsRevoked false", err)
	}
	if brand.IsRevoked(nil) || brand.IsRevoked(errors.New("consent revoked")) {
		t.Error("IsRevoked of nil or of a non-status error")
	}
}

func TestPinVaultKey(t *testing.T) {
	_, _, b := setup(t)
	ctx := ctxT(t)
	d, compact, err := b.Descriptor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.JWS != compact || len(d.OwnerKeys) != 1 {
		t.Fatalf("descriptor %+v", d)
	}
	b.PinVaultKey(vaulttest.NewKey(t).Thumbprint())
	_, _, err = b.Descriptor(ctx)
	if !errors.Is(err, consent.ErrInvalidDescriptor) || !strings.Contains(err.Error(), "pinned") {
		t.Fatalf("descriptor under another pin: %v", err)
	}
	if _, err := b.VerifyReceipt(ctx, "a.b.c"); !errors.Is(err, consent.ErrInvalidDescriptor) {
		t.Fatalf("VerifyReceipt under another pin: %v", err)
	}
	b.PinVaultKey(d.VaultKey.Thumbprint())
	if _, _, err := b.Descriptor(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestDialDoesNotWriteCallersSlice(t *testing.T) {
	v := vaulttest.Start(t)
	methods := make([]string, 1, 4)
	methods[0] = "/x.Y/Z"
	c, err := brand.Dial(vaultconn.Config{Address: v.Address, Key: vaulttest.NewKey(t), EmbedJWKMethods: methods})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := methods[:2][1]; got != "" {
		t.Fatalf("Dial wrote %q into the caller's slice", got)
	}
}

func TestReceiptOfDeniedRequest(t *testing.T) {
	_, o, b := setup(t)
	ctx := ctxT(t)
	req, err := b.RequestAccess(ctx, request)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Deny(ctx, req.GetRequestId()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Receipt(ctx, req.GetRequestId()); !errors.Is(err, brand.ErrNotGranted) {
		t.Fatalf("receipt of a denied request: %v", err)
	}
}

// TestSharedConnection: one brand key reads two vaults of one host over
// one shared connection; each client's proofs name its own vault, and
// closing a client leaves the connection to the others.
func TestSharedConnection(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	key := vaulttest.NewKey(t)
	conn, err := vaultconn.DialHost(vaultconn.Config{Address: v.Address})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	addrB, codeB := v.NewVault(t)
	given := map[string]string{v.Address.VaultID: "Ada", addrB.VaultID: "Grace"}
	var clients []*brand.Client
	for _, addr := range []vaultconn.Address{v.Address, addrB} {
		o := v.ClientAt(t, addr, vaulttest.NewKey(t))
		code := v.Code
		if addr == addrB {
			code = codeB
		}
		if _, err := o.Enroll(ctx, code, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := o.SetFields(ctx, []profile.Field{{Path: "name.given", Value: profile.StringValue(given[addr.VaultID])}}); err != nil {
			t.Fatal(err)
		}
		b, err := brand.New(conn, vaultconn.Config{Address: addr, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		req, err := b.RequestAccess(ctx, request)
		if err != nil {
			t.Fatalf("request access to %s: %v", addr, err)
		}
		if _, err := o.Grant(ctx, req.GetRequestId(), owner.Grant{}); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, b)
	}
	for _, b := range clients {
		resp, err := b.Read(ctx, "name.given")
		if err != nil {
			t.Fatalf("read %s: %v", b.Address(), err)
		}
		fields := resp.GetFields()
		if len(fields) != 1 || fields[0].GetValue().GetStringValue() != given[b.Address().VaultID] {
			t.Errorf("read %s = %v, want name.given %s", b.Address(), fields, given[b.Address().VaultID])
		}
	}
	if err := clients[0].Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := clients[1].Read(ctx, "name.given"); err != nil {
		t.Errorf("read after the other client closed: %v", err)
	}
	if _, err := brand.New(conn, vaultconn.Config{Address: addrB}); err == nil {
		t.Error("New without a key succeeded")
	}
	// A proof names a vault, not a host: a client must not send one to
	// another host than its vault's.
	elsewhere := vaultconn.Address{HostPort: "127.0.0.2:1", VaultID: addrB.VaultID}
	if _, err := brand.New(conn, vaultconn.Config{Address: elsewhere, Key: key}); err == nil || !strings.Contains(err.Error(), "not on this connection's host") {
		t.Errorf("New for a vault on another host: %v", err)
	}
}
