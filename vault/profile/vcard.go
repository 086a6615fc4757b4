package profile

import (
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// Bounds of a vCard import beyond MaxImportBytes.
const (
	// MaxVCardLines bounds the physical lines. A card with a photo folded
	// at 75 octets fills MaxImportBytes in about 56,000 lines.
	MaxVCardLines = 100_000
	// MaxVCardProperties bounds the properties (logical lines) of the
	// card; real cards have tens.
	MaxVCardProperties = 10_000
)

// Warning is a vCard property that DecodeVCard did not import, or did not
// import whole. Like errors, warnings name the rule and never the value.
type Warning struct {
	// Line is the line number (from 1) where the property starts.
	Line int
	// Property is the property's name in upper case, e.g. "TEL".
	Property string
	// Message says what was left out and why.
	Message string
}

// String returns "line N: PROPERTY: message".
func (w Warning) String() string {
	return fmt.Sprintf("line %d: %s: %s", w.Line, w.Property, w.Message)
}

// DecodeVCard reads one contact card: vCard 4.0 (RFC 6350), 3.0 (RFC 2426)
// or 2.1, as phones and mail clients export them. It unfolds lines (CRLF
// or LF followed by a space or tab), reads property groups (item1.EMAIL),
// parameters (TYPE=home,work; TYPE=HOME;TYPE=PREF; 2.1's bare HOME),
// escapes (\n \, \; \\), QUOTED-PRINTABLE values (with soft line breaks),
// and the charsets UTF-8, ISO-8859-1, ISO-8859-15 and Windows-1252.
//
// It maps N to name.family and name.given, FN to name.display, EMAIL to
// email.<label>, TEL to phone.<label> (tel: prefix, spaces, dashes, dots
// and parentheses removed; only E.164 numbers are kept), ADR to
// address.<label>.{street,locality,region,postal_code,country} (country
// from an alpha-2 code or an English name, or Apple's X-ABADR), BDAY to
// birthdate, an https URL to social.web, and X-SOCIALPROFILE,
// SOCIALPROFILE and X-TWITTER-style properties to social.<network>.
//
// A label comes from Apple's X-ABLabel of the property's group, else the
// first TYPE among home, work, cell or mobile or iphone (mobile), fax,
// pager, main, other (fax wins over home and work); a property with none
// gets home if no other property of its kind took it, else other, other2,
// and so on. Repeated labels are numbered: home, home2, ...
//
// Exactly one card is expected: no card, a second card, a nested card or
// content outside the card is an error wrapping ErrMalformed; an input
// larger than MaxImportBytes or longer than MaxVCardLines wraps ErrLimit,
// as does a card of more than MaxVCardProperties properties or with more
// fields than lim allows.
//
// A property that cannot be imported (a number without country code, a
// birthday without year, an http URL, an unknown country, a property this
// package has no path for, a value that fails its rule) is skipped and
// reported in the warnings. The fields are returned sorted by path, with
// no path twice; each passes ValidateField except the clock-dependent part
// of its rule (see the package doc).
func DecodeVCard(r io.Reader, lim Limits) ([]Field, []Warning, error) {
	data, err := readBounded(r, "vCard")
	if err != nil {
		return nil, nil, err
	}
	if n := strings.Count(string(data), "\n") + 1; n > MaxVCardLines {
		return nil, nil, fieldErr("", ErrLimit, fmt.Sprintf("vCard has %d lines, limit is %d (max vCard lines)", n, MaxVCardLines))
	}
	lines := unfold(string(data))
	if len(lines) > MaxVCardProperties+2 { // BEGIN and END besides
		return nil, nil, fieldErr("", ErrLimit, fmt.Sprintf("vCard has %d properties, limit is %d (max vCard properties)", len(lines)-2, MaxVCardProperties))
	}
	props, err := parseCard(lines)
	if err != nil {
		return nil, nil, err
	}
	d := &vcardDecoder{
		lim:        lim.withDefaults(),
		seen:       map[string]bool{},
		groupLabel: map[string]string{},
		groupISO:   map[string]string{},
	}
	if err := d.decode(props); err != nil {
		return nil, nil, err
	}
	slices.SortFunc(d.fields, func(a, b Field) int { return strings.Compare(a.Path, b.Path) })
	if d.fields == nil {
		d.fields = []Field{}
	}
	return d.fields, d.warnings, nil
}

// vcardLine is a logical line: physical lines unfolded into one.
type vcardLine struct {
	line int // physical line number where it starts, from 1
	text string
}

// unfold splits data into logical lines: a physical line that starts with
// a space or tab continues the previous one (RFC 6350 §3.2), and so does
// the line after a quoted-printable line that ends in "=" (a soft line
// break, written by 2.1 exports without leading white space). Empty lines
// are dropped.
func unfold(data string) []vcardLine {
	data = strings.TrimPrefix(data, "\ufeff")
	var out []vcardLine
	var parts []string // pieces of the logical line being built
	start, qp := 0, false
	flush := func() {
		if parts != nil {
			out = append(out, vcardLine{line: start, text: strings.Join(parts, "")})
			parts = nil
		}
	}
	lineNo := 0
	for l := range strings.SplitSeq(data, "\n") {
		lineNo++
		l = strings.TrimSuffix(l, "\r")
		if parts != nil && qp && strings.HasSuffix(parts[len(parts)-1], "=") {
			last := parts[len(parts)-1]
			parts[len(parts)-1] = last[:len(last)-1]
			parts = append(parts, l)
			continue
		}
		if parts != nil && l != "" && (l[0] == ' ' || l[0] == '\t') {
			parts = append(parts, l[1:])
			continue
		}
		flush()
		if strings.TrimSpace(l) == "" {
			continue
		}
		parts, start = []string{l}, lineNo
		head, _, _ := strings.Cut(l, ":")
		qp = isQuotedPrintable(head)
	}
	flush()
	return out
}

// isQuotedPrintable reports whether the name and parameters of a content
// line declare the QUOTED-PRINTABLE encoding (ENCODING=QUOTED-PRINTABLE or
// 2.1's bare QUOTED-PRINTABLE).
func isQuotedPrintable(head string) bool {
	params := strings.Split(strings.ToUpper(head), ";")
	for _, p := range params[1:] {
		if p = strings.TrimSpace(p); p == "QUOTED-PRINTABLE" || p == "ENCODING=QUOTED-PRINTABLE" {
			return true
		}
	}
	return false
}

// vcardProp is one parsed content line.
type vcardProp struct {
	line   int
	group  string              // lower case, "" if none
	name   string              // upper case
	params map[string][]string // keys upper case, values as written
	value  string              // raw: still escaped and encoded
	bad    string              // set for a line that could not be parsed: why
}

// param returns the first value of the parameter, or "".
func (p *vcardProp) param(name string) string {
	if v := p.params[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// types returns the TYPE values in lower case, in order.
func (p *vcardProp) types() []string {
	var ts []string
	for _, v := range p.params["TYPE"] {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
				ts = append(ts, t)
			}
		}
	}
	return ts
}

// parseCard parses the logical lines and checks that they hold exactly one
// card; it returns the properties inside the card.
func parseCard(lines []vcardLine) ([]*vcardProp, error) {
	const (
		before = iota
		inside
		after
	)
	state := before
	var props []*vcardProp
	for _, l := range lines {
		p, problem := parseContentLine(l)
		isBegin := p != nil && p.name == "BEGIN" && strings.EqualFold(strings.TrimSpace(p.value), "VCARD")
		isEnd := p != nil && p.name == "END" && strings.EqualFold(strings.TrimSpace(p.value), "VCARD")
		switch state {
		case before:
			if !isBegin {
				return nil, fmt.Errorf("%w: vCard line %d: expected BEGIN:VCARD", ErrMalformed, l.line)
			}
			state = inside
		case inside:
			switch {
			case isBegin:
				return nil, fmt.Errorf("%w: vCard line %d: a card inside a card is not supported", ErrMalformed, l.line)
			case isEnd:
				state = after
			case p == nil:
				props = append(props, &vcardProp{line: l.line, bad: problem})
			default:
				props = append(props, p)
			}
		case after:
			if isBegin {
				return nil, fmt.Errorf("%w: vCard line %d: more than one card; export a single contact", ErrMalformed, l.line)
			}
			return nil, fmt.Errorf("%w: vCard line %d: content after END:VCARD", ErrMalformed, l.line)
		}
	}
	switch state {
	case before:
		return nil, fmt.Errorf("%w: no vCard found (no BEGIN:VCARD)", ErrMalformed)
	case inside:
		return nil, fmt.Errorf("%w: vCard is not terminated (no END:VCARD)", ErrMalformed)
	}
	return props, nil
}

// bareEncodings are 2.1 parameters written without "ENCODING=".
var bareEncodings = map[string]bool{"QUOTED-PRINTABLE": true, "BASE64": true, "B": true, "8BIT": true, "7BIT": true}

// parseContentLine parses [group "."] name *(";" param) ":" value. On
// failure it returns nil and what is wrong.
func parseContentLine(l vcardLine) (*vcardProp, string) {
	s := l.text
	i := strings.IndexAny(s, ";:")
	if i <= 0 {
		return nil, "not a content line (NAME:value)"
	}
	p := &vcardProp{line: l.line, params: map[string][]string{}}
	name := s[:i]
	if dot := strings.LastIndexByte(name, '.'); dot >= 0 {
		p.group, name = strings.ToLower(name[:dot]), name[dot+1:]
		if !isVCardName(p.group) {
			return nil, "malformed group name"
		}
	}
	if !isVCardName(name) {
		return nil, "malformed property name"
	}
	p.name = strings.ToUpper(name)
	for i < len(s) && s[i] == ';' {
		i++
		j := i
		for j < len(s) && s[j] != '=' && s[j] != ';' && s[j] != ':' {
			j++
		}
		pname := strings.ToUpper(strings.TrimSpace(s[i:j]))
		if j >= len(s) {
			return nil, "no ':' before the value"
		}
		if s[j] != '=' { // 2.1 bare parameter: a type or an encoding
			if pname != "" {
				if bareEncodings[pname] {
					p.params["ENCODING"] = append(p.params["ENCODING"], pname)
				} else {
					p.params["TYPE"] = append(p.params["TYPE"], pname)
				}
			}
			i = j
			continue
		}
		i = j + 1
		for {
			var v string
			if i < len(s) && s[i] == '"' {
				end := strings.IndexByte(s[i+1:], '"')
				if end < 0 {
					return nil, "unterminated quoted parameter value"
				}
				v, i = s[i+1:i+1+end], i+2+end
			} else {
				j := i
				for j < len(s) && s[j] != ',' && s[j] != ';' && s[j] != ':' {
					j++
				}
				v, i = s[i:j], j
			}
			p.params[pname] = append(p.params[pname], caretDecode(v))
			if i < len(s) && s[i] == ',' {
				i++
				continue
			}
			break
		}
	}
	if i >= len(s) || s[i] != ':' {
		return nil, "no ':' before the value"
	}
	p.value = s[i+1:]
	return p, ""
}

func isVCardName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// caretDecode undoes RFC 6868 parameter escaping: ^n, ^^ and ^'.
func caretDecode(s string) string {
	if !strings.Contains(s, "^") {
		return s
	}
	return caretDecoder.Replace(s)
}

var caretDecoder = strings.NewReplacer("^n", "\n", "^N", "\n", "^^", "^", "^'", `"`)

// text returns the property's value decoded from its ENCODING and CHARSET
// into UTF-8, still escaped; on failure it returns "" and a reason.
func (p *vcardProp) text() (string, string) {
	raw := p.value
	switch strings.ToUpper(p.param("ENCODING")) {
	case "", "8BIT", "7BIT":
	case "QUOTED-PRINTABLE":
		b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(raw)))
		if err != nil {
			return "", "not imported: broken quoted-printable encoding"
		}
		raw = string(b)
	case "B", "BASE64":
		return "", "not imported: base64-encoded values are not read"
	default:
		return "", "not imported: unknown ENCODING"
	}
	var cm *charmap.Charmap
	switch strings.ToUpper(p.param("CHARSET")) {
	case "", "UTF-8", "UTF8", "US-ASCII", "ASCII":
	case "ISO-8859-1", "LATIN1", "LATIN-1":
		cm = charmap.ISO8859_1
	case "ISO-8859-15", "LATIN-9":
		cm = charmap.ISO8859_15
	case "WINDOWS-1252", "CP1252":
		cm = charmap.Windows1252
	default:
		return "", "not imported: CHARSET not supported (UTF-8, ISO-8859-1, ISO-8859-15 and Windows-1252 are)"
	}
	if cm != nil {
		s, err := cm.NewDecoder().String(raw)
		if err != nil {
			return "", "not imported: not valid in its CHARSET"
		}
		raw = s
	}
	if !utf8.ValidString(raw) {
		return "", "not imported: not valid UTF-8"
	}
	return raw, ""
}

