package profile

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func TestKind(t *testing.T) {
	for _, k := range []Kind{KindString, KindInt, KindBool, KindTimestamp, KindList} {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", k.String(), got, err, k)
		}
	}
	want := map[Kind]string{KindString: "string", KindInt: "int", KindBool: "bool", KindTimestamp: "timestamp", KindList: "list", 0: "Kind(0)", 9: "Kind(9)"}
	for k, s := range want {
		if k.String() != s {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), k.String(), s)
		}
	}
	for _, s := range []string{"", "String", "integer", "Kind(0)", "list "} {
		if _, err := ParseKind(s); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ParseKind(%q) error = %v, want ErrInvalidValue", s, err)
		}
	}
}

func TestValue(t *testing.T) {
	ts := time.Date(2024, 5, 1, 11, 30, 0, 500, time.FixedZone("CEST", 2*3600))
	tests := []struct {
		v    Value
		size int
		text string
	}{
		{StringValue("héllo"), 6, "héllo"},
		{IntValue(-42), 8, "-42"},
		{BoolValue(true), 8, "true"},
		{BoolValue(false), 8, "false"},
		{TimeValue(ts), 8, "2024-05-01T09:30:00.0000005Z"},
		{TimeValue(time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC)), 8, "2024-05-01T09:30:00Z"},
		{ListValue([]string{"email", "sms"}), 8, "email, sms"},
		{ListValue(nil), 0, ""},
		{Value{}, 0, ""},
	}
	for _, tt := range tests {
		if got := tt.v.Size(); got != tt.size {
			t.Errorf("%#v.Size() = %d, want %d", tt.v, got, tt.size)
		}
		if got := tt.v.Text(); got != tt.text {
			t.Errorf("%#v.Text() = %q, want %q", tt.v, got, tt.text)
		}
		if !tt.v.Equal(tt.v) {
			t.Errorf("%#v is not Equal to itself", tt.v)
		}
	}
	if !TimeValue(ts).Equal(TimeValue(ts.UTC())) {
		t.Error("the same instant in two zones is not Equal")
	}
	if !ListValue(nil).Equal(ListValue([]string{})) {
		t.Error("nil list is not Equal to empty list")
	}
	if StringValue("1").Equal(IntValue(1)) || IntValue(1).Equal(IntValue(2)) || ListValue([]string{"a"}).Equal(ListValue([]string{"b"})) {
		t.Error("different values are Equal")
	}
	if !(Value{Kind: KindString, Str: "a", Int: 1}).Equal(Value{Kind: KindString, Str: "a", Int: 2}) {
		t.Error("Equal looks at members that do not belong to the kind")
	}
	items := []string{"a"}
	v := ListValue(items)
	items[0] = "b"
	if v.List[0] != "a" {
		t.Error("ListValue does not copy its argument")
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatalf("DefaultLimits().Validate() = %v", err)
	}
	d := DefaultLimits()
	if d.MaxValueBytes != 4096 || d.MaxListItems != 64 || d.MaxFieldsPerBatch != 100 || d.MaxPathDepth != 16 || d.MaxFields != 2000 || d.MaxProfileBytes != 1<<20 {
		t.Errorf("DefaultLimits() = %+v", d)
	}
	for name, mod := range map[string]func(*Limits){
		"zero value bytes":  func(l *Limits) { l.MaxValueBytes = 0 },
		"negative items":    func(l *Limits) { l.MaxListItems = -1 },
		"zero batch":        func(l *Limits) { l.MaxFieldsPerBatch = 0 },
		"zero depth":        func(l *Limits) { l.MaxPathDepth = 0 },
		"depth 17":          func(l *Limits) { l.MaxPathDepth = 17 },
		"zero fields":       func(l *Limits) { l.MaxFields = 0 },
		"zero profile size": func(l *Limits) { l.MaxProfileBytes = 0 },
	} {
		l := DefaultLimits()
		mod(&l)
		if err := l.Validate(); !errors.Is(err, ErrLimit) {
			t.Errorf("%s: Validate() = %v, want ErrLimit", name, err)
		}
	}
	if (Limits{}).withDefaults() != DefaultLimits() {
		t.Error("Limits{} does not read as DefaultLimits()")
	}
	if (Limits{MaxPathDepth: 40}).withDefaults().MaxPathDepth != 16 {
		t.Error("MaxPathDepth above 16 is not capped")
	}
}

