package profile

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is the type of a profile value.
type Kind int

// The kinds of value. The zero Kind is not a kind: a Value with Kind 0 is
// refused by validation, so a value whose kind was never set cannot pass
// as an empty string.
const (
	// KindString is a UTF-8 string.
	KindString Kind = iota + 1
	// KindInt is a signed 64-bit integer.
	KindInt
	// KindBool is true or false.
	KindBool
	// KindTimestamp is an instant, shown and exported in RFC 3339, UTC.
	KindTimestamp
	// KindList is a list of strings.
	KindList
)

var kindNames = [...]string{
	KindString:    "string",
	KindInt:       "int",
	KindBool:      "bool",
	KindTimestamp: "timestamp",
	KindList:      "list",
}

// Valid reports whether k is one of the five kinds.
func (k Kind) Valid() bool { return k >= KindString && k <= KindList }

// String returns "string", "int", "bool", "timestamp" or "list", or
// "Kind(n)" for a value that is not a kind.
func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind returns the Kind named by s, one of the names Kind.String
// returns for a valid kind (exact, lower case).
func ParseKind(s string) (Kind, error) {
	for k := KindString; k <= KindList; k++ {
		if s == kindNames[k] {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown type %s; types are string, int, bool, timestamp, list", ErrInvalidValue, strconv.Quote(truncate(s, 32)))
}

// Value is a typed profile value. Only the member that matches Kind is
// meaningful; the others are ignored by every function of this package.
type Value struct {
	// Kind says which of the other members holds the value.
	Kind Kind
	// Str is the value of a KindString.
	Str string
	// Int is the value of a KindInt.
	Int int64
	// Bool is the value of a KindBool.
	Bool bool
	// Time is the value of a KindTimestamp.
	Time time.Time
	// List is the value of a KindList; nil and empty are the same list.
	List []string
}

// StringValue returns a KindString value.
func StringValue(s string) Value { return Value{Kind: KindString, Str: s} }

// IntValue returns a KindInt value.
func IntValue(i int64) Value { return Value{Kind: KindInt, Int: i} }

// BoolValue returns a KindBool value.
func BoolValue(b bool) Value { return Value{Kind: KindBool, Bool: b} }

// TimeValue returns a KindTimestamp value.
func TimeValue(t time.Time) Value { return Value{Kind: KindTimestamp, Time: t} }

// ListValue returns a KindList value holding a copy of items.
func ListValue(items []string) Value { return Value{Kind: KindList, List: slices.Clone(items)} }

// scalarSize is what an int, bool or timestamp counts against limits.
const scalarSize = 8

// Size returns the bytes the value counts against limits: the length of a
// string, the sum of the lengths of a list's items, 8 for an int, bool or
// timestamp, and 0 for a value without a valid Kind.
func (v Value) Size() int {
	switch v.Kind {
	case KindString:
		return len(v.Str)
	case KindList:
		n := 0
		for _, s := range v.List {
			n += len(s)
		}
		return n
	case KindInt, KindBool, KindTimestamp:
		return scalarSize
	}
	return 0
}

// Text returns the value in human form: a string as is, an int in decimal,
// a bool as true or false, a timestamp in RFC 3339 in UTC (with fractional
// seconds only when there are any), a list as its items joined by ", ".
func (v Value) Text() string {
	switch v.Kind {
	case KindString:
		return v.Str
	case KindInt:
		return strconv.FormatInt(v.Int, 10)
	case KindBool:
		return strconv.FormatBool(v.Bool)
	case KindTimestamp:
		return v.Time.UTC().Format(time.RFC3339Nano)
	case KindList:
		return strings.Join(v.List, ", ")
	}
	return ""
}

// Equal reports whether v and o have the same kind and the same value:
// timestamps compare as instants (time.Time.Equal), lists item by item
// (nil equals empty), and members that do not belong to the kind are
// ignored.
func (v Value) Equal(o Value) bool {
	if v.Kind != o.Kind {
		return false
	}
	switch v.Kind {
	case KindString:
		return v.Str == o.Str
	case KindInt:
		return v.Int == o.Int
	case KindBool:
		return v.Bool == o.Bool
	case KindTimestamp:
		return v.Time.Equal(o.Time)
	case KindList:
		return slices.Equal(v.List, o.List)
	}
	return true
}

// Field is a value at a path.
type Field struct {
	// Path is the dotted path of the field, e.g. "email.home".
	Path string
	// Value is the field's value.
	Value Value
}

// truncate shortens s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
