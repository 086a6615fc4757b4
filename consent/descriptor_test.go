package consent

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDescriptor(t *testing.T) {
	k := testKeys(t)
	vaultKey, err := GenerateKey(EdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	claims := func() DescriptorClaims {
		return DescriptorClaims{
			Vault:     testVault,
			OwnerKeys: []json.RawMessage{json.RawMessage(k.a.Public().JSON()), json.RawMessage(k.ec.Public().JSON())},
			Protocol:  ProtocolVersion,
			Limits:    map[string]int64{"max_fields_per_write": 100, "pending_requests_per_brand": 5},
			Iat:       testNow.Unix(),
		}
	}
	d, err := SignDescriptor(vaultKey, claims())
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyDescriptor(d, testVault, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.VaultKey.Thumbprint() != vaultKey.Thumbprint() || len(got.OwnerKeys) != 2 ||
		got.OwnerKeys[0].Thumbprint() != k.a.Thumbprint() || got.OwnerKeys[1].Thumbprint() != k.ec.Thumbprint() ||
		got.Claims.Limits["pending_requests_per_brand"] != 5 || got.JWS != d {
		t.Fatalf("descriptor %+v", got)
	}
	if _, err := VerifyDescriptor(d, testVault, vaultKey.Thumbprint()); err != nil {
		t.Fatalf("pinned: %v", err)
	}
	// A vault before its first enrolment has no owner keys.
	c := claims()
	c.OwnerKeys, c.Limits = nil, nil
	empty, err := SignDescriptor(vaultKey, c)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := VerifyDescriptor(empty, testVault, ""); err != nil || len(got.OwnerKeys) != 0 {
		t.Fatalf("no owner keys: %+v, %v", got, err)
	}

	// Signed by an owner key instead, naming itself: not the vault key inside.
	c = claims()
	c.VaultKey = json.RawMessage(vaultKey.Public().JSON())
	b := mustJSON(c)
	byOwner, err := k.b.Sign(DescriptorType, b)
	if err != nil {
		t.Fatal(err)
	}
	// Signed by an owner key, claiming the vault key's kid.
	hdr := mustJSON(map[string]any{"alg": "EdDSA", "typ": DescriptorType, "kid": vaultKey.Thumbprint()})
	forged := signRaw(k.b, hdr, b)
	other, _ := GenerateKey(EdDSA, rand.Reader)

	for _, tc := range []struct {
		name   string
		in     string
		vault  string
		pin    string
		reason string
	}{
		{"another vault", d, "vault2", "", "descriptor of another vault"},
		{"pin mismatch", d, testVault, other.Thumbprint(), "is not the pinned key"},
		{"signed by another key", byOwner, testVault, "", "not signed by its vault key"},
		{"forged kid", forged, testVault, "", "bad signature"},
		{"a consent record", mustSignRecord(t, k.a, grant(k, 1, "")), testVault, "", "typ must be vrm-descriptor+jwt"},
		{"oversized", strings.Repeat("a", MaxDescriptorLen+1), testVault, "", "longer than"},
		{"unknown member", signRaw(vaultKey, hdr, []byte(strings.Replace(string(b), `"iat"`, `"extra":1,"iat"`, 1))), testVault, "", `unknown member "extra"`},
		{"limits twice", signRaw(vaultKey, hdr, []byte(strings.Replace(string(b), `"limits":{`, `"limits":{"a":1,"a":2,`, 1))), testVault, "", "limits: duplicate member"},
	} {
		_, err := VerifyDescriptor(tc.in, tc.vault, tc.pin)
		if !errors.Is(err, ErrInvalidDescriptor) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: VerifyDescriptor = %v, want %q", tc.name, err, tc.reason)
		}
	}

	// Any single byte changed is refused.
	for i := 0; i < len(d); i++ {
		changed := []byte(d)
		changed[i] ^= 0x01
		if _, err := VerifyDescriptor(string(changed), testVault, ""); !errors.Is(err, ErrInvalidDescriptor) {
			t.Fatalf("byte %d changed: %v", i, err)
		}
	}

	// Shapes refused at signing.
	for _, tc := range []struct {
		name   string
		mod    func(*DescriptorClaims)
		reason string
	}{
		{"protocol", func(c *DescriptorClaims) { c.Protocol = "vrm/2" }, `protocol "vrm/2" not supported`},
		{"vault id", func(c *DescriptorClaims) { c.Vault = "a b" }, "vault must be 1 to 64"},
		{"duplicate owner", func(c *DescriptorClaims) { c.OwnerKeys = append(c.OwnerKeys, c.OwnerKeys[0]) }, "listed twice"},
		{"vault key as owner", func(c *DescriptorClaims) {
			c.OwnerKeys = append(c.OwnerKeys, json.RawMessage(vaultKey.Public().JSON()))
		}, "must not also be an owner key"},
		{"private owner key", func(c *DescriptorClaims) { c.OwnerKeys[0] = json.RawMessage(ownerAJWK) }, "owner key 1: invalid key: holds private key material"},
		{"another vault key", func(c *DescriptorClaims) { c.VaultKey = json.RawMessage(other.Public().JSON()) }, "vault_key is not the signing key"},
		{"limit name", func(c *DescriptorClaims) { c.Limits["Max"] = 1 }, `limit name "Max"`},
		{"negative limit", func(c *DescriptorClaims) { c.Limits["x"] = -1 }, "limit x is negative"},
		{"too many owners", func(c *DescriptorClaims) {
			c.OwnerKeys = nil
			for i := 0; i <= MaxOwnerKeys; i++ {
				o, _ := GenerateKey(EdDSA, rand.Reader)
				c.OwnerKeys = append(c.OwnerKeys, json.RawMessage(o.Public().JSON()))
			}
		}, "more than 16 owner keys"},
		{"iat", func(c *DescriptorClaims) { c.Iat = 0 }, "iat must be"},
	} {
		c := claims()
		tc.mod(&c)
		_, err := SignDescriptor(vaultKey, c)
		if !errors.Is(err, ErrInvalidDescriptor) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: SignDescriptor = %v, want %q", tc.name, err, tc.reason)
		}
	}
}

func mustSignRecord(t *testing.T, k *PrivateKey, c RecordClaims) string {
	t.Helper()
	s, err := SignRecord(k, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