func TestValidatePath(t *testing.T) {
	seg64 := strings.Repeat("a", 64)
	seg65 := strings.Repeat("a", 65)
	depth := func(n int) string { return strings.TrimSuffix(strings.Repeat("s.", n), ".") }
	tests := []struct {
		path     string
		maxDepth int
		want     error
	}{
		{"name.given", 16, nil},
		{"a", 16, nil},
		{"A-Z_a-z.0-9", 16, nil},
		{"x." + seg64, 16, nil},
		{"x." + seg65, 16, ErrInvalidPath},
		{depth(16), 16, nil},
		{depth(17), 16, ErrLimit},
		{depth(16), 0, nil},  // 0 reads as 16
		{depth(16), 99, nil}, // above 16 reads as 16
		{depth(17), 99, ErrLimit},
		{depth(4), 3, ErrLimit},
		{depth(3), 3, nil},
		{"", 16, ErrInvalidPath},
		{".a", 16, ErrInvalidPath},
		{"a.", 16, ErrInvalidPath},
		{"a..b", 16, ErrInvalidPath},
		{".", 16, ErrInvalidPath},
		{"a.*", 16, ErrInvalidPath},
		{"*", 16, ErrInvalidPath},
		{"a.b*", 16, ErrInvalidPath},
		{"a b", 16, ErrInvalidPath},
		{"a/b", 16, ErrInvalidPath},
		{"a:b", 16, ErrInvalidPath},
		{"émail.home", 16, ErrInvalidPath},
		{"a\nb", 16, ErrInvalidPath},
		{"a\x00b", 16, ErrInvalidPath},
		{strings.Repeat(seg64+".", 15) + seg64, 16, ErrLimit}, // 1039 bytes > MaxPathBytes
	}
	for _, tt := range tests {
		err := ValidatePath(tt.path, tt.maxDepth)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("ValidatePath(%q, %d) = %v, want %v", truncate(tt.path, 40), tt.maxDepth, err, tt.want)
		}
		var fe *FieldError
		if err != nil && (!errors.As(err, &fe) || strings.ContainsAny(err.Error(), "\r\n")) {
			t.Errorf("ValidatePath(%q) error %q is not a one-line *FieldError", truncate(tt.path, 40), err)
		}
	}
	// The longest path of 64-byte segments that fits MaxPathBytes.
	long := strings.Repeat(seg64+".", 15) + strings.Repeat("b", MaxPathBytes-15*65)
	if len(long) != MaxPathBytes {
		t.Fatalf("test path is %d bytes", len(long))
	}
	if err := ValidatePath(long, 16); err != nil {
		t.Errorf("path of MaxPathBytes: %v", err)
	}
	if err := ValidatePath(long+"b", 16); !errors.Is(err, ErrLimit) {
		t.Errorf("path of MaxPathBytes+1: %v, want ErrLimit", err)
	}
}

