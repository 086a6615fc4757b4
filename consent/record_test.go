package consent

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLedgerEntryRoundTrip(t *testing.T) {
	k := testKeys(t)
	prev := EntryHash("entry 1")
	for _, signer := range []*PrivateKey{k.a, k.ec} {
		t.Run(string(signer.Algorithm()), func(t *testing.T) {
			owners := []PublicKey{k.b.Public(), signer.Public()}

			rec := grant(k, 2, prev)
			denied := RecordClaims{CID: "c2", RID: "r2", Vault: testVault, Brand: rec.Brand, Sub: rec.Sub, Status: StatusDenied, Iat: rec.Iat, Seq: 3, Prev: prev}
			rev := RevocationClaims{CID: "c1", Iat: testNow.Unix(), Seq: 4, Prev: prev}
			add := KeyEntryClaims{Op: KeyOpAdd, Device: "laptop", Iat: testNow.Unix(), Seq: 1}
			remove := KeyEntryClaims{Op: KeyOpRemove, JKT: k.b.Thumbprint(), Iat: testNow.Unix(), Seq: 5, Prev: prev}

			check := func(compact string, err error, typ string) *LedgerEntry {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				if len(compact) > MaxLedgerEntryLen {
					t.Fatalf("entry of %d bytes", len(compact))
				}
				e, err := ParseLedgerEntry(compact)
				if err != nil {
					t.Fatalf("ParseLedgerEntry: %v", err)
				}
				if e.Type != typ || e.KID != signer.Thumbprint() || e.JWS != compact {
					t.Fatalf("entry %+v", e)
				}
				got, err := e.VerifySignature(owners)
				if err != nil {
					t.Fatalf("VerifySignature: %v", err)
				}
				if got.Thumbprint() != signer.Thumbprint() {
					t.Fatalf("verified with %s, want %s", got.Thumbprint(), signer.Thumbprint())
				}
				if e.Hash() != EntryHash(compact) {
					t.Fatal("Hash differs from EntryHash")
				}
				return e
			}

			s, err := SignRecord(signer, rec)
			e := check(s, err, RecordType)
			if !reflect.DeepEqual(*e.Record, rec) || e.Seq != 2 || e.Prev != prev {
				t.Fatalf("record = %+v, want %+v", *e.Record, rec)
			}

			s, err = SignRecord(signer, denied)
			e = check(s, err, RecordType)
			if e.Record.Status != StatusDenied || e.Record.Scopes == nil || len(e.Record.Scopes) != 0 {
				t.Fatalf("denial = %+v (scopes must be written as [])", *e.Record)
			}

			s, err = SignRevocation(signer, rev)
			e = check(s, err, RevocationType)
			if *e.Revocation != rev {
				t.Fatalf("revocation = %+v", *e.Revocation)
			}

			s, err = SignKeyEntry(signer, add)
			e = check(s, err, KeyEntryType)
			if e.Key.Op != KeyOpAdd || e.Key.JKT != signer.Thumbprint() || e.Key.Device != "laptop" || e.Prev != "" {
				t.Fatalf("key add = %+v", *e.Key)
			}
			// An add verifies with its own key, whatever the owner keys.
			if _, err := e.VerifySignature(nil); err != nil {
				t.Fatalf("add VerifySignature(nil): %v", err)
			}

			s, err = SignKeyEntry(signer, remove)
			e = check(s, err, KeyEntryType)
			if e.Key.Op != KeyOpRemove || e.Key.JKT != k.b.Thumbprint() || len(e.Key.JWK) != 0 {
				t.Fatalf("key remove = %+v", *e.Key)
			}
			if strings.Contains(string(mustDecodePayload(t, s)), "jwk") {
				t.Fatal("a remove entry carries a jwk member")
			}
		})
	}
}

func mustDecodePayload(t *testing.T, compact string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(compact, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignRefusesBadShape(t *testing.T) {
	k := testKeys(t)
	bad := grant(k, 1, "")
	bad.Exp = 0
	if _, err := SignRecord(k.a, bad); !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), "a grant needs exp") {
		t.Errorf("SignRecord without exp = %v", err)
	}
	if _, err := SignRecord(nil, grant(k, 1, "")); err == nil {
		t.Error("SignRecord(nil key) succeeded")
	}
	if _, err := SignRevocation(k.a, RevocationClaims{CID: "c1", Iat: 1, Seq: 2}); err == nil || !strings.Contains(err.Error(), "prev must be") {
		t.Errorf("SignRevocation without prev = %v", err)
	}
	if _, err := SignKeyEntry(k.a, KeyEntryClaims{Op: KeyOpAdd, JKT: k.b.Thumbprint(), Iat: 1, Seq: 1}); err == nil || !strings.Contains(err.Error(), "signed by the key it adds") {
		t.Errorf("SignKeyEntry adding another key = %v", err)
	}
}

