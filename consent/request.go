package consent

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Access request limits (PROTOCOL.md section 3.1).
const (
	// MaxBrandNameLen is the longest brand display name, in characters.
	MaxBrandNameLen = 128
	// MaxBrandURLLen is the longest brand URL, in bytes.
	MaxBrandURLLen = 2048
	// MaxReasonLen is the longest reason, in characters.
	MaxReasonLen = 500
	// MinConsentDuration is the shortest duration a brand may ask for.
	MinConsentDuration = time.Hour
	// MaxConsentDuration is the longest duration a brand may ask for, and
	// so the longest a consent lasts: two years of 365 days.
	MaxConsentDuration = 2 * 365 * 24 * time.Hour
	// PendingRequestTTL is how long a request waits for the owner's
	// decision before it expires.
	PendingRequestTTL = 7 * 24 * time.Hour
)

// ErrInvalidRequest is the kind of every refused access request. The
// message names the field and the limit.
var ErrInvalidRequest = errors.New("invalid access request")

// AccessRequest is what a brand asks for (PROTOCOL.md section 3.1). The
// brand's identity is the key of the proof that carries it, so it is not
// a field here: Validate takes its thumbprint.
type AccessRequest struct {
	// BrandName is the brand's self-asserted display name.
	BrandName string
	// BrandURL is the brand's self-asserted URL.
	BrandURL string
	// Scopes are the requested scopes.
	Scopes []Scope
	// Purposes are the DPV purposes the brand states.
	Purposes []string
	// Duration is how long the brand asks the consent to last.
	Duration time.Duration
	// Reason says why, in the brand's words; it may be empty.
	Reason string
}

func requestErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// Validate checks the request of the brand whose key thumbprint is
// brandJKT against every limit of the protocol:
//   - BrandName: 1 to MaxBrandNameLen characters of valid UTF-8, no
//     control or format characters (the latter include the bidirectional
//     overrides that can make a name display as another), not blank, no
//     leading or trailing space;
//   - BrandURL: at most MaxBrandURLLen bytes of printable ASCII (an
//     internationalised host must be given in punycode, so that look-alike
//     names show as what they are), "https://" and a host, no user
//     information; "http://" only for localhost, 127.0.0.1 and [::1];
//   - Scopes: 1 to MaxScopes, MaxScopesLen bytes together, each valid, no
//     duplicates, writes only in the brand's own namespace
//     (CheckBrandScopes);
//   - Purposes: as ParsePurposes;
//   - Duration: from MinConsentDuration to MaxConsentDuration;
//   - Reason: at most MaxReasonLen characters, same character rules as the
//     name, may be empty.
func (r AccessRequest) Validate(brandJKT string) error {
	if !validHash(brandJKT) {
		return requestErr("brand %q is not a key thumbprint", truncate(brandJKT, 64))
	}
	if err := checkText(r.BrandName, MaxBrandNameLen); err != nil {
		return requestErr("brand name %v", err)
	}
	if r.BrandName == "" {
		return requestErr("brand name is empty")
	}
	if strings.TrimSpace(r.BrandName) != r.BrandName {
		return requestErr("brand name has leading or trailing space")
	}
	if err := checkBrandURL(r.BrandURL); err != nil {
		return requestErr("brand URL %v", err)
	}
	if len(r.Scopes) == 0 {
		return requestErr("at least one scope is needed")
	}
	if len(r.Scopes) > MaxScopes {
		return requestErr("more than %d scopes", MaxScopes)
	}
	total := 0
	seen := make(map[Scope]bool, len(r.Scopes))
	for _, s := range r.Scopes {
		total += len(s.String())
		if err := s.valid(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
		if seen[s] {
			return fmt.Errorf("%w: %w", ErrInvalidRequest, scopeErr(s.String(), "listed twice"))
		}
		seen[s] = true
	}
	if total > MaxScopesLen {
		return requestErr("scopes longer than %d bytes together", MaxScopesLen)
	}
	if err := CheckBrandScopes(r.Scopes, brandJKT); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if _, err := ParsePurposes(r.Purposes); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if r.Duration < MinConsentDuration {
		return requestErr("duration %s is shorter than %s", r.Duration, MinConsentDuration)
	}
	if r.Duration > MaxConsentDuration {
		return requestErr("duration %s is longer than %s (two years)", r.Duration, MaxConsentDuration)
	}
	if err := checkText(r.Reason, MaxReasonLen); err != nil {
		return requestErr("reason %v", err)
	}
	return nil
}

// checkText checks text shown to the owner: valid UTF-8, at most max
// characters, no control (Cc) or format (Cf) characters. It returns an
// error to be prefixed by the field's name.
func checkText(s string, max int) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("is longer than %d characters", max)
	}
	for _, r := range s {
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("contains the control or format character %U", r)
		}
	}
	return nil
}

// checkBrandURL checks a brand URL as Validate describes. It parses by
// hand: the pure domain does not import net/url, and the rules here are
// narrower than a general URL parser's anyway.
func checkBrandURL(u string) error {
	if u == "" {
		return errors.New("is empty")
	}
	if len(u) > MaxBrandURLLen {
		return fmt.Errorf("is longer than %d bytes", MaxBrandURLLen)
	}
	for i := 0; i < len(u); i++ {
		if u[i] < 0x21 || u[i] > 0x7e {
			return errors.New("must be printable ASCII without spaces (a non-ASCII host goes in punycode)")
		}
	}
	var rest string
	secure := true
	switch {
	case strings.HasPrefix(u, "https://"):
		rest = u[len("https://"):]
	case strings.HasPrefix(u, "http://"):
		rest, secure = u[len("http://"):], false
	default:
		return errors.New(`must start with "https://"`)
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	if strings.Contains(authority, "@") {
		return errors.New("must not carry user information")
	}
	if strings.Contains(rest, `\`) {
		return errors.New(`must not contain "\"`)
	}
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return errors.New("has an unclosed IPv6 literal")
		}
		host, port = authority[:end+1], authority[end+1:]
		if port != "" && port[0] != ':' {
			return errors.New("has junk after its IPv6 literal")
		}
		if !validIPv6Literal(host[1 : len(host)-1]) {
			return errors.New("has an invalid IPv6 literal")
		}
	} else if i := strings.IndexByte(authority, ':'); i >= 0 {
		host, port = authority[:i], authority[i:]
		if !validHostname(host) {
			return errors.New("has an invalid host")
		}
	} else if !validHostname(host) {
		return errors.New("has no valid host")
	}
	if port != "" && !validPort(port[1:]) {
		return errors.New("has an invalid port")
	}
	if !secure {
		switch strings.ToLower(host) {
		case "localhost", "127.0.0.1", "[::1]":
		default:
			return errors.New(`must use https:// (http:// is allowed only for localhost)`)
		}
	}
	return nil
}

// validHostname reports whether h is a DNS name (or dotted IPv4): labels
// of 1 to 63 letters, digits and hyphens, not starting or ending with a
// hyphen, 253 bytes in all.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// validIPv6Literal is a loose check of the inside of "[...]": hex digits,
// colons and dots (an embedded IPv4), 2 to 45 bytes, at least two colons.
func validIPv6Literal(s string) bool {
	if len(s) < 2 || len(s) > 45 || strings.Count(s, ":") < 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
			return false
		}
	}
	return true
}

// validPort reports whether p is a decimal port from 1 to 65535.
func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n >= 1 && n <= 65535
}