func TestWellKnownRules(t *testing.T) {
	s := StringValue
	l := func(items ...string) Value { return ListValue(items) }
	tests := []struct {
		name string
		path string
		v    Value
		want error
	}{
		// name.*
		{"given", "name.given", s("Ada"), nil},
		{"family unicode", "name.family", s("Müller-Łukasiewicz"), nil},
		{"display 256", "name.display", s(strings.Repeat("é", 256)), nil},
		{"display 257", "name.display", s(strings.Repeat("é", 257)), ErrInvalidValue},
		{"given empty", "name.given", s(""), ErrInvalidValue},
		{"given blank", "name.given", s("   "), ErrInvalidValue},
		{"given newline", "name.given", s("Ada\nLovelace"), ErrInvalidValue},
		{"given tab", "name.given", s("Ada\tL"), ErrInvalidValue},
		{"given int", "name.given", IntValue(1), ErrInvalidValue},
		{"name middle", "name.middle", s("x"), ErrInvalidPath},
		{"name alone", "name", s("x"), ErrInvalidPath},
		{"name deep", "name.given.x", s("x"), ErrInvalidPath},
		{"name case", "Name.given", s("x"), ErrInvalidPath},

		// email.<label>
		{"email", "email.home", s("ada@example.org"), nil},
		{"email plus", "email.work", s("ada+news@mail.example.co.uk"), nil},
		{"email idn", "email.x", s("ada@bücher.example"), nil},
		{"email display name", "email.home", s("Ada <ada@example.org>"), ErrInvalidValue},
		{"email angle", "email.home", s("<ada@example.org>"), ErrInvalidValue},
		{"email no at", "email.home", s("ada.example.org"), ErrInvalidValue},
		{"email spaces", "email.home", s(" ada@example.org"), ErrInvalidValue},
		{"email comment", "email.home", s("ada@example.org (Ada)"), ErrInvalidValue},
		{"email two", "email.home", s("a@example.org, b@example.org"), ErrInvalidValue},
		{"email 254", "email.home", s(strings.Repeat("a", 64) + "@" + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 59) + ".example"), nil},
		{"email 255", "email.home", s(strings.Repeat("a", 64) + "@" + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 60) + ".example"), ErrInvalidValue},
		{"email empty", "email.home", s(""), ErrInvalidValue},
		{"email list", "email.home", l("ada@example.org"), ErrInvalidValue},
		{"email alone", "email", s("ada@example.org"), ErrInvalidPath},
		{"email deep", "email.home.x", s("ada@example.org"), ErrInvalidPath},

		// phone.<label>
		{"phone", "phone.mobile", s("+447700900123"), nil},
		{"phone short", "phone.x", s("+12"), nil},
		{"phone 15 digits", "phone.x", s("+123456789012345"), nil},
		{"phone 16 digits", "phone.x", s("+1234567890123456"), ErrInvalidValue},
		{"phone one digit", "phone.x", s("+1"), ErrInvalidValue},
		{"phone no plus", "phone.x", s("447700900123"), ErrInvalidValue},
		{"phone leading zero", "phone.x", s("+0447700900123"), ErrInvalidValue},
		{"phone spaces", "phone.x", s("+44 7700 900123"), ErrInvalidValue},
		{"phone deep", "phone.x.y", s("+447700900123"), ErrInvalidPath},

		// address.<label>.*
		{"street", "address.home.street", s("12 St James's Square, Flat 2"), nil},
		{"street 512", "address.home.street", s(strings.Repeat("ß", 512)), nil},
		{"street 513", "address.home.street", s(strings.Repeat("ß", 513)), ErrInvalidValue},
		{"street newline", "address.home.street", s("a\nb"), ErrInvalidValue},
		{"locality", "address.home.locality", s("London"), nil},
		{"region 128", "address.home.region", s(strings.Repeat("r", 128)), nil},
		{"region 129", "address.home.region", s(strings.Repeat("r", 129)), ErrInvalidValue},
		{"postal code", "address.work.postal_code", s("SW1Y 4JH"), nil},
		{"postal code empty", "address.work.postal_code", s(""), ErrInvalidValue},
		{"country", "address.home.country", s("GB"), nil},
		{"country XK", "address.home.country", s("XK"), ErrInvalidValue},
		{"country UK", "address.home.country", s("UK"), ErrInvalidValue},
		{"country lower", "address.home.country", s("gb"), ErrInvalidValue},
		{"country name", "address.home.country", s("Germany"), ErrInvalidValue},
		{"country alpha-3", "address.home.country", s("DEU"), ErrInvalidValue},
		{"address unknown part", "address.home.city", s("x"), ErrInvalidPath},
		{"address no label", "address.street", s("x"), ErrInvalidPath},
		{"address deep", "address.home.street.x", s("x"), ErrInvalidPath},

		// birthdate
		{"birthdate", "birthdate", s("1985-12-10"), nil},
		{"birthdate today", "birthdate", s("2025-06-01"), nil},
		{"birthdate tomorrow", "birthdate", s("2025-06-02"), ErrInvalidValue},
		{"birthdate 1900", "birthdate", s("1900-01-01"), nil},
		{"birthdate 1899", "birthdate", s("1899-12-31"), ErrInvalidValue},
		{"birthdate leap", "birthdate", s("2000-02-29"), nil},
		{"birthdate not leap", "birthdate", s("2023-02-29"), ErrInvalidValue},
		{"birthdate month 13", "birthdate", s("2000-13-01"), ErrInvalidValue},
		{"birthdate basic", "birthdate", s("19851210"), ErrInvalidValue},
		{"birthdate time", "birthdate", s("1985-12-10T00:00:00Z"), ErrInvalidValue},
		{"birthdate timestamp kind", "birthdate", TimeValue(time.Date(1985, 12, 10, 0, 0, 0, 0, time.UTC)), ErrInvalidValue},
		{"birthdate signs", "birthdate", s("1985-+1-10"), ErrInvalidValue},
		{"birthdate deep", "birthdate.year", s("1985"), ErrInvalidPath},

		// social.<network>
		{"social handle", "social.mastodon", s("@ada"), nil},
		{"social handle bare", "social.github", s("ada.lovelace_1-x"), nil},
		{"social handle 64", "social.x", s("@" + strings.Repeat("h", 64)), nil},
		{"social handle 65", "social.x", s("@" + strings.Repeat("h", 65)), ErrInvalidValue},
		{"social handle space", "social.x", s("ada lovelace"), ErrInvalidValue},
		{"social double at", "social.x", s("@@ada"), ErrInvalidValue},
		{"social url", "social.web", s("https://ada.example.org/about?x=1#top"), nil},
		{"social url port", "social.web", s("https://ada.example.org:8443/"), nil},
		{"social http", "social.web", s("http://ada.example.org"), ErrInvalidValue},
		{"social no host", "social.web", s("https:///path"), ErrInvalidValue},
		{"social userinfo", "social.web", s("https://user:pw@ada.example.org/"), ErrInvalidValue},
		{"social javascript", "social.web", s("javascript:alert(1)"), ErrInvalidValue},
		{"social space in url", "social.web", s("https://ada.example.org/a b"), ErrInvalidValue},
		{"social url 2048", "social.web", s("https://a.example/" + strings.Repeat("p", 2048-18)), nil},
		{"social url 2049", "social.web", s("https://a.example/" + strings.Repeat("p", 2049-18)), ErrInvalidValue},
		{"social deep", "social.web.x", s("@ada"), ErrInvalidPath},

		// prefs.contact.<kind>.*
		{"channels", "prefs.contact.marketing.channels", l("email", "push"), nil},
		{"channels none", "prefs.contact.marketing.channels", l("none"), nil},
		{"channels all", "prefs.contact.service.channels", l("email", "sms", "post", "phone", "push"), nil},
		{"channels none and more", "prefs.contact.marketing.channels", l("none", "email"), ErrInvalidValue},
		{"channels duplicate", "prefs.contact.marketing.channels", l("email", "email"), ErrInvalidValue},
		{"channels unknown", "prefs.contact.marketing.channels", l("fax"), ErrInvalidValue},
		{"channels case", "prefs.contact.marketing.channels", l("Email"), ErrInvalidValue},
		{"channels empty", "prefs.contact.marketing.channels", l(), ErrInvalidValue},
		{"channels string", "prefs.contact.marketing.channels", s("email"), ErrInvalidValue},
		{"cap", "prefs.contact.marketing.frequency_cap", s("2/week"), nil},
		{"cap zero", "prefs.contact.marketing.frequency_cap", s("0/day"), nil},
		{"cap 1000", "prefs.contact.default.frequency_cap", s("1000/month"), nil},
		{"cap 1001", "prefs.contact.default.frequency_cap", s("1001/month"), ErrInvalidValue},
		{"cap negative", "prefs.contact.default.frequency_cap", s("-1/day"), ErrInvalidValue},
		{"cap leading zero", "prefs.contact.default.frequency_cap", s("07/day"), ErrInvalidValue},
		{"cap year", "prefs.contact.default.frequency_cap", s("2/year"), ErrInvalidValue},
		{"cap no number", "prefs.contact.default.frequency_cap", s("/day"), ErrInvalidValue},
		{"cap int", "prefs.contact.default.frequency_cap", IntValue(2), ErrInvalidValue},
		{"quiet", "prefs.contact.marketing.quiet_hours", s("21:00-08:00"), nil},
		{"quiet same day", "prefs.contact.marketing.quiet_hours", s("12:00-13:30"), nil},
		{"quiet 23:59", "prefs.contact.marketing.quiet_hours", s("00:00-23:59"), nil},
		{"quiet equal", "prefs.contact.marketing.quiet_hours", s("08:00-08:00"), ErrInvalidValue},
		{"quiet 24", "prefs.contact.marketing.quiet_hours", s("22:00-24:00"), ErrInvalidValue},
		{"quiet 60", "prefs.contact.marketing.quiet_hours", s("22:60-07:00"), ErrInvalidValue},
		{"quiet short", "prefs.contact.marketing.quiet_hours", s("9:00-17:00"), ErrInvalidValue},
		{"quiet spaces", "prefs.contact.marketing.quiet_hours", s("21:00 - 08:00"), ErrInvalidValue},
		{"contact unknown leaf", "prefs.contact.marketing.volume", s("x"), ErrInvalidPath},
		{"contact no kind", "prefs.contact.channels", l("email"), ErrInvalidPath},
		{"contact alone", "prefs.contact", s("x"), ErrInvalidPath},
		{"contact case", "prefs.Contact.marketing.channels", l("email"), ErrInvalidPath},

		// prefs.language and other prefs
		{"language", "prefs.language", s("en"), nil},
		{"language region", "prefs.language", s("pt-BR"), nil},
		{"language script", "prefs.language", s("zh-Hant-TW"), nil},
		{"language lower region", "prefs.language", s("en-gb"), nil},
		{"language und", "prefs.language", s("und"), ErrInvalidValue},
		{"language underscore", "prefs.language", s("en_US"), ErrInvalidValue},
		{"language garbage", "prefs.language", s("english"), ErrInvalidValue},
		{"language empty", "prefs.language", s(""), ErrInvalidValue},
		{"language deep", "prefs.language.x", s("en"), ErrInvalidPath},
		{"prefs free", "prefs.theme", s("dark"), nil},
		{"prefs alone", "prefs", s("x"), ErrInvalidPath},

		// intents.<id>.*
		{"intent string", "intents.bike.budget", s("about 800 EUR"), nil},
		{"intent int", "intents.bike.max_price", IntValue(800), nil},
		{"intent list", "intents.bike.colours", l("red", "blue"), nil},
		{"intent deep", "intents.bike.spec.frame.size", s("M"), nil},
		{"intent two segments", "intents.bike", s("x"), ErrInvalidPath},
		{"intent alone", "intents", s("x"), ErrInvalidPath},

		// brands.*
		{"brand", "brands.abc.points", IntValue(10), ErrInvalidPath},
		{"brand alone", "brands", s("x"), ErrInvalidPath},
		{"brand case", "Brands.abc.points", IntValue(10), ErrInvalidPath},

		// free paths and free values
		{"free string", "notes.free", s("line one\nline two\ttab"), nil},
		{"free empty", "x", s(""), nil},
		{"free cr", "x", s("a\rb"), ErrInvalidValue},
		{"free nul", "x", s("a\x00b"), ErrInvalidValue},
		{"free del", "x", s("a\x7fb"), ErrInvalidValue},
		{"free c1", "x", s("a\u0085b"), ErrInvalidValue},
		{"free bad utf8", "x", s("a\xffb"), ErrInvalidValue},
		{"free list control", "x", l("a", "b\n"), ErrInvalidValue},
		{"free list bad utf8", "x", l("\xff"), ErrInvalidValue},
		{"free timestamp", "x", TimeValue(testNow), nil},
		{"free timestamp year 10000", "x", TimeValue(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)), ErrInvalidValue},
		{"free no kind", "x", Value{Str: "a"}, ErrInvalidValue},
		{"free bad kind", "x", Value{Kind: 42}, ErrInvalidValue},
		{"free looks like name", "names.given", s("x"), nil},
		{"email case", "EMAIL.home", s("ada@example.org"), ErrInvalidPath},
		{"bad path", "a..b", s("x"), ErrInvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateField(Field{Path: tt.path, Value: tt.v}, testNow, DefaultLimits())
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ValidateField(%s) = %v, want nil", tt.path, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("ValidateField(%s) = %v, want %v", tt.path, err, tt.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Path != tt.path {
				t.Fatalf("error %v is not a *FieldError for %s", err, tt.path)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if tt.v.Kind == KindString && len(tt.v.Str) > 7 && strings.Contains(msg, tt.v.Str) {
				t.Errorf("error %q contains the value", msg)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	lim := DefaultLimits()
	tests := []struct {
		f    Field
		want string
	}{
		{Field{"phone.mobile", StringValue("0171 555")}, `phone.mobile: must be an E.164 number: "+", country code, up to 15 digits in all`},
		{Field{"email.home", StringValue(strings.Repeat("a", 5000))}, "email.home: value is 5000 bytes, limit is 4096 (max value size)"},
		{Field{"brands.abc.x", StringValue("x")}, "brands.abc.x: brands.* is written by brands; you may delete it"},
		{Field{"name.nick", StringValue("x")}, "name.nick: name fields are name.given, name.family and name.display"},
		{Field{"email.home", IntValue(3)}, "email.home: must be of type string, not int"},
		{Field{"a\nb", StringValue("x")}, `"a\nb": segment 1 has a character outside A-Z a-z 0-9 _ -`},
		{Field{"x.*", StringValue("x")}, "x.*: the wildcard * belongs to scopes, not to field paths"},
	}
	for _, tt := range tests {
		err := ValidateField(tt.f, testNow, lim)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ValidateField(%q) = %v\nwant %s", tt.f.Path, err, tt.want)
		}
	}
	long := strings.Repeat("\xff", 300)
	msg := (&FieldError{Path: long, Rule: "r"}).Error()
	if len(msg) > 400 || strings.ContainsAny(msg, "\n") {
		t.Errorf("an invalid long path is not shortened: %d bytes", len(msg))
	}
}

