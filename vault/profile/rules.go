package profile

import (
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// ValidateField checks one field an owner writes: the path syntax
// (ValidatePath with lim.MaxPathDepth), the rule of its well-known path if
// it has one (including that nothing under brands.* may be written by the
// owner), and the value limits of lim. now is the caller's clock; it
// bounds birthdate.
//
// Checks run cheapest first and the first failure is returned as a
// *FieldError wrapping ErrInvalidPath, ErrInvalidValue or ErrLimit.
func ValidateField(f Field, now time.Time, lim Limits) error {
	return validateOwnerField(f, checkCtx{now: now, clock: true}, lim.withDefaults())
}

// ValidateBatch checks the fields of one owner write: at most
// lim.MaxFieldsPerBatch fields, no path twice, then each field with
// ValidateField. It returns the first error.
func ValidateBatch(fields []Field, now time.Time, lim Limits) error {
	lim = lim.withDefaults()
	c := checkCtx{now: now, clock: true}
	return validateBatch(fields, lim, func(f Field) error { return validateOwnerField(f, c, lim) })
}

// ValidateBrandField checks one field the brand with key thumbprint jkt
// writes as a contribution: the path must lie under brands.<jkt>. with at
// least one segment below it (PROTOCOL.md §4), the value obeys the limits
// and the rules of free values. It returns a *FieldError as ValidateField
// does.
func ValidateBrandField(jkt string, f Field, lim Limits) error {
	lim = lim.withDefaults()
	return validateBrandField(jkt, f, lim)
}

// ValidateBrandBatch checks the fields of one brand write as ValidateBatch
// does for an owner, with ValidateBrandField for each field.
func ValidateBrandBatch(jkt string, fields []Field, lim Limits) error {
	lim = lim.withDefaults()
	return validateBatch(fields, lim, func(f Field) error { return validateBrandField(jkt, f, lim) })
}

// KindFor returns the kind a well-known path requires, and false for a
// path that requires none: a free path, a path under intents.* (any kind),
// a path a well-known prefix does not allow, or an invalid one.
func KindFor(path string) (Kind, bool) {
	if len(path) > MaxPathBytes {
		return 0, false
	}
	r, refusal := classify(strings.Split(path, "."))
	if refusal != "" || r == nil || r.kind == 0 {
		return 0, false
	}
	return r.kind, true
}

func validateBatch(fields []Field, lim Limits, check func(Field) error) error {
	if len(fields) > lim.MaxFieldsPerBatch {
		return fieldErr("", ErrLimit, fmt.Sprintf("batch has %d fields, limit is %d (max fields per batch)", len(fields), lim.MaxFieldsPerBatch))
	}
	seen := make(map[string]struct{}, len(fields))
	for _, f := range fields {
		if _, dup := seen[f.Path]; dup {
			return fieldErr(f.Path, ErrInvalidPath, "path appears more than once in the batch")
		}
		seen[f.Path] = struct{}{}
	}
	for _, f := range fields {
		if err := check(f); err != nil {
			return err
		}
	}
	return nil
}

// checkCtx carries the clock to the rules. clock is false in the decoders,
// which have none: then the rules that need it skip that part.
type checkCtx struct {
	now   time.Time
	clock bool
}

func validateOwnerField(f Field, c checkCtx, lim Limits) error {
	if err := ValidatePath(f.Path, lim.MaxPathDepth); err != nil {
		return err
	}
	r, refusal := classify(strings.Split(f.Path, "."))
	if refusal != "" {
		return fieldErr(f.Path, ErrInvalidPath, refusal)
	}
	return validateValue(f, r, c, lim)
}

func validateBrandField(jkt string, f Field, lim Limits) error {
	if !validSegment(jkt) {
		return fieldErr(f.Path, ErrInvalidPath, "the brand's key thumbprint is not a path segment")
	}
	if err := ValidatePath(f.Path, lim.MaxPathDepth); err != nil {
		return err
	}
	if !strings.HasPrefix(f.Path, brandsPrefix+"."+jkt+".") {
		return fieldErr(f.Path, ErrInvalidPath, "a brand writes only below brands.<its key thumbprint>")
	}
	return validateValue(f, nil, checkCtx{}, lim)
}

// validateValue checks a value against the limits, the content rules that
// hold for every value, and r (nil for a free path).
func validateValue(f Field, r *rule, c checkCtx, lim Limits) error {
	v := f.Value
	if !v.Kind.Valid() {
		return fieldErr(f.Path, ErrInvalidValue, "value has no valid type")
	}
	if r != nil && r.kind != 0 && v.Kind != r.kind {
		return fieldErr(f.Path, ErrInvalidValue, fmt.Sprintf("must be of type %s, not %s", r.kind, v.Kind))
	}
	if n := v.Size(); n > lim.MaxValueBytes {
		return fieldErr(f.Path, ErrLimit, fmt.Sprintf("value is %d bytes, limit is %d (max value size)", n, lim.MaxValueBytes))
	}
	switch v.Kind {
	case KindString:
		if !utf8.ValidString(v.Str) {
			return fieldErr(f.Path, ErrInvalidValue, "must be valid UTF-8")
		}
		if hasControl(v.Str, true) {
			return fieldErr(f.Path, ErrInvalidValue, "must not contain control characters other than newline and tab")
		}
	case KindList:
		if len(v.List) > lim.MaxListItems {
			return fieldErr(f.Path, ErrLimit, fmt.Sprintf("list has %d items, limit is %d (max list items)", len(v.List), lim.MaxListItems))
		}
		for i, s := range v.List {
			if len(s) > MaxListItemBytes {
				return fieldErr(f.Path, ErrLimit, fmt.Sprintf("list item %d is %d bytes, limit is %d (max list item size)", i+1, len(s), MaxListItemBytes))
			}
			if !utf8.ValidString(s) || hasControl(s, false) {
				return fieldErr(f.Path, ErrInvalidValue, fmt.Sprintf("list item %d must be valid UTF-8 without control characters", i+1))
			}
		}
	case KindTimestamp:
		// The wire's range (google.protobuf.Timestamp): a value outside it
		// would pass here and be refused, or be unreadable, on the wire.
		if y := v.Time.UTC().Year(); y < 1 || y > 9999 {
			return fieldErr(f.Path, ErrInvalidValue, "timestamp must lie in the years 0001 to 9999")
		}
	}
	if r != nil && r.check != nil {
		if !r.check(v, c) {
			return fieldErr(f.Path, ErrInvalidValue, r.text)
		}
	}
	return nil
}

// hasControl reports whether s holds a control character (Unicode Cc),
// newline and tab excepted when freeText.
func hasControl(s string, freeText bool) bool {
	for _, r := range s {
		if unicode.IsControl(r) && !(freeText && (r == '\n' || r == '\t')) {
			return true
		}
	}
	return false
}

// rule is the rule of a well-known leaf: the kind it requires (0: any) and
// a check of the value, whose requirement text names the rule in errors.
type rule struct {
	kind  Kind
	check func(Value, checkCtx) bool
	text  string
}

// Top-level segments that start a well-known prefix.
var wellKnownTop = []string{"name", "email", "phone", "address", "birthdate", "social", "prefs", "intents", brandsPrefix}

// classify finds the rule of a path given as segments: nil and "" for a
// free path, a rule for a well-known leaf, or a refusal text for a path a
// well-known prefix does not allow. It does not check segment syntax.
func classify(segs []string) (*rule, string) {
	n := len(segs)
	switch segs[0] {
	case "name":
		if n == 2 {
			switch segs[1] {
			case "given", "family", "display":
				return &nameRule, ""
			}
		}
		return nil, "name fields are name.given, name.family and name.display"
	case "email":
		if n == 2 {
			return &emailRule, ""
		}
		return nil, "email fields are email.<label>, e.g. email.home"
	case "phone":
		if n == 2 {
			return &phoneRule, ""
		}
		return nil, "phone fields are phone.<label>, e.g. phone.mobile"
	case "address":
		if n == 3 {
			switch segs[2] {
			case "street":
				return &streetRule, ""
			case "locality", "region", "postal_code":
				return &addressPartRule, ""
			case "country":
				return &countryRule, ""
			}
		}
		return nil, "address fields are address.<label>.street, .locality, .region, .postal_code and .country"
	case "birthdate":
		if n == 1 {
			return &birthdateRule, ""
		}
		return nil, "birthdate is a single field with nothing below it"
	case "social":
		if n == 2 {
			return &socialRule, ""
		}
		return nil, "social fields are social.<network>, e.g. social.mastodon"
	case "prefs":
		if n == 1 {
			return nil, "prefs holds preferences below it, e.g. prefs.language"
		}
		switch segs[1] {
		case "contact":
			if n == 4 {
				switch segs[3] {
				case "channels":
					return &channelsRule, ""
				case "frequency_cap":
					return &frequencyCapRule, ""
				case "quiet_hours":
					return &quietHoursRule, ""
				}
			}
			return nil, "contact preferences are prefs.contact.<kind>.channels, .frequency_cap and .quiet_hours"
		case "language":
			if n == 2 {
				return &languageRule, ""
			}
			return nil, "prefs.language is a single field with nothing below it"
		}
		for _, w := range []string{"contact", "language"} {
			if strings.EqualFold(segs[1], w) {
				return nil, "well-known paths are lower case: prefs." + w
			}
		}
		return nil, ""
	case "intents":
		if n >= 3 {
			return &intentRule, ""
		}
		return nil, "intent fields are intents.<id>.<field>: at least three segments"
	case brandsPrefix:
		return nil, "brands.* is written by brands; you may delete it"
	}
	for _, w := range wellKnownTop {
		if strings.EqualFold(segs[0], w) {
			return nil, "well-known paths are lower case: " + w
		}
	}
	return nil, ""
}

// singleLine reports whether s is between 1 and max characters, not only
// white space, without control characters.
func singleLine(s string, max int) bool {
	if s == "" || utf8.RuneCountInString(s) > max || hasControl(s, false) {
		return false
	}
	return strings.TrimSpace(s) != ""
}

var (
	nameRule = rule{
		kind:  KindString,
		check: func(v Value, _ checkCtx) bool { return singleLine(v.Str, 256) },
		text:  "must be 1 to 256 characters, not blank, without control characters",
	}
	emailRule = rule{
		kind:  KindString,
		check: func(v Value, _ checkCtx) bool { return validEmail(v.Str) },
		text:  "must be a bare email address such as name@example.org (no display name), at most 254 bytes",
	}
	phoneRule = rule{
		kind:  KindString,
		check: func(v Value, _ checkCtx) bool { return validE164(v.Str) },
		text:  `must be an E.164 number: "+", country code, up to 15 digits in all`,
	}
	streetRule = rule{
		kind:  KindString,
		check: func(v Value, _ checkCtx) bool { return singleLine(v.Str, 512) },
		text:  "must be 1 to 512 characters, not blank, without control characters",
	}
	addressPartRule = rule{
		kind:  KindString,
		check: func(v Value, _ checkCtx) bool { return singleLine(v.Str, 128) },
		text:  "must be 1 to 128 characters, not blank, without control characters",
	}
	countryRule = rule{
		kind:  KindString,
		check: func(v Value, _ checkCtx) bool { _, ok := countryNames[v.Str]; return ok },
		text:  "must be an ISO 3166-1 alpha-2 country code in upper case, e.g. DE or US",
	}
	birthdateRule = rule{
		kind:  KindString,
		check: checkBirthdate,
		text:  "must be a date YYYY-MM-DD from 1900-01-01 to today",
	}
	socialRule = rule{
		kind:  KindString,
		check: func(v Value, _ checkCtx) bool { return validHandle(v.Str) || validProfileURL(v.Str) },
		text:  "must be a handle (an optional @ and 1 to 64 of A-Z a-z 0-9 _ . -) or an https:// URL with a host, at most 2048 bytes",
	}
	channelsRule = rule{
		kind:  KindList,
		check: func(v Value, _ checkCtx) bool { return validChannels(v.List) },
		text:  "must be distinct channels from email, sms, post, phone, push, none (none only alone)",
	}
	frequencyCapRule = rule{
		kind:  KindString,
		check: func(v Value, _ checkCtx) bool { return validFrequencyCap(v.Str) },
		text:  "must be N/day, N/week or N/month with N from 0 to 1000",
	}
	quietHoursRule = rule{
		kind:  KindString,
		check: func(v Value, _ checkCtx) bool { return validQuietHours(v.Str) },
		text:  "must be HH:MM-HH:MM in 24-hour time (it may wrap midnight), start different from end",
	}
	languageRule = rule{
		kind:  KindString,
		check: func(v Value, _ checkCtx) bool { return validLanguage(v.Str) },
		text:  "must be a well-formed BCP 47 language tag such as en or pt-BR, not und",
	}
	intentRule = rule{} // any kind, checked as a free value
)

// maxEmailBytes is the longest address SMTP can carry (RFC 5321 path limit).
const maxEmailBytes = 254

func validEmail(s string) bool {
	if s == "" || len(s) > maxEmailBytes {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// validE164 reports whether s matches ^\+[1-9][0-9]{1,14}$.
func validE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

const (
	minBirthdate = "1900-01-01"
	dateLayout   = "2006-01-02"
)

func checkBirthdate(v Value, c checkCtx) bool {
	s := v.Str
	if len(s) != len(dateLayout) || s < minBirthdate {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 4 || i == 7 {
			if s[i] != '-' {
				return false
			}
		} else if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	if _, err := time.Parse(dateLayout, s); err != nil { // refuses 2023-02-29
		return false
	}
	return !c.clock || s <= c.now.UTC().Format(dateLayout)
}

// maxHandleBytes and maxURLBytes bound social values.
const (
	maxHandleBytes = 64
	maxURLBytes    = 2048
)

// validHandle reports whether s matches ^@?[A-Za-z0-9_.-]{1,64}$.
func validHandle(s string) bool {
	s = strings.TrimPrefix(s, "@")
	if s == "" || len(s) > maxHandleBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isSegmentByte(c) && c != '.' {
			return false
		}
	}
	return true
}

// validProfileURL reports whether s is an https URL with a host, no user
// information, and no characters that a URL never holds unencoded.
func validProfileURL(s string) bool {
	if len(s) > maxURLBytes || len(s) < len("https://x") || !strings.EqualFold(s[:8], "https://") {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '\\' || r == '"' || r == '<' || r == '>' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Hostname() != "" && u.User == nil && u.Opaque == ""
}

var contactChannels = map[string]bool{"email": true, "sms": true, "post": true, "phone": true, "push": true, "none": true}

func validChannels(list []string) bool {
	if len(list) == 0 {
		return false
	}
	seen := make(map[string]bool, len(list))
	for _, c := range list {
		if !contactChannels[c] || seen[c] {
			return false
		}
		seen[c] = true
	}
	return !seen["none"] || len(list) == 1
}

// maxFrequencyCap is the largest N of a frequency cap N/period.
const maxFrequencyCap = 1000

func validFrequencyCap(s string) bool {
	n, period, ok := strings.Cut(s, "/")
	if !ok || (period != "day" && period != "week" && period != "month") {
		return false
	}
	if n == "" || len(n) > 4 || (len(n) > 1 && n[0] == '0') {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	v, err := strconv.Atoi(n)
	return err == nil && v <= maxFrequencyCap
}

func validQuietHours(s string) bool {
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return false
	}
	a, okA := minuteOfDay(from)
	b, okB := minuteOfDay(to)
	return okA && okB && a != b
}

// minuteOfDay parses HH:MM (00:00 to 23:59).
func minuteOfDay(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// maxLanguageTagBytes bounds a language preference before it is parsed.
const maxLanguageTagBytes = 64

// validLanguage reports whether s is a well-formed BCP 47 tag with a
// language (not und). golang.org/x/text/language is lenient about
// separators, so the characters are checked first: letters, digits and
// hyphens only.
func validLanguage(s string) bool {
	if s == "" || len(s) > maxLanguageTagBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	t, err := language.Parse(s)
	if err != nil {
		return false
	}
	base, _, _ := t.Raw()
	return base.String() != "und"
}