// unescape undoes vCard text escaping: \n and \N are a newline; \\, \,, \;
// and \: the character; any other backslash is kept as it is.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			switch n := s[i+1]; n {
			case 'n', 'N':
				b.WriteByte('\n')
				i++
				continue
			case '\\', ',', ';', ':':
				b.WriteByte(n)
				i++
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// splitEscaped splits s at each sep not escaped by a backslash; the pieces
// are still escaped.
func splitEscaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// components returns the n components of a structured value (N, ADR),
// each unescaped with its unescaped commas (list separators) joined by
// joiner.
func components(s string, n int, joiner string) []string {
	parts := splitEscaped(s, ';')
	out := make([]string, n)
	for i := 0; i < n && i < len(parts); i++ {
		var vals []string
		for _, v := range splitEscaped(parts[i], ',') {
			if v = strings.TrimSpace(unescape(v)); v != "" {
				vals = append(vals, v)
			}
		}
		out[i] = strings.Join(vals, joiner)
	}
	return out
}

// oneLineText replaces line breaks and tabs with spaces and trims.
func oneLineText(s string) string {
	return strings.TrimSpace(lineBreaks.Replace(s))
}

var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ")

// Properties that carry nothing to import and are skipped without a
// warning: structure, identifiers, and what another property already
// carries.
var silentProps = map[string]bool{
	"VERSION": true, "PRODID": true, "REV": true, "UID": true, "KIND": true,
	"CLIENTPIDMAP": true, "LABEL": true, "X-ABUID": true, "X-ABSHOWAS": true,
	"X-ABLABEL": true, "X-ABADR": true,
}

