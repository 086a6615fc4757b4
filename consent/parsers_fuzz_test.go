package consent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Fuzz targets for the parsers of untrusted input that fuzz_test.go does
// not reach: vault descriptors and receipts (a brand parses what a vault
// serves), public keys (every peer's JWK), access requests (every
// brand's first call) and vault-signed documents (audit checkpoints, which
// an owner's client parses). Seeds are real documents signed with the
// fixed keys of fixtures_test.go.

// descriptorKey is the vault key of the seed descriptors: owner key b of
// the fixtures, so that the fuzzer can be given valid signatures.
func descriptorKey(k keys) *PrivateKey { return k.b }

func seedDescriptor(tb testing.TB, k keys, edit func(*DescriptorClaims)) string {
	tb.Helper()
	c := DescriptorClaims{
		Vault:     testVault,
		OwnerKeys: []json.RawMessage{json.RawMessage(k.a.Public().JSON()), json.RawMessage(k.ec.Public().JSON())},
		Protocol:  ProtocolVersion,
		Limits:    map[string]int64{"max_fields_per_write": 100, "pending_requests_per_brand": 5},
		Iat:       testNow.Unix(),
	}
	if edit != nil {
		edit(&c)
	}
	d, err := SignDescriptor(descriptorKey(k), c)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// checkAcceptedDescriptor checks what VerifyDescriptor promises of a descriptor
// it accepts.
func checkAcceptedDescriptor(t *testing.T, d *Descriptor, compact, pin string) {
	t.Helper()
	if d.JWS != compact || d.Claims.Vault != testVault || d.Claims.Protocol != ProtocolVersion {
		t.Fatalf("accepted %+v", d.Claims)
	}
	if pin != "" && d.VaultKey.Thumbprint() != pin {
		t.Fatalf("accepted vault key %s, pinned %s", d.VaultKey.Thumbprint(), pin)
	}
	if len(d.OwnerKeys) != len(d.Claims.OwnerKeys) || len(d.OwnerKeys) > MaxOwnerKeys {
		t.Fatalf("%d owner keys parsed of %d", len(d.OwnerKeys), len(d.Claims.OwnerKeys))
	}
	seen := map[string]bool{d.VaultKey.Thumbprint(): true}
	for _, o := range d.OwnerKeys {
		if o.IsZero() || seen[o.Thumbprint()] {
			t.Fatalf("owner key %q zero, twice, or the vault key", o.Thumbprint())
		}
		seen[o.Thumbprint()] = true
	}
	if len(d.Claims.Limits) > MaxDescriptorLimits {
		t.Fatalf("%d limits", len(d.Claims.Limits))
	}
	for name, v := range d.Claims.Limits {
		if !validLimitName(name) || v < 0 {
			t.Fatalf("limit %q = %d accepted", name, v)
		}
	}
}

func FuzzVerifyDescriptor(f *testing.F) {
	k := testKeys(f)
	vk := descriptorKey(k)
	f.Add(seedDescriptor(f, k, nil), false)
	f.Add(seedDescriptor(f, k, nil), true)
	f.Add(seedDescriptor(f, k, func(c *DescriptorClaims) { c.OwnerKeys, c.Limits = nil, nil }), false)
	f.Add(seedDescriptor(f, k, func(c *DescriptorClaims) { c.Vault = "vault2" }), false)
	// Signed by an owner key but claiming the vault key's kid.
	b := mustJSON(DescriptorClaims{Vault: testVault, OwnerKeys: []json.RawMessage{}, VaultKey: json.RawMessage(vk.Public().JSON()),
		Protocol: ProtocolVersion, Limits: map[string]int64{}, Iat: testNow.Unix()})
	f.Add(signRaw(k.a, mustJSON(map[string]any{"alg": "EdDSA", "typ": DescriptorType, "kid": vk.Thumbprint()}), b), false)
	f.Fuzz(func(t *testing.T, compact string, pinned bool) {
		pin := ""
		if pinned {
			pin = vk.Thumbprint()
		}
		d, err := VerifyDescriptor(compact, testVault, pin)
		if err != nil {
			if !errors.Is(err, ErrInvalidDescriptor) {
				t.Fatalf("VerifyDescriptor error %v does not wrap ErrInvalidDescriptor", err)
			}
			return
		}
		checkAcceptedDescriptor(t, d, compact, pin)
		// A signature is only made with a key we hold: the vault key.
		if d.VaultKey.Thumbprint() != vk.Thumbprint() {
			t.Fatalf("accepted a descriptor signed by unknown key %s", d.VaultKey.Thumbprint())
		}
	})
}

// FuzzDescriptorClaims signs fuzzed claims with the real vault key, so
// that the claim checks are reached: whatever is accepted must be signed
// again by SignDescriptor to the same descriptor.
func FuzzDescriptorClaims(f *testing.F) {
	k := testKeys(f)
	vk := descriptorKey(k)
	for _, d := range []string{
		seedDescriptor(f, k, nil),
		seedDescriptor(f, k, func(c *DescriptorClaims) { c.OwnerKeys, c.Limits = nil, nil }),
		seedDescriptor(f, k, func(c *DescriptorClaims) { c.Limits = map[string]int64{"a": 0, "z_9": 1 << 62} }),
	} {
		payload, err := base64.RawURLEncoding.DecodeString(strings.Split(d, ".")[1])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(payload)
	}
	hdr := mustJSON(map[string]any{"alg": "EdDSA", "typ": DescriptorType, "kid": vk.Thumbprint()})
	f.Fuzz(func(t *testing.T, payload []byte) {
		s := signRaw(vk, hdr, payload)
		d, err := VerifyDescriptor(s, testVault, vk.Thumbprint())
		if err != nil {
			if !errors.Is(err, ErrInvalidDescriptor) {
				t.Fatalf("VerifyDescriptor error %v does not wrap ErrInvalidDescriptor", err)
			}
			return
		}
		checkAcceptedDescriptor(t, d, s, vk.Thumbprint())
		again, err := SignDescriptor(vk, d.Claims)
		if err != nil {
			t.Fatalf("accepted claims cannot be signed again: %v", err)
		}
		d2, err := VerifyDescriptor(again, testVault, vk.Thumbprint())
		if err != nil {
			t.Fatalf("re-signed descriptor refused: %v", err)
		}
		if d2.Claims.Iat != d.Claims.Iat || len(d2.OwnerKeys) != len(d.OwnerKeys) || len(d2.Claims.Limits) != len(d.Claims.Limits) {
			t.Fatalf("claims changed when signed again:\n%+v\n%+v", d.Claims, d2.Claims)
		}
		for i := range d.OwnerKeys {
			if d.OwnerKeys[i].Thumbprint() != d2.OwnerKeys[i].Thumbprint() {
				t.Fatalf("owner key %d changed when signed again", i)
			}
		}
		for name, v := range d.Claims.Limits {
			if d2.Claims.Limits[name] != v {
				t.Fatalf("limit %s changed when signed again", name)
			}
		}
	})
}

func FuzzVerifyReceipt(f *testing.F) {
	k := testKeys(f)
	owners := []PublicKey{k.a.Public(), k.ec.Public()}
	l := &ledger{t: f}
	l.addKey(k.a, "laptop")
	l.record(k.a, grant(k, 0, ""))
	g := grant(k, 0, "")
	g.CID, g.RID = "c2", "r2"
	l.record(k.ec, g)
	d := grant(k, 0, "")
	d.CID, d.RID, d.Status, d.Scopes, d.Purposes, d.Exp, d.Nbf = "c3", "r3", StatusDenied, nil, nil, 0, 0
	l.record(k.a, d)
	l.revoke(k.a, "c1")
	for _, e := range l.entries {
		f.Add(e, int64(0))
	}
	f.Fuzz(func(t *testing.T, compact string, skew int64) {
		now := testNow.Add(time.Duration(skew%int64(48*time.Hour)) * time.Nanosecond)
		c, err := VerifyReceipt(compact, owners, testVault, k.brand.Thumbprint(), now)
		if err != nil {
			var re *RecordError
			if !errors.As(err, &re) {
				t.Fatalf("VerifyReceipt error %v is not a *RecordError", err)
			}
			return
		}
		if c.Vault != testVault || c.Brand != k.brand.Thumbprint() || c.Status != StatusGranted || checkRecord(c) != nil {
			t.Fatalf("accepted receipt %+v", c)
		}
		if time.Unix(c.Iat, 0).After(now.Add(DecisionSkew)) {
			t.Fatalf("accepted a receipt issued at %d, now %d", c.Iat, now.Unix())
		}
		e, err := ParseLedgerEntry(compact)
		if err != nil || e.Record == nil {
			t.Fatalf("accepted receipt is no record: %v", err)
		}
		if _, err := e.VerifySignature(owners); err != nil {
			t.Fatalf("accepted receipt does not verify: %v", err)
		}
		_ = c.Expired(now)
		_ = c.ActiveAt(now)
	})
}

func FuzzParsePublicKey(f *testing.F) {
	k := testKeys(f)
	for _, key := range []*PrivateKey{k.a, k.ec, k.brand} {
		f.Add([]byte(key.Public().JSON()))
	}
	f.Add([]byte(ownerAJWK)) // private material
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	pt, err := p384.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		f.Fatal(err)
	}
	x, y := pt[1:49], pt[49:]
	f.Add(mustJSON(map[string]string{"kty": "EC", "crv": "P-384", "x": base64.RawURLEncoding.EncodeToString(x), "y": base64.RawURLEncoding.EncodeToString(y)}))
	f.Add([]byte(`{"kty":"oct","k":"c2VjcmV0"}`))
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"vS71mKK1FgWu8QOV78em-I3LPJg72CaXI7xYV6bg4A8","kid":"someone-else","alg":"ES256"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParsePublicKey(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ParsePublicKey error %v does not wrap ErrInvalidKey", err)
			}
			return
		}
		if len(data) > MaxJWKLen || key.IsZero() || !validHash(key.Thumbprint()) {
			t.Fatalf("accepted key %q from %d bytes", key.Thumbprint(), len(data))
		}
		if a := key.Algorithm(); a != EdDSA && a != ES256 {
			t.Fatalf("accepted algorithm %q", a)
		}
		// Its own encoding parses to the same identity, with no private
		// member.
		enc := key.JSON()
		if hasPrivateMembers([]byte(enc)) {
			t.Fatalf("public key encodes private members: %s", enc)
		}
		again, err := ParsePublicKey([]byte(enc))
		if err != nil || again.Thumbprint() != key.Thumbprint() {
			t.Fatalf("re-parse of %s: %q, %v", enc, again.Thumbprint(), err)
		}
	})
}

