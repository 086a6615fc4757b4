package consent

import (
	"errors"
	"fmt"
	"strings"
)

// Action is what a scope lets a brand do (PROTOCOL.md section 4).
type Action string

// The actions of a scope.
const (
	// ActionRead reads the values of the covered fields.
	ActionRead Action = "read"
	// ActionWatch reads the covered fields and streams their changes; it
	// implies ActionRead.
	ActionWatch Action = "watch"
	// ActionWrite writes the covered fields; a brand may hold it only under
	// its own namespace, brands.<its jkt>.*.
	ActionWrite Action = "write"
)

// Scope and path limits (PROTOCOL.md section 4).
const (
	// MaxPathSegments is the most segments a path has, counting a
	// trailing "*".
	MaxPathSegments = 16
	// MaxSegmentLen is the longest path segment, in bytes.
	MaxSegmentLen = 64
	// MaxScopeLen is the longest scope string: "watch:" and 16 segments of
	// 64 bytes with their dots. Longer input is refused before parsing.
	MaxScopeLen = len("watch:") + MaxPathSegments*MaxSegmentLen + MaxPathSegments - 1
	// MaxScopes is the most scopes a request or a record carries.
	MaxScopes = 64
	// MaxScopesLen is the most bytes the scopes of a request or a record
	// take together, so that a record granting all of them fits in
	// MaxLedgerEntryLen.
	MaxScopesLen = 8192
	// maxFieldPathLen is the longest field path.
	maxFieldPathLen = MaxPathSegments*MaxSegmentLen + MaxPathSegments - 1
)

// ErrInvalidScope is the kind of every refused scope: malformed, or not
// allowed to the brand that asks for it. The message names the scope and
// the rule it breaks.
var ErrInvalidScope = errors.New("invalid scope")

// Scope is a parsed "action:path" (PROTOCOL.md section 4). Path is the
// dotted path without a trailing ".*"; Wildcard says that the scope ended
// in ".*" and covers every field strictly below Path.
type Scope struct {
	// Action is read, watch or write.
	Action Action
	// Path is the dotted path, without the trailing ".*" of a wildcard.
	Path string
	// Wildcard is true for a scope ending in ".*".
	Wildcard bool
}

func scopeErr(s, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrInvalidScope, truncate(s, 80), fmt.Sprintf(format, args...))
}

// ParseScope parses "action:path". The action is read, watch or write; the
// path is 1 to MaxPathSegments dotted segments of [A-Za-z0-9_-]{1,64}, and
// its last segment may be "*" (one or more segments below), though not as
// its only one: "read:*" is refused, a wildcard needs a root. Nothing else
// is accepted: no spaces, no other characters, no empty segment.
func ParseScope(s string) (Scope, error) {
	if len(s) > MaxScopeLen {
		return Scope{}, scopeErr(s, "longer than %d bytes", MaxScopeLen)
	}
	action, path, ok := strings.Cut(s, ":")
	if !ok {
		return Scope{}, scopeErr(s, `must be "action:path"`)
	}
	switch Action(action) {
	case ActionRead, ActionWatch, ActionWrite:
	default:
		return Scope{}, scopeErr(s, "unknown action %q (read, watch or write)", truncate(action, 16))
	}
	if path == "" {
		return Scope{}, scopeErr(s, "empty path")
	}
	n := strings.Count(path, ".") + 1
	if n > MaxPathSegments {
		return Scope{}, scopeErr(s, "more than %d path segments", MaxPathSegments)
	}
	wildcard := false
	for i, seg := range strings.Split(path, ".") {
		if seg == "*" {
			if i != n-1 {
				return Scope{}, scopeErr(s, `"*" is allowed only as the last segment`)
			}
			if i == 0 {
				return Scope{}, scopeErr(s, "a wildcard needs at least one segment before it")
			}
			wildcard = true
			continue
		}
		if !validSegment(seg) {
			return Scope{}, scopeErr(s, "segment %d must be 1 to %d of A-Z a-z 0-9 _ -", i+1, MaxSegmentLen)
		}
	}
	if wildcard {
		path = path[:len(path)-2]
	}
	return Scope{Action: Action(action), Path: path, Wildcard: wildcard}, nil
}

// validSegment reports whether seg matches [A-Za-z0-9_-]{1,64}.
func validSegment(seg string) bool {
	return len(seg) >= 1 && len(seg) <= MaxSegmentLen && isBase64URL(seg)
}

