package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/profile/profilepb"
)

// outputFormat is how a command prints its result.
type outputFormat string

// The output formats of -o.
const (
	formatTable outputFormat = "table"
	formatJSON  outputFormat = "json"
)

// resolveFormat chooses the output format: the -o flag if given, else
// $VRM_FORMAT if set, else table when stdout is a terminal and json
// otherwise.
func resolveFormat(flag, env string, stdout io.Writer) (outputFormat, error) {
	switch {
	case flag != "":
		f, ok := parseFormat(flag)
		if !ok {
			return "", fmt.Errorf("-o must be table or json, got %q", flag)
		}
		return f, nil
	case env != "":
		f, ok := parseFormat(env)
		if !ok {
			return "", fmt.Errorf("%s must be table or json, got %q", envFormat, env)
		}
		return f, nil
	case isTerminal(stdout):
		return formatTable, nil
	}
	return formatJSON, nil
}

func parseFormat(s string) (outputFormat, bool) {
	switch f := outputFormat(strings.ToLower(strings.TrimSpace(s))); f {
	case formatTable, formatJSON:
		return f, true
	}
	return "", false
}

// isTerminal reports whether w is an *os.File on a character device.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// writeJSON writes v to w as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	return writeOut(w, buf.Bytes())
}

// writeOut writes data to w, reporting a failed write.
func writeOut(w io.Writer, data []byte) error {
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// table writes aligned columns.
type table struct {
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable(header ...string) *table {
	t := &table{}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 4, 2, ' ', 0)
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

// row adds a row; cells are made safe for one line and one column.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = cell(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

// writeTo flushes the table to w.
func (t *table) writeTo(w io.Writer) error {
	if err := t.tw.Flush(); err != nil {
		return fmt.Errorf("format table: %w", err)
	}
	return writeOut(w, t.buf.Bytes())
}

// cell returns s for a table cell: as is if every character is graphic,
// else Go-quoted, so that tabs, line breaks and escape sequences in a
// value cannot break the table or reach the terminal.
func cell(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return r != ' ' && !unicode.IsGraphic(r) }) {
		return strconv.QuoteToGraphic(s)
	}
	return s
}

// fieldOut is a profile field in JSON output.
type fieldOut struct {
	// Path is the field's dotted path.
	Path string `json:"path"`
	// Type is string, int, bool, timestamp or list.
	Type string `json:"type"`
	// Value is the value as its natural JSON type: a string, a number, a
	// boolean, an RFC 3339 string (timestamp) or an array of strings.
	Value any `json:"value"`
	// Version is the field's version, for --if-version.
	Version uint64 `json:"version"`
	// Updated is the time of the last change, RFC 3339 in UTC.
	Updated string `json:"updated,omitempty"`
	// Provenance is set for a field a brand contributed.
	Provenance *provenanceOut `json:"provenance,omitempty"`

	value   profile.Value // for tables
	updated time.Time
}

// provenanceOut says which brand wrote a field.
type provenanceOut struct {
	BrandJKT  string `json:"brand_jkt"`
	BrandName string `json:"brand_name,omitempty"`
	ConsentID string `json:"consent_id,omitempty"`
}

// fieldsOut converts wire fields for output, sorted by path.
func fieldsOut(in []*vrmv1.Field) ([]fieldOut, error) {
	out := make([]fieldOut, 0, len(in))
	for _, f := range in {
		v, err := profilepb.FromProto(f.GetValue())
		if err != nil {
			return nil, fmt.Errorf("the vault sent field %s with a bad value: %w", f.GetPath(), err)
		}
		fo := fieldOut{
			Path:    f.GetPath(),
			Type:    v.Kind.String(),
			Value:   jsonValue(v),
			Version: f.GetVersion(),
			value:   v,
		}
		if ts := f.GetUpdateTime(); ts != nil && ts.IsValid() {
			fo.updated = ts.AsTime().UTC()
			fo.Updated = fo.updated.Format(time.RFC3339Nano)
		}
		if p := f.GetProvenance(); p != nil {
			fo.Provenance = &provenanceOut{BrandJKT: p.GetBrandJkt(), BrandName: p.GetBrandName(), ConsentID: p.GetConsentId()}
		}
		out = append(out, fo)
	}
	slices.SortFunc(out, func(a, b fieldOut) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// jsonValue returns v as its natural JSON type.
func jsonValue(v profile.Value) any {
	switch v.Kind {
	case profile.KindString:
		return v.Str
	case profile.KindInt:
		return v.Int
	case profile.KindBool:
		return v.Bool
	case profile.KindTimestamp:
		return v.Time.UTC().Format(time.RFC3339Nano)
	case profile.KindList:
		return append([]string{}, v.List...)
	}
	return nil
}

// writeFieldsTable writes fields as PATH VALUE VERSION UPDATED, or the
// line none when there are no fields. When a brand contributed any of
// them, a last column BY names it (see contributor); it is empty for the
// owner's own fields.
func writeFieldsTable(w io.Writer, fields []fieldOut, none string) error {
	if len(fields) == 0 {
		return writeOut(w, []byte(none+"\n"))
	}
	by := slices.ContainsFunc(fields, func(f fieldOut) bool { return f.Provenance != nil })
	header := []string{"PATH", "VALUE", "VERSION", "UPDATED"}
	if by {
		header = append(header, "BY")
	}
	t := newTable(header...)
	for _, f := range fields {
		updated := ""
		if !f.updated.IsZero() {
			updated = f.updated.Format(time.RFC3339)
		}
		row := []string{f.Path, f.value.Text(), strconv.FormatUint(f.Version, 10), updated}
		if by {
			row = append(row, contributor(f.Provenance))
		}
		t.row(row...)
	}
	return t.writeTo(w)
}

// contributor is the BY cell of a field: for a brand's contribution, the
// name the brand gave itself (self-asserted) and the start of its key
// thumbprint, which identifies it: "Example Shop (0ZcOCORZ…)"; "" for the
// owner's own fields.
func contributor(p *provenanceOut) string {
	switch {
	case p == nil:
		return ""
	case p.BrandName == "":
		return shortJKT(p.BrandJKT)
	}
	return p.BrandName + " (" + shortJKT(p.BrandJKT) + ")"
}