// Each limit is crossed by a test: one value at the limit passes, one
// beyond it fails with ErrLimit and a message naming the limit.
func TestLimitsCrossed(t *testing.T) {
	small := Limits{MaxValueBytes: 10, MaxListItems: 3, MaxFieldsPerBatch: 2, MaxPathDepth: 3, MaxFields: 3, MaxProfileBytes: 40}
	tests := []struct {
		name   string
		lim    Limits
		fields []Field
		fails  bool
		limit  string
	}{
		{"value at limit", small, []Field{{"x", StringValue(strings.Repeat("v", 10))}}, false, ""},
		{"value over limit", small, []Field{{"x", StringValue(strings.Repeat("v", 11))}}, true, "(max value size)"},
		{"list bytes over value limit", small, []Field{{"x", ListValue([]string{"aaaaaa", "bbbbb"})}}, true, "(max value size)"},
		{"default value over limit", DefaultLimits(), []Field{{"x", StringValue(strings.Repeat("v", 4097))}}, true, "limit is 4096 (max value size)"},
		{"list items at limit", small, []Field{{"x", ListValue([]string{"a", "b", "c"})}}, false, ""},
		{"list items over limit", small, []Field{{"x", ListValue([]string{"a", "b", "c", "d"})}}, true, "list has 4 items, limit is 3 (max list items)"},
		{"default list items over limit", DefaultLimits(), []Field{{"x", ListValue(make([]string, 65))}}, true, "limit is 64 (max list items)"},
		{"list item at 256", DefaultLimits(), []Field{{"x", ListValue([]string{strings.Repeat("i", 256)})}}, false, ""},
		{"list item over 256", DefaultLimits(), []Field{{"x", ListValue([]string{strings.Repeat("i", 257)})}}, true, "list item 1 is 257 bytes, limit is 256 (max list item size)"},
		{"batch at limit", small, []Field{{"a", IntValue(1)}, {"b", IntValue(2)}}, false, ""},
		{"batch over limit", small, []Field{{"a", IntValue(1)}, {"b", IntValue(2)}, {"c", IntValue(3)}}, true, "batch has 3 fields, limit is 2 (max fields per batch)"},
		{"default batch over limit", DefaultLimits(), manyFields(101), true, "limit is 100 (max fields per batch)"},
		{"depth at limit", small, []Field{{"a.b.c", IntValue(1)}}, false, ""},
		{"depth over limit", small, []Field{{"a.b.c.d", IntValue(1)}}, true, "path has 4 segments, limit is 3 (max path depth)"},
		{"depth over protocol limit", Limits{MaxPathDepth: 100}, []Field{{strings.Repeat("a.", 16) + "a", IntValue(1)}}, true, "limit is 16 (max path depth)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateBatch(tt.fields, testNow, tt.lim)
			if !tt.fails {
				if err != nil {
					t.Fatalf("ValidateBatch = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), tt.limit) {
				t.Fatalf("ValidateBatch = %v, want ErrLimit naming %q", err, tt.limit)
			}
		})
	}

	// Profile limits: fields and bytes of a whole profile.
	if err := CheckProfileSize(3, 40, small); err != nil {
		t.Errorf("CheckProfileSize at limits = %v", err)
	}
	if err := CheckProfileSize(4, 10, small); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "limit is 3 (max fields)") {
		t.Errorf("CheckProfileSize over MaxFields = %v", err)
	}
	if err := CheckProfileSize(1, 41, small); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "limit is 40 (max profile size)") {
		t.Errorf("CheckProfileSize over MaxProfileBytes = %v", err)
	}
	if err := CheckProfileSize(2001, 0, DefaultLimits()); !errors.Is(err, ErrLimit) {
		t.Errorf("CheckProfileSize over default MaxFields = %v", err)
	}
	if err := CheckProfileSize(1, 1<<20+1, DefaultLimits()); !errors.Is(err, ErrLimit) {
		t.Errorf("CheckProfileSize over default MaxProfileBytes = %v", err)
	}
	if got := FieldBytes(Field{"email.home", StringValue("ada@example.org")}); got != 10+15 {
		t.Errorf("FieldBytes = %d", got)
	}
}

