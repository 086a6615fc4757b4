package profile

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// describe renders decoded fields and warnings in the golden file form.
func describe(fields []Field, warnings []Warning) string {
	var b strings.Builder
	for _, f := range fields {
		fmt.Fprintf(&b, "%s = %s:%s\n", f.Path, f.Value.Kind, f.Value.Text())
	}
	for _, w := range warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

func TestDecodeVCardFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/*.vcf")
	if err != nil || len(files) < 4 {
		t.Fatalf("fixtures: %v, %d files", err, len(files))
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			fields, warnings, err := DecodeVCard(bytes.NewReader(data), DefaultLimits())
			if err != nil {
				t.Fatalf("DecodeVCard: %v", err)
			}
			if err := ValidateBatch(fields, now, Limits{MaxFieldsPerBatch: 1000}); err != nil {
				t.Errorf("decoded fields do not validate: %v", err)
			}
			got := describe(fields, warnings)
			golden := strings.TrimSuffix(file, ".vcf") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("decoded %s differs from %s:\n--- got\n%s--- want\n%s", file, golden, got, want)
			}
			for _, w := range warnings {
				if strings.ContainsAny(w.String(), "\r\n") {
					t.Errorf("warning is not one line: %q", w.String())
				}
			}

			// Round trip: what EncodeVCard writes of these fields reads back
			// as the same fields.
			var buf bytes.Buffer
			if err := EncodeVCard(&buf, fields); err != nil {
				t.Fatalf("EncodeVCard: %v", err)
			}
			again, warnings2, err := DecodeVCard(&buf, DefaultLimits())
			if err != nil {
				t.Fatalf("DecodeVCard(EncodeVCard(...)): %v", err)
			}
			if len(warnings2) != 0 {
				t.Errorf("re-decoding warned: %v", warnings2)
			}
			if a, b := describe(fields, nil), describe(again, nil); a != b {
				t.Errorf("round trip differs:\n--- first\n%s--- second\n%s", a, b)
			}
		})
	}
}

func card(lines ...string) string {
	return "BEGIN:VCARD\r\nVERSION:4.0\r\n" + strings.Join(lines, "\r\n") + "\r\nEND:VCARD\r\n"
}

func decodeCard(t *testing.T, in string) ([]Field, []Warning) {
	t.Helper()
	fields, warnings, err := DecodeVCard(strings.NewReader(in), DefaultLimits())
	if err != nil {
		t.Fatalf("DecodeVCard: %v", err)
	}
	return fields, warnings
}

func TestDecodeVCardStructure(t *testing.T) {
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", "", ErrMalformed},
		{"blank lines", "\r\n\r\n", ErrMalformed},
		{"no begin", "VERSION:4.0\r\nFN:x\r\nEND:VCARD\r\n", ErrMalformed},
		{"not a vcard", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", ErrMalformed},
		{"unterminated", "BEGIN:VCARD\r\nFN:x\r\n", ErrMalformed},
		{"two cards", card("FN:a") + card("FN:b"), ErrMalformed},
		{"nested", "BEGIN:VCARD\r\nAGENT:\r\nBEGIN:VCARD\r\nEND:VCARD\r\nEND:VCARD\r\n", ErrMalformed},
		{"after end", card("FN:a") + "NOTE:x\r\n", ErrMalformed},
		{"too big", card("NOTE:" + strings.Repeat("x", MaxImportBytes)), ErrLimit},
		{"too many properties", "BEGIN:VCARD\r\n" + strings.Repeat("NOTE:x\r\n", MaxVCardProperties+1) + "END:VCARD\r\n", ErrLimit},
		{"too many lines", "BEGIN:VCARD\r\n" + strings.Repeat("\r\n", MaxVCardLines) + "END:VCARD\r\n", ErrLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodeVCard(strings.NewReader(tt.in), DefaultLimits())
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeVCard = %v, want %v", err, tt.want)
			}
		})
	}
	// Case, LF line ends, a BOM, blank lines and a lone card are fine.
	fields, _ := decodeCard(t, "\ufeff\nbegin:vcard\nversion:3.0\n\nfn:Ada\nend:vcard\n\n")
	if len(fields) != 1 || fields[0].Path != "name.display" {
		t.Errorf("lower-case LF card: %v", fields)
	}
	// Malformed lines inside the card are skipped with a warning.
	if _, _, err := DecodeVCard(strings.NewReader("BEGIN:VCARD\r\n"+strings.Repeat("NOTE:x\r\n", MaxVCardProperties)+"END:VCARD\r\n"), DefaultLimits()); err != nil {
		t.Errorf("MaxVCardProperties properties: %v", err)
	}
	fields, warnings := decodeCard(t, card("this is no content line", "FN:Ada", "X-Bad Name:x"))
	if len(fields) != 1 || len(warnings) != 2 || warnings[0].Line != 3 {
		t.Errorf("malformed lines: %v %v", fields, warnings)
	}
}

func TestDecodeVCardLimits(t *testing.T) {
	var lines []string
	for i := 0; i < 5; i++ {
		lines = append(lines, "EMAIL:a"+string(rune('0'+i))+"@example.org")
	}
	if _, _, err := DecodeVCard(strings.NewReader(card(lines...)), Limits{MaxFields: 5}); err != nil {
		t.Errorf("at MaxFields: %v", err)
	}
	_, _, err := DecodeVCard(strings.NewReader(card(lines...)), Limits{MaxFields: 4})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "(max fields)") {
		t.Errorf("over MaxFields: %v", err)
	}
	_, _, err = DecodeVCard(strings.NewReader(card(lines...)), Limits{MaxProfileBytes: 50})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "(max profile size)") {
		t.Errorf("over MaxProfileBytes: %v", err)
	}
	// A value over MaxValueBytes is skipped with a warning naming the limit.
	fields, warnings := decodeCard(t, card("FN:Ada", "NOTE:x", "X-SOCIALPROFILE;TYPE=web:https://a.example/"+strings.Repeat("p", 2100)))
	if len(fields) != 1 || len(warnings) != 2 || !strings.Contains(warnings[1].Message, "https://") {
		t.Errorf("over-long URL: %v %v", fields, warnings)
	}
}

func TestDecodeVCardProperties(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string // describe() of the fields
		warns int
	}{
		{"N and FN escaped", []string{`N:O\,Brien\;x;Se\\n,Anna;;;`, `FN:Seán O\,Brien`},
			"name.display = string:Seán O,Brien\nname.family = string:O,Brien;x\nname.given = string:Se\\n Anna\n", 0},
		{"FN newline", []string{`FN:Ada\nLovelace`}, "name.display = string:Ada Lovelace\n", 0},
		{"second FN", []string{"FN:a", "FN:b"}, "name.display = string:a\n", 1},
		{"email labels", []string{"EMAIL:a@example.org", "EMAIL;TYPE=home:b@example.org", "EMAIL:c@example.org", "EMAIL;TYPE=home:d@example.org", "EMAIL;TYPE=pref:e@example.org"},
			"email.home = string:b@example.org\nemail.home2 = string:d@example.org\nemail.other = string:a@example.org\nemail.other2 = string:c@example.org\nemail.other3 = string:e@example.org\n", 0},
		{"email home first", []string{"EMAIL:a@example.org", "EMAIL;TYPE=work:b@example.org"},
			"email.home = string:a@example.org\nemail.work = string:b@example.org\n", 0},
		{"email mailto and bad", []string{"EMAIL:mailto:a@example.org", "EMAIL:Ada <b@example.org>"},
			"email.home = string:a@example.org\n", 1},
		{"tel forms", []string{"TEL;TYPE=cell:+1 (202) 555-0147", "TEL;VALUE=uri;TYPE=work:tel:+44.20.7946.0018", "TEL;TYPE=iphone:+33\u00a01\u00a023", "TEL;HOME;FAX:+49 30 1234"},
			"phone.fax = string:+49301234\nphone.mobile = string:+12025550147\nphone.mobile2 = string:+33123\nphone.work = string:+442079460018\n", 0},
		{"tel refused", []string{"TEL:0171 1234567", "TEL:+1 555 1234 x89", "TEL:+0123", "TEL:+1234567890123456"}, "", 4},
		{"adr country forms", []string{"ADR;TYPE=home:;;1 Main St;Springfield;;;usa", "ADR;TYPE=work:;;2 Side St;;;;Narnia", "ADR:PO 7;;;;;;de"},
			"address.home.country = string:US\naddress.home.locality = string:Springfield\naddress.home.street = string:1 Main St\naddress.other.country = string:DE\naddress.work.street = string:2 Side St\n", 2},
		{"adr empty", []string{"ADR;TYPE=home:;;;;;;"}, "", 0},
		{"adr too long street", []string{"ADR:;;" + strings.Repeat("s", 513) + ";Town;;;"}, "address.home.locality = string:Town\n", 1},
		{"bday forms", []string{"BDAY:19851210"}, "birthdate = string:1985-12-10\n", 0},
		{"bday time", []string{"BDAY:1985-12-10T00:00:00Z"}, "birthdate = string:1985-12-10\n", 0},
		{"bday basic time", []string{"BDAY:19851210T000000"}, "birthdate = string:1985-12-10\n", 0},
		{"bday no year", []string{"BDAY:--1210"}, "", 1},
		{"bday apple no year", []string{"BDAY;X-APPLE-OMIT-YEAR=1604:1604-12-10"}, "", 1},
		{"bday text", []string{"BDAY;VALUE=text:circa 1800"}, "", 1},
		{"bday invalid", []string{"BDAY:1985-02-30"}, "", 1},
		{"bday 1899", []string{"BDAY:18991231"}, "", 1},
		{"second bday", []string{"BDAY:19851210", "BDAY:19861210"}, "birthdate = string:1985-12-10\n", 1},
		{"url", []string{"URL:https://a.example/", "URL:https://b.example/", "URL:http://c.example/", "URL:www.d.example"},
			"social.web = string:https://a.example/\nsocial.web2 = string:https://b.example/\n", 2},
		{"social", []string{
			"X-SOCIALPROFILE;type=twitter:https://twitter.com/ada",
			"X-SOCIALPROFILE;type=linkedin;x-user=ada-l:x-apple:ada-l",
			"X-SOCIALPROFILE;TYPE=Mastodon:@ada@mastodon.example",
			"X-SOCIALPROFILE:https://www.github.com/ada",
			"SOCIALPROFILE;SERVICE-TYPE=Bluesky:https://bsky.app/profile/ada.example",
			"X-TWITTER:@ada2",
			"X-FACEBOOK:http://facebook.com/ada",
			"X-SOCIALPROFILE;TYPE=flickr:not a handle",
		}, "social.bluesky = string:https://bsky.app/profile/ada.example\nsocial.github = string:https://www.github.com/ada\nsocial.linkedin = string:ada-l\nsocial.twitter = string:https://twitter.com/ada\nsocial.twitter2 = string:@ada2\n", 3},
		{"ablabel", []string{"item1.EMAIL;TYPE=home:a@example.org", "item1.X-ABLabel:My Studio", "item2.TEL:+4930123", "item2.X-ABLabel:_$!<Mobile>!$_", "item3.EMAIL:b@example.org", "item3.X-ABLabel:Büro"},
			"email.home = string:b@example.org\nemail.my_studio = string:a@example.org\nphone.mobile = string:+4930123\n", 0},
		{"quoted and caret params", []string{`EMAIL;TYPE="work,pref";X-NOTE="a;b:c^'d^'":a@example.org`}, "email.work = string:a@example.org\n", 0},
		{"folded", []string{"FN:Ada Lo", " velace", "EMAIL:a@exa", "\tmple.org"}, "email.home = string:a@example.org\nname.display = string:Ada Lovelace\n", 0},
		{"quoted-printable", []string{"FN;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:J=C3=BCrgen =", "M=C3=BCller"}, "name.display = string:Jürgen Müller\n", 0},
		{"qp only when declared", []string{"X-SOCIALPROFILE;TYPE=quoted-printable:https://x.example/?a=", "FN:Ada"},
			"name.display = string:Ada\nsocial.quoted-printable = string:https://x.example/?a=\n", 0},
		{"qp bare", []string{"FN;QUOTED-PRINTABLE:A=3Dda"}, "name.display = string:A=da\n", 0},
		{"qp lenient", []string{"FN;ENCODING=QUOTED-PRINTABLE:=ZZ"}, "name.display = string:=ZZ\n", 0}, // as mime/quotedprintable, keeps a stray =
		{"latin1", []string{"FN;CHARSET=ISO-8859-1:J\xfcrgen"}, "name.display = string:Jürgen\n", 0},
		{"latin1 qp", []string{"FN;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:J=FCrgen"}, "name.display = string:Jürgen\n", 0},
		{"windows-1252", []string{"FN;CHARSET=WINDOWS-1252:\x93Ada\x94"}, "name.display = string:\u201cAda\u201d\n", 0},
		{"unknown charset", []string{"FN;CHARSET=SHIFT_JIS:x"}, "", 1},
		{"bad utf-8", []string{"FN:\xff"}, "", 1},
		{"base64", []string{"FN;ENCODING=b:QWRh"}, "", 1},
		{"ignored", []string{"PRODID:x", "REV:1", "UID:1", "KIND:individual", "X-ABUID:1", "LABEL:x"}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields, warnings := decodeCard(t, card(tt.lines...))
			if got := describe(fields, nil); got != tt.want {
				t.Errorf("fields:\n%s\nwant\n%s", got, tt.want)
			}
			if len(warnings) != tt.warns {
				t.Errorf("warnings %v, want %d", warnings, tt.warns)
			}
		})
	}
}

func TestEncodeVCard(t *testing.T) {
	long := strings.Repeat("Straße ", 30) + "1"
	fields := []Field{
		{"name.given", StringValue("Ada")},
		{"name.family", StringValue("Lovelace; Byron")},
		{"email.home", StringValue("ada@example.org")},
		{"email.shipping", StringValue("ship@example.org")},
		{"phone.mobile", StringValue("+447700900123")},
		{"phone.cell", StringValue("+447700900124")},
		{"phone.fax", StringValue("+442079460000")},
		{"address.home.street", StringValue(long)},
		{"address.home.locality", StringValue("London, City of")},
		{"address.home.country", StringValue("GB")},
		{"address.holiday.locality", StringValue("Nice")},
		{"birthdate", StringValue("1985-12-10")},
		{"social.web", StringValue("https://ada.example.org/a,b;c")},
		{"social.mastodon", StringValue("@ada")},
		{"social.github", StringValue("https://github.com/ada")},
		{"prefs.language", StringValue("en-GB")},
		{"intents.bike.budget", IntValue(800)},
		{"notes.free", StringValue("not in a card")},
	}
	var buf bytes.Buffer
	if err := EncodeVCard(&buf, fields); err != nil {
		t.Fatalf("EncodeVCard: %v", err)
	}
	out := buf.String()
	if !strings.HasPrefix(out, "BEGIN:VCARD\r\nVERSION:4.0\r\n") || !strings.HasSuffix(out, "END:VCARD\r\n") {
		t.Errorf("not a 4.0 card:\n%s", out)
	}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
		if len(l) > 75 {
			t.Errorf("line of %d octets: %q", len(l), l)
		}
		if strings.Contains(l, "\n") || strings.Contains(l, "\r") {
			t.Errorf("bare line break in %q", l)
		}
	}
	for _, want := range []string{
		"FN:Ada Lovelace\\; Byron\r\n",
		"N:Lovelace\\; Byron;Ada;;;\r\n",
		"EMAIL;TYPE=home:ada@example.org\r\n",
		"item1.EMAIL:ship@example.org\r\nitem1.X-ABLabel:shipping\r\n",
		"TEL;VALUE=uri;TYPE=cell:tel:+447700900123\r\n",
		"TEL;VALUE=uri;TYPE=fax:tel:+442079460000\r\n",
		"X-ABLabel:cell\r\n",
		"BDAY:19851210\r\n",
		"URL:https://ada.example.org/a,b;c\r\n",
		"X-SOCIALPROFILE;TYPE=mastodon;X-USER=@ada:x-apple:ada\r\n",
		"X-SOCIALPROFILE;TYPE=github:https://github.com/ada\r\n",
		"London\\, City of;;;GB\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("card lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "en-GB") || strings.Contains(out, "not in a card") || strings.Contains(out, "800") {
		t.Errorf("card holds fields that are not contact data:\n%s", out)
	}

	got, warnings, err := DecodeVCard(strings.NewReader(out), DefaultLimits())
	if err != nil || len(warnings) != 0 {
		t.Fatalf("DecodeVCard: %v %v", err, warnings)
	}
	var want []Field
	for _, f := range fields {
		if k, ok := KindFor(f.Path); ok && k == KindString && !strings.HasPrefix(f.Path, "prefs.") {
			want = append(want, f)
		}
	}
	// FN falls back to "given family", which reads back as name.display.
	want = append(want, Field{"name.display", StringValue("Ada Lovelace; Byron")})
	sortFields(want)
	if !fieldsEqual(got, want) {
		t.Errorf("round trip:\n%s\nwant\n%s", describe(got, nil), describe(want, nil))
	}

	if err := EncodeVCard(&buf, []Field{{"email.home", IntValue(1)}}); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("int email: %v", err)
	}
	if err := EncodeVCard(&buf, []Field{{"email.home", StringValue("a@b")}, {"email.home", StringValue("c@d")}}); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("duplicate: %v", err)
	}
}

func TestFold(t *testing.T) {
	for _, s := range []string{"", "short", strings.Repeat("a", 75), strings.Repeat("a", 76), strings.Repeat("é", 100), strings.Repeat("😀", 50)} {
		folded := fold(s)
		lines := unfold(folded)
		if s == "" {
			if len(lines) != 0 {
				t.Errorf("fold(%q) unfolds to %v", s, lines)
			}
			continue
		}
		if len(lines) != 1 || lines[0].text != s {
			t.Errorf("fold(%q) does not unfold to itself: %v", s, lines)
		}
		for _, l := range strings.Split(strings.TrimSuffix(folded, "\r\n"), "\r\n") {
			if len(l) > 75 || !utf8.ValidString(strings.TrimPrefix(l, " ")) {
				t.Errorf("fold(%q) wrote line %q", s, l)
			}
		}
	}
}

// Labels are numbered in linear time: a card of MaxVCardProperties
// unlabelled addresses once took quadratic time in the labeller.
func TestDecodeVCardManyLabels(t *testing.T) {
	var b strings.Builder
	b.WriteString("BEGIN:VCARD\r\n")
	for i := range MaxVCardProperties {
		fmt.Fprintf(&b, "EMAIL:a%d@example.org\r\n", i)
	}
	b.WriteString("END:VCARD\r\n")
	fields, warnings, err := DecodeVCard(strings.NewReader(b.String()), Limits{MaxFields: MaxVCardProperties})
	if err != nil || len(warnings) != 0 || len(fields) != MaxVCardProperties {
		t.Fatalf("got %d fields, %d warnings, %v", len(fields), len(warnings), err)
	}
	if fields[0].Path != "email.home" || fields[len(fields)-1].Path != "email.other9999" {
		t.Errorf("labels run from %s to %s", fields[0].Path, fields[len(fields)-1].Path)
	}
}
