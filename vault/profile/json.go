package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ExportFormat is the value of the "format" key of a JSON export, by which
// DecodeJSON tells an export from a plain object of values.
const ExportFormat = "vrmvault-profile/v1"

// exportFormatPrefix marks a "format" key meant as an export of any
// version.
const exportFormatPrefix = "vrmvault-profile/"

// maxJSONDepth bounds the nesting of a JSON import: a nested object of the
// deepest path (16 levels) holding a list, with room to spare.
const maxJSONDepth = MaxSegments + 4

// ExportedField is a field as the vault stores it, with its version and
// the time of its last update: what EncodeJSON writes.
type ExportedField struct {
	// Path is the field's path.
	Path string
	// Value is the field's value.
	Value Value
	// Version is the field's version, incremented on every write.
	Version uint64
	// Updated is when the field was last written.
	Updated time.Time
}

type exportDoc struct {
	Format string                 `json:"format"`
	Vault  string                 `json:"vault"`
	Fields map[string]exportEntry `json:"fields"`
}

type exportEntry struct {
	Type    string `json:"type"`
	Value   any    `json:"value"`
	Version uint64 `json:"version"`
	Updated string `json:"updated,omitempty"`
}

// EncodeJSON writes an export of the vault's fields:
//
//	{"format": "vrmvault-profile/v1", "vault": "<id>", "fields": {
//	  "<path>": {"type": "string", "value": ..., "version": N, "updated": "<RFC 3339>"}}}
//
// indented, with paths sorted and HTML characters not escaped. A value is
// written as a JSON string (string), number (int), boolean (bool), RFC 3339
// string in UTC (timestamp) or array of strings (list); "updated" is left
// out when it is the zero time. The fields are written as they are,
// without validation, except that a path given twice or a value without a
// valid kind is refused, before anything is written.
func EncodeJSON(w io.Writer, vault string, fields []ExportedField) error {
	doc := exportDoc{Format: ExportFormat, Vault: vault, Fields: make(map[string]exportEntry, len(fields))}
	for _, f := range fields {
		if _, dup := doc.Fields[f.Path]; dup {
			return fieldErr(f.Path, ErrInvalidPath, "path appears more than once in the export")
		}
		e := exportEntry{Type: f.Value.Kind.String(), Version: f.Version}
		switch f.Value.Kind {
		case KindString:
			e.Value = f.Value.Str
		case KindInt:
			e.Value = f.Value.Int
		case KindBool:
			e.Value = f.Value.Bool
		case KindTimestamp:
			e.Value = f.Value.Time.UTC().Format(time.RFC3339Nano)
		case KindList:
			e.Value = append([]string{}, f.Value.List...)
		default:
			return fieldErr(f.Path, ErrInvalidValue, "value has no valid type")
		}
		if !f.Updated.IsZero() {
			e.Updated = f.Updated.UTC().Format(time.RFC3339Nano)
		}
		doc.Fields[f.Path] = e
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("profile: encode export: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// DecodeJSON reads a profile from JSON in one of three shapes:
//
//   - a nested object of values, {"name": {"given": "Ada"}}, whose keys
//     are joined with dots into paths;
//   - a flat object, {"name.given": "Ada"} (keys with dots may be mixed
//     with nesting);
//   - an export written by EncodeJSON, recognized by its top-level
//     "format" key. Its versions and update times are not returned, and
//     its brands.* fields are skipped: they belong to the brands that
//     wrote them, and an owner may not write there.
//
// In the first two shapes a JSON string is a string (or a timestamp in
// RFC 3339 where KindFor says so), a number an int (fractions and
// exponents are refused), a boolean a bool, an array of strings a list;
// null is refused, and an empty object holds no fields.
//
// The input is read up to MaxImportBytes and its nesting is bounded. The
// fields are returned sorted by path; no path appears twice; there are at
// most lim.MaxFields of them, within lim.MaxProfileBytes; and each passes
// ValidateField except the clock-dependent part of its rule (see the
// package doc). The first problem found is returned as an error wrapping
// ErrMalformed, ErrInvalidPath, ErrInvalidValue or ErrLimit.
func DecodeJSON(r io.Reader, lim Limits) ([]Field, error) {
	lim = lim.withDefaults()
	data, err := readBounded(r, "JSON")
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	root, err := parseJSONNode(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: JSON: data after the top-level object", ErrMalformed)
	}
	if root.kind != jsonObject {
		return nil, fmt.Errorf("%w: JSON: the top level must be an object", ErrMalformed)
	}
	im := &importer{lim: lim, seen: map[string]struct{}{}}
	if format, ok := root.get("format"); ok && format.kind == jsonString && strings.HasPrefix(format.str, exportFormatPrefix) {
		err = im.export(root)
	} else {
		err = im.walk("", true, root)
	}
	if err != nil {
		return nil, err
	}
	return im.result(), nil
}

// readBounded reads all of r, up to MaxImportBytes.
func readBounded(r io.Reader, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxImportBytes+1))
	if err != nil {
		return nil, fmt.Errorf("profile: read %s: %w", what, err)
	}
	if len(data) > MaxImportBytes {
		return nil, fieldErr("", ErrLimit, fmt.Sprintf("%s import is larger than %d bytes (max import size)", what, MaxImportBytes))
	}
	return data, nil
}

type jsonKind int

const (
	jsonObject jsonKind = iota
	jsonArray
	jsonString
	jsonNumber
	jsonBool
	jsonNull
)

// jsonNode is a parsed JSON value that keeps the order of object keys.
type jsonNode struct {
	kind  jsonKind
	keys  []string    // object
	vals  []*jsonNode // object values, array items
	str   string      // string, number
	truth bool        // bool
}

func (n *jsonNode) get(key string) (*jsonNode, bool) {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i], true
		}
	}
	return nil, false
}

