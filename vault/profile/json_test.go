package profile

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeJSONShapes(t *testing.T) {
	want := []Field{
		{"email.home", StringValue("ada@example.org")},
		{"intents.bike.colours", ListValue([]string{"red", "blue"})},
		{"intents.bike.max_price", IntValue(800)},
		{"name.given", StringValue("Ada")},
		{"prefs.contact.marketing.channels", ListValue([]string{"email"})},
		{"prefs.newsletter", BoolValue(false)},
	}
	shapes := map[string]string{
		"nested": `{"name": {"given": "Ada"}, "email": {"home": "ada@example.org"},
			"intents": {"bike": {"max_price": 800, "colours": ["red", "blue"]}},
			"prefs": {"contact": {"marketing": {"channels": ["email"]}}, "newsletter": false}}`,
		"flat": `{"name.given": "Ada", "email.home": "ada@example.org", "intents.bike.max_price": 800,
			"intents.bike.colours": ["red", "blue"], "prefs.contact.marketing.channels": ["email"], "prefs.newsletter": false}`,
		"mixed": `{"name": {"given": "Ada"}, "email.home": "ada@example.org", "intents.bike": {"max_price": 800, "colours": ["red", "blue"]},
			"prefs": {"contact.marketing.channels": ["email"], "newsletter": false}, "empty": {}}`,
		"export": `{"format": "vrmvault-profile/v1", "vault": "v1", "fields": {
			"name.given": {"type": "string", "value": "Ada", "version": 3, "updated": "2025-01-02T03:04:05Z"},
			"email.home": {"type": "string", "value": "ada@example.org", "version": 1},
			"intents.bike.max_price": {"type": "int", "value": 800},
			"intents.bike.colours": {"type": "list", "value": ["red", "blue"]},
			"prefs.contact.marketing.channels": {"type": "list", "value": ["email"]},
			"prefs.newsletter": {"type": "bool", "value": false},
			"brands.abc.tier": {"type": "string", "value": "gold"}}}`,
	}
	for name, in := range shapes {
		t.Run(name, func(t *testing.T) {
			got, err := DecodeJSON(strings.NewReader(in), DefaultLimits())
			if err != nil {
				t.Fatalf("DecodeJSON: %v", err)
			}
			if !fieldsEqual(got, want) {
				t.Errorf("DecodeJSON =\n%s\nwant\n%s", describe(got, nil), describe(want, nil))
			}
		})
	}
}

func fieldsEqual(a, b []Field) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Path != b[i].Path || !a[i].Value.Equal(b[i].Value) {
			return false
		}
	}
	return true
}

func TestDecodeJSONErrors(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 30) + "1" + strings.Repeat("}", 30)
	tests := []struct {
		name, in string
		want     error
		path     string
	}{
		{"empty", ``, ErrMalformed, ""},
		{"syntax", `{"a": }`, ErrMalformed, ""},
		{"truncated", `{"a": "b"`, ErrMalformed, ""},
		{"array top", `["a"]`, ErrMalformed, ""},
		{"string top", `"a"`, ErrMalformed, ""},
		{"trailing", `{"a": 1} {"b": 2}`, ErrMalformed, ""},
		{"duplicate key", `{"a": 1, "a": 2}`, ErrMalformed, ""},
		{"duplicate path", `{"a": {"b": 1}, "a.b": 2}`, ErrInvalidPath, "a.b"},
		{"fraction", `{"a": 1.5}`, ErrInvalidValue, "a"},
		{"exponent", `{"a": 1e3}`, ErrInvalidValue, "a"},
		{"too big", `{"a": 9223372036854775808}`, ErrInvalidValue, "a"},
		{"null", `{"a": null}`, ErrInvalidValue, "a"},
		{"mixed list", `{"a": ["x", 1]}`, ErrInvalidValue, "a"},
		{"nested list", `{"a": [["x"]]}`, ErrInvalidValue, "a"},
		{"bad path", `{"a b": 1}`, ErrInvalidPath, "a b"},
		{"empty key", `{"": 1}`, ErrInvalidPath, ""},
		{"wildcard", `{"a": {"*": 1}}`, ErrInvalidPath, "a.*"},
		{"too deep", deep, ErrLimit, ""},
		{"path too deep", `{"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p": {"q": 1}}`, ErrLimit, "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q"},
		{"well-known rule", `{"phone": {"mobile": "0171 555"}}`, ErrInvalidValue, "phone.mobile"},
		{"well-known kind", `{"name": {"given": 1}}`, ErrInvalidValue, "name.given"},
		{"brands in plain shape", `{"brands.x.y": 1}`, ErrInvalidPath, "brands.x.y"},
		{"value too big", `{"a": "` + strings.Repeat("v", 4097) + `"}`, ErrLimit, "a"},
		{"export version", `{"format": "vrmvault-profile/v2", "fields": {}}`, ErrMalformed, ""},
		{"export no fields", `{"format": "vrmvault-profile/v1"}`, ErrMalformed, ""},
		{"export unknown key", `{"format": "vrmvault-profile/v1", "fields": {}, "extra": 1}`, ErrMalformed, ""},
		{"export entry not object", `{"format": "vrmvault-profile/v1", "fields": {"a": 1}}`, ErrMalformed, "a"},
		{"export no type", `{"format": "vrmvault-profile/v1", "fields": {"a": {"value": 1}}}`, ErrMalformed, "a"},
		{"export bad type", `{"format": "vrmvault-profile/v1", "fields": {"a": {"type": "float", "value": 1}}}`, ErrMalformed, "a"},
		{"export type mismatch", `{"format": "vrmvault-profile/v1", "fields": {"a": {"type": "int", "value": "1"}}}`, ErrInvalidValue, "a"},
		{"export bad time", `{"format": "vrmvault-profile/v1", "fields": {"a": {"type": "timestamp", "value": "yesterday"}}}`, ErrInvalidValue, "a"},
		{"export bad version", `{"format": "vrmvault-profile/v1", "fields": {"a": {"type": "int", "value": 1, "version": -1}}}`, ErrMalformed, "a"},
		{"export bad updated", `{"format": "vrmvault-profile/v1", "fields": {"a": {"type": "int", "value": 1, "updated": 5}}}`, ErrMalformed, "a"},
		{"export unknown entry key", `{"format": "vrmvault-profile/v1", "fields": {"a": {"type": "int", "value": 1, "x": 1}}}`, ErrMalformed, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeJSON(strings.NewReader(tt.in), DefaultLimits())
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeJSON = %v, want %v", err, tt.want)
			}
			var fe *FieldError
			if tt.path != "" && (!errors.As(err, &fe) || fe.Path != tt.path) {
				t.Errorf("error %v does not name path %q", err, tt.path)
			}
			if strings.ContainsAny(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestDecodeJSONLimits(t *testing.T) {
	// A format key that is not an export's is a field like any other.
	got, err := DecodeJSON(strings.NewReader(`{"format": "A4"}`), DefaultLimits())
	if err != nil || len(got) != 1 || got[0].Path != "format" {
		t.Errorf("plain format key: %v, %v", got, err)
	}

	big := `{"a": "` + strings.Repeat("x", MaxImportBytes) + `"}`
	if _, err := DecodeJSON(strings.NewReader(big), DefaultLimits()); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "max import size") {
		t.Errorf("oversized input: %v", err)
	}

	lim := Limits{MaxFields: 2, MaxProfileBytes: 20}
	if _, err := DecodeJSON(strings.NewReader(`{"a": 1, "b": 2}`), lim); err != nil {
		t.Errorf("at MaxFields: %v", err)
	}
	if _, err := DecodeJSON(strings.NewReader(`{"a": 1, "b": 2, "c": 3}`), lim); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "(max fields)") {
		t.Errorf("over MaxFields: %v", err)
	}
	if _, err := DecodeJSON(strings.NewReader(`{"a": "0123456789abcdefghij"}`), lim); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "(max profile size)") {
		t.Errorf("over MaxProfileBytes: %v", err)
	}

	if got, err := DecodeJSON(strings.NewReader(`{}`), DefaultLimits()); err != nil || got == nil || len(got) != 0 {
		t.Errorf("empty object: %#v, %v", got, err)
	}
}

