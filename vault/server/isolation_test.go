package server_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/profile/profilepb"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// Services of package vrm.v1 that the isolation matrix leaves out, and
// why. Every other service's every RPC must have a case.
var isolationOutOfScope = map[protoreflect.FullName]string{
	"vrm.v1.HostService":      "host admin calls address the host (aud = host id), not a vault; see TestHostAuth and TestHostSeesNoContent",
	"vrm.v1.VaultInfoService": "public and without proof: a vault's descriptor is for anyone who has its address",
}

// vrmMethods returns the full method names ("/vrm.v1.S/M") of every RPC
// of every service in package vrm.v1, from the registered descriptors,
// except the services in isolationOutOfScope.
func vrmMethods(t *testing.T) []string {
	t.Helper()
	var out []string
	services := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("vrm.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			services++
			if _, skip := isolationOutOfScope[sd.FullName()]; skip {
				continue
			}
			for j := 0; j < sd.Methods().Len(); j++ {
				out = append(out, "/"+string(sd.FullName())+"/"+string(sd.Methods().Get(j).Name()))
			}
		}
		return true
	})
	if services < 4 || len(out) == 0 {
		t.Fatalf("found %d services and %d methods in package vrm.v1: are the descriptors registered?", services, len(out))
	}
	slices.Sort(out)
	return out
}

// isoTarget is who calls which vault: the request names vault id, the
// proofs are signed by ownerKey (OwnerService) or brandKey (BrandService).
type isoTarget struct {
	id       string
	ownerKey *consent.PrivateKey
	brandKey *consent.PrivateKey
	owner    vrmv1.OwnerServiceClient
	brand    vrmv1.BrandServiceClient
}

// isoCall makes one call of an RPC against a target and returns the
// answer: the response (the first message of a stream) or the error.
type isoCall func(ctx context.Context, tgt isoTarget) (proto.Message, error)

// isoCase is the requests one RPC is tried with. firstContact marks an
// RPC that any key may call on any vault it has the address of (a
// brand's access request): there the vault's existence is no secret, and
// the test asks instead that a caller authorised in vault A gets in vault B
// exactly what a stranger gets.
type isoCase struct {
	variants     map[string]isoCall
	firstContact bool
}

