package profile

import (
	"bytes"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// farFuture stands in for a clock in the fuzz checks: the decoders have
// none, so their fields must pass every rule for any now after them.
var farFuture = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

var pathRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,15}$`)

func checkErr(t *testing.T, err error) {
	t.Helper()
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Fatalf("error is not one line: %q", err)
	}
	if !errors.Is(err, ErrInvalidPath) && !errors.Is(err, ErrInvalidValue) && !errors.Is(err, ErrLimit) && !errors.Is(err, ErrMalformed) {
		t.Fatalf("error wraps no sentinel: %v", err)
	}
}

// checkFields checks what a decoder returned: sorted, no path twice, each
// field valid.
func checkFields(t *testing.T, fields []Field, lim Limits) {
	t.Helper()
	for i, f := range fields {
		if i > 0 && fields[i-1].Path >= f.Path {
			t.Fatalf("fields not sorted or path twice: %q, %q", fields[i-1].Path, f.Path)
		}
		if err := ValidateField(f, farFuture, lim); err != nil {
			t.Fatalf("decoded field fails ValidateField: %v", err)
		}
	}
	if len(fields) > lim.withDefaults().MaxFields {
		t.Fatalf("%d fields, over MaxFields", len(fields))
	}
}

func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"name.given", "a", "a.*", "a..b", strings.Repeat("a.", 16) + "a", strings.Repeat("x", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		err := ValidatePath(path, 16)
		want := len(path) <= MaxPathBytes && pathRE.MatchString(path)
		if (err == nil) != want {
			t.Fatalf("ValidatePath(%q) = %v, want valid=%v", path, err, want)
		}
		if err != nil {
			checkErr(t, err)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Path != path {
				t.Fatalf("error %v is not a *FieldError for the path", err)
			}
		}
		// Every other entry point takes the path without panicking.
		_, _ = KindFor(path)
		_ = IsBrandPath(path)
		if err := ValidateField(Field{Path: path, Value: StringValue("x")}, farFuture, Limits{}); err != nil {
			checkErr(t, err)
		}
		if _, err := ParseValue(path, "x", 0, false); err != nil {
			checkErr(t, err)
		}
	})
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"name": {"given": "Ada"}, "email.home": "ada@example.org"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := DefaultLimits()
		fields, err := DecodeJSON(bytes.NewReader(data), lim)
		if err != nil {
			checkErr(t, err)
			return
		}
		checkFields(t, fields, lim)

		// Export and import again: the same fields.
		exp := make([]ExportedField, len(fields))
		for i, f := range fields {
			exp[i] = ExportedField{Path: f.Path, Value: f.Value, Version: uint64(i), Updated: farFuture}
		}
		var buf bytes.Buffer
		if err := EncodeJSON(&buf, "v", exp); err != nil {
			t.Fatalf("EncodeJSON: %v", err)
		}
		again, err := DecodeJSON(&buf, lim)
		if err != nil {
			t.Fatalf("DecodeJSON(EncodeJSON(...)): %v", err)
		}
		if !fieldsEqual(fields, again) {
			t.Fatalf("export round trip:\n%s\n---\n%s", describe(fields, nil), describe(again, nil))
		}
	})
}

func FuzzDecodeVCard(f *testing.F) {
	f.Add([]byte("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ada\r\nEMAIL;TYPE=home:ada@example.org\r\nEND:VCARD\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := DefaultLimits()
		fields, warnings, err := DecodeVCard(bytes.NewReader(data), lim)
		if err != nil {
			checkErr(t, err)
			return
		}
		checkFields(t, fields, lim)
		for _, w := range warnings {
			if strings.ContainsAny(w.String(), "\r\n") {
				t.Fatalf("warning is not one line: %q", w)
			}
		}

		// Encode and decode again: the same fields, without warnings. FN
		// falls back to "given family", which may add name.display.
		var buf bytes.Buffer
		if err := EncodeVCard(&buf, fields); err != nil {
			t.Fatalf("EncodeVCard: %v", err)
		}
		again, warnings, err := DecodeVCard(&buf, lim)
		if err != nil || len(warnings) != 0 {
			t.Fatalf("DecodeVCard(EncodeVCard(...)) = %v, %v\n%s", err, warnings, buf.String())
		}
		if len(again) == len(fields)+1 {
			i := slices.IndexFunc(again, func(f Field) bool { return f.Path == "name.display" })
			if i >= 0 && !slices.ContainsFunc(fields, func(f Field) bool { return f.Path == "name.display" }) {
				again = slices.Delete(again, i, i+1)
			}
		}
		if !fieldsEqual(fields, again) {
			t.Fatalf("vCard round trip:\n%s\n---\n%s\n%s", describe(fields, nil), describe(again, nil), buf.String())
		}
	})
}
