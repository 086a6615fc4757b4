package profile

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error of this package wraps exactly one of them;
// callers compare with errors.Is.
var (
	// ErrInvalidPath reports a path that breaks PROTOCOL.md §4 syntax, or
	// that a well-known prefix does not allow, or that the caller may not
	// write (brands.*).
	ErrInvalidPath = errors.New("profile: invalid path")
	// ErrInvalidValue reports a value of the wrong kind or one that breaks
	// the rule of its well-known path.
	ErrInvalidValue = errors.New("profile: invalid value")
	// ErrLimit reports a size or count beyond a limit; the message names
	// the limit and its value.
	ErrLimit = errors.New("profile: limit exceeded")
	// ErrMalformed reports an import file (JSON or vCard) that cannot be
	// parsed, or whose structure is not what the format requires.
	ErrMalformed = errors.New("profile: malformed import")
)

// FieldError is the error of one field (or of a whole batch, when Path is
// empty). Its message is one line, "path: rule", naming the rule that was
// broken and never the value. Unwrap returns ErrInvalidPath,
// ErrInvalidValue, ErrLimit or ErrMalformed.
type FieldError struct {
	// Path is the field's path as given (it may be invalid); empty for an
	// error about a whole batch or import.
	Path string
	// Rule says what is required, or which limit was crossed, e.g.
	// `must be an E.164 number: "+", country code, up to 15 digits in all`.
	Rule string
	// Err is the sentinel: ErrInvalidPath, ErrInvalidValue, ErrLimit or
	// ErrMalformed.
	Err error
}

// Error returns "path: rule" on one line. A path that is not valid path
// syntax is quoted and shortened, so that the message stays one line and
// cannot carry much more than a path.
func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Rule
	}
	return displayPath(e.Path) + ": " + e.Rule
}

// Unwrap returns the sentinel error.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(path string, sentinel error, rule string) *FieldError {
	return &FieldError{Path: path, Rule: rule, Err: sentinel}
}

// maxDisplayPath bounds how much of an invalid path an error message shows.
const maxDisplayPath = 80

// displayPath returns path as is when it consists of path characters only
// and is not too long; otherwise a quoted, shortened form.
func displayPath(path string) string {
	safe := len(path) <= MaxPathBytes
	for i := 0; i < len(path) && safe; i++ {
		safe = isSegmentByte(path[i]) || path[i] == '.' || path[i] == '*'
	}
	if safe {
		return path
	}
	short := path
	if len(short) > maxDisplayPath {
		cut := maxDisplayPath
		for cut > 0 && !isRuneStart(short[cut]) {
			cut--
		}
		short = short[:cut] + "..."
	}
	return strconv.Quote(short)
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