// socialProps are the one-network properties some clients write, mapped
// to the network's label.
var socialProps = map[string]string{
	"X-TWITTER": "twitter", "X-FACEBOOK": "facebook", "X-INSTAGRAM": "instagram",
	"X-LINKEDIN": "linkedin", "X-MASTODON": "mastodon", "X-GITHUB": "github",
	"X-YOUTUBE": "youtube", "X-TIKTOK": "tiktok", "X-BLUESKY": "bluesky",
}

// vcardDecoder maps properties to fields.
type vcardDecoder struct {
	lim        Limits
	fields     []Field
	bytes      int
	seen       map[string]bool
	warnings   []Warning
	groupLabel map[string]string // group → label from X-ABLabel
	groupISO   map[string]string // group → country code from X-ABADR
	pending    []*labeled
	err        error
}

// labeled is a property waiting for its label: the labels of a kind are
// assigned once all of the card has been read.
type labeled struct {
	family string // email, phone, address, social
	base   string // label from X-ABLabel or TYPE; "" if none
	emit   func(label string)
}

func (d *vcardDecoder) warn(p *vcardProp, msg string) {
	d.warnings = append(d.warnings, Warning{Line: p.line, Property: p.name, Message: msg})
}

// add validates a field and adds it, or warns that p was not imported.
func (d *vcardDecoder) add(p *vcardProp, path string, v Value) {
	if d.err != nil {
		return
	}
	f := Field{Path: path, Value: v}
	if d.seen[path] {
		d.warn(p, "not imported: "+displayPath(path)+" was already read from an earlier line")
		return
	}
	if err := validateOwnerField(f, checkCtx{}, d.lim); err != nil {
		d.warn(p, "not imported: "+err.Error())
		return
	}
	if len(d.fields) >= d.lim.MaxFields {
		d.err = fieldErr("", ErrLimit, fmt.Sprintf("vCard has more than %d fields (max fields)", d.lim.MaxFields))
		return
	}
	if d.bytes += FieldBytes(f); d.bytes > d.lim.MaxProfileBytes {
		d.err = fieldErr("", ErrLimit, fmt.Sprintf("vCard is more than %d bytes of paths and values (max profile size)", d.lim.MaxProfileBytes))
		return
	}
	d.seen[path] = true
	d.fields = append(d.fields, f)
}

