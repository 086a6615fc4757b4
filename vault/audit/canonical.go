package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// A consented read appends an audit entry and rewrites the log's head, so
// both are encoded on every read, by the shared commit that runs the reads
// of many vaults one after another. encoding/json's reflection was a tenth
// of that commit's work; the entries and heads the vault writes are almost
// always plain (ASCII names, base64url hashes), and for those the
// functions here write and read the very same bytes directly.

// plain reports whether JSON encodes s as itself between quotes: printable
// ASCII without '"' and '\\', and without the '<', '>' and '&' that Go's
// encoder escapes.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func appendPlain(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendCanonical appends the canonical encoding of e, whose Time is UTC,
// to b, and reports true; or, if a string of e is not plain or its year
// has not four digits, reports false (encoding/json then encodes it). The
// bytes are json.Marshal's (TestCanonicalFastPath).
func appendCanonical(b []byte, e Entry) ([]byte, bool) {
	if y := e.Time.Year(); y < 0 || y > 9999 {
		return b, false
	}
	if !plain(e.Caller) || !plain(e.Role) || !plain(e.Method) || !plain(e.Consent) || !plain(e.Outcome) || !plain(e.Prev) {
		return b, false
	}
	for _, p := range e.Paths {
		if !plain(p) {
			return b, false
		}
	}
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","caller":`...)
	b = appendPlain(b, e.Caller)
	b = append(b, `,"role":`...)
	b = appendPlain(b, e.Role)
	b = append(b, `,"method":`...)
	b = appendPlain(b, e.Method)
	if e.Consent != "" {
		b = append(b, `,"consent":`...)
		b = appendPlain(b, e.Consent)
	}
	if len(e.Paths) > 0 {
		b = append(b, `,"paths":[`...)
		for i, p := range e.Paths {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendPlain(b, p)
		}
		b = append(b, ']')
	}
	b = append(b, `,"outcome":`...)
	b = appendPlain(b, e.Outcome)
	b = append(b, `,"prev":`...)
	b = appendPlain(b, e.Prev)
	return append(b, '}'), true
}

// EncodeHead returns the stored form of h, its JSON encoding
// ({"seq":N,"hash":"..."}).
func EncodeHead(h Head) ([]byte, error) {
	if plain(h.Hash) {
		b := make([]byte, 0, len(`{"seq":,"hash":""}`)+20+len(h.Hash))
		b = append(b, `{"seq":`...)
		b = strconv.AppendUint(b, h.Seq, 10)
		b = append(b, `,"hash":`...)
		b = appendPlain(b, h.Hash)
		return append(b, '}'), nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode audit head: %w", err)
	}
	return b, nil
}

// ParseHead reads a head stored by EncodeHead. Like json.Unmarshal, it
// takes any JSON object with those members (FuzzParseHead), and reads the
// form EncodeHead writes without reflection.
func ParseHead(b []byte) (Head, error) {
	if h, ok := parsePlainHead(b); ok {
		return h, nil
	}
	var h Head
	if err := json.Unmarshal(b, &h); err != nil {
		return Head{}, fmt.Errorf("decode audit head: %w", err)
	}
	return h, nil
}

// parsePlainHead reads exactly {"seq":N,"hash":"H"} with N a JSON number
// without sign, fraction or exponent and H plain; anything else is left
// to encoding/json.
func parsePlainHead(b []byte) (Head, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(`{"seq":`))
	if !ok {
		return Head{}, false
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 || (n > 1 && rest[0] == '0') {
		return Head{}, false
	}
	seq, err := strconv.ParseUint(string(rest[:n]), 10, 64)
	if err != nil {
		return Head{}, false
	}
	rest, ok = bytes.CutPrefix(rest[n:], []byte(`,"hash":"`))
	if !ok {
		return Head{}, false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 || !bytes.Equal(rest[end:], []byte(`"}`)) {
		return Head{}, false
	}
	hash := string(rest[:end])
	if !plain(hash) {
		return Head{}, false
	}
	return Head{Seq: seq, Hash: hash}, true
}