func manyFields(n int) []Field {
	fs := make([]Field, n)
	for i := range fs {
		fs[i] = Field{Path: "f" + strings.Repeat("x", i%10) + "_" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Value: IntValue(int64(i))}
	}
	return fs
}

func TestValidateBatch(t *testing.T) {
	ok := []Field{{"name.given", StringValue("Ada")}, {"email.home", StringValue("ada@example.org")}}
	if err := ValidateBatch(ok, testNow, DefaultLimits()); err != nil {
		t.Fatalf("ValidateBatch = %v", err)
	}
	if err := ValidateBatch(nil, testNow, DefaultLimits()); err != nil {
		t.Fatalf("ValidateBatch(nil) = %v", err)
	}
	dup := append(ok, Field{"name.given", StringValue("Augusta")})
	err := ValidateBatch(dup, testNow, DefaultLimits())
	var fe *FieldError
	if !errors.Is(err, ErrInvalidPath) || !errors.As(err, &fe) || fe.Path != "name.given" {
		t.Errorf("duplicate: %v", err)
	}
	// Duplicates are found before field errors; the first field error wins.
	bad := []Field{{"phone.x", StringValue("1")}, {"email.x", StringValue("no")}, {"phone.x", StringValue("2")}}
	if err := ValidateBatch(bad, testNow, DefaultLimits()); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("duplicate after invalid: %v", err)
	}
	bad = bad[:2]
	if err := ValidateBatch(bad, testNow, DefaultLimits()); !errors.As(err, &fe) || fe.Path != "phone.x" {
		t.Errorf("first error: %v", err)
	}
}