// valueOK checks v as the value of path, a stand-in for the path the
// value will get once labels are assigned, and warns if it fails: a value
// that cannot be imported takes no label.
func (d *vcardDecoder) valueOK(p *vcardProp, path string, v Value) bool {
	err := validateOwnerField(Field{Path: path, Value: v}, checkCtx{}, d.lim)
	if err == nil {
		return true
	}
	msg := err.Error()
	if fe, ok := err.(*FieldError); ok {
		msg = fe.Rule
	}
	d.warn(p, "not imported: "+msg)
	return false
}

func (d *vcardDecoder) decode(props []*vcardProp) error {
	for _, p := range props {
		if p.group == "" {
			continue
		}
		switch p.name {
		case "X-ABLABEL":
			if s, why := p.text(); why == "" {
				if l, ok := abLabel(unescape(s)); ok {
					d.groupLabel[p.group] = l
				}
			}
		case "X-ABADR":
			if s, why := p.text(); why == "" {
				if c, ok := countryCode(unescape(s)); ok {
					d.groupISO[p.group] = c
				}
			}
		}
	}
	var haveN, haveFN, haveBDAY bool
	for _, p := range props {
		if p.bad != "" {
			d.warnings = append(d.warnings, Warning{Line: p.line, Property: "?", Message: "skipped: " + p.bad})
			continue
		}
		if silentProps[p.name] {
			continue
		}
		s, why := p.text()
		if why != "" {
			d.warn(p, why)
			continue
		}
		switch p.name {
		case "N":
			if haveN {
				d.warn(p, "not imported: only the first N is read")
				continue
			}
			haveN = true
			c := components(s, 5, " ")
			if c[0] != "" {
				d.add(p, "name.family", StringValue(oneLineText(c[0])))
			}
			if c[1] != "" {
				d.add(p, "name.given", StringValue(oneLineText(c[1])))
			}
			if c[2] != "" || c[3] != "" || c[4] != "" {
				d.warn(p, "middle names, prefixes and suffixes are not imported")
			}
		case "FN":
			if haveFN {
				d.warn(p, "not imported: only the first FN is read")
				continue
			}
			haveFN = true
			if v := oneLineText(unescape(s)); v != "" {
				d.add(p, "name.display", StringValue(v))
			}
		case "EMAIL":
			v := strings.TrimSpace(unescape(s))
			if rest, ok := cutPrefixFold(v, "mailto:"); ok {
				v = rest
			}
			if !d.valueOK(p, "email.x", StringValue(v)) {
				continue
			}
			d.later(p, "email", d.typedLabel(p), func(label string) {
				d.add(p, "email."+label, StringValue(v))
			})
		case "TEL":
			d.tel(p, s)
		case "ADR":
			d.adr(p, s)
		case "BDAY":
			if haveBDAY {
				d.warn(p, "not imported: only the first BDAY is read")
				continue
			}
			haveBDAY = true
			d.bday(p, s)
		case "URL":
			v := strings.TrimSpace(unescape(s))
			if !validProfileURL(v) {
				d.warn(p, "not imported: only https:// URLs are imported")
				continue
			}
			if !d.valueOK(p, "social.x", StringValue(v)) {
				continue
			}
			d.later(p, "social", "web", func(label string) {
				d.add(p, "social."+label, StringValue(v))
			})
		case "X-SOCIALPROFILE", "SOCIALPROFILE":
			d.social(p, s, "")
		default:
			if network, ok := socialProps[p.name]; ok {
				d.social(p, s, network)
				continue
			}
			d.warn(p, "not imported: no profile path for this property")
		}
		if d.err != nil {
			return d.err
		}
	}
	d.assignLabels()
	return d.err
}

