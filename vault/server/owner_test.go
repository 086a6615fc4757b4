package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// clock is a settable clock shared by the vault and its clients.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, err error, code codes.Code, msgPart string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Fatalf("error = %v, want %s", err, code)
	}
	if !strings.Contains(st.Message(), msgPart) {
		t.Fatalf("message = %q, want it to contain %q", st.Message(), msgPart)
	}
}

// rawConn is a connection that sends no proof of its own, for crafted ones.
func rawConn(t *testing.T, v *vaulttest.Vault) vrmv1.OwnerServiceClient {
	return vrmv1.NewOwnerServiceClient(publicConn(t, v))
}

func withProof(ctx context.Context, proof string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, consent.ProofMetadataKey, proof)
}

func TestEnrollmentCodeSingleUse(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	c1, _ := v.Owner(t)
	if _, err := c1.Status(ctx); err != nil {
		t.Fatalf("enrolled owner status: %v", err)
	}
	// The same code a second time, by another device: refused.
	c2 := v.Client(t, vaulttest.NewKey(t))
	_, err := c2.Enroll(ctx, v.Code, "second")
	wantCode(t, err, codes.PermissionDenied, "enrolment code invalid, used or expired")
	// That device is no owner.
	_, err = c2.Status(ctx)
	wantCode(t, err, codes.Unauthenticated, "unknown key")
}

func TestEnrollmentCodeExpires(t *testing.T) {
	clk := newClock()
	v := vaulttest.Start(t, vaulttest.Options{Now: clk.Now})
	clk.Advance(24*time.Hour + time.Second)
	c := v.Client(t, vaulttest.NewKey(t))
	_, err := c.Enroll(ctxT(t), v.Code, "late")
	wantCode(t, err, codes.PermissionDenied, "enrolment code invalid, used or expired")
}

func TestEnrollUnknownVaultLooksLikeBadCode(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	key := vaulttest.NewKey(t)
	other, err := owner.Dial(vaultconn.Config{Address: vaultconn.Address{HostPort: v.Address.HostPort, VaultID: "no-such-vault"}, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, errMissing := other.Enroll(ctx, v.Code, "x")
	_, errWrong := v.Client(t, key).Enroll(ctx, "AAAA-BBBB", "x")
	wantCode(t, errMissing, codes.PermissionDenied, "enrolment code invalid, used or expired")
	if status.Convert(errMissing).Message() != status.Convert(errWrong).Message() {
		t.Fatalf("missing vault %q and wrong code %q differ", errMissing, errWrong)
	}
}

func TestStrangerIsDenied(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	v.Owner(t)
	// A valid proof (fresh key embedded, right aud and htm), no right.
	stranger := v.Client(t, vaulttest.NewKey(t))
	_, err := stranger.Enroll(ctx, "WRONG-CODE", "intruder")
	wantCode(t, err, codes.PermissionDenied, "enrolment code")
	// A kid the vault does not know cannot be verified at all.
	_, err = stranger.GetProfile(ctx)
	wantCode(t, err, codes.Unauthenticated, "unknown key")
}

func TestProfileRoundTrip(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	c, _ := v.Owner(t)
	fields := []profile.Field{
		{Path: "name.given", Value: profile.StringValue("Ada")},
		{Path: "email.home", Value: profile.StringValue("ada@example.org")},
		{Path: "phone.mobile", Value: profile.StringValue("+447700900123")},
		{Path: "address.home.country", Value: profile.StringValue("GB")},
	}
	up, err := c.SetFields(ctx, fields)
	if err != nil {
		t.Fatal(err)
	}
	if up.GetSeq() == 0 || len(up.GetFields()) != 4 {
		t.Fatalf("update response %v", up)
	}
	got, err := c.GetProfile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.GetFields()) != 4 {
		t.Fatalf("got %d fields, want 4", len(got.GetFields()))
	}
	want := map[string]string{"name.given": "Ada", "email.home": "ada@example.org", "phone.mobile": "+447700900123", "address.home.country": "GB"}
	for _, f := range got.GetFields() {
		if want[f.GetPath()] != f.GetValue().GetStringValue() || f.GetVersion() != up.GetSeq() || f.GetUpdateTime() == nil {
			t.Errorf("field %v", f)
		}
	}
	// Subtree and exact selectors; absent paths are simply absent.
	sub, err := c.GetProfile(ctx, "address.*", "name.family")
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.GetFields()) != 1 || sub.GetFields()[0].GetPath() != "address.home.country" {
		t.Fatalf("subtree read %v", sub.GetFields())
	}
}