func TestValidateBrandField(t *testing.T) {
	jkt := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	tests := []struct {
		jkt  string
		path string
		v    Value
		want error
	}{
		{jkt, "brands." + jkt + ".loyalty.tier", StringValue("gold"), nil},
		{jkt, "brands." + jkt + ".orders", ListValue([]string{"A1", "B2"}), nil},
		{jkt, "brands." + jkt, StringValue("x"), ErrInvalidPath},
		{jkt, "brands.other.tier", StringValue("x"), ErrInvalidPath},
		{jkt, "brands." + jkt + "x.tier", StringValue("x"), ErrInvalidPath},
		{jkt, "name.given", StringValue("x"), ErrInvalidPath},
		{"bad.jkt", "brands.bad.jkt.x", StringValue("x"), ErrInvalidPath},
		{"", "brands..x", StringValue("x"), ErrInvalidPath},
		{jkt, "brands." + jkt + ".big", StringValue(strings.Repeat("b", 4097)), ErrLimit},
		{jkt, "brands." + jkt + ".ctl", StringValue("\x01"), ErrInvalidValue},
	}
	for _, tt := range tests {
		err := ValidateBrandField(tt.jkt, Field{tt.path, tt.v}, DefaultLimits())
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("ValidateBrandField(%q, %q) = %v, want %v", tt.jkt, tt.path, err, tt.want)
		}
	}
	batch := []Field{{"brands." + jkt + ".a", IntValue(1)}, {"brands." + jkt + ".a", IntValue(2)}}
	if err := ValidateBrandBatch(jkt, batch, DefaultLimits()); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("ValidateBrandBatch duplicate = %v", err)
	}
	if !IsBrandPath("brands") || !IsBrandPath("brands.x.y") || IsBrandPath("brandsx.y") || IsBrandPath("name.brands") {
		t.Error("IsBrandPath")
	}
}