func (d *vcardDecoder) later(p *vcardProp, family, base string, emit func(string)) {
	d.pending = append(d.pending, &labeled{family: family, base: base, emit: emit})
}

// assignLabels gives each pending property its label: per kind, labelled
// ones first in card order, then unlabelled ones home (if free) or other,
// numbered on repeat.
func (d *vcardDecoder) assignLabels() {
	used := map[string]*labeler{}
	for _, family := range []string{"email", "phone", "address", "social"} {
		used[family] = &labeler{used: map[string]bool{}, next: map[string]int{}}
	}
	for _, pass := range []bool{true, false} {
		for _, l := range d.pending {
			if (l.base != "") != pass {
				continue
			}
			u := used[l.family]
			base := l.base
			if base == "" {
				base = "other"
				if !u.used["home"] {
					base = "home"
				}
			}
			l.emit(u.unique(base))
			if d.err != nil {
				return
			}
		}
	}
}

// labeler hands out the labels of one kind of property.
type labeler struct {
	used map[string]bool
	next map[string]int // base → the next number to try
}

// unique returns base, or else base2, base3, ... whichever is not used
// yet, and marks it used. Numbers already tried for a base are not tried
// again, so n properties with one base take linear time.
func (l *labeler) unique(base string) string {
	label := base
	for l.used[label] {
		n := max(l.next[base], 2)
		l.next[base] = n + 1
		suffix := strconv.Itoa(n)
		b := base
		if len(b)+len(suffix) > MaxSegmentBytes {
			b = b[:MaxSegmentBytes-len(suffix)]
		}
		label = b + suffix
	}
	l.used[label] = true
	return label
}