// validFieldPath reports whether p is a field path: 1 to MaxPathSegments
// segments, each valid, no wildcard.
func validFieldPath(p string) bool {
	if p == "" || len(p) > maxFieldPathLen || strings.Count(p, ".")+1 > MaxPathSegments {
		return false
	}
	for _, seg := range strings.Split(p, ".") {
		if !validSegment(seg) {
			return false
		}
	}
	return true
}

// String returns the scope as "action:path", with ".*" for a wildcard.
// For a parsed scope it is the string that was parsed.
func (s Scope) String() string {
	if s.Wildcard {
		return string(s.Action) + ":" + s.Path + ".*"
	}
	return string(s.Action) + ":" + s.Path
}

// valid reports whether s is what ParseScope could have returned, for
// scopes built by hand.
func (s Scope) valid() error {
	p, err := ParseScope(s.String())
	if err != nil {
		return err
	}
	if p != s {
		return scopeErr(s.String(), "not in canonical form")
	}
	return nil
}

// ParseScopes parses a list of at most MaxScopes scopes, MaxScopesLen
// bytes together, and refuses duplicates. An empty list is returned empty; callers that need at least
// one scope say so.
func ParseScopes(list []string) ([]Scope, error) {
	if len(list) > MaxScopes {
		return nil, fmt.Errorf("%w: more than %d scopes", ErrInvalidScope, MaxScopes)
	}
	total := 0
	for _, s := range list {
		total += len(s)
	}
	if total > MaxScopesLen {
		return nil, fmt.Errorf("%w: scopes longer than %d bytes together", ErrInvalidScope, MaxScopesLen)
	}
	out := make([]Scope, 0, len(list))
	seen := make(map[string]bool, len(list))
	for _, s := range list {
		sc, err := ParseScope(s)
		if err != nil {
			return nil, err
		}
		if seen[s] {
			return nil, scopeErr(s, "listed twice")
		}
		seen[s] = true
		out = append(out, sc)
	}
	return out, nil
}

// FormatScopes returns the strings of scopes, in order: what a record's
// "scopes" claim carries.
func FormatScopes(scopes []Scope) []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = s.String()
	}
	return out
}

// Covers reports whether the field at path is covered by the scope's path:
// path equals Path for a plain scope; path lies one or more segments below
// Path for a wildcard (read:name.* covers name.given and name.a.b, not
// name, not namex.y). A path that is not a valid field path is never
// covered.
func (s Scope) Covers(path string) bool {
	if !validFieldPath(path) {
		return false
	}
	if !s.Wildcard {
		return path == s.Path
	}
	return len(path) > len(s.Path)+1 && strings.HasPrefix(path, s.Path) && path[len(s.Path)] == '.'
}

// grants reports whether a scope of action a lets its holder do want:
// watch implies read; write is its own.
func grants(a, want Action) bool {
	return a == want || (a == ActionWatch && want == ActionRead)
}

// Allows reports whether the scope lets its holder do action on the field
// at path. Watch implies read; write is its own.
func (s Scope) Allows(action Action, path string) bool {
	return grants(s.Action, action) && s.Covers(path)
}

// Contains reports whether s is at least as broad as o: every (action,
// field) that o allows, s allows. Actions: equal, or s watch and o read.
// Paths: a plain s contains only the identical plain o; a wildcard s
// contains every o below its root and a wildcard o at its root.
func (s Scope) Contains(o Scope) bool {
	if !grants(s.Action, o.Action) {
		return false
	}
	if !s.Wildcard {
		return !o.Wildcard && o.Path == s.Path
	}
	if o.Path == s.Path {
		return o.Wildcard
	}
	return len(o.Path) > len(s.Path)+1 && strings.HasPrefix(o.Path, s.Path) && o.Path[len(s.Path)] == '.'
}

// BrandNamespace returns the root of the brand's own namespace,
// "brands.<jkt>": the only place it may be granted write.
func BrandNamespace(brandJKT string) string { return "brands." + brandJKT }

// CheckBrandScopes checks that every write scope lies in the brand's own
// namespace: write:brands.<jkt>.*, or a path below brands.<jkt>. Read and
// watch may name any path. brandJKT must be a key thumbprint.
func CheckBrandScopes(scopes []Scope, brandJKT string) error {
	if !validHash(brandJKT) {
		return fmt.Errorf("%w: brand %q is not a key thumbprint", ErrInvalidScope, truncate(brandJKT, 64))
	}
	ns := BrandNamespace(brandJKT)
	for _, s := range scopes {
		if s.Action != ActionWrite {
			continue
		}
		if (s.Path == ns && s.Wildcard) || strings.HasPrefix(s.Path, ns+".") {
			continue
		}
		return scopeErr(s.String(), "a brand may write only under %s.*", ns)
	}
	return nil
}