// TestIsolationEveryRPC calls every OwnerService and BrandService RPC as
// the owner and a consented brand of vault A, addressing vault B on the
// same host (with requests about A's own objects: its enrolment code,
// request, consent, records) and addressing a vault id that does not exist.
// The two answers must be identical, code and message, and equal to what a
// key never seen anywhere gets: being authorised in one vault gives nothing
// in another, and a refusal does not reveal that vault B exists.
func TestIsolationEveryRPC(t *testing.T) {
	w := newTwoVaults(t)
	v := w.v
	ctx := ctxT(t)

	// Vault A's objects that the caller tries on B: a fresh enrolment
	// code, a pending request of the brand and the owner's signed grant of
	// it, the granted consent and its revocation.
	enrA, err := v.Host.NewEnrollmentCode(ctx, w.addrA.VaultID)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := w.brandA.RequestAccess(ctx, nameEmailRequest)
	if err != nil {
		t.Fatal(err)
	}
	info, err := w.ownerA.Request(ctx, pending.GetRequestId())
	if err != nil {
		t.Fatal(err)
	}
	cid, _ := consent.NewID(rand.Reader)
	now := time.Now()
	recordA, err := consent.SignRecord(w.ownerKeyA, consent.RecordClaims{
		CID: cid, RID: pending.GetRequestId(), Vault: w.addrA.VaultID, Brand: w.brandKey.Thumbprint(),
		Sub: info.GetSubject(), Status: consent.StatusGranted, Scopes: []string{"read:name.given"},
		Purposes: []string{"ServiceProvision"}, Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(time.Hour).Unix(),
		Seq: info.GetLedgerHead().GetSeq() + 1, Prev: info.GetLedgerHead().GetHash(),
	})
	if err != nil {
		t.Fatal(err)
	}
	revocationA, err := consent.SignRevocation(w.ownerKeyA, consent.RevocationClaims{
		CID: w.cidA, Iat: now.Unix(), Seq: info.GetLedgerHead().GetSeq() + 1, Prev: info.GetLedgerHead().GetHash(),
	})
	if err != nil {
		t.Fatal(err)
	}
	headB, profileB := vaultState(t, w.ownerB)

	keyEntry := func(tgt isoTarget) string {
		e, err := consent.SignKeyEntry(tgt.ownerKey, consent.KeyEntryClaims{Op: consent.KeyOpAdd, Device: "intruder", Iat: time.Now().Unix(), Seq: 2, Prev: info.GetLedgerHead().GetHash()})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	// removeEntry is a remove entry of jkt signed by the caller's owner
	// key, extending vault B's ledger head.
	removeEntry := func(tgt isoTarget, jkt string) string {
		e, err := consent.SignKeyEntry(tgt.ownerKey, consent.KeyEntryClaims{Op: consent.KeyOpRemove, JKT: jkt, Iat: time.Now().Unix(), Seq: headB.Seq + 1, Prev: headB.Hash})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	setChange := func(path, val string) *vrmv1.FieldChange {
		return owner.SetChange(profile.Field{Path: path, Value: profile.StringValue(val)})
	}
	ns := consent.BrandNamespace(w.brandKey.Thumbprint())
	o := func(tgt isoTarget) vrmv1.OwnerServiceClient { return tgt.owner }
	b := func(tgt isoTarget) vrmv1.BrandServiceClient { return tgt.brand }

	cases := map[string]isoCase{
		vrmv1.OwnerService_Enroll_FullMethodName: {variants: map[string]isoCall{
			"vault A's enrolment code": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).Enroll(ctx, &vrmv1.EnrollRequest{VaultId: tgt.id, Code: enrA.Code, DeviceName: "intruder", KeyEntry: keyEntry(tgt)})
			},
			"device name too long": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).Enroll(ctx, &vrmv1.EnrollRequest{VaultId: tgt.id, Code: enrA.Code, DeviceName: strings.Repeat("d", 65), KeyEntry: keyEntry(tgt)})
			},
			"no code": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).Enroll(ctx, &vrmv1.EnrollRequest{VaultId: tgt.id, DeviceName: "intruder", KeyEntry: keyEntry(tgt)})
			},
		}},
		vrmv1.OwnerService_GetStatus_FullMethodName: {variants: map[string]isoCall{
			"status": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).GetStatus(ctx, &vrmv1.GetStatusRequest{VaultId: tgt.id})
			},
		}},
		vrmv1.OwnerService_GetProfile_FullMethodName: {variants: map[string]isoCall{
			"whole profile": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).GetProfile(ctx, &vrmv1.GetProfileRequest{VaultId: tgt.id})
			},
			"malformed selector": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).GetProfile(ctx, &vrmv1.GetProfileRequest{VaultId: tgt.id, Paths: []string{"name..given"}})
			},
		}},
		vrmv1.OwnerService_UpdateProfile_FullMethodName: {variants: map[string]isoCall{
			"overwrite name.given": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).UpdateProfile(ctx, &vrmv1.UpdateProfileRequest{VaultId: tgt.id, Changes: []*vrmv1.FieldChange{setChange("name.given", "Mallory")}})
			},
			"change without a value": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).UpdateProfile(ctx, &vrmv1.UpdateProfileRequest{VaultId: tgt.id, Changes: []*vrmv1.FieldChange{{Path: "name.given"}}})
			},
		}},
		vrmv1.OwnerService_ListAccessRequests_FullMethodName: {variants: map[string]isoCall{
			"all states": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).ListAccessRequests(ctx, &vrmv1.ListAccessRequestsRequest{VaultId: tgt.id})
			},
			"unknown state": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).ListAccessRequests(ctx, &vrmv1.ListAccessRequestsRequest{VaultId: tgt.id, State: 99})
			},
		}},
		vrmv1.OwnerService_GetAccessRequest_FullMethodName: {variants: map[string]isoCall{
			"vault A's request": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).GetAccessRequest(ctx, &vrmv1.GetAccessRequestRequest{VaultId: tgt.id, RequestId: pending.GetRequestId()})
			},
		}},
		vrmv1.OwnerService_SubmitConsent_FullMethodName: {variants: map[string]isoCall{
			"vault A's grant": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).SubmitConsent(ctx, &vrmv1.SubmitConsentRequest{VaultId: tgt.id, Record: recordA})
			},
			"not a JWS": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).SubmitConsent(ctx, &vrmv1.SubmitConsentRequest{VaultId: tgt.id, Record: "x"})
			},
		}},
		vrmv1.OwnerService_SubmitRevocation_FullMethodName: {variants: map[string]isoCall{
			"revocation of vault A's consent": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).SubmitRevocation(ctx, &vrmv1.SubmitRevocationRequest{VaultId: tgt.id, Revocation: revocationA})
			},
		}},
		vrmv1.OwnerService_ListConsents_FullMethodName: {variants: map[string]isoCall{
			"all states": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).ListConsents(ctx, &vrmv1.ListConsentsRequest{VaultId: tgt.id})
			},
		}},
		vrmv1.OwnerService_GetLedger_FullMethodName: {variants: map[string]isoCall{
			"from the start": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).GetLedger(ctx, &vrmv1.GetLedgerRequest{VaultId: tgt.id})
			},
		}},
		vrmv1.OwnerService_ListAuditEntries_FullMethodName: {variants: map[string]isoCall{
			"the brand's entries": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).ListAuditEntries(ctx, &vrmv1.ListAuditEntriesRequest{VaultId: tgt.id, CallerJkt: w.brandKey.Thumbprint()})
			},
			"invalid since": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).ListAuditEntries(ctx, &vrmv1.ListAuditEntriesRequest{VaultId: tgt.id, Since: &timestamppb.Timestamp{Seconds: -1 << 62}})
			},
		}},
		vrmv1.OwnerService_ExportVault_FullMethodName: {variants: map[string]isoCall{
			"export": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return firstMessage(o(tgt).ExportVault(ctx, &vrmv1.ExportVaultRequest{VaultId: tgt.id}))
			},
		}},
		vrmv1.OwnerService_DeleteVault_FullMethodName: {variants: map[string]isoCall{
			"delete, confirmed": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).DeleteVault(ctx, &vrmv1.DeleteVaultRequest{VaultId: tgt.id, ConfirmVaultId: tgt.id})
			},
		}},
		vrmv1.OwnerService_CreateEnrollmentCode_FullMethodName: {variants: map[string]isoCall{
			"new code": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).CreateEnrollmentCode(ctx, &vrmv1.CreateEnrollmentCodeRequest{VaultId: tgt.id})
			},
		}},
		vrmv1.OwnerService_RemoveOwnerKey_FullMethodName: {variants: map[string]isoCall{
			"remove vault B's owner": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).RemoveOwnerKey(ctx, &vrmv1.RemoveOwnerKeyRequest{VaultId: tgt.id, Jkt: w.ownerKeyB.Thumbprint(),
					KeyEntry: removeEntry(tgt, w.ownerKeyB.Thumbprint())})
			},
			"remove the caller's own key": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).RemoveOwnerKey(ctx, &vrmv1.RemoveOwnerKeyRequest{VaultId: tgt.id, Jkt: tgt.ownerKey.Thumbprint(),
					KeyEntry: removeEntry(tgt, tgt.ownerKey.Thumbprint())})
			},
			"no key entry": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return o(tgt).RemoveOwnerKey(ctx, &vrmv1.RemoveOwnerKeyRequest{VaultId: tgt.id, Jkt: w.ownerKeyB.Thumbprint()})
			},
		}},

		vrmv1.BrandService_RequestAccess_FullMethodName: {firstContact: true, variants: map[string]isoCall{
			"valid request": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return b(tgt).RequestAccess(ctx, &vrmv1.RequestAccessRequest{VaultId: tgt.id, BrandName: "Shop", BrandUrl: "https://shop.example.com", Scopes: []string{"read:name.given"},
					Purposes: []string{"ServiceProvision"}, Duration: durationpb.New(time.Hour), Reason: "orders"})
			},
			"invalid scope": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return b(tgt).RequestAccess(ctx, &vrmv1.RequestAccessRequest{VaultId: tgt.id, BrandName: "Shop", BrandUrl: "https://shop.example.com", Scopes: []string{"write:name.given"},
					Purposes: []string{"ServiceProvision"}, Duration: durationpb.New(time.Hour)})
			},
		}},
		vrmv1.BrandService_GetConsent_FullMethodName: {variants: map[string]isoCall{
			"vault A's request": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return b(tgt).GetConsent(ctx, &vrmv1.GetConsentRequest{VaultId: tgt.id, RequestId: w.reqA})
			},
		}},
		vrmv1.BrandService_WatchConsent_FullMethodName: {variants: map[string]isoCall{
			"vault A's request": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return firstMessage(b(tgt).WatchConsent(ctx, &vrmv1.WatchConsentRequest{VaultId: tgt.id, RequestId: w.reqA}))
			},
		}},
		vrmv1.BrandService_ReadProfile_FullMethodName: {variants: map[string]isoCall{
			"consented paths": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return b(tgt).ReadProfile(ctx, &vrmv1.ReadProfileRequest{VaultId: tgt.id})
			},
			"malformed selector": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return b(tgt).ReadProfile(ctx, &vrmv1.ReadProfileRequest{VaultId: tgt.id, Paths: []string{"name..given"}})
			},
		}},
		vrmv1.BrandService_WatchProfile_FullMethodName: {variants: map[string]isoCall{
			"from the start": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return firstMessage(b(tgt).WatchProfile(ctx, &vrmv1.WatchProfileRequest{VaultId: tgt.id}))
			},
			"cursor far ahead": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return firstMessage(b(tgt).WatchProfile(ctx, &vrmv1.WatchProfileRequest{VaultId: tgt.id, AfterCursor: 1 << 40}))
			},
		}},
		vrmv1.BrandService_WriteContributions_FullMethodName: {variants: map[string]isoCall{
			"in its namespace": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return b(tgt).WriteContributions(ctx, &vrmv1.WriteContributionsRequest{VaultId: tgt.id, Changes: []*vrmv1.FieldChange{
					{Path: ns + ".points", Change: &vrmv1.FieldChange_Set{Set: profilepb.ToProto(profile.IntValue(1))}}}})
			},
			"outside its namespace": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return b(tgt).WriteContributions(ctx, &vrmv1.WriteContributionsRequest{VaultId: tgt.id, Changes: []*vrmv1.FieldChange{setChange("name.given", "Mallory")}})
			},
		}},
		vrmv1.BrandService_AcknowledgeProfileChanges_FullMethodName: {variants: map[string]isoCall{
			"cursor 1": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return b(tgt).AcknowledgeProfileChanges(ctx, &vrmv1.AcknowledgeProfileChangesRequest{VaultId: tgt.id, Cursor: 1})
			},
			"cursor far ahead": func(ctx context.Context, tgt isoTarget) (proto.Message, error) {
				return b(tgt).AcknowledgeProfileChanges(ctx, &vrmv1.AcknowledgeProfileChangesRequest{VaultId: tgt.id, Cursor: 1 << 40})
			},
		}},
	}

	// Every RPC has a case, and every case an RPC.
	methods := vrmMethods(t)
	for _, m := range methods {
		if _, ok := cases[m]; !ok {
			t.Errorf("RPC %s has no isolation case: add one to TestIsolationEveryRPC", m)
		}
	}
	for m := range cases {
		if !slices.Contains(methods, m) {
			t.Errorf("isolation case for %s, which is no RPC of the services", m)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	target := func(addr vaultconn.Address, ownerKey, brandKey *consent.PrivateKey) isoTarget {
		return isoTarget{
			id: addr.VaultID, ownerKey: ownerKey, brandKey: brandKey,
			owner: v.ClientAt(t, addr, ownerKey).Service(), brand: v.BrandAt(t, addr, brandKey).Service(),
		}
	}
	strangerOwner, strangerBrand := vaulttest.NewKey(t), vaulttest.NewKey(t)
	callerB := target(w.addrB, w.ownerKeyA, w.brandKey)
	callerMissing := target(w.missing, w.ownerKeyA, w.brandKey)
	strangerB := target(w.addrB, strangerOwner, strangerBrand)
	strangerMissing := target(w.missing, strangerOwner, strangerBrand)

	// What the answers must never hold: vault A's ids, values of either
	// vault.
	secrets := []string{w.addrA.VaultID, w.reqA, w.cidA, pending.GetRequestId(), enrA.Code, secretFamilyA, secretNotesA, secretGivenB, secretNotesB, "Ada"}

	// First-contact RPCs last: a brand that asked vault B for access is
	// known there, which would change the answers of the others.
	order := slices.Clone(methods)
	slices.SortStableFunc(order, func(a, b string) int {
		fa, fb := cases[a].firstContact, cases[b].firstContact
		switch {
		case fa == fb:
			return 0
		case fb:
			return -1
		default:
			return 1
		}
	})
	for _, m := range order {
		c := cases[m]
		names := make([]string, 0, len(c.variants))
		for name := range c.variants {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			call := c.variants[name]
			t.Run(strings.TrimPrefix(m, "/vrm.v1.")+"/"+name, func(t *testing.T) {
				ask := func(tgt isoTarget) (proto.Message, callAnswer) {
					cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					defer cancel()
					resp, err := call(cctx, tgt)
					if err == nil {
						return resp, callAnswer{}
					}
					if !noResponse(resp) {
						t.Errorf("a refused call returned data: %v", resp)
					}
					// A message may name the caller's own key; that
					// differs between callers and tells them nothing.
					a := callAnswerOf(err)
					a.Message = strings.ReplaceAll(a.Message, tgt.brandKey.Thumbprint(), "<caller>")
					a.Message = strings.ReplaceAll(a.Message, tgt.ownerKey.Thumbprint(), "<caller>")
					return nil, a
				}
				respB, inB := ask(callerB)
				_, inMissing := ask(callerMissing)
				respStranger, strangerInB := ask(strangerB)
				_, strangerInMissing := ask(strangerMissing)
				t.Logf("vault B: %v | missing vault: %v", inB, inMissing)
				for _, a := range []callAnswer{inB, inMissing, strangerInB, strangerInMissing} {
					for _, s := range secrets {
						if strings.Contains(a.Message, s) {
							t.Errorf("answer %q holds %q", a, s)
						}
					}
				}
				if inMissing != strangerInMissing {
					t.Errorf("missing vault: caller of vault A gets %v, a stranger %v", inMissing, strangerInMissing)
				}
				if c.firstContact {
					if inB != strangerInB {
						t.Errorf("vault B: caller of vault A gets %v, a stranger %v", inB, strangerInB)
					}
					if respB != nil {
						checkFreshRequest(t, respB, respStranger, secrets)
					}
					return
				}
				if respB != nil {
					t.Fatalf("vault B answered a caller of vault A: %v", respB)
				}
				if inB != inMissing {
					t.Errorf("vault B answers %v, a missing vault %v: they must be the same", inB, inMissing)
				}
				if inB != strangerInB {
					t.Errorf("vault B: caller of vault A gets %v, a stranger %v", inB, strangerInB)
				}
			})
		}
	}

	// Vault B is as it was.
	if head, prof := vaultState(t, w.ownerB); head != headB || prof != profileB {
		t.Errorf("vault B changed: ledger head %v -> %v, profile %s -> %s", headB, head, profileB, prof)
	}
}

// checkFreshRequest checks the answer of a first-contact call that vault B
// accepted from a caller authorised in vault A: it must be a new pending
// request like the stranger's, holding nothing of vault A.
func checkFreshRequest(t *testing.T, got, stranger proto.Message, secrets []string) {
	t.Helper()
	r, ok := got.(*vrmv1.RequestAccessResponse)
	if !ok {
		t.Fatalf("first-contact callAnswer %T: add a check for it", got)
	}
	if r.GetRequest().GetState() != vrmv1.ConsentState_CONSENT_STATE_PENDING || r.GetRequest().GetConsentId() != "" {
		t.Errorf("a brand of vault A asking vault B got %v", r.GetRequest())
	}
	if stranger == nil {
		t.Errorf("vault B accepted the caller of vault A but not a stranger")
	}
	text := fmt.Sprint(r)
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("vault B's callAnswer holds %q: %s", s, text)
		}
	}
}

