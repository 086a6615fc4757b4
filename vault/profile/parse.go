package profile

import (
	"strconv"
	"strings"
	"time"
)

// ParseValue types the text of a command-line PATH=VALUE argument. The
// kind is kind when explicit is true; otherwise the kind the well-known
// path requires (KindFor), or KindString for any other path. Texts are
// read as: a string as is; an int in decimal (an optional sign, no
// spaces); a bool as true, false, yes or no in any case; a timestamp in
// RFC 3339 (kept as the instant, in UTC); a list as comma-separated items
// with the spaces around each trimmed and empty items dropped.
//
// ParseValue only types the text; ValidateField checks the result. The
// error is a *FieldError wrapping ErrInvalidValue that names the expected
// form, not the text.
func ParseValue(path, text string, kind Kind, explicit bool) (Value, error) {
	if !explicit {
		var ok bool
		if kind, ok = KindFor(path); !ok {
			kind = KindString
		}
	}
	switch kind {
	case KindString:
		return StringValue(text), nil
	case KindInt:
		i, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return Value{}, fieldErr(path, ErrInvalidValue, "must be a decimal integer that fits in 64 bits (signed)")
		}
		return IntValue(i), nil
	case KindBool:
		switch strings.ToLower(text) {
		case "true", "yes":
			return BoolValue(true), nil
		case "false", "no":
			return BoolValue(false), nil
		}
		return Value{}, fieldErr(path, ErrInvalidValue, "must be true, false, yes or no")
	case KindTimestamp:
		t, err := time.Parse(time.RFC3339Nano, text)
		if err != nil {
			return Value{}, fieldErr(path, ErrInvalidValue, "must be an RFC 3339 timestamp such as 2024-05-01T09:30:00Z")
		}
		return TimeValue(t.UTC()), nil
	case KindList:
		items := []string{}
		for s := range strings.SplitSeq(text, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		return Value{Kind: KindList, List: items}, nil
	}
	return Value{}, fieldErr(path, ErrInvalidValue, "has no valid type; types are string, int, bool, timestamp, list")
}