func TestBadFieldStoresNothing(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	c, _ := v.Owner(t)
	before, err := c.GetProfile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SetFields(ctx, []profile.Field{
		{Path: "name.given", Value: profile.StringValue("Bob")},
		{Path: "phone.mobile", Value: profile.StringValue("12345")},
	})
	wantCode(t, err, codes.InvalidArgument, "phone.mobile: ")
	if strings.Contains(status.Convert(err).Message(), "12345") {
		t.Fatalf("error message echoes the value: %v", err)
	}
	got, err := c.GetProfile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.GetFields()) != 0 || got.GetLastSeq() != before.GetLastSeq() {
		t.Fatalf("a refused batch stored %v (last seq %d)", got.GetFields(), got.GetLastSeq())
	}
}

func TestVersionConflict(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	c, _ := v.Owner(t)
	up, err := c.SetFields(ctx, []profile.Field{{Path: "name.given", Value: profile.StringValue("Ada")}})
	if err != nil {
		t.Fatal(err)
	}
	set := func(val string, ver uint64) error {
		_, err := c.Update(ctx, []*vrmv1.FieldChange{
			owner.WithExpectedVersion(owner.SetChange(profile.Field{Path: "name.given", Value: profile.StringValue(val)}), ver),
			owner.SetChange(profile.Field{Path: "name.family", Value: profile.StringValue("Lovelace")}),
		})
		return err
	}
	if err := set("Augusta", up.GetSeq()); err != nil {
		t.Fatalf("write with the right version: %v", err)
	}
	err = set("Ada", up.GetSeq()) // stale version
	wantCode(t, err, codes.Aborted, "name.given: version is")
	// Expected version 0: the field must not exist.
	_, err = c.Update(ctx, []*vrmv1.FieldChange{owner.WithExpectedVersion(owner.SetChange(profile.Field{Path: "name.display", Value: profile.StringValue("A")}), 0)})
	if err != nil {
		t.Fatalf("create-only write: %v", err)
	}
	_, err = c.Update(ctx, []*vrmv1.FieldChange{owner.WithExpectedVersion(owner.SetChange(profile.Field{Path: "name.display", Value: profile.StringValue("B")}), 0)})
	wantCode(t, err, codes.Aborted, "name.display")
}

func TestLimitsOverTheWire(t *testing.T) {
	lim := profile.DefaultLimits()
	lim.MaxFields = 5
	lim.MaxProfileBytes = 300
	v := vaulttest.Start(t, vaulttest.Options{Limits: lim})
	ctx := ctxT(t)
	c, _ := v.Owner(t)

	_, err := c.SetFields(ctx, []profile.Field{{Path: "notes.long", Value: profile.StringValue(strings.Repeat("x", lim.MaxValueBytes+1))}})
	wantCode(t, err, codes.InvalidArgument, "limit is 4096")

	many := make([]profile.Field, lim.MaxFieldsPerBatch+1)
	for i := range many {
		many[i] = profile.Field{Path: "x.f" + strings.Repeat("a", i%50) + string(rune('a'+i%26)), Value: profile.IntValue(1)}
	}
	_, err = c.SetFields(ctx, many)
	wantCode(t, err, codes.InvalidArgument, "max fields per batch")

	_, err = c.SetFields(ctx, []profile.Field{{Path: strings.Repeat("a.", 16) + "a", Value: profile.IntValue(1)}})
	wantCode(t, err, codes.InvalidArgument, "")

	six := make([]profile.Field, 6)
	for i := range six {
		six[i] = profile.Field{Path: "n.f" + string(rune('a'+i)), Value: profile.IntValue(int64(i))}
	}
	_, err = c.SetFields(ctx, six)
	wantCode(t, err, codes.ResourceExhausted, "max fields")

	_, err = c.SetFields(ctx, []profile.Field{{Path: "notes.big", Value: profile.StringValue(strings.Repeat("y", 400))}})
	wantCode(t, err, codes.ResourceExhausted, "max profile size")

	got, err := c.GetProfile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.GetFields()) != 0 {
		t.Fatalf("refused batches stored %d fields", len(got.GetFields()))
	}
}

func TestFieldShapeAndDelete(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	c, _ := v.Owner(t)
	if _, err := c.SetFields(ctx, []profile.Field{{Path: "notes.a", Value: profile.StringValue("x")}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.SetFields(ctx, []profile.Field{{Path: "notes.a.b", Value: profile.StringValue("y")}})
	wantCode(t, err, codes.FailedPrecondition, "notes.a is a field")
	_, err = c.SetFields(ctx, []profile.Field{{Path: "notes", Value: profile.StringValue("y")}})
	wantCode(t, err, codes.FailedPrecondition, "has fields below it")
	_, err = c.DeleteFields(ctx, "notes.missing")
	wantCode(t, err, codes.NotFound, "notes.missing")
	if _, err := c.DeleteFields(ctx, "notes.a"); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetFieldCount() != 0 || st.GetProfileBytes() != 0 {
		t.Fatalf("usage after delete: %d fields, %d bytes", st.GetFieldCount(), st.GetProfileBytes())
	}
}