// FuzzAccessRequest parses an access request as the server does
// (ParseScopes, ParsePurposes, then Validate for the brand's key); scopes
// and purposes are given one per line.
func FuzzAccessRequest(f *testing.F) {
	k := testKeys(f)
	jkt := k.brand.Thumbprint()
	day := int64(24 * time.Hour)
	f.Add("Example Shop", "https://shop.example", "read:name.given\nwatch:address.*\nwrite:brands."+jkt+".orders.*", "ServiceProvision\nDelivery", 30*day, "to deliver")
	f.Add("Local dev", "http://[::1]:8080/x?y#z", "read:email.home", "Marketing", int64(time.Hour), "")
	f.Add("Shop\u202e", "https://shop.example", "read:name.given", "ServiceProvision", day, "")
	f.Add(" Shop", "https://user@shop.example", "write:name.given", "Surveillance", int64(MaxConsentDuration)+1, strings.Repeat("x", 501))
	f.Add("Shop", "https://xn--80ak6aa92e.example:65535", "read:a\nread:a", "Delivery\nDelivery", day, "\t")
	f.Fuzz(func(t *testing.T, name, url, scopes, purposes string, duration int64, reason string) {
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, "\n")
		}
		sc, err := ParseScopes(split(scopes))
		if err != nil {
			if !errors.Is(err, ErrInvalidScope) {
				t.Fatalf("ParseScopes error %v", err)
			}
			return
		}
		ps, err := ParsePurposes(split(purposes))
		if err != nil {
			if !errors.Is(err, ErrInvalidPurpose) {
				t.Fatalf("ParsePurposes error %v", err)
			}
			return
		}
		r := AccessRequest{BrandName: name, BrandURL: url, Scopes: sc, Purposes: ps, Duration: time.Duration(duration), Reason: reason}
		if err := r.Validate(jkt); err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("Validate error %v does not wrap ErrInvalidRequest", err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		switch {
		case name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxBrandNameLen || strings.TrimSpace(name) != name:
			t.Fatalf("accepted brand name %q", name)
		case !utf8.ValidString(reason) || utf8.RuneCountInString(reason) > MaxReasonLen:
			t.Fatalf("accepted reason %q", reason)
		case len(url) > MaxBrandURLLen || !(strings.HasPrefix(url, "https://") || strings.HasPrefix(url, "http://")) || strings.ContainsAny(url, " \\"):
			t.Fatalf("accepted brand URL %q", url)
		case len(sc) == 0 || len(sc) > MaxScopes:
			t.Fatalf("accepted %d scopes", len(sc))
		case r.Duration < MinConsentDuration || r.Duration > MaxConsentDuration:
			t.Fatalf("accepted duration %s", r.Duration)
		}
		for _, s := range name + reason {
			if s < 0x20 || s == 0x7f || s == 0x202e {
				t.Fatalf("accepted control or format character %U", s)
			}
		}
		for _, s := range sc {
			if s.Action == ActionWrite && !strings.HasPrefix(s.Path+".", BrandNamespace(jkt)+".") {
				t.Fatalf("accepted %s for brand %s", s, jkt)
			}
		}
		// Another brand may not ask for this brand's namespace.
		if strings.Contains(scopes, "write:") {
			if err := r.Validate(k.a.Thumbprint()); err == nil {
				t.Fatalf("brand %s may write under %s", k.a.Thumbprint(), jkt)
			}
		}
	})
}