// TestParseLedgerEntryRefusals checks every refusal of the parser, each
// with a real signature so that nothing but the named rule can fail.
func TestParseLedgerEntryRefusals(t *testing.T) {
	k := testKeys(t)
	a := k.a
	hdr := func(typ string) map[string]any {
		return map[string]any{"alg": "EdDSA", "typ": typ, "kid": a.Thumbprint()}
	}
	claims := func() map[string]any {
		var m map[string]any
		if err := json.Unmarshal(mustJSON(grant(k, 1, "")), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	with := func(mod func(h, c map[string]any)) string {
		h, c := hdr(RecordType), claims()
		mod(h, c)
		return signRaw(a, mustJSON(h), mustJSON(c))
	}
	raw := func(h map[string]any, payload string) string { return signRaw(a, mustJSON(h), []byte(payload)) }
	valid := with(func(h, c map[string]any) {})
	if _, err := ParseLedgerEntry(valid); err != nil {
		t.Fatalf("the unmodified entry is refused: %v", err)
	}
	parts := strings.Split(valid, ".")
	validPayload := string(mustDecodePayload(t, valid))

	// The key entries to break.
	keyAdd := func(mod func(c map[string]any)) string {
		c := map[string]any{"op": "add", "jkt": a.Thumbprint(), "jwk": json.RawMessage(a.Public().JSON()), "iat": testNow.Unix(), "seq": 1, "prev": ""}
		mod(c)
		return signRaw(a, mustJSON(hdr(KeyEntryType)), mustJSON(c))
	}
	flipLast := func(seg string) string { // same bytes, non-zero trailing bits
		last := seg[len(seg)-1]
		i := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", last)
		return seg[:len(seg)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[i+1])
	}

	tests := []struct {
		name   string
		in     string
		reason string
	}{
		{"empty", "", "empty"},
		{"oversized", strings.Repeat("a", MaxLedgerEntryLen+1), "longer than 16384 bytes"},
		{"two parts", parts[0] + "." + parts[1], "not a compact JWS"},
		{"four parts", valid + ".x", "not a compact JWS"},
		{"many dots", strings.Repeat(".", 5000), "not a compact JWS"},
		{"alg none", b64(map[string]any{"alg": "none", "typ": RecordType, "kid": a.Thumbprint()}) + "." + parts[1] + ".", `algorithm "none" not allowed`},
		{"alg HS256", raw(map[string]any{"alg": "HS256", "typ": RecordType, "kid": a.Thumbprint()}, validPayload), `algorithm "HS256" not allowed`},
		{"alg RS256", raw(map[string]any{"alg": "RS256", "typ": RecordType, "kid": a.Thumbprint()}, validPayload), `algorithm "RS256" not allowed`},
		{"alg missing", raw(map[string]any{"typ": RecordType, "kid": a.Thumbprint()}, validPayload), `algorithm "" not allowed`},
		{"alg not a string", raw(map[string]any{"alg": 1, "typ": RecordType, "kid": a.Thumbprint()}, validPayload), "header alg is not a string"},
		{"wrong typ", with(func(h, c map[string]any) { h["typ"] = "JWT" }), "typ must be vrm-consent+jwt or"},
		{"proof typ", with(func(h, c map[string]any) { h["typ"] = ProofType }), "typ must be"},
		{"no typ", with(func(h, c map[string]any) { delete(h, "typ") }), "typ must be"},
		{"jwk header", with(func(h, c map[string]any) { h["jwk"] = json.RawMessage(a.Public().JSON()) }), "jwk header not allowed"},
		{"jwk instead of kid", with(func(h, c map[string]any) { h["jwk"] = json.RawMessage(a.Public().JSON()); delete(h, "kid") }), "jwk header not allowed"},
		{"missing kid", with(func(h, c map[string]any) { delete(h, "kid") }), "kid header missing"},
		{"kid not a thumbprint", with(func(h, c map[string]any) { h["kid"] = "owner-a" }), "kid is not a key thumbprint"},
		{"crit", with(func(h, c map[string]any) { h["crit"] = []string{"exp"} }), "crit header not allowed"},
		{"b64 header", with(func(h, c map[string]any) { h["b64"] = false }), `header member "b64" not allowed`},
		{"cty header", with(func(h, c map[string]any) { h["cty"] = "JWT" }), `header member "cty" not allowed`},
		{"duplicate header member", signRaw(a, []byte(`{"alg":"EdDSA","typ":"`+RecordType+`","kid":"`+a.Thumbprint()+`","alg":"EdDSA"}`), []byte(validPayload)), `duplicate member "alg"`},
		{"header not an object", signRaw(a, []byte(`["EdDSA"]`), []byte(validPayload)), "header is not a JSON object"},
		{"header padded", parts[0] + "=." + parts[1] + "." + parts[2], "header is not canonical base64url"},
		{"header line break", parts[0][:10] + "\n" + parts[0][10:] + "." + parts[1] + "." + parts[2], "header is not canonical base64url"},
		{"payload line break", parts[0] + "." + parts[1][:10] + "\r\n" + parts[1][10:] + "." + parts[2], "payload is not canonical base64url"},
		{"payload trailing bits", parts[0] + "." + flipLast(parts[1]) + "." + parts[2], "payload is not canonical base64url"},
		{"signature trailing bits", parts[0] + "." + parts[1] + "." + flipLast(parts[2]), "signature is not canonical base64url"},
		{"signature empty", parts[0] + "." + parts[1] + ".", "signature is not canonical base64url"},
		{"payload empty", parts[0] + ".." + parts[2], "payload is not canonical base64url"},
		{"payload standard base64", parts[0] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[1]) + "+." + parts[2], "payload is not canonical base64url"},
		{"payload not UTF-8", raw(hdr(RecordType), "{\"cid\":\"\xff\"}"), "not valid UTF-8"},
		{"payload not an object", raw(hdr(RecordType), `[1,2]`), "claims are not a JSON object"},
		{"payload trailing data", raw(hdr(RecordType), validPayload+`{}`), "trailing data"},
		{"payload two objects", raw(hdr(RecordType), validPayload+` `+validPayload), "trailing data"},
		{"unknown claim", with(func(h, c map[string]any) { c["note"] = "x" }), `unknown member "note" in claims`},
		{"claim of another case", with(func(h, c map[string]any) { c["CID"] = c["cid"]; delete(c, "cid") }), `unknown member "CID"`},
		{"duplicate claim", raw(hdr(RecordType), strings.Replace(validPayload, `"cid":"c1"`, `"cid":"c1","cid":"c9"`, 1)), `duplicate member "cid"`},
		{"missing prev", with(func(h, c map[string]any) { delete(c, "prev") }), `claims lack "prev"`},
		{"missing exp", with(func(h, c map[string]any) { delete(c, "exp") }), `claims lack "exp"`},
		{"seq a string", with(func(h, c map[string]any) { c["seq"] = "1" }), `member "seq" has the wrong type`},
		{"seq a float", raw(hdr(RecordType), strings.Replace(validPayload, `"seq":1`, `"seq":1.0`, 1)), `member "seq" has the wrong type`},
		{"seq negative", raw(hdr(RecordType), strings.Replace(validPayload, `"seq":1`, `"seq":-1`, 1)), `member "seq" has the wrong type`},
		{"scopes a string", with(func(h, c map[string]any) { c["scopes"] = "read:name" }), `member "scopes" has the wrong type`},
		{"seq 0", with(func(h, c map[string]any) { c["seq"] = 0 }), "seq must be 1 or more"},
		{"entry 1 with prev", with(func(h, c map[string]any) { c["prev"] = EntryHash("x") }), "entry 1 must have an empty prev"},
		{"entry 2 without prev", with(func(h, c map[string]any) { c["seq"] = 2 }), "prev must be the base64url SHA-256"},
		{"entry 2 bad prev", with(func(h, c map[string]any) { c["seq"] = 2; c["prev"] = "not-a-hash" }), "prev must be the base64url SHA-256"},
		{"grant without exp", with(func(h, c map[string]any) { c["exp"] = 0 }), "a grant needs exp"},
		{"grant without scopes", with(func(h, c map[string]any) { c["scopes"] = []string{} }), "a grant needs at least one scope"},
		{"null scopes", with(func(h, c map[string]any) { c["scopes"] = nil }), `claims member "scopes" is null`},
		{"null nbf", with(func(h, c map[string]any) { c["nbf"] = nil }), `claims member "nbf" is null`},
		{"grant without purposes", with(func(h, c map[string]any) { c["purposes"] = []string{} }), "at least one purpose"},
		{"unknown purpose", with(func(h, c map[string]any) { c["purposes"] = []string{"Profit"} }), `"Profit" is not a known DPV purpose`},
		{"bad scope", with(func(h, c map[string]any) { c["scopes"] = []string{"read:*"} }), `"read:*"`},
		{"write outside namespace", with(func(h, c map[string]any) { c["scopes"] = []string{"write:name.given"} }), "may write only under"},
		{"status", with(func(h, c map[string]any) { c["status"] = "maybe" }), "status must be granted or denied"},
		{"brand not a thumbprint", with(func(h, c map[string]any) { c["brand"] = "acme" }), "brand is not a key thumbprint"},
		{"sub", with(func(h, c map[string]any) { c["sub"] = "customer-42" }), "sub is not a pairwise subject"},
		{"cid", with(func(h, c map[string]any) { c["cid"] = "c 1" }), "cid must be 1 to 64"},
		{"rid empty", with(func(h, c map[string]any) { c["rid"] = "" }), "rid must be 1 to 64"},
		{"vault too long", with(func(h, c map[string]any) { c["vault"] = strings.Repeat("v", 65) }), "vault must be 1 to 64"},
		{"nbf after exp", with(func(h, c map[string]any) { c["nbf"] = c["exp"].(float64) + 1 }), "nbf is after exp"},
		{"iat 0", with(func(h, c map[string]any) { c["iat"] = 0 }), "iat must be seconds since the epoch"},
		{"exp past 9999", with(func(h, c map[string]any) { c["exp"] = int64(maxTime) + 1 }), "exp must be seconds since the epoch"},
		{"nbf negative", with(func(h, c map[string]any) { c["nbf"] = -5 }), "nbf must be seconds since the epoch"},

		{"revocation unknown claim", signRaw(a, mustJSON(hdr(RevocationType)), []byte(`{"cid":"c1","iat":1800000000,"seq":1,"prev":"","why":"x"}`)), `unknown member "why"`},
		{"revocation of a record's claims", signRaw(a, mustJSON(hdr(RevocationType)), []byte(validPayload)), "unknown member"},
		{"revocation bad cid", signRaw(a, mustJSON(hdr(RevocationType)), []byte(`{"cid":"c/1","iat":1800000000,"seq":1,"prev":""}`)), "cid must be 1 to 64"},
		{"record typ on a revocation", signRaw(a, mustJSON(hdr(RecordType)), []byte(`{"cid":"c1","iat":1800000000,"seq":1,"prev":""}`)), `claims lack "rid"`},

		{"key add by another key", signRaw(k.b, mustJSON(map[string]any{"alg": "EdDSA", "typ": KeyEntryType, "kid": k.b.Thumbprint()}), mustJSON(map[string]any{"op": "add", "jkt": a.Thumbprint(), "jwk": json.RawMessage(a.Public().JSON()), "iat": testNow.Unix(), "seq": 1, "prev": ""})), "an add entry must be signed by the key it adds"},
		{"key add without jwk", keyAdd(func(c map[string]any) { delete(c, "jwk") }), "needs the jwk"},
		{"key add jwk of another key", keyAdd(func(c map[string]any) { c["jwk"] = json.RawMessage(k.b.Public().JSON()) }), "jwk does not match jkt"},
		{"key add private jwk", keyAdd(func(c map[string]any) { c["jwk"] = json.RawMessage(ownerAJWK) }), "private key material"},
		{"key add jwk with a member twice", keyAdd(func(c map[string]any) {
			j := a.Public().JSON()
			c["jwk"] = json.RawMessage(j[:len(j)-1] + `,"x":"` + base64.RawURLEncoding.EncodeToString(make([]byte, 32)) + `"}`)
		}), `duplicate member "x"`},
		{"key add RSA jwk", keyAdd(func(c map[string]any) {
			c["jwk"] = json.RawMessage(`{"kty":"RSA","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"}`)
		}), "not allowed"},
		{"key op", keyAdd(func(c map[string]any) { c["op"] = "rotate" }), "op must be add or remove"},
		{"key remove with jwk", keyAdd(func(c map[string]any) { c["op"] = "remove" }), "a remove entry carries no jwk"},
		{"key device control char", keyAdd(func(c map[string]any) { c["device"] = "lap\u202etop" }), "device name contains the control or format character"},
		{"key device too long", keyAdd(func(c map[string]any) { c["device"] = strings.Repeat("d", 65) }), "device name is longer than 64"},
		{"key unknown claim", keyAdd(func(c map[string]any) { c["vault"] = "v" }), `unknown member "vault"`},
		{"key missing op", keyAdd(func(c map[string]any) { delete(c, "op") }), `claims lack "op"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseLedgerEntry(tc.in)
			var re *RecordError
			if !errors.As(err, &re) || !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("ParseLedgerEntry = %+v, %v; want a RecordError", e, err)
			}
			if !strings.Contains(re.Reason, tc.reason) {
				t.Fatalf("reason %q, want it to contain %q", re.Reason, tc.reason)
			}
		})
	}
}

func TestVerifySignature(t *testing.T) {
	k := testKeys(t)
	owners := []PublicKey{k.a.Public(), k.ec.Public()}
	rec := grant(k, 1, "")

	byBrand, err := SignRecord(k.brand, rec)
	if err != nil {
		t.Fatal(err)
	}
	genuine, err := SignRecord(k.a, rec)
	if err != nil {
		t.Fatal(err)
	}
	genuineEC, err := SignRecord(k.ec, rec)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(genuine, ".")
	// A record signed by the brand but naming owner A as its signer.
	hdrA := mustJSON(map[string]any{"alg": "EdDSA", "typ": RecordType, "kid": k.a.Thumbprint()})
	forged := signRaw(k.brand, hdrA, mustDecodePayload(t, genuine))
	// An ES256 header over A's (Ed25519) kid.
	esHdr := base64.RawURLEncoding.EncodeToString(mustJSON(map[string]any{"alg": "ES256", "typ": RecordType, "kid": k.a.Thumbprint()}))
	// The genuine payload with one claim changed, under the genuine signature.
	tampered := grant(k, 1, "")
	tampered.Exp++
	tamperedPayload := base64.RawURLEncoding.EncodeToString(mustJSON(tampered))

	tests := []struct {
		name   string
		in     string
		keys   []PublicKey
		reason string
	}{
		{"genuine", genuine, owners, ""},
		{"genuine, ES256 owner", genuineEC, owners, ""},
		{"signed by a non-owner", byBrand, owners, "signed by a key that is not an owner key of this vault"},
		{"no owner keys", genuine, nil, "not an owner key"},
		{"kid of an owner, signed by another", forged, owners, "bad signature"},
		{"tampered payload", parts[0] + "." + tamperedPayload + "." + parts[2], owners, "bad signature"},
		{"algorithm not the key's", esHdr + "." + parts[1] + "." + parts[2], owners, "algorithm does not match the key"},
		{"zero signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64)), owners, "bad signature"},
		{"short signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 63)), owners, "bad signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseLedgerEntry(tc.in)
			if err != nil {
				t.Fatalf("ParseLedgerEntry: %v", err)
			}
			_, err = e.VerifySignature(tc.keys)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var re *RecordError
			if !errors.As(err, &re) || !strings.Contains(re.Reason, tc.reason) {
				t.Fatalf("VerifySignature = %v, want reason %q", err, tc.reason)
			}
		})
	}
	if _, err := (&LedgerEntry{}).VerifySignature(owners); err == nil {
		t.Error("VerifySignature of an entry not parsed succeeded")
	}
}

func TestNewID(t *testing.T) {
	a, err := NewID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewID(rand.Reader)
	if len(a) != 22 || !ValidID(a) || a == b {
		t.Fatalf("NewID = %q, %q", a, b)
	}
	for _, bad := range []string{"", "a b", "a.b", strings.Repeat("a", 65), "ü"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
	if !ValidID(strings.Repeat("a", 64)) {
		t.Error("ValidID refuses 64 characters")
	}
}

func TestRecordTimes(t *testing.T) {
	k := testKeys(t)
	r := grant(k, 1, "")
	exp := testNow.Add(30 * 24 * time.Hour)
	for _, tc := range []struct {
		at              time.Time
		expired, active bool
	}{
		{testNow.Add(-time.Second), false, false},
		{testNow, false, true},
		{exp.Add(-time.Second), false, true},
		{exp, true, false},
		{exp.Add(time.Hour), true, false},
	} {
		if got := r.Expired(tc.at); got != tc.expired {
			t.Errorf("Expired(%s) = %v", tc.at, got)
		}
		if got := r.ActiveAt(tc.at); got != tc.active {
			t.Errorf("ActiveAt(%s) = %v", tc.at, got)
		}
	}
	d := r
	d.Status, d.Exp = StatusDenied, 0
	if d.Expired(exp.Add(1000*time.Hour)) || d.ActiveAt(testNow) {
		t.Error("a denial is active or expires")
	}
}
