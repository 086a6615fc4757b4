package server_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/store"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// TestRememberedViewSeesEveryChange: a brand reading again and again is
// answered from what the host remembers of it (its consents, subject and
// selected fields, at the vault's state tag), and every change the owner
// or the host makes in between shows in the very next read.
func TestRememberedViewSeesEveryChange(t *testing.T) {
	v, hc, _ := startHost(t, vaulttest.Options{})
	ctx := ctxT(t)
	addr, o := createVault(t, v, hc)
	b, consentID := grantedBrandAt(t, v, addr, o, "read:name.*")
	set := func(given string) {
		t.Helper()
		if _, err := o.SetFields(ctx, []profile.Field{{Path: "name.given", Value: profile.StringValue(given)}}); err != nil {
			t.Fatal(err)
		}
	}
	// readTwice reads twice: the second read is answered from memory.
	readTwice := func(b *brand.Client, paths ...string) (string, error) {
		t.Helper()
		var got string
		for range 2 {
			r, err := b.Read(ctx, paths...)
			if err != nil {
				return "", err
			}
			got = ""
			for _, f := range r.GetFields() {
				got += f.GetPath() + "=" + f.GetValue().GetStringValue() + ";"
			}
		}
		return got, nil
	}
	want := func(b *brand.Client, want string, paths ...string) {
		t.Helper()
		got, err := readTwice(b, paths...)
		if err != nil || got != want {
			t.Fatalf("read %v: %q, %v; want %q", paths, got, err, want)
		}
	}
	before := v.Host.MemoStats()
	set("Ada")
	want(b, "name.given=Ada;")
	set("Grace")
	want(b, "name.given=Grace;")
	want(b, "name.given=Grace;", "name.given")
	set("Hopper")
	want(b, "name.given=Hopper;", "name.given")
	set("Grace")
	if tag := stateTagOf(t, v, addr.VaultID); tag == nil {
		t.Fatal("no state tag")
	} else {
		want(b, "name.given=Grace;")
		if after := stateTagOf(t, v, addr.VaultID); string(after) != string(tag) {
			t.Fatal("a read changed the state tag: no read is answered from memory")
		}
	}

	// The second read of each pair found everything in memory: the
	// answers above were not read from the store alone.
	if st := v.Host.MemoStats(); st.ViewHits-before.ViewHits < 4 || st.FieldHits-before.FieldHits < 4 {
		t.Fatalf("memo stats %+v (before %+v): reads were not answered from memory", st, before)
	}

	// The host suspends the vault, then resumes it.
	if err := hc.Suspend(ctx, addr.VaultID); err != nil {
		t.Fatal(err)
	}
	_, err := readTwice(b)
	wantCode(t, err, codes.FailedPrecondition, "vault suspended")
	if err := hc.Resume(ctx, addr.VaultID); err != nil {
		t.Fatal(err)
	}
	want(b, "name.given=Grace;")

	// The owner revokes the consent; a second brand's view is its own.
	other, _ := grantedBrandAt(t, v, addr, o, "read:name.*")
	want(other, "name.given=Grace;")
	if _, err := o.Revoke(ctx, consentID); err != nil {
		t.Fatal(err)
	}
	_, err = readTwice(b)
	wantCode(t, err, codes.PermissionDenied, "consent revoked")
	_, err = readTwice(b, "name.given")
	wantCode(t, err, codes.PermissionDenied, "consent revoked")
	want(other, "name.given=Grace;")

	// A deleted field is gone at once.
	if _, err := o.DeleteFields(ctx, "name.given"); err != nil {
		t.Fatal(err)
	}
	want(other, "")
}

// stateTagOf returns the vault's stored state tag (m/state), nil if none.
func stateTagOf(t *testing.T, v *vaulttest.Vault, vaultID string) []byte {
	t.Helper()
	var tag []byte
	err := v.Store().View(context.Background(), vaultID, func(tx store.Tx) error {
		b, err := tx.Get("m/state")
		if err == nil {
			tag = b
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tag
}