func TestJSONExportRoundTrip(t *testing.T) {
	updated := time.Date(2025, 3, 4, 5, 6, 7, 890, time.FixedZone("X", 3600))
	in := []ExportedField{
		{"name.given", StringValue("Ada <&> \"Byron\""), 3, updated},
		{"name.display", StringValue("Ada Lovelace"), 1, updated},
		{"birthdate", StringValue("1985-12-10"), 1, updated},
		{"intents.bike.max_price", IntValue(-9223372036854775808), 2, time.Time{}},
		{"intents.bike.urgent", BoolValue(true), 2, updated},
		{"intents.bike.by", TimeValue(time.Date(2025, 7, 1, 0, 0, 0, 123, time.UTC)), 2, updated},
		{"intents.bike.colours", ListValue(nil), 2, updated},
		{"notes.text", StringValue("multi\nline\ttext é"), 1, updated},
		{"brands.NzbLsXh8.tier", StringValue("gold"), 7, updated},
	}
	var buf bytes.Buffer
	if err := EncodeJSON(&buf, "vault-1", in); err != nil {
		t.Fatalf("EncodeJSON: %v", err)
	}
	out := buf.String()
	for _, want := range []string{
		"{\n  \"format\": \"vrmvault-profile/v1\",\n  \"vault\": \"vault-1\",\n  \"fields\": {\n    \"birthdate\": {\n      \"type\": \"string\",",
		`"value": "Ada <&> \"Byron\""`,
		`"updated": "2025-03-04T04:06:07.00000089Z"`,
		`"value": "2025-07-01T00:00:00.000000123Z"`,
		`"value": []`,
		`"version": 7`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("export lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, `"birthdate"`) > strings.Index(out, `"name.given"`) {
		t.Error("paths are not sorted")
	}
	if strings.Contains(out, `"intents.bike.max_price": {`) && strings.Contains(out[strings.Index(out, `"intents.bike.max_price"`):], `"updated": "0001`) {
		t.Error("zero update time written")
	}

	got, err := DecodeJSON(&buf, DefaultLimits())
	if err != nil {
		t.Fatalf("DecodeJSON(export): %v", err)
	}
	var want []Field
	for _, f := range in {
		if !IsBrandPath(f.Path) {
			want = append(want, Field{f.Path, f.Value})
		}
	}
	sortFields(want)
	if !fieldsEqual(got, want) {
		t.Errorf("round trip:\n%s\nwant\n%s", describe(got, nil), describe(want, nil))
	}

	if err := EncodeJSON(&buf, "v", []ExportedField{{Path: "a", Value: IntValue(1)}, {Path: "a", Value: IntValue(2)}}); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("duplicate path: %v", err)
	}
	if err := EncodeJSON(&buf, "v", []ExportedField{{Path: "a"}}); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("no kind: %v", err)
	}
}
