package cli

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/profile/profilepb"
)

// resolveFormat chooses the output format: the -o flag, else the
// environment variable envFormat, else table on a terminal and json
// otherwise (cliout.ResolveFormat).
func resolveFormat(flag, env string, stdout io.Writer) (cliout.Format, error) {
	return cliout.ResolveFormat(flag, env, envFormat, stdout)
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
		return cliout.WriteOut(w, []byte(none+"\n"))
	}
	by := slices.ContainsFunc(fields, func(f fieldOut) bool { return f.Provenance != nil })
	header := []string{"PATH", "VALUE", "VERSION", "UPDATED"}
	if by {
		header = append(header, "BY")
	}
	t := cliout.NewTable(header...)
	for _, f := range fields {
		updated := ""
		if !f.updated.IsZero() {
			updated = f.updated.Format(time.RFC3339)
		}
		row := []string{f.Path, f.value.Text(), strconv.FormatUint(f.Version, 10), updated}
		if by {
			row = append(row, contributor(f.Provenance))
		}
		t.Row(row...)
	}
	return t.WriteTo(w)
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
