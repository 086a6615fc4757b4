package profile_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/profile/profilepb"
)

// These targets live in the external test package because they cross
// into profilepb, which imports profile: the wire form of a value is the
// other way untrusted values arrive (every SetFields and brand write).

// valueNow stands in for the clock: any now after every accepted value.
var valueNow = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// checkValueErr checks what every error of the package promises: one line,
// a *FieldError, wrapping one of the sentinels.
func checkValueErr(t *testing.T, err error) *profile.FieldError {
	t.Helper()
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Fatalf("error is not one line: %q", err)
	}
	var fe *profile.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a *FieldError", err)
	}
	if !errors.Is(err, profile.ErrInvalidPath) && !errors.Is(err, profile.ErrInvalidValue) && !errors.Is(err, profile.ErrLimit) {
		t.Fatalf("error wraps no sentinel: %v", err)
	}
	return fe
}

// FuzzParseValue types command-line text (`vrm set PATH=VALUE`, with or
// without --type) and validates the result as the vault would. Whatever
// is accepted must be shown (Text) in a form that parses back to the same
// value, so that an exported or displayed value can be entered again.
func FuzzParseValue(f *testing.F) {
	for _, s := range []struct {
		path, text string
		kind       profile.Kind
		explicit   bool
	}{
		{"name.given", "Ada", 0, false},
		{"email.home", "ada@example.org", 0, false},
		{"phone.mobile", "+441632960961", 0, false},
		{"address.home.country", "GB", 0, false},
		{"birthdate", "1990-02-29", 0, false},
		{"social.mastodon", "https://example.social/@ada", 0, false},
		{"prefs.language", "pt-BR", 0, false},
		{"prefs.contact.marketing.channels", " email, sms ,, post", 0, false},
		{"prefs.contact.marketing.frequency_cap", "2/week", 0, false},
		{"prefs.contact.marketing.quiet_hours", "22:00-07:30", 0, false},
		{"notes.count", "-9223372036854775808", profile.KindInt, true},
		{"notes.count", "+12", profile.KindInt, true},
		{"notes.flag", "YES", profile.KindBool, true},
		{"notes.when", "2024-05-01T09:30:00.123456789+02:00", profile.KindTimestamp, true},
		{"notes.when", "0000-01-01T00:00:00+01:00", profile.KindTimestamp, true},
		{"notes.when", "9999-12-31T23:59:59-01:00", profile.KindTimestamp, true},
		{"intents.trip1.when", "2025-01-01T00:00:00Z", profile.KindTimestamp, true},
		{"notes.tags", "a,b,\u00e9", profile.KindList, true},
		{"notes.text", "line one\nline\ttwo", profile.KindString, true},
		{"notes.bad", "x", profile.Kind(9), true},
		{"brands.x.y", "z", 0, false},
	} {
		f.Add(s.path, s.text, uint8(s.kind), s.explicit)
	}
	f.Fuzz(func(t *testing.T, path, text string, kind uint8, explicit bool) {
		v, err := profile.ParseValue(path, text, profile.Kind(kind), explicit)
		if err != nil {
			fe := checkValueErr(t, err)
			if fe.Path != path || !errors.Is(err, profile.ErrInvalidValue) {
				t.Fatalf("ParseValue error %v: path %q, want %q and ErrInvalidValue", err, fe.Path, path)
			}
			return
		}
		want := profile.Kind(kind)
		if !explicit {
			var ok bool
			if want, ok = profile.KindFor(path); !ok {
				want = profile.KindString
			}
		}
		if v.Kind != want || !v.Kind.Valid() {
			t.Fatalf("ParseValue(%q, %q, %d, %v) has kind %v, want %v", path, text, kind, explicit, v.Kind, want)
		}
		if v.Kind == profile.KindTimestamp && v.Time.Location() != time.UTC {
			t.Fatalf("timestamp not kept in UTC: %v", v.Time)
		}
		if v.Kind == profile.KindList {
			for _, s := range v.List {
				if s == "" || s != strings.TrimSpace(s) || strings.Contains(s, ",") {
					t.Fatalf("list item %q: empty, untrimmed or with a comma", s)
				}
			}
		}
		fld := profile.Field{Path: path, Value: v}
		if err := profile.ValidateField(fld, valueNow, profile.Limits{}); err != nil {
			checkValueErr(t, err)
			return
		}
		// Accepted: the text shown for it types back to the same value,
		// which is still valid, and survives the wire.
		again, err := profile.ParseValue(path, v.Text(), v.Kind, true)
		if err != nil || !again.Equal(v) {
			t.Fatalf("ParseValue(Text()) of %#v = %#v, %v", v, again, err)
		}
		if err := profile.ValidateField(profile.Field{Path: path, Value: again}, valueNow, profile.Limits{}); err != nil {
			t.Fatalf("re-entered value refused: %v", err)
		}
		wire, err := profilepb.FromProto(profilepb.ToProto(v))
		if err != nil || !wire.Equal(v) {
			t.Fatalf("wire round trip of %#v = %#v, %v", v, wire, err)
		}
		if profile.FieldBytes(fld) != len(path)+v.Size() {
			t.Fatalf("FieldBytes(%#v) = %d", fld, profile.FieldBytes(fld))
		}
	})
}