func TestKindFor(t *testing.T) {
	tests := map[string]Kind{
		"name.given":                         KindString,
		"email.home":                         KindString,
		"phone.x":                            KindString,
		"address.home.country":               KindString,
		"birthdate":                          KindString,
		"social.web":                         KindString,
		"prefs.contact.marketing.channels":   KindList,
		"prefs.contact.x.frequency_cap":      KindString,
		"prefs.contact.x.quiet_hours":        KindString,
		"prefs.language":                     KindString,
		"intents.bike.budget":                0,
		"brands.x.y":                         0,
		"name.nick":                          0,
		"free.path":                          0,
		"":                                   0,
		strings.Repeat("a.", 600) + "a":      0,
		"prefs.contact.marketing.volume":     0,
		"prefs.contact.marketing.channels.x": 0,
	}
	for path, want := range tests {
		got, ok := KindFor(path)
		if ok != (want != 0) || got != want {
			t.Errorf("KindFor(%q) = %v, %v; want %v", truncate(path, 40), got, ok, want)
		}
	}
}

func TestParseValue(t *testing.T) {
	ts := time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		path, text string
		kind       Kind
		explicit   bool
		want       Value
		err        bool
	}{
		{"name.given", "Ada", 0, false, StringValue("Ada"), false},
		{"free.x", "42", 0, false, StringValue("42"), false},
		{"prefs.contact.marketing.channels", "email, sms ,push", 0, false, ListValue([]string{"email", "sms", "push"}), false},
		{"prefs.contact.marketing.channels", "email,,", 0, false, ListValue([]string{"email"}), false},
		{"free.x", "", KindList, true, ListValue([]string{}), false},
		{"free.x", "42", KindInt, true, IntValue(42), false},
		{"free.x", "-9223372036854775808", KindInt, true, IntValue(-9223372036854775808), false},
		{"free.x", "9223372036854775808", KindInt, true, Value{}, true},
		{"free.x", "4.2", KindInt, true, Value{}, true},
		{"free.x", " 42", KindInt, true, Value{}, true},
		{"free.x", "0x10", KindInt, true, Value{}, true},
		{"free.x", "true", KindBool, true, BoolValue(true), false},
		{"free.x", "YES", KindBool, true, BoolValue(true), false},
		{"free.x", "no", KindBool, true, BoolValue(false), false},
		{"free.x", "False", KindBool, true, BoolValue(false), false},
		{"free.x", "1", KindBool, true, Value{}, true},
		{"free.x", "2024-05-01T11:30:00+02:00", KindTimestamp, true, TimeValue(ts), false},
		{"free.x", "2024-05-01T09:30:00.5Z", KindTimestamp, true, TimeValue(ts.Add(500 * time.Millisecond)), false},
		{"free.x", "1999-12-31", KindTimestamp, true, Value{}, true},
		{"free.x", "a,b", KindString, true, StringValue("a,b"), false},
		{"name.given", "42", KindInt, true, IntValue(42), false}, // explicit wins; ValidateField refuses it later
		{"free.x", "x", 0, true, Value{}, true},
	}
	for _, tt := range tests {
		got, err := ParseValue(tt.path, tt.text, tt.kind, tt.explicit)
		if (err != nil) != tt.err {
			t.Errorf("ParseValue(%q, %q, %v, %v) error = %v", tt.path, tt.text, tt.kind, tt.explicit, err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidValue) || (len(tt.text) > 3 && strings.Contains(err.Error(), tt.text)) {
				t.Errorf("ParseValue(%q) error %v: want ErrInvalidValue without the text", tt.text, err)
			}
			continue
		}
		if !got.Equal(tt.want) {
			t.Errorf("ParseValue(%q, %q, %v, %v) = %#v, want %#v", tt.path, tt.text, tt.kind, tt.explicit, got, tt.want)
		}
	}
}

