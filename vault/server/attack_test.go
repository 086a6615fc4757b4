package server_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/profile/profilepb"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// This file is the protocol attack suite: crafted proofs (PROTOCOL.md
// section 2) and unauthorised consent, revocation and write attempts,
// each against a real server on loopback, each refused with the code the
// protocol names and without data.

func jwsB64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jwsB64JSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return jwsB64(b)
}

// rawSigner returns the crypto key inside k, to sign JWS by hand.
func rawSigner(t *testing.T, k *consent.PrivateKey) crypto.Signer {
	t.Helper()
	b, err := k.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	return jwk.Key.(crypto.Signer)
}

// signJWSInput signs a JWS signing input as its alg says: Ed25519, ECDSA
// P-256 (r || s, 32 bytes each), RSA PKCS #1 v1.5 or HMAC, all with
// SHA-256 where they hash.
func signJWSInput(t *testing.T, key any, input string) []byte {
	t.Helper()
	h := sha256.Sum256([]byte(input))
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(k, []byte(input))
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	case *rsa.PrivateKey:
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case []byte:
		m := hmac.New(sha256.New, k)
		m.Write([]byte(input))
		return m.Sum(nil)
	}
	t.Fatalf("signInput: key type %T", key)
	return nil
}

// craftJWS returns a compact JWS of header and claims signed by key (nil: an
// empty signature).
func craftJWS(t *testing.T, key any, header map[string]any, claims any) string {
	t.Helper()
	input := jwsB64JSON(t, header) + "." + jwsB64JSON(t, claims)
	if key == nil {
		return input + "."
	}
	return input + "." + jwsB64(signJWSInput(t, key, input))
}

// freshClaims are valid proof claims for a call of method on aud, with a
// new jti.
func freshClaims(aud, method string, iat time.Time) consent.ProofClaims {
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	return consent.ProofClaims{Aud: aud, Htm: method, Iat: iat.Unix(), Jti: jwsB64(jti[:])}
}

// kidHeader is a proof header naming the key by kid.
func kidHeader(alg, kid string) map[string]any {
	return map[string]any{"alg": alg, "typ": consent.ProofType, "kid": kid}
}

// mustProof signs a proof with the consent package, as clients do.
func mustProof(t *testing.T, k *consent.PrivateKey, aud, method string, at time.Time, embed bool) string {
	t.Helper()
	p, err := consent.NewProof(k, aud, method, at, rand.Reader, embed)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// p256N is the order of the P-256 group.
var p256N = elliptic.P256().Params().N

// malleate returns an ES256 JWS with its signature (r, s) replaced by the
// other valid signature of the same input, (r, n - s).
func malleate(t *testing.T, compact string) string {
	t.Helper()
	i := strings.LastIndexByte(compact, '.')
	sig, err := base64.RawURLEncoding.DecodeString(compact[i+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("not an ES256 signature: %v", err)
	}
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(p256N, s)
	out := make([]byte, 64)
	copy(out, sig[:32])
	s.FillBytes(out[32:])
	return compact[:i+1] + jwsB64(out)
}

// ed25519L is the order of the Ed25519 base point.
var ed25519L, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

// nonCanonicalEd25519 returns an EdDSA JWS with the S half of its
// signature replaced by S + L, which is the same scalar mod L but not its
// canonical encoding.
func nonCanonicalEd25519(t *testing.T, compact string) string {
	t.Helper()
	i := strings.LastIndexByte(compact, '.')
	sig, err := base64.RawURLEncoding.DecodeString(compact[i+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("not an Ed25519 signature: %v", err)
	}
	le := sig[32:]
	be := make([]byte, 32)
	for j := range le {
		be[31-j] = le[j]
	}
	s := new(big.Int).SetBytes(be)
	s.Add(s, ed25519L)
	if s.BitLen() > 256 {
		t.Fatal("S + L does not fit 32 bytes")
	}
	s.FillBytes(be)
	out := make([]byte, 64)
	copy(out, sig[:32])
	for j := range be {
		out[32+j] = be[31-j]
	}
	return compact[:i+1] + jwsB64(out)
}

// zeroSignature replaces a JWS's signature by n zero bytes.
func zeroSignature(compact string, n int) string {
	return compact[:strings.LastIndexByte(compact, '.')+1] + jwsB64(make([]byte, n))
}

// staticKeyResolver resolves the keys it holds, for checking proofs offline.
type staticKeyResolver map[string]consent.PublicKey

func (s staticKeyResolver) ResolveKey(_ context.Context, jkt string) (consent.PublicKey, error) {
	if k, ok := s[jkt]; ok {
		return k, nil
	}
	return consent.PublicKey{}, consent.ErrUnknownKey
}

// memReplayCache is an in-memory replay cache.
type memReplayCache struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (m *memReplayCache) Remember(_ context.Context, jkt, jti string, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	if m.seen[jkt+"/"+jti] {
		return consent.ErrReplayed
	}
	m.seen[jkt+"/"+jti] = true
	return nil
}

// attackCase is one attack: a call and the refusal it must get.
type attackCase struct {
	name string
	call func(ctx context.Context) (proto.Message, error)
	code codes.Code
	// reason is a part of the status message.
	reason string
}

// runAttacks runs the cases as subtests: each must be refused with its
// code and reason, return no response and no status details, and name no
// value of either vault.
func runAttacks(t *testing.T, ctx context.Context, cases []attackCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.call(ctx)
			if err == nil {
				t.Fatalf("accepted (response %v), want %s", resp, tc.code)
			}
			if !noResponse(resp) {
				t.Errorf("refused call returned data: %v", resp)
			}
			st := status.Convert(err)
			t.Logf("%s: %s", st.Code(), st.Message())
			if len(st.Details()) > 0 {
				t.Errorf("refusal carries details %v", st.Details())
			}
			for _, s := range []string{secretFamilyA, secretNotesA, secretGivenB, secretNotesB} {
				if strings.Contains(st.Message(), s) {
					t.Errorf("refusal names the value %q", s)
				}
			}
			wantCode(t, err, tc.code, tc.reason)
		})
	}
}

