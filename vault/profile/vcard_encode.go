package profile

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// vcardProdID identifies the writer of the cards EncodeVCard writes.
const vcardProdID = "-//vrmvault//profile//EN"

// maxVCardLineOctets is where EncodeVCard folds lines (RFC 6350 §3.2).
const maxVCardLineOctets = 75

// EncodeVCard writes the contact fields among fields as one vCard 4.0
// (RFC 6350) with CRLF line endings, lines folded at 75 octets and text
// escaped: N and FN from name.* (FN, which 4.0 requires, falls back to
// "given family"), EMAIL, TEL (as tel: URIs), ADR, BDAY, URL for a
// social.web URL and X-SOCIALPROFILE for other social.* values (a handle
// in Apple's form, with X-USER).
//
// Labels that vCard types express (home, work; for phones also mobile as
// cell, fax, pager) are written as TYPE; any other label as an Apple
// X-ABLabel in a property group, which Apple's and other clients show and
// DecodeVCard reads back. Fields whose paths have no vCard property
// (prefs, intents, brands, free paths) are left out. A well-known field
// whose value is not a string, or a path given twice, is an error and
// nothing is written.
//
// What EncodeVCard writes, DecodeVCard reads back as the same fields,
// with two exceptions: labels come back in lower case (DecodeVCard lowers
// them), and a card without name.display gains one, read from the FN that
// was made of the given and family names.
func EncodeVCard(w io.Writer, fields []Field) error {
	var (
		name      = map[string]string{}
		emails    = map[string]string{}
		phones    = map[string]string{}
		addresses = map[string]map[string]string{}
		socials   = map[string]string{}
		birthdate string
		seen      = map[string]bool{}
	)
	for _, f := range fields {
		if seen[f.Path] {
			return fieldErr(f.Path, ErrInvalidPath, "path appears more than once")
		}
		seen[f.Path] = true
		if len(f.Path) > MaxPathBytes {
			continue
		}
		segs := strings.Split(f.Path, ".")
		r, refusal := classify(segs)
		if r == nil || refusal != "" || segs[0] == "prefs" || segs[0] == "intents" {
			continue
		}
		if f.Value.Kind != KindString {
			return fieldErr(f.Path, ErrInvalidValue, "must be of type string, not "+f.Value.Kind.String())
		}
		v := f.Value.Str
		switch segs[0] {
		case "name":
			name[segs[1]] = v
		case "email":
			emails[segs[1]] = v
		case "phone":
			phones[segs[1]] = v
		case "address":
			if addresses[segs[1]] == nil {
				addresses[segs[1]] = map[string]string{}
			}
			addresses[segs[1]][segs[2]] = v
		case "birthdate":
			birthdate = v
		case "social":
			socials[segs[1]] = v
		}
	}

	bw := bufio.NewWriter(w)
	e := &vcardWriter{w: bw}
	e.line("", "BEGIN", nil, "VCARD")
	e.line("", "VERSION", nil, "4.0")
	e.line("", "PRODID", nil, vcardProdID)
	fn := name["display"]
	if fn == "" {
		fn = strings.TrimSpace(name["given"] + " " + name["family"])
	}
	e.line("", "FN", nil, escapeText(fn))
	if name["given"] != "" || name["family"] != "" {
		e.line("", "N", nil, escapeText(name["family"])+";"+escapeText(name["given"])+";;;")
	}
	for _, label := range slices.Sorted(maps.Keys(emails)) {
		e.labeled("EMAIL", label, stdTypes, nil, escapeText(emails[label]))
	}
	for _, label := range slices.Sorted(maps.Keys(phones)) {
		e.labeled("TEL", label, telTypes, []string{"VALUE=uri"}, "tel:"+phones[label])
	}
	for _, label := range slices.Sorted(maps.Keys(addresses)) {
		a := addresses[label]
		e.labeled("ADR", label, stdTypes, nil, ";;"+escapeText(a["street"])+";"+escapeText(a["locality"])+";"+
			escapeText(a["region"])+";"+escapeText(a["postal_code"])+";"+escapeText(a["country"]))
	}
	if birthdate != "" {
		e.line("", "BDAY", nil, strings.ReplaceAll(birthdate, "-", ""))
	}
	for _, network := range slices.Sorted(maps.Keys(socials)) {
		v := socials[network]
		switch {
		case network == "web" && validProfileURL(v):
			e.line("", "URL", nil, v)
		case validHandle(v):
			e.line("", "X-SOCIALPROFILE", []string{"TYPE=" + network, "X-USER=" + v}, "x-apple:"+strings.TrimPrefix(v, "@"))
		default:
			e.line("", "X-SOCIALPROFILE", []string{"TYPE=" + network}, noNewlines(v))
		}
	}
	e.line("", "END", nil, "VCARD")
	if e.err != nil {
		return e.err
	}
	return bw.Flush()
}

// Labels written as TYPE; any other label goes into an X-ABLabel.
var (
	stdTypes = map[string]string{"home": "home", "work": "work"}
	telTypes = map[string]string{"home": "home", "work": "work", "mobile": "cell", "fax": "fax", "pager": "pager"}
)

type vcardWriter struct {
	w     *bufio.Writer
	group int
	err   error
}

// labeled writes a property with its label as a TYPE if types has one for
// it, else in a new group with an X-ABLabel.
func (e *vcardWriter) labeled(name, label string, types map[string]string, params []string, value string) {
	if t, ok := types[label]; ok {
		e.line("", name, append(params, "TYPE="+t), value)
		return
	}
	e.group++
	g := "item" + strconv.Itoa(e.group)
	e.line(g, name, params, value)
	e.line(g, "X-ABLabel", nil, escapeText(label))
}

// line writes one content line, folded.
func (e *vcardWriter) line(group, name string, params []string, value string) {
	var b strings.Builder
	if group != "" {
		b.WriteString(group + ".")
	}
	b.WriteString(name)
	for _, p := range params {
		b.WriteString(";" + p)
	}
	b.WriteString(":" + value)
	e.write(fold(b.String()))
}

func (e *vcardWriter) write(s string) {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
		if e.err != nil {
			e.err = fmt.Errorf("profile: write vCard: %w", e.err)
		}
	}
}

// fold breaks a content line into physical lines of at most 75 octets,
// never inside a UTF-8 sequence, each continuation starting with a space,
// and ends each with CRLF.
func fold(s string) string {
	var b strings.Builder
	limit := maxVCardLineOctets
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.WriteString(s[:cut])
		b.WriteString("\r\n ")
		s = s[cut:]
		limit = maxVCardLineOctets - 1
	}
	b.WriteString(s)
	b.WriteString("\r\n")
	return b.String()
}

var textEscaper = strings.NewReplacer(`\`, `\\`, ",", `\,`, ";", `\;`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`)

// escapeText escapes a text value (RFC 6350 §3.4).
func escapeText(s string) string { return textEscaper.Replace(s) }

// noNewlines keeps a URI value on its line.
func noNewlines(s string) string {
	return newlineDropper.Replace(s)
}

var newlineDropper = strings.NewReplacer("\r", "", "\n", "")