func jsonSyntaxErr(dec *json.Decoder, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: JSON: unexpected end of input", ErrMalformed)
	}
	return fmt.Errorf("%w: JSON: syntax error near byte %d", ErrMalformed, dec.InputOffset())
}

// parseJSONNode reads one value from dec, refusing nesting deeper than
// maxJSONDepth and objects with a key twice.
func parseJSONNode(dec *json.Decoder, depth int) (*jsonNode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonSyntaxErr(dec, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth >= maxJSONDepth {
			return nil, fieldErr("", ErrLimit, fmt.Sprintf("JSON nesting is deeper than %d levels (max nesting)", maxJSONDepth))
		}
		n := &jsonNode{kind: jsonArray}
		if t == '{' {
			n.kind = jsonObject
		}
		seen := map[string]struct{}{}
		for dec.More() {
			if n.kind == jsonObject {
				kt, err := dec.Token()
				if err != nil {
					return nil, jsonSyntaxErr(dec, err)
				}
				key, _ := kt.(string)
				if _, dup := seen[key]; dup {
					return nil, fmt.Errorf("%w: JSON: an object has the key %s twice", ErrMalformed, displayPath(key))
				}
				seen[key] = struct{}{}
				n.keys = append(n.keys, key)
			}
			v, err := parseJSONNode(dec, depth+1)
			if err != nil {
				return nil, err
			}
			n.vals = append(n.vals, v)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, jsonSyntaxErr(dec, err)
		}
		return n, nil
	case string:
		return &jsonNode{kind: jsonString, str: t}, nil
	case json.Number:
		return &jsonNode{kind: jsonNumber, str: string(t)}, nil
	case bool:
		return &jsonNode{kind: jsonBool, truth: t}, nil
	case nil:
		return &jsonNode{kind: jsonNull}, nil
	}
	return nil, fmt.Errorf("%w: JSON: unexpected token", ErrMalformed)
}

// importer collects the fields of an import, validating each as it comes
// and keeping count against the profile limits.
type importer struct {
	lim    Limits
	seen   map[string]struct{}
	fields []Field
	bytes  int
}

// add validates f and adds it to the import.
func (im *importer) add(f Field) error {
	if err := validateOwnerField(f, checkCtx{}, im.lim); err != nil {
		return err
	}
	if _, dup := im.seen[f.Path]; dup {
		return fieldErr(f.Path, ErrInvalidPath, "path appears more than once in the import")
	}
	if len(im.fields) >= im.lim.MaxFields {
		return fieldErr("", ErrLimit, fmt.Sprintf("import has more than %d fields (max fields)", im.lim.MaxFields))
	}
	if im.bytes += FieldBytes(f); im.bytes > im.lim.MaxProfileBytes {
		return fieldErr("", ErrLimit, fmt.Sprintf("import is more than %d bytes of paths and values (max profile size)", im.lim.MaxProfileBytes))
	}
	im.seen[f.Path] = struct{}{}
	im.fields = append(im.fields, f)
	return nil
}

func (im *importer) result() []Field {
	slices.SortFunc(im.fields, func(a, b Field) int { return strings.Compare(a.Path, b.Path) })
	if im.fields == nil {
		return []Field{}
	}
	return im.fields
}

// walk adds the fields of a nested or flat object below prefix.
func (im *importer) walk(prefix string, root bool, n *jsonNode) error {
	for i, key := range n.keys {
		path := key
		if !root {
			path = prefix + "." + key
		}
		if len(path) > MaxPathBytes {
			return ValidatePath(path, im.lim.MaxPathDepth)
		}
		v := n.vals[i]
		if v.kind == jsonObject {
			if err := im.walk(path, false, v); err != nil {
				return err
			}
			continue
		}
		val, err := plainValue(path, v)
		if err != nil {
			return err
		}
		if err := im.add(Field{Path: path, Value: val}); err != nil {
			return err
		}
	}
	return nil
}