// TestAttackProofs sends crafted request proofs to a real server: every
// one is UNAUTHENTICATED with a message naming the reason, and answers no
// data.
func TestAttackProofs(t *testing.T) {
	w := newTwoVaults(t)
	v := w.v
	ctx := ctxT(t)
	a, bID := w.addrA.VaultID, w.addrB.VaultID
	ownerSvc := rawConn(t, v)
	brandSvc := vrmv1.NewBrandServiceClient(plainConn(t, v.Address.HostPort))
	method := vrmv1.OwnerService_GetStatus_FullMethodName
	statusA := &vrmv1.GetStatusRequest{VaultId: a}
	getStatus := func(proof string) func(context.Context) (proto.Message, error) {
		return func(ctx context.Context) (proto.Message, error) {
			return ownerSvc.GetStatus(withProof(ctx, proof), statusA)
		}
	}
	accessReq := &vrmv1.RequestAccessRequest{VaultId: a, BrandName: "Shop", BrandUrl: "https://shop.example.com",
		Scopes: []string{"read:name.given"}, Purposes: []string{"ServiceProvision"}, Duration: durationpb.New(time.Hour)}
	requestAccess := func(proof string) func(context.Context) (proto.Message, error) {
		return func(ctx context.Context) (proto.Message, error) {
			return brandSvc.RequestAccess(withProof(ctx, proof), accessReq)
		}
	}

	ownerKey := rawSigner(t, w.ownerKeyA)
	ownerKid := w.ownerKeyA.Thumbprint()
	now := time.Now()

	// An ES256 owner key of vault A, for the signature malleability case.
	esKey, err := consent.GenerateKey(consent.ES256, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := v.Host.NewEnrollmentCode(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Client(t, esKey).Enroll(ctx, enr.Code, "es256"); err != nil {
		t.Fatal(err)
	}

	// Proofs used once, successfully, then replayed.
	usedEd := mustProof(t, w.ownerKeyA, a, method, now, false)
	usedES := mustProof(t, esKey, a, method, now, false)
	for _, p := range []string{usedEd, usedES} {
		if _, err := ownerSvc.GetStatus(withProof(ctx, p), statusA); err != nil {
			t.Fatalf("first use of a proof: %v", err)
		}
	}
	// The malleated ES256 signature verifies (go-jose, like crypto/ecdsa,
	// accepts both s and n - s): only the replay cache can refuse it.
	malleated := malleate(t, usedES)
	pv := &consent.ProofVerifier{Now: time.Now, Replay: &memReplayCache{}}
	if _, err := pv.Verify(ctx, malleated, consent.Expect{Aud: a, Method: method, Mode: consent.KeyByID, Keys: staticKeyResolver{esKey.Thumbprint(): esKey.Public()}}); err != nil {
		t.Fatalf("the malleated signature does not verify, so the case would test nothing: %v", err)
	}

	// Foreign key material.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaJWK, err := jose.JSONWebKey{Key: rsaKey.Public(), Algorithm: "RS256"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	ownerPub, err := w.ownerKeyA.Public().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	brandPriv, err := w.brandKey.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	newBrand := vaulttest.NewKey(t)
	newBrandPriv, err := newBrand.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	ownerPriv, err := w.ownerKeyA.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	claims := func() consent.ProofClaims { return freshClaims(a, method, time.Now()) }
	withHeader := func(extra map[string]any) map[string]any {
		h := kidHeader("EdDSA", ownerKid)
		for k, v := range extra {
			if v == nil {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
		return h
	}
	valid := mustProof(t, w.ownerKeyA, a, method, time.Now(), false)

	cases := []attackCase{
		{name: "no proof", code: codes.Unauthenticated, reason: "missing",
			call: func(ctx context.Context) (proto.Message, error) { return ownerSvc.GetStatus(ctx, statusA) }},
		{name: "two proofs", code: codes.Unauthenticated, reason: "more than one vrm-proof",
			call: func(ctx context.Context) (proto.Message, error) {
				return ownerSvc.GetStatus(withProof(withProof(ctx, valid), mustProof(t, w.ownerKeyA, a, method, time.Now(), false)), statusA)
			}},
		{name: "alg none", code: codes.Unauthenticated, reason: `algorithm "none" not allowed`,
			call: getStatus(craftJWS(t, nil, kidHeader("none", ownerKid), claims()))},
		{name: "alg HS256 keyed with the owner's public key", code: codes.Unauthenticated, reason: `algorithm "HS256" not allowed`,
			call: getStatus(craftJWS(t, ownerPub, kidHeader("HS256", ownerKid), claims()))},
		{name: "alg RS256 under the owner's kid", code: codes.Unauthenticated, reason: `algorithm "RS256" not allowed`,
			call: getStatus(craftJWS(t, rsaKey, kidHeader("RS256", ownerKid), claims()))},
		{name: "alg RS256 with its jwk on first contact", code: codes.Unauthenticated, reason: `algorithm "RS256" not allowed`,
			call: requestAccess(craftJWS(t, rsaKey, map[string]any{"alg": "RS256", "typ": consent.ProofType, "jwk": json.RawMessage(rsaJWK)},
				freshClaims(a, vrmv1.BrandService_RequestAccess_FullMethodName, time.Now())))},
		{name: "alg ES256 on the owner's Ed25519 key", code: codes.Unauthenticated, reason: "algorithm does not match the key",
			call: getStatus(craftJWS(t, rawSigner(t, esKey), kidHeader("ES256", ownerKid), claims()))},
		{name: "typ of a consent record", code: codes.Unauthenticated, reason: "typ must be vrm-proof+jwt",
			call: getStatus(craftJWS(t, ownerKey, withHeader(map[string]any{"typ": consent.RecordType}), claims()))},
		{name: "crit header", code: codes.Unauthenticated, reason: "crit header not allowed",
			call: getStatus(craftJWS(t, ownerKey, withHeader(map[string]any{"crit": []string{"exp"}}), claims()))},
		{name: "jwk with the private key, call by kid", code: codes.Unauthenticated, reason: "private key material",
			call: getStatus(craftJWS(t, ownerKey, withHeader(map[string]any{"kid": nil, "jwk": json.RawMessage(ownerPriv)}), claims()))},
		{name: "jwk with the private key on first contact", code: codes.Unauthenticated, reason: "private key material",
			call: requestAccess(craftJWS(t, rawSigner(t, newBrand), map[string]any{"alg": "EdDSA", "typ": consent.ProofType, "jwk": json.RawMessage(newBrandPriv)},
				freshClaims(a, vrmv1.BrandService_RequestAccess_FullMethodName, time.Now())))},
		{name: "jwk with the private key of a known brand", code: codes.Unauthenticated, reason: "private key material",
			call: func(ctx context.Context) (proto.Message, error) {
				p := craftJWS(t, rawSigner(t, w.brandKey), map[string]any{"alg": "EdDSA", "typ": consent.ProofType, "jwk": json.RawMessage(brandPriv)},
					freshClaims(a, vrmv1.BrandService_ReadProfile_FullMethodName, time.Now()))
				return brandSvc.ReadProfile(withProof(ctx, p), &vrmv1.ReadProfileRequest{VaultId: a})
			}},
		{name: "both jwk and kid", code: codes.Unauthenticated, reason: "exactly one of jwk and kid",
			call: getStatus(craftJWS(t, ownerKey, withHeader(map[string]any{"jwk": json.RawMessage(ownerPub)}), claims()))},
		{name: "jwk where kid is required", code: codes.Unauthenticated, reason: "jwk is only allowed on first contact",
			call: getStatus(mustProof(t, w.ownerKeyA, a, method, time.Now(), true))},
		{name: "kid of vault B's owner at vault A", code: codes.Unauthenticated, reason: "unknown key",
			call: getStatus(mustProof(t, w.ownerKeyB, a, method, time.Now(), false))},
		{name: "owner of vault A calls vault B's OwnerService", code: codes.Unauthenticated, reason: "unknown key",
			call: func(ctx context.Context) (proto.Message, error) {
				return ownerSvc.GetStatus(withProof(ctx, mustProof(t, w.ownerKeyA, bID, method, time.Now(), false)), &vrmv1.GetStatusRequest{VaultId: bID})
			}},
		{name: "owner of vault A sends its vault-A proof to vault B", code: codes.Unauthenticated, reason: "unknown key",
			call: func(ctx context.Context) (proto.Message, error) {
				return ownerSvc.GetStatus(withProof(ctx, mustProof(t, w.ownerKeyA, a, method, time.Now(), false)), &vrmv1.GetStatusRequest{VaultId: bID})
			}},
		{name: "signed by another key under the owner's kid", code: codes.Unauthenticated, reason: "bad signature",
			call: getStatus(craftJWS(t, rawSigner(t, w.brandKey), kidHeader("EdDSA", ownerKid), claims()))},
		{name: "aud of vault B", code: codes.Unauthenticated, reason: "aud does not match",
			call: getStatus(mustProof(t, w.ownerKeyA, bID, method, time.Now(), false))},
		{name: "aud missing", code: codes.Unauthenticated, reason: "claims aud, htm and iat are required",
			call: getStatus(craftJWS(t, ownerKey, kidHeader("EdDSA", ownerKid), freshClaims("", method, time.Now())))},
		{name: "htm of another method", code: codes.Unauthenticated, reason: "htm does not match",
			call: getStatus(mustProof(t, w.ownerKeyA, a, vrmv1.OwnerService_GetProfile_FullMethodName, time.Now(), false))},
		{name: "htm of a brand method, on a stream", code: codes.Unauthenticated, reason: "htm does not match",
			call: func(ctx context.Context) (proto.Message, error) {
				p := mustProof(t, w.brandKey, a, vrmv1.BrandService_ReadProfile_FullMethodName, time.Now(), false)
				return firstMessage(brandSvc.WatchProfile(withProof(ctx, p), &vrmv1.WatchProfileRequest{VaultId: a}))
			}},
		{name: "iat 5 minutes old", code: codes.Unauthenticated, reason: "iat too old",
			call: getStatus(mustProof(t, w.ownerKeyA, a, method, time.Now().Add(-5*time.Minute), false))},
		{name: "iat 5 minutes ahead", code: codes.Unauthenticated, reason: "iat in the future",
			call: getStatus(mustProof(t, w.ownerKeyA, a, method, time.Now().Add(5*time.Minute), false))},
		{name: "iat in the year 292277026596", code: codes.Unauthenticated, reason: "iat must be seconds since the epoch, before the year 10000",
			call: getStatus(craftJWS(t, ownerKey, kidHeader("EdDSA", ownerKid), consent.ProofClaims{Aud: a, Htm: method, Iat: 1<<63 - 1, Jti: claims().Jti}))},
		{name: "iat negative", code: codes.Unauthenticated, reason: "iat must be seconds since the epoch, before the year 10000",
			call: getStatus(craftJWS(t, ownerKey, kidHeader("EdDSA", ownerKid), consent.ProofClaims{Aud: a, Htm: method, Iat: -1, Jti: claims().Jti}))},
		{name: "jti replayed", code: codes.Unauthenticated, reason: "jti already used",
			call: getStatus(usedEd)},
		{name: "jti of 64 bits", code: codes.Unauthenticated, reason: "jti must be 22 to 64 base64url characters",
			call: getStatus(craftJWS(t, ownerKey, kidHeader("EdDSA", ownerKid), consent.ProofClaims{Aud: a, Htm: method, Iat: time.Now().Unix(), Jti: "AAAAAAAAAAA"}))},
		{name: "ES256 signature made malleable (s' = n - s), same jti", code: codes.Unauthenticated, reason: "jti already used",
			call: getStatus(malleated)},
		{name: "Ed25519 signature with S + L, same jti", code: codes.Unauthenticated, reason: "bad signature",
			call: getStatus(nonCanonicalEd25519(t, usedEd))},
		{name: "Ed25519 signature with S + L, fresh jti", code: codes.Unauthenticated, reason: "bad signature",
			call: getStatus(nonCanonicalEd25519(t, mustProof(t, w.ownerKeyA, a, method, time.Now(), false)))},
		{name: "all-zero Ed25519 signature", code: codes.Unauthenticated, reason: "bad signature",
			call: getStatus(zeroSignature(mustProof(t, w.ownerKeyA, a, method, time.Now(), false), 64))},
		{name: "all-zero ES256 signature", code: codes.Unauthenticated, reason: "bad signature",
			call: getStatus(zeroSignature(mustProof(t, esKey, a, method, time.Now(), false), 64))},
		{name: "empty signature", code: codes.Unauthenticated, reason: "bad signature",
			call: getStatus(zeroSignature(mustProof(t, w.ownerKeyA, a, method, time.Now(), false), 0))},
		{name: "5 KiB proof", code: codes.Unauthenticated, reason: "longer than 4096 bytes",
			call: getStatus(strings.Repeat("A", 5<<10))},
		{name: "20 KiB proof", code: codes.Unauthenticated, reason: "longer than 4096 bytes",
			call: getStatus(strings.Repeat("A", 20<<10))},
		// Past the server's header bound (32 KiB, advertised in its HTTP/2
		// settings) the call is refused in the transport: the client
		// library will not send it, and the server's framer would not
		// decode it.
		{name: "5 MiB proof", code: codes.Internal, reason: "header list size",
			call: getStatus(strings.Repeat("A", 5<<20))},
		{name: "4,000 dots", code: codes.Unauthenticated, reason: "not a compact JWS",
			call: getStatus(strings.Repeat(".", 4000))},
		{name: "valid proof and 1,000 more dots", code: codes.Unauthenticated, reason: "not a compact JWS",
			call: getStatus(mustProof(t, w.ownerKeyA, a, method, time.Now(), false) + strings.Repeat(".", 1000))},
		{name: "100,000 dots", code: codes.Internal, reason: "header list size",
			call: getStatus(strings.Repeat(".", 100000))},
	}
	runAttacks(t, ctx, cases)

	// The valid proof made for "two proofs" was never accepted, nor any
	// other: the owner's own calls still work.
	if _, err := w.ownerA.Status(ctx); err != nil {
		t.Fatalf("the owner after the attacks: %v", err)
	}
}

// TestAttackReplayAfterRestart replays used proofs, and the malleated
// twin of a used ES256 proof, to the same vault after a restart: the
// replay cache is in the store, so all are refused.
func TestAttackReplayAfterRestart(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	_, edKey := v.Owner(t)
	esKey, err := consent.GenerateKey(consent.ES256, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := v.Address.VaultID
	enr, err := v.Host.NewEnrollmentCode(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Client(t, esKey).Enroll(ctx, enr.Code, "es256"); err != nil {
		t.Fatal(err)
	}
	method := vrmv1.OwnerService_GetStatus_FullMethodName
	req := &vrmv1.GetStatusRequest{VaultId: id}
	usedEd := mustProof(t, edKey, id, method, time.Now(), false)
	usedES := mustProof(t, esKey, id, method, time.Now(), false)
	svc := rawConn(t, v)
	for _, p := range []string{usedEd, usedES} {
		if _, err := svc.GetStatus(withProof(ctx, p), req); err != nil {
			t.Fatalf("first use of a proof: %v", err)
		}
	}

	v2 := v.Restart(t)
	svc2 := rawConn(t, v2)
	if _, err := svc2.GetStatus(withProof(ctx, mustProof(t, edKey, id, method, time.Now(), false)), req); err != nil {
		t.Fatalf("a fresh proof after the restart: %v", err)
	}
	runAttacks(t, ctx, []attackCase{
		{name: "Ed25519 proof replayed after a restart", code: codes.Unauthenticated, reason: "jti already used",
			call: func(ctx context.Context) (proto.Message, error) { return svc2.GetStatus(withProof(ctx, usedEd), req) }},
		{name: "ES256 proof replayed after a restart", code: codes.Unauthenticated, reason: "jti already used",
			call: func(ctx context.Context) (proto.Message, error) { return svc2.GetStatus(withProof(ctx, usedES), req) }},
		{name: "malleated ES256 proof after a restart", code: codes.Unauthenticated, reason: "jti already used",
			call: func(ctx context.Context) (proto.Message, error) {
				return svc2.GetStatus(withProof(ctx, malleate(t, usedES)), req)
			}},
	})
}

// TestAttackConcurrentReplay sends one fresh proof on many calls at once,
// for calls that record the jti before they start (GetStatus) and in
// their own transaction (ReadProfile, UpdateProfile): exactly one is
// served, every other is refused as a replay.
func TestAttackConcurrentReplay(t *testing.T) {
	w := newTwoVaults(t)
	ctx := ctxT(t)
	a := w.addrA.VaultID
	conn := plainConn(t, w.v.Address.HostPort)
	ownerSvc, brandSvc := vrmv1.NewOwnerServiceClient(conn), vrmv1.NewBrandServiceClient(conn)
	update := &vrmv1.UpdateProfileRequest{VaultId: a, Changes: []*vrmv1.FieldChange{
		{Path: "notes.n", Change: &vrmv1.FieldChange_Set{Set: profilepb.ToProto(profile.StringValue("x"))}}}}
	for _, tc := range []struct {
		method string
		key    *consent.PrivateKey
		call   func(ctx context.Context) error
	}{
		{vrmv1.OwnerService_GetStatus_FullMethodName, w.ownerKeyA, func(ctx context.Context) error {
			_, err := ownerSvc.GetStatus(ctx, &vrmv1.GetStatusRequest{VaultId: a})
			return err
		}},
		{vrmv1.BrandService_ReadProfile_FullMethodName, w.brandKey, func(ctx context.Context) error {
			_, err := brandSvc.ReadProfile(ctx, &vrmv1.ReadProfileRequest{VaultId: a})
			return err
		}},
		{vrmv1.OwnerService_UpdateProfile_FullMethodName, w.ownerKeyA, func(ctx context.Context) error {
			_, err := ownerSvc.UpdateProfile(ctx, update)
			return err
		}},
	} {
		t.Run(strings.TrimPrefix(tc.method, "/vrm.v1."), func(t *testing.T) {
			for round := 0; round < 5; round++ {
				p := mustProof(t, tc.key, a, tc.method, time.Now(), false)
				const n = 16
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range errs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[i] = tc.call(withProof(ctx, p))
					}()
				}
				wg.Wait()
				served := 0
				for _, err := range errs {
					if err == nil {
						served++
						continue
					}
					wantCode(t, err, codes.Unauthenticated, "jti already used")
				}
				if served != 1 {
					t.Fatalf("round %d: one proof served %d calls, want 1", round, served)
				}
			}
		})
	}
}

// TestAttackAuthorisation tries what valid callers may not do: a brand
// signing its own consent or revocation, revoking another vault's
// consent, writing outside the brand's namespace. Each is refused
// (PERMISSION_DENIED for a caller without the right, INVALID_ARGUMENT for
// a record the vault cannot accept, NOT_FOUND for another vault's consent
// as for any consent id the vault does not hold), and nothing changes.
func TestAttackAuthorisation(t *testing.T) {
	w := newTwoVaults(t)
	v := w.v
	ctx := ctxT(t)
	a, bID := w.addrA.VaultID, w.addrB.VaultID

	// The brand's own connection to OwnerService: valid proofs by its key.
	brandAsOwner := v.ClientAt(t, w.addrA, w.brandKey).Service()
	// A pending request of the brand, and a grant of it signed by the
	// brand itself, complete and correct but for the signer.
	pending, err := w.brandA.RequestAccess(ctx, nameEmailRequest)
	if err != nil {
		t.Fatal(err)
	}
	info, err := w.ownerA.Request(ctx, pending.GetRequestId())
	if err != nil {
		t.Fatal(err)
	}
	headA := info.GetLedgerHead()
	cid, _ := consent.NewID(rand.Reader)
	now := time.Now()
	selfGrant, err := consent.SignRecord(w.brandKey, consent.RecordClaims{
		CID: cid, RID: pending.GetRequestId(), Vault: a, Brand: w.brandKey.Thumbprint(), Sub: info.GetSubject(),
		Status: consent.StatusGranted, Scopes: []string{"read:name.*", "read:email.*"}, Purposes: []string{"ServiceProvision"},
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(24 * time.Hour).Unix(), Seq: headA.GetSeq() + 1, Prev: headA.GetHash(),
	})
	if err != nil {
		t.Fatal(err)
	}
	selfRevoke, err := consent.SignRevocation(w.brandKey, consent.RevocationClaims{CID: w.cidA, Iat: now.Unix(), Seq: headA.GetSeq() + 1, Prev: headA.GetHash()})
	if err != nil {
		t.Fatal(err)
	}
	selfKeyEntry, err := consent.SignKeyEntry(w.brandKey, consent.KeyEntryClaims{Op: consent.KeyOpAdd, Iat: now.Unix(), Seq: headA.GetSeq() + 1, Prev: headA.GetHash()})
	if err != nil {
		t.Fatal(err)
	}

	// Revocations of vault A's consent signed by the owner of B (against
	// B's head) and by the owner of A (against A's head).
	_, headB, err := w.ownerB.Ledger(ctx)
	if err != nil {
		t.Fatal(err)
	}
	revokeByB := func(cid string) string {
		r, err := consent.SignRevocation(w.ownerKeyB, consent.RevocationClaims{CID: cid, Iat: now.Unix(), Seq: headB.Seq + 1, Prev: headB.Hash})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	revokeByA, err := consent.SignRevocation(w.ownerKeyA, consent.RevocationClaims{CID: w.cidA, Iat: now.Unix(), Seq: headA.GetSeq() + 1, Prev: headA.GetHash()})
	if err != nil {
		t.Fatal(err)
	}
	randomCID, _ := consent.NewID(rand.Reader)
	_, errRandom := w.ownerB.Service().SubmitRevocation(ctx, &vrmv1.SubmitRevocationRequest{VaultId: bID, Revocation: revokeByB(randomCID)})
	wantCode(t, errRandom, codes.NotFound, "consent not found")

	// Writes: the brand holds write:brands.<jkt>.* in vault A; another
	// brand has a field in its own namespace; a third brand holds only a
	// read consent.
	ns := w.brandA.Namespace()
	other, _ := grantedBrand(t, v, w.ownerA, 0, "read:name.given")
	otherNS := other.Namespace()
	otherReq := nameEmailRequest
	otherReq.Scopes = []string{"write:" + otherNS + ".*"}
	r, err := other.RequestAccess(ctx, otherReq)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ownerA.Grant(ctx, r.GetRequestId(), owner.Grant{}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Write(ctx, profile.Field{Path: otherNS + ".tier", Value: profile.StringValue("gold")}); err != nil {
		t.Fatal(err)
	}
	readOnly, _ := grantedBrand(t, v, w.ownerA, 0, "read:name.given")
	flipped := []byte(w.brandKey.Thumbprint())
	for i, c := range flipped {
		if c >= 'a' && c <= 'z' {
			flipped[i] = c - 'a' + 'A'
			break
		}
	}
	write := func(c *brand.Client, changes ...*vrmv1.FieldChange) func(context.Context) (proto.Message, error) {
		return func(ctx context.Context) (proto.Message, error) {
			ok := &vrmv1.FieldChange{Path: ns + ".ok", Change: &vrmv1.FieldChange_Set{Set: profilepb.ToProto(profile.StringValue("1"))}}
			return c.Service().WriteContributions(ctx, &vrmv1.WriteContributionsRequest{VaultId: a, Changes: append([]*vrmv1.FieldChange{ok}, changes...)})
		}
	}
	setTo := func(path string) *vrmv1.FieldChange {
		return &vrmv1.FieldChange{Path: path, Change: &vrmv1.FieldChange_Set{Set: profilepb.ToProto(profile.StringValue("x"))}}
	}
	del := func(path string) *vrmv1.FieldChange {
		return &vrmv1.FieldChange{Path: path, Change: &vrmv1.FieldChange_Delete{Delete: true}}
	}

	headBefore, before := vaultState(t, w.ownerA)
	cases := []attackCase{
		{name: "brand submits its self-signed grant to OwnerService", code: codes.PermissionDenied, reason: "this call is for the vault's owner",
			call: func(ctx context.Context) (proto.Message, error) {
				return brandAsOwner.SubmitConsent(ctx, &vrmv1.SubmitConsentRequest{VaultId: a, Record: selfGrant})
			}},
		{name: "owner's client relays a grant signed by the brand", code: codes.InvalidArgument, reason: "not an owner key",
			call: func(ctx context.Context) (proto.Message, error) {
				return w.ownerA.Service().SubmitConsent(ctx, &vrmv1.SubmitConsentRequest{VaultId: a, Record: selfGrant})
			}},
		{name: "brand submits a self-signed revocation to OwnerService", code: codes.PermissionDenied, reason: "this call is for the vault's owner",
			call: func(ctx context.Context) (proto.Message, error) {
				return brandAsOwner.SubmitRevocation(ctx, &vrmv1.SubmitRevocationRequest{VaultId: a, Revocation: selfRevoke})
			}},
		{name: "owner's client relays a revocation signed by the brand", code: codes.InvalidArgument, reason: "not an owner key",
			call: func(ctx context.Context) (proto.Message, error) {
				return w.ownerA.Service().SubmitRevocation(ctx, &vrmv1.SubmitRevocationRequest{VaultId: a, Revocation: selfRevoke})
			}},
		{name: "brand enrols itself as owner without a code", code: codes.PermissionDenied, reason: "enrolment code invalid, used or expired",
			call: func(ctx context.Context) (proto.Message, error) {
				return brandAsOwner.Enroll(ctx, &vrmv1.EnrollRequest{VaultId: a, Code: "AAAA-BBBB", KeyEntry: selfKeyEntry})
			}},
		{name: "owner of B revokes vault A's consent in vault B", code: codes.NotFound, reason: status.Convert(errRandom).Message(),
			call: func(ctx context.Context) (proto.Message, error) {
				return w.ownerB.Service().SubmitRevocation(ctx, &vrmv1.SubmitRevocationRequest{VaultId: bID, Revocation: revokeByB(w.cidA)})
			}},
		{name: "owner of B sends its revocation of A's consent to vault A", code: codes.Unauthenticated, reason: "unknown key",
			call: func(ctx context.Context) (proto.Message, error) {
				return v.ClientAt(t, w.addrA, w.ownerKeyB).Service().SubmitRevocation(ctx, &vrmv1.SubmitRevocationRequest{VaultId: a, Revocation: revokeByB(w.cidA)})
			}},
		{name: "owner's client of A relays B's owner's revocation of A's consent", code: codes.InvalidArgument, reason: "not an owner key",
			call: func(ctx context.Context) (proto.Message, error) {
				return w.ownerA.Service().SubmitRevocation(ctx, &vrmv1.SubmitRevocationRequest{VaultId: a, Revocation: revokeByB(w.cidA)})
			}},
		{name: "owner of B submits A's owner's revocation to vault B", code: codes.InvalidArgument, reason: "not an owner key",
			call: func(ctx context.Context) (proto.Message, error) {
				return w.ownerB.Service().SubmitRevocation(ctx, &vrmv1.SubmitRevocationRequest{VaultId: bID, Revocation: revokeByA})
			}},
		{name: "write: namespace prefix without its dot", code: codes.PermissionDenied, reason: "outside the brand's namespace",
			call: write(w.brandA, setTo(ns+"x.y"))},
		{name: "write: the namespace root itself", code: codes.PermissionDenied, reason: "outside the brand's namespace",
			call: write(w.brandA, setTo(ns))},
		{name: "write: namespace of a jkt differing in case", code: codes.PermissionDenied, reason: "outside the brand's namespace",
			call: write(w.brandA, setTo("brands."+string(flipped)+".x"))},
		{name: "write: brands root", code: codes.PermissionDenied, reason: "outside the brand's namespace",
			call: write(w.brandA, setTo("brands.x"))},
		{name: "write: empty segment after the namespace", code: codes.InvalidArgument, reason: "",
			call: write(w.brandA, setTo(ns+"..name.given"))},
		{name: "write: wildcard in the namespace", code: codes.InvalidArgument, reason: "",
			call: write(w.brandA, setTo(ns+".*"))},
		{name: "write: delete another brand's field", code: codes.PermissionDenied, reason: "outside the brand's namespace",
			call: write(w.brandA, del(otherNS+".tier"))},
		{name: "write: delete an owner's field", code: codes.PermissionDenied, reason: "outside the brand's namespace",
			call: write(w.brandA, del("name.family"))},
		{name: "write: own namespace under a read-only consent", code: codes.PermissionDenied, reason: "no active consent lets this brand write",
			call: func(ctx context.Context) (proto.Message, error) {
				return readOnly.Service().WriteContributions(ctx, &vrmv1.WriteContributionsRequest{VaultId: a,
					Changes: []*vrmv1.FieldChange{setTo(readOnly.Namespace() + ".x")}})
			}},
	}
	runAttacks(t, ctx, cases)

	// Nothing changed: the profile, the ledger, the brand's pending
	// request; vault A's consent still serves the brand.
	headAfter, after := vaultState(t, w.ownerA)
	if headAfter != headBefore || after != before {
		t.Errorf("vault A changed: ledger %v -> %v, profile %s -> %s", headBefore, headAfter, before, after)
	}
	if st, err := w.ownerA.Request(ctx, pending.GetRequestId()); err != nil || st.GetRequest().GetState() != vrmv1.ConsentState_CONSENT_STATE_PENDING {
		t.Errorf("the brand's request after the attacks: %v, %v", st.GetRequest(), err)
	}
	if got, err := w.brandA.Read(ctx); err != nil || joinedPaths(got.GetFields()) != "name.given" {
		t.Errorf("the brand's read after the attacks: %v, %v", got, err)
	}
	if headBAfter, _ := vaultState(t, w.ownerB); headBAfter != headB {
		t.Errorf("vault B's ledger changed: %v -> %v", headB, headBAfter)
	}
}

// TestAttackReplayOfRefusedCall replays the proof of a call the vault
// refused after checking the proof (a malformed request, a write it does
// not permit), now with a request it would serve. Proofs do not cover the
// request, so whoever saw the refused call could otherwise send a request
// of their own under the caller's key: the jti has been seen, and the
// replay is refused (PROTOCOL.md section 2).
func TestAttackReplayOfRefusedCall(t *testing.T) {
	w := newTwoVaults(t)
	v := w.v
	ctx := ctxT(t)
	a := w.addrA.VaultID
	conn := plainConn(t, v.Address.HostPort)
	ownerSvc, brandSvc := vrmv1.NewOwnerServiceClient(conn), vrmv1.NewBrandServiceClient(conn)
	ns := w.brandA.Namespace()
	set := func(path string, val profile.Value) *vrmv1.FieldChange {
		return &vrmv1.FieldChange{Path: path, Change: &vrmv1.FieldChange_Set{Set: profilepb.ToProto(val)}}
	}
	type call func(ctx context.Context) (proto.Message, error)
	cases := []struct {
		name           string
		key            *consent.PrivateKey
		method         string
		refused, valid func(proof string) call
		refusedCode    codes.Code
	}{
		{name: "ReadProfile with a malformed selector", key: w.brandKey, method: vrmv1.BrandService_ReadProfile_FullMethodName, refusedCode: codes.InvalidArgument,
			refused: func(p string) call {
				return func(ctx context.Context) (proto.Message, error) {
					return brandSvc.ReadProfile(withProof(ctx, p), &vrmv1.ReadProfileRequest{VaultId: a, Paths: []string{"name..given"}})
				}
			},
			valid: func(p string) call {
				return func(ctx context.Context) (proto.Message, error) {
					return brandSvc.ReadProfile(withProof(ctx, p), &vrmv1.ReadProfileRequest{VaultId: a})
				}
			}},
		{name: "UpdateProfile with a change that sets nothing", key: w.ownerKeyA, method: vrmv1.OwnerService_UpdateProfile_FullMethodName, refusedCode: codes.InvalidArgument,
			refused: func(p string) call {
				return func(ctx context.Context) (proto.Message, error) {
					return ownerSvc.UpdateProfile(withProof(ctx, p), &vrmv1.UpdateProfileRequest{VaultId: a, Changes: []*vrmv1.FieldChange{{Path: "name.given"}}})
				}
			},
			valid: func(p string) call {
				return func(ctx context.Context) (proto.Message, error) {
					return ownerSvc.UpdateProfile(withProof(ctx, p), &vrmv1.UpdateProfileRequest{VaultId: a, Changes: []*vrmv1.FieldChange{set("name.given", profile.StringValue("Mallory"))}})
				}
			}},
		{name: "UpdateProfile with an invalid value", key: w.ownerKeyA, method: vrmv1.OwnerService_UpdateProfile_FullMethodName, refusedCode: codes.InvalidArgument,
			refused: func(p string) call {
				return func(ctx context.Context) (proto.Message, error) {
					return ownerSvc.UpdateProfile(withProof(ctx, p), &vrmv1.UpdateProfileRequest{VaultId: a, Changes: []*vrmv1.FieldChange{set("phone.mobile", profile.StringValue("12345"))}})
				}
			},
			valid: func(p string) call {
				return func(ctx context.Context) (proto.Message, error) {
					return ownerSvc.UpdateProfile(withProof(ctx, p), &vrmv1.UpdateProfileRequest{VaultId: a, Changes: []*vrmv1.FieldChange{set("name.given", profile.StringValue("Mallory"))}})
				}
			}},
		{name: "GetProfile with a malformed selector", key: w.ownerKeyA, method: vrmv1.OwnerService_GetProfile_FullMethodName, refusedCode: codes.InvalidArgument,
			refused: func(p string) call {
				return func(ctx context.Context) (proto.Message, error) {
					return ownerSvc.GetProfile(withProof(ctx, p), &vrmv1.GetProfileRequest{VaultId: a, Paths: []string{"name..given"}})
				}
			},
			valid: func(p string) call {
				return func(ctx context.Context) (proto.Message, error) {
					return ownerSvc.GetProfile(withProof(ctx, p), &vrmv1.GetProfileRequest{VaultId: a})
				}
			}},
		{name: "WriteContributions outside the namespace", key: w.brandKey, method: vrmv1.BrandService_WriteContributions_FullMethodName, refusedCode: codes.PermissionDenied,
			refused: func(p string) call {
				return func(ctx context.Context) (proto.Message, error) {
					return brandSvc.WriteContributions(withProof(ctx, p), &vrmv1.WriteContributionsRequest{VaultId: a, Changes: []*vrmv1.FieldChange{set("name.given", profile.StringValue("x"))}})
				}
			},
			valid: func(p string) call {
				return func(ctx context.Context) (proto.Message, error) {
					return brandSvc.WriteContributions(withProof(ctx, p), &vrmv1.WriteContributionsRequest{VaultId: a, Changes: []*vrmv1.FieldChange{set(ns+".x", profile.StringValue("x"))}})
				}
			}},
		{name: "WatchProfile with a cursor ahead", key: w.brandKey, method: vrmv1.BrandService_WatchProfile_FullMethodName, refusedCode: codes.InvalidArgument,
			refused: func(p string) call {
				return func(ctx context.Context) (proto.Message, error) {
					return firstMessage(brandSvc.WatchProfile(withProof(ctx, p), &vrmv1.WatchProfileRequest{VaultId: a, AfterCursor: 1 << 40}))
				}
			},
			valid: func(p string) call {
				return func(ctx context.Context) (proto.Message, error) {
					return firstMessage(brandSvc.WatchProfile(withProof(ctx, p), &vrmv1.WatchProfileRequest{VaultId: a}))
				}
			}},
	}
	var attacks []attackCase
	for _, tc := range cases {
		// The valid request is served with a fresh proof: the replay below
		// is refused for its jti alone.
		if _, err := tc.valid(mustProof(t, tc.key, a, tc.method, time.Now(), false))(ctx); err != nil {
			t.Fatalf("%s: the valid request with a fresh proof: %v", tc.name, err)
		}
		p := mustProof(t, tc.key, a, tc.method, time.Now(), false)
		_, err := tc.refused(p)(ctx)
		if status.Code(err) != tc.refusedCode {
			t.Fatalf("%s: the refused call answered %v, want %s", tc.name, err, tc.refusedCode)
		}
		attacks = append(attacks, attackCase{name: tc.name + ", replayed with a valid request", call: tc.valid(p),
			code: codes.Unauthenticated, reason: "jti already used"})
	}
	runAttacks(t, ctx, attacks)
}
