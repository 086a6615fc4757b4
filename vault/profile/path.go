package profile

import (
	"fmt"
	"strings"
)

// ValidatePath checks a field path against PROTOCOL.md §4: dotted
// segments, each 1 to 64 bytes of [A-Za-z0-9_-], at most maxDepth segments
// and at most MaxPathBytes bytes in all. The scope wildcard "*" is refused:
// a field lives at one path. A maxDepth of zero or less means 16, and one
// above 16 is read as 16, the protocol's bound.
//
// The error is a *FieldError wrapping ErrInvalidPath, or ErrLimit for a
// path that is too deep or too long.
func ValidatePath(path string, maxDepth int) error {
	if maxDepth <= 0 || maxDepth > MaxSegments {
		maxDepth = MaxSegments
	}
	if path == "" {
		return fieldErr(path, ErrInvalidPath, "path is empty")
	}
	if len(path) > MaxPathBytes {
		return fieldErr(path, ErrLimit, fmt.Sprintf("path is %d bytes, limit is %d (max path length)", len(path), MaxPathBytes))
	}
	if n := strings.Count(path, ".") + 1; n > maxDepth {
		return fieldErr(path, ErrLimit, fmt.Sprintf("path has %d segments, limit is %d (max path depth)", n, maxDepth))
	}
	seg, start := 1, 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '.' {
			continue
		}
		s := path[start:i]
		switch {
		case s == "":
			return fieldErr(path, ErrInvalidPath, fmt.Sprintf("segment %d is empty (a leading, trailing or doubled dot)", seg))
		case s == "*":
			return fieldErr(path, ErrInvalidPath, "the wildcard * belongs to scopes, not to field paths")
		case len(s) > MaxSegmentBytes:
			return fieldErr(path, ErrInvalidPath, fmt.Sprintf("segment %d is %d bytes, at most %d", seg, len(s), MaxSegmentBytes))
		}
		for j := 0; j < len(s); j++ {
			if !isSegmentByte(s[j]) {
				return fieldErr(path, ErrInvalidPath, fmt.Sprintf("segment %d has a character outside A-Z a-z 0-9 _ -", seg))
			}
		}
		seg, start = seg+1, i+1
	}
	return nil
}

// validSegment reports whether s is one path segment.
func validSegment(s string) bool {
	if s == "" || len(s) > MaxSegmentBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isSegmentByte(s[i]) {
			return false
		}
	}
	return true
}

func isSegmentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// IsBrandPath reports whether path lies in the brands namespace ("brands"
// or "brands.…"), where brands write their contributions and an owner may
// only delete. It does not check the rest of the path's syntax.
func IsBrandPath(path string) bool {
	return path == brandsPrefix || strings.HasPrefix(path, brandsPrefix+".")
}

const brandsPrefix = "brands"