// vaultState returns a vault's ledger head and its profile as text.
func vaultState(t *testing.T, o *owner.Client) (consent.Head, string) {
	t.Helper()
	ctx := ctxT(t)
	_, head, err := o.Ledger(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := o.GetProfile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, f := range p.GetFields() {
		fmt.Fprintf(&sb, "%s=%v@%d;", f.GetPath(), f.GetValue(), f.GetVersion())
	}
	return head, sb.String()
}

// leakCheck walks a response message and reports anything a brand's
// consents do not cover: a Field whose path no read scope of the brand
// covers, a Value outside such a Field, a path (in a field named path or
// *paths) the brand may not read, a string holding a secret value or the
// path of a field the brand may not read, and unknown fields.
type leakCheck struct {
	readable func(path string) bool
	secrets  []string // values and paths that must never appear
	leaks    []string
}

func (c *leakCheck) walk(m protoreflect.Message, where string) {
	c.walkMessage(m, where, false)
}

func (c *leakCheck) walkMessage(m protoreflect.Message, where string, inReadableField bool) {
	switch m.Descriptor().FullName() {
	case "vrm.v1.Field":
		path := m.Get(m.Descriptor().Fields().ByName("path")).String()
		inReadableField = c.readable(path)
		if !inReadableField {
			c.leaks = append(c.leaks, fmt.Sprintf("%s: field %q", where, path))
		}
	case "vrm.v1.Value":
		if !inReadableField {
			c.leaks = append(c.leaks, where+": a value outside a consented field")
		}
	}
	if len(m.GetUnknown()) > 0 {
		c.leaks = append(c.leaks, where+": unknown fields")
	}
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		name := where + "." + string(fd.Name())
		switch {
		case fd.IsList():
			l := val.List()
			for i := 0; i < l.Len(); i++ {
				c.scalar(fd, l.Get(i), fmt.Sprintf("%s[%d]", name, i), inReadableField)
			}
		case fd.IsMap():
			val.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				c.text(fmt.Sprintf("%s key", name), k.String())
				c.scalar(fd.MapValue(), mv, fmt.Sprintf("%s[%s]", name, k.String()), inReadableField)
				return true
			})
		default:
			c.scalar(fd, val, name, inReadableField)
		}
		return true
	})
}