// typedLabel returns the label of a property from its group's X-ABLabel or
// its TYPE parameter, or "" if it has none.
func (d *vcardDecoder) typedLabel(p *vcardProp) string {
	if l := d.groupLabel[p.group]; p.group != "" && l != "" {
		return l
	}
	label := ""
	for _, t := range p.types() {
		switch t {
		case "fax":
			return "fax"
		case "cell", "mobile", "iphone":
			t = "mobile"
		case "home", "work", "pager", "main", "other":
		default:
			continue
		}
		if label == "" {
			label = t
		}
	}
	return label
}

// abLabel turns an Apple X-ABLabel into a label: "_$!<Home>!$_" is home,
// "My Studio" is my_studio. A label with other characters than letters,
// digits, spaces, _ and - is not used.
func abLabel(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if inner, ok := strings.CutPrefix(s, "_$!<"); ok {
		s, _ = strings.CutSuffix(inner, ">!$_")
	}
	s = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), " ", "_"))
	return s, validSegment(s)
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

func (d *vcardDecoder) tel(p *vcardProp, s string) {
	v := strings.TrimSpace(unescape(s))
	v, _ = cutPrefixFold(v, "tel:")
	if num, params, ok := strings.Cut(v, ";"); ok {
		if strings.Contains(strings.ToLower(params), "ext=") {
			d.warn(p, "the extension is not imported")
		}
		v = num
	}
	v = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')', '\u00a0', '\u2009', '\u202f', '\t':
			return -1
		}
		return r
	}, v)
	if !validE164(v) {
		d.warn(p, `not imported: not an E.164 number ("+", country code, up to 15 digits)`)
		return
	}
	if !d.valueOK(p, "phone.x", StringValue(v)) {
		return
	}
	d.later(p, "phone", d.typedLabel(p), func(label string) {
		d.add(p, "phone."+label, StringValue(v))
	})
}