// FuzzVerifyCompact checks a vault-signed document as an owner's client
// does for an audit checkpoint.
func FuzzVerifyCompact(f *testing.F) {
	k := testKeys(f)
	vk := descriptorKey(k)
	const typ = "vrm-checkpoint+jwt"
	for _, signer := range []*PrivateKey{vk, k.a, k.ec} {
		s, err := signer.Sign(typ, []byte(`{"vault":"vault1","seq":1000,"hash":"x","iat":1800000000}`))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
	}
	jws, err := vk.Sign("vrm-consent+jwt", []byte(`{}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(jws)
	f.Fuzz(func(t *testing.T, compact string) {
		payload, err := VerifyCompact(compact, typ, vk.Public(), 2048)
		if err != nil {
			if !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("VerifyCompact error %v does not wrap ErrInvalidSignature", err)
			}
			return
		}
		if len(compact) > 2048 {
			t.Fatalf("accepted %d bytes", len(compact))
		}
		// Only a document the vault key signed verifies: the same
		// payload signed again verifies to the same bytes.
		again, err := vk.Sign(typ, payload)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := VerifyCompact(again, typ, vk.Public(), 1<<20)
		if err != nil || string(p2) != string(payload) {
			t.Fatalf("re-signed payload: %q, %v", p2, err)
		}
		if _, err := VerifyCompact(compact, typ, k.a.Public(), 2048); err == nil {
			t.Fatal("verified with another key")
		}
	})
}