// scalar checks one value of a field (an element of a list, a map value).
func (c *leakCheck) scalar(fd protoreflect.FieldDescriptor, v protoreflect.Value, where string, inReadableField bool) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		c.walkMessage(v.Message(), where, inReadableField)
	case protoreflect.StringKind:
		s := v.String()
		c.text(where, s)
		if n := string(fd.Name()); (n == "path" || strings.HasSuffix(n, "paths")) && !c.readable(s) {
			c.leaks = append(c.leaks, fmt.Sprintf("%s: path %q", where, s))
		}
	case protoreflect.BytesKind:
		c.text(where, string(v.Bytes()))
	}
}

func (c *leakCheck) text(where, s string) {
	for _, secret := range c.secrets {
		if strings.Contains(s, secret) {
			c.leaks = append(c.leaks, fmt.Sprintf("%s holds %q", where, secret))
		}
	}
}

// TestIsolationBrandSeesOnlyConsentedFields gives a brand a narrow consent
// (watch:name.given, and write in its own namespace) on a profile with
// many other fields of every value kind, another brand's contributions and
// its own, calls every BrandService RPC, and walks every response message
// (every field, recursively: lists, maps, oneofs) for anything outside the
// consent. Changes outside it (sets, deletes, other brands' writes) happen
// while its watch is open.
func TestIsolationBrandSeesOnlyConsentedFields(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	o, _ := v.Owner(t)
	hidden := []profile.Field{
		{Path: "name.family", Value: profile.StringValue("Lovelace-zq7SENTINEL")},
		{Path: "email.home", Value: profile.StringValue("zq7sentinel@example.org")},
		{Path: "notes.text", Value: profile.StringValue("text-zq7SENTINEL")},
		{Path: "notes.list", Value: profile.ListValue([]string{"item-zq7SENTINEL"})},
		{Path: "notes.count", Value: profile.IntValue(7_424_242)},
		{Path: "notes.flag", Value: profile.BoolValue(true)},
		{Path: "notes.when", Value: profile.TimeValue(time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC))},
		{Path: "notes.gone", Value: profile.StringValue("gone-zq7SENTINEL")},
	}
	if _, err := o.SetFields(ctx, append([]profile.Field{{Path: "name.given", Value: profile.StringValue("Ada")}}, hidden...)); err != nil {
		t.Fatal(err)
	}
	// Another brand writes in its own namespace.
	other, _ := grantedBrand(t, v, o, 0, "read:name.*")
	otherNS := other.Namespace()
	otherReq := nameEmailRequest
	otherReq.Scopes = []string{"write:" + otherNS + ".*"}
	r, err := other.RequestAccess(ctx, otherReq)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Grant(ctx, r.GetRequestId(), owner.Grant{}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Write(ctx, profile.Field{Path: otherNS + ".tier", Value: profile.StringValue("tier-zq7SENTINEL")}); err != nil {
		t.Fatal(err)
	}

	// The brand asks for much and is granted little.
	bkey := vaulttest.NewKey(t)
	b := v.Brand(t, bkey)
	ns := b.Namespace()
	req := nameEmailRequest
	req.Scopes = []string{"watch:name.*", "read:email.*", "read:notes.*", "write:" + ns + ".*"}
	granted := []string{"watch:name.given", "write:" + ns + ".*"}
	ar, err := b.RequestAccess(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Grant(ctx, ar.GetRequestId(), owner.Grant{Only: granted}); err != nil {
		t.Fatal(err)
	}
	var scopes []consent.Scope
	for _, s := range granted {
		sc, err := consent.ParseScope(s)
		if err != nil {
			t.Fatal(err)
		}
		scopes = append(scopes, sc)
	}
	check := &leakCheck{
		readable: func(path string) bool {
			for _, s := range scopes {
				if s.Allows(consent.ActionRead, path) {
					return true
				}
			}
			return false
		},
		// The values and paths of the hidden fields (the brand's own
		// requests name email.* and notes.*, which it knows).
		secrets: []string{"zq7SENTINEL", "zq7sentinel", "7424242", "1815-12-10", "name.family", "email.home",
			"notes.text", "notes.list", "notes.count", "notes.flag", "notes.when", "notes.gone", otherNS},
	}
	// The check finds each kind of leak it looks for.
	for _, m := range []proto.Message{
		&vrmv1.ReadProfileResponse{Fields: []*vrmv1.Field{{Path: "name.family"}}},
		&vrmv1.WatchProfileResponse{DeletedPaths: []string{"name.given", "notes.gone"}},
		&vrmv1.GetConsentResponse{Consent: &vrmv1.Consent{Record: "x-zq7SENTINEL"}},
		&vrmv1.WatchConsentResponse{Request: &vrmv1.AccessRequest{Scopes: []string{"read:" + otherNS + ".*"}}},
		&vrmv1.ExportVaultResponse{Fields: []*vrmv1.Field{{Path: "name.given", Value: profilepb.ToProto(profile.StringValue("Ada"))}, {Path: "x.y", Value: profilepb.ToProto(profile.IntValue(1))}}},
	} {
		if check.walk(m.ProtoReflect(), "canary"); len(check.leaks) == 0 {
			t.Fatalf("the leak check finds nothing in %v", m)
		}
		check.leaks = nil
	}

	responses := map[string]int{}
	walk := func(method string, m proto.Message) {
		t.Helper()
		responses[method]++
		check.walk(m.ProtoReflect(), strings.TrimPrefix(method, "/vrm.v1.BrandService/"))
	}
	svc := b.Service()
	id := v.Address.VaultID

	// Open watches first, so that they see the changes below: one on every
	// consented path, one asking for everything, and one asking for the
	// hidden paths only.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watches := map[string][]string{"consented": nil, "everything": {"name.*", "email.*", "notes.*", "brands.*"}, "hidden only": {"name.family", "notes.*"}}
	streams := map[string]watchStream{}
	for name, paths := range watches {
		s, err := svc.WatchProfile(wctx, &vrmv1.WatchProfileRequest{VaultId: id, Paths: paths})
		if err != nil {
			t.Fatal(err)
		}
		first, err := recvWithin(t, s, 5*time.Second)
		if err != nil {
			t.Fatalf("watch %s: %v", name, err)
		}
		walk(vrmv1.BrandService_WatchProfile_FullMethodName, first)
		streams[name] = s
	}

	// Calls with answers.
	w1, err := b.Write(ctx, profile.Field{Path: ns + ".loyalty", Value: profile.StringValue("gold")})
	if err != nil {
		t.Fatal(err)
	}
	walk(vrmv1.BrandService_WriteContributions_FullMethodName, &vrmv1.WriteContributionsResponse{Seq: w1})
	wr, err := svc.WriteContributions(ctx, &vrmv1.WriteContributionsRequest{VaultId: id, Changes: []*vrmv1.FieldChange{
		{Path: ns + ".visits", Change: &vrmv1.FieldChange_Set{Set: profilepb.ToProto(profile.IntValue(3))}}}})
	if err != nil {
		t.Fatal(err)
	}
	walk(vrmv1.BrandService_WriteContributions_FullMethodName, wr)
	for _, paths := range [][]string{nil, {"name.*", "email.*", "notes.*", "brands.*"}, {"name.family", "email.home", "notes.text", otherNS + ".tier", ns + ".loyalty"}} {
		rp, err := svc.ReadProfile(ctx, &vrmv1.ReadProfileRequest{VaultId: id, Paths: paths})
		if err != nil {
			t.Fatal(err)
		}
		want := "name.given"
		if !slices.Contains(paths, "name.*") && paths != nil {
			want = ""
		}
		if got := joinedPaths(rp.GetFields()); got != want {
			t.Errorf("read of %v returned %q, want %q", paths, got, want)
		}
		walk(vrmv1.BrandService_ReadProfile_FullMethodName, rp)
	}
	gc, err := svc.GetConsent(ctx, &vrmv1.GetConsentRequest{VaultId: id, RequestId: ar.GetRequestId()})
	if err != nil {
		t.Fatal(err)
	}
	walk(vrmv1.BrandService_GetConsent_FullMethodName, gc)
	wc, err := firstMessage(svc.WatchConsent(wctx, &vrmv1.WatchConsentRequest{VaultId: id, RequestId: ar.GetRequestId()}))
	if err != nil {
		t.Fatal(err)
	}
	walk(vrmv1.BrandService_WatchConsent_FullMethodName, wc)
	ra, err := svc.RequestAccess(ctx, &vrmv1.RequestAccessRequest{VaultId: id, BrandName: "Shop", BrandUrl: "https://shop.example.com",
		Scopes: []string{"read:name.middle"}, Purposes: []string{"ServiceProvision"}, Duration: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	walk(vrmv1.BrandService_RequestAccess_FullMethodName, ra)

	// Changes outside the consent, then one inside it.
	set(t, o, "name.family", "Byron-zq7SENTINEL", "email.home", "zq7sentinel2@example.org", "notes.text", "text2-zq7SENTINEL")
	if _, err := o.DeleteFields(ctx, "notes.gone", otherNS+".tier"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Write(ctx, profile.Field{Path: otherNS + ".tier", Value: profile.StringValue("tier2-zq7SENTINEL")}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.DeleteFields(ctx, ns+".loyalty"); err != nil {
		t.Fatal(err)
	}
	last := set(t, o, "name.given", "Augusta", "notes.text", "text3-zq7SENTINEL")
	if _, err := o.DeleteFields(ctx, "name.given"); err != nil {
		t.Fatal(err)
	}
	lastDelete := last + 1
	for name, s := range streams {
		want := lastDelete
		if name == "hidden only" {
			want = 0 // it may never see anything
		}
		for want != 0 {
			ev, err := recvWithin(t, s, 5*time.Second)
			if err != nil {
				t.Fatalf("watch %s: %v", name, err)
			}
			walk(vrmv1.BrandService_WatchProfile_FullMethodName, ev)
			if ev.GetCursor() >= want {
				break
			}
		}
	}
	// The "hidden only" watch gets nothing: no event arrives.
	extra := make(chan *vrmv1.WatchProfileResponse, 1)
	go func() {
		ev, _ := streams["hidden only"].Recv()
		extra <- ev
	}()
	select {
	case ev := <-extra:
		if ev != nil {
			walk(vrmv1.BrandService_WatchProfile_FullMethodName, ev)
			t.Errorf("a watch of hidden paths only received %v", ev)
		}
	case <-time.After(300 * time.Millisecond):
	}
	ack, err := svc.AcknowledgeProfileChanges(ctx, &vrmv1.AcknowledgeProfileChangesRequest{VaultId: id, Cursor: last})
	if err != nil {
		t.Fatal(err)
	}
	walk(vrmv1.BrandService_AcknowledgeProfileChanges_FullMethodName, ack)

	// Every BrandService RPC answered, and every answer walked.
	sd := vrmv1.File_vrm_v1_brand_proto.Services().ByName("BrandService")
	for i := 0; i < sd.Methods().Len(); i++ {
		m := "/" + string(sd.FullName()) + "/" + string(sd.Methods().Get(i).Name())
		if responses[m] == 0 {
			t.Errorf("no response of %s walked: add it to this test", m)
		}
	}
	t.Logf("walked responses: %v", responses)
	for _, l := range check.leaks {
		t.Errorf("leak: %s", l)
	}
}

type watchStream = grpc.ServerStreamingClient[vrmv1.WatchProfileResponse]

func joinedPaths(fields []*vrmv1.Field) string { return strings.Join(paths(fields), ",") }