// addressParts are the paths of ADR's street, locality, region, postal
// code and country components (the 3rd to 7th).
var addressParts = []string{"street", "locality", "region", "postal_code", "country"}

func (d *vcardDecoder) adr(p *vcardProp, s string) {
	c := components(s, 7, ", ")
	if c[0] != "" {
		d.warn(p, "the post office box is not imported")
	}
	var street []string
	for _, part := range []string{c[2], c[1]} { // street, then extended address
		for line := range strings.SplitSeq(part, "\n") {
			if line = strings.TrimSpace(strings.TrimSuffix(line, "\r")); line != "" {
				street = append(street, line)
			}
		}
	}
	vals := []string{strings.Join(street, ", "), oneLineText(c[3]), oneLineText(c[4]), oneLineText(c[5]), ""}
	if code, ok := d.groupISO[p.group]; ok && p.group != "" {
		vals[4] = code
	} else if c[6] != "" {
		if code, ok := countryCode(c[6]); ok {
			vals[4] = code
		} else {
			d.warn(p, "the country is not imported: not an ISO 3166-1 code or English country name")
		}
	}
	any := false
	for i, v := range vals {
		if v != "" && !d.valueOK(p, "address.x."+addressParts[i], StringValue(v)) {
			vals[i] = ""
		}
		any = any || vals[i] != ""
	}
	if !any {
		return
	}
	d.later(p, "address", d.typedLabel(p), func(label string) {
		for i, v := range vals {
			if v != "" {
				d.add(p, "address."+label+"."+addressParts[i], StringValue(v))
			}
		}
	})
}

func (d *vcardDecoder) bday(p *vcardProp, s string) {
	v := strings.TrimSpace(unescape(s))
	if strings.EqualFold(p.param("VALUE"), "text") {
		d.warn(p, "not imported: a birthday given as text")
		return
	}
	if strings.HasPrefix(v, "--") {
		d.warn(p, "not imported: a birthday without a year")
		return
	}
	date, _, _ := strings.Cut(v, "T")
	if omit := p.param("X-APPLE-OMIT-YEAR"); omit != "" && strings.HasPrefix(date, omit) {
		d.warn(p, "not imported: a birthday without a year")
		return
	}
	if len(date) == 8 && !strings.Contains(date, "-") {
		date = date[:4] + "-" + date[4:6] + "-" + date[6:]
	}
	d.add(p, "birthdate", StringValue(date))
}

// social maps a social profile property; network is given for X-TWITTER
// and its kind, else taken from TYPE (SERVICE-TYPE for RFC 9554's
// SOCIALPROFILE) or the URL's host.
func (d *vcardDecoder) social(p *vcardProp, s, network string) {
	v := strings.TrimSpace(unescape(s))
	var val string
	switch user := p.param("X-USER"); {
	case validProfileURL(v):
		val = v
	case user != "" && validHandle(user):
		val = user
	default:
		if rest, ok := cutPrefixFold(v, "x-apple:"); ok && validHandle(rest) {
			val = rest
		} else if validHandle(v) {
			val = v
		}
	}
	if val == "" {
		d.warn(p, "not imported: neither a handle nor an https:// URL")
		return
	}
	if network == "" {
		if network = strings.ToLower(p.param("SERVICE-TYPE")); network == "pref" {
			network = ""
		}
	}
	if network == "" {
		for _, t := range p.types() {
			if t != "pref" {
				network = t
				break
			}
		}
	}
	if network == "" && val == v {
		network = hostNetwork(v)
	}
	if !validSegment(network) {
		d.warn(p, "not imported: no network named (TYPE) that can be a path segment")
		return
	}
	if !d.valueOK(p, "social.x", StringValue(val)) {
		return
	}
	d.later(p, "social", network, func(label string) {
		d.add(p, "social."+label, StringValue(val))
	})
}

// hostNetwork names a network after the host of a profile URL:
// https://www.github.com/x is github.
func hostNetwork(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	labels := strings.Split(strings.TrimPrefix(strings.ToLower(u.Hostname()), "www."), ".")
	if len(labels) < 2 {
		return ""
	}
	return labels[len(labels)-2]
}