func TestCountries(t *testing.T) {
	if len(countryNames) != 249 {
		t.Errorf("the table has %d codes; ISO 3166-1 assigns 249", len(countryNames))
	}
	for code, name := range countryNames {
		if len(code) != 2 || strings.ToUpper(code) != code || name == "" {
			t.Errorf("bad entry %q: %q", code, name)
		}
		if got, ok := countryCode(name); !ok || got != code {
			t.Errorf("countryCode(%q) = %q, %v; want %s", name, got, ok, code)
		}
	}
	if n, ok := CountryName("DE"); !ok || n != "Germany" {
		t.Errorf("CountryName(DE) = %q, %v", n, ok)
	}
	if _, ok := CountryName("de"); ok {
		t.Error("CountryName accepts lower case")
	}
	for in, want := range map[string]string{
		"de": "DE", " us ": "US", "USA": "US", "U.S.A.": "US", "United States": "US", "united kingdom": "GB",
		"UK": "GB", "Cote d'Ivoire": "CI", "CÔTE D’IVOIRE": "CI", "Aland Islands": "AX", "The Netherlands": "NL",
		"Korea, Republic of": "KR", "South Korea": "KR", "Türkiye": "TR", "Turkey": "TR", "Czech Republic": "CZ",
		"the Gambia": "GM", "Viet Nam": "VN", "Bolivia": "BO",
	} {
		if got, ok := countryCode(in); !ok || got != want {
			t.Errorf("countryCode(%q) = %q, %v; want %s", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "Atlantis", "XK", "Deutschland", "EU", strings.Repeat("a", 500)} {
		if got, ok := countryCode(in); ok {
			t.Errorf("countryCode(%q) = %q, want not found", in, got)
		}
	}
}

func sortFields(fs []Field) {
	slices.SortFunc(fs, func(a, b Field) int { return strings.Compare(a.Path, b.Path) })
}