// FuzzValueFromWire decodes a value as the server receives it (a
// protobuf vrm.v1.Value from any client), converts it to the domain
// (profilepb.FromProto) and validates it at a path, as an owner's and as
// a brand's write. No input may panic; an accepted value must convert
// back to the same wire value.
func FuzzValueFromWire(f *testing.F) {
	for _, s := range []struct {
		path string
		v    *vrmv1.Value
	}{
		{"name.given", &vrmv1.Value{Kind: &vrmv1.Value_StringValue{StringValue: "Ada"}}},
		{"notes.n", &vrmv1.Value{Kind: &vrmv1.Value_IntValue{IntValue: -1}}},
		{"notes.b", &vrmv1.Value{Kind: &vrmv1.Value_BoolValue{BoolValue: true}}},
		{"notes.t", &vrmv1.Value{Kind: &vrmv1.Value_TimestampValue{TimestampValue: timestamppb.New(time.Unix(1_800_000_000, 5).UTC())}}},
		{"notes.t", &vrmv1.Value{Kind: &vrmv1.Value_TimestampValue{TimestampValue: &timestamppb.Timestamp{Seconds: -62135596801}}}},
		{"notes.t", &vrmv1.Value{Kind: &vrmv1.Value_TimestampValue{TimestampValue: &timestamppb.Timestamp{Seconds: 1, Nanos: 1e9}}}},
		{"prefs.contact.news.channels", &vrmv1.Value{Kind: &vrmv1.Value_ListValue{ListValue: &vrmv1.StringList{Values: []string{"email", "sms"}}}}},
		{"notes.l", &vrmv1.Value{Kind: &vrmv1.Value_ListValue{ListValue: &vrmv1.StringList{}}}},
		{"notes.none", &vrmv1.Value{}},
	} {
		b, err := proto.Marshal(s.v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s.path, b)
	}
	const jkt = "8SHhMG0UI38spo-Tr0jBb57YUWyP4gAiyB2l2sEwgoA"
	f.Fuzz(func(t *testing.T, path string, data []byte) {
		var pv vrmv1.Value
		if err := proto.Unmarshal(data, &pv); err != nil {
			return
		}
		v, err := profilepb.FromProto(&pv)
		if err != nil {
			if !errors.Is(err, profilepb.ErrNoValue) && !strings.HasPrefix(err.Error(), "invalid timestamp") {
				t.Fatalf("FromProto error %v", err)
			}
			return
		}
		if !v.Kind.Valid() {
			t.Fatalf("FromProto returned kind %v without an error", v.Kind)
		}
		back := profilepb.ToProto(v)
		if again, err := profilepb.FromProto(back); err != nil || !again.Equal(v) {
			t.Fatalf("ToProto/FromProto of %#v = %#v, %v", v, again, err)
		}
		lim := profile.DefaultLimits()
		if err := profile.ValidateField(profile.Field{Path: path, Value: v}, valueNow, lim); err != nil {
			checkValueErr(t, err)
		} else if n := v.Size(); n > lim.MaxValueBytes {
			t.Fatalf("accepted a value of %d bytes", n)
		}
		bp := "brands." + jkt + "." + path
		if err := profile.ValidateBrandField(jkt, profile.Field{Path: bp, Value: v}, lim); err != nil {
			checkValueErr(t, err)
		} else if v.Kind == profile.KindString && strings.ContainsRune(v.Str, 0) {
			t.Fatalf("brand value with NUL accepted at %q", bp)
		}
		_ = v.Text()
	})
}