// plainValue converts a JSON value of the nested or flat shape.
func plainValue(path string, n *jsonNode) (Value, error) {
	switch n.kind {
	case jsonString:
		if k, ok := KindFor(path); ok && k == KindTimestamp {
			return timeValue(path, n.str)
		}
		return StringValue(n.str), nil
	case jsonNumber:
		return intValue(path, n.str)
	case jsonBool:
		return BoolValue(n.truth), nil
	case jsonArray:
		return listValue(path, n)
	case jsonNull:
		return Value{}, fieldErr(path, ErrInvalidValue, "null is not a value; leave the field out")
	}
	return Value{}, fieldErr(path, ErrInvalidValue, "is not a JSON value this import reads")
}

func timeValue(path, s string) (Value, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Value{}, fieldErr(path, ErrInvalidValue, "must be an RFC 3339 timestamp such as 2024-05-01T09:30:00Z")
	}
	return TimeValue(t.UTC()), nil
}

func intValue(path, s string) (Value, error) {
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return Value{}, fieldErr(path, ErrInvalidValue, "must be an integer from -2^63 to 2^63-1; fractions and exponents are refused")
	}
	return IntValue(i), nil
}

func listValue(path string, n *jsonNode) (Value, error) {
	items := make([]string, 0, len(n.vals))
	for _, it := range n.vals {
		if it.kind != jsonString {
			return Value{}, fieldErr(path, ErrInvalidValue, "a list holds strings only")
		}
		items = append(items, it.str)
	}
	return Value{Kind: KindList, List: items}, nil
}

// export adds the fields of an export written by EncodeJSON.
func (im *importer) export(root *jsonNode) error {
	var fields *jsonNode
	for i, key := range root.keys {
		v := root.vals[i]
		switch key {
		case "format":
			if v.str != ExportFormat {
				return fmt.Errorf("%w: export format %s is not supported; this version reads %s", ErrMalformed, strconv.Quote(truncate(v.str, 40)), ExportFormat)
			}
		case "vault":
			if v.kind != jsonString {
				return fmt.Errorf("%w: export: \"vault\" must be a string", ErrMalformed)
			}
		case "fields":
			if v.kind != jsonObject {
				return fmt.Errorf("%w: export: \"fields\" must be an object", ErrMalformed)
			}
			fields = v
		default:
			return fmt.Errorf("%w: export: unknown top-level key %s", ErrMalformed, displayPath(key))
		}
	}
	if fields == nil {
		return fmt.Errorf("%w: export: \"fields\" is missing", ErrMalformed)
	}
	for i, path := range fields.keys {
		if IsBrandPath(path) {
			continue
		}
		v, err := exportValue(path, fields.vals[i])
		if err != nil {
			return err
		}
		if err := im.add(Field{Path: path, Value: v}); err != nil {
			return err
		}
	}
	return nil
}

// exportValue converts one entry of an export's "fields".
func exportValue(path string, n *jsonNode) (Value, error) {
	if n.kind != jsonObject {
		return Value{}, fieldErr(path, ErrMalformed, "an export entry must be an object with type and value")
	}
	var typ, val *jsonNode
	for i, key := range n.keys {
		v := n.vals[i]
		switch key {
		case "type":
			typ = v
		case "value":
			val = v
		case "version":
			if v.kind != jsonNumber {
				return Value{}, fieldErr(path, ErrMalformed, "an export entry's version must be a number")
			}
			if _, err := strconv.ParseUint(v.str, 10, 64); err != nil {
				return Value{}, fieldErr(path, ErrMalformed, "an export entry's version must be an integer from 0 to 2^64-1")
			}
		case "updated":
			if v.kind != jsonString {
				return Value{}, fieldErr(path, ErrMalformed, "an export entry's updated must be an RFC 3339 string")
			}
			if _, err := time.Parse(time.RFC3339Nano, v.str); err != nil {
				return Value{}, fieldErr(path, ErrMalformed, "an export entry's updated must be an RFC 3339 string")
			}
		default:
			return Value{}, fieldErr(path, ErrMalformed, "an export entry has only type, value, version and updated")
		}
	}
	if typ == nil || val == nil || typ.kind != jsonString {
		return Value{}, fieldErr(path, ErrMalformed, "an export entry needs a type (a string) and a value")
	}
	kind, err := ParseKind(typ.str)
	if err != nil {
		return Value{}, fieldErr(path, ErrMalformed, "an export entry's type must be string, int, bool, timestamp or list")
	}
	wrong := fieldErr(path, ErrInvalidValue, "the JSON value does not match the entry's type "+kind.String())
	switch kind {
	case KindString:
		if val.kind != jsonString {
			return Value{}, wrong
		}
		return StringValue(val.str), nil
	case KindInt:
		if val.kind != jsonNumber {
			return Value{}, wrong
		}
		return intValue(path, val.str)
	case KindBool:
		if val.kind != jsonBool {
			return Value{}, wrong
		}
		return BoolValue(val.truth), nil
	case KindTimestamp:
		if val.kind != jsonString {
			return Value{}, wrong
		}
		return timeValue(path, val.str)
	default: // KindList
		if val.kind != jsonArray {
			return Value{}, wrong
		}
		return listValue(path, val)
	}
}
