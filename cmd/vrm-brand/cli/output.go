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

// fieldOut is a consented profile field in JSON output, as vrm profile get
// prints it.
type fieldOut struct {
	// Path is the field's dotted path.
	Path string `json:"path"`
	// Type is string, int, bool, timestamp or list.
	Type string `json:"type"`
	// Value is the value as its natural JSON type: a string, a number, a
	// boolean, an RFC 3339 string (timestamp) or an array of strings.
	Value any `json:"value"`
	// Version is the field's version.
	Version uint64 `json:"version"`
	// Updated is the time of the last change, RFC 3339 in UTC.
	Updated string `json:"updated,omitempty"`

	value   profile.Value // for tables
	updated time.Time
}

// fieldsOut converts wire fields for output, sorted by path.
func fieldsOut(in []*vrmv1.Field) ([]fieldOut, error) {
	out := make([]fieldOut, 0, len(in))
	for _, f := range in {
		v, err := profilepb.FromProto(f.GetValue())
		if err != nil {
			return nil, fmt.Errorf("the vault sent field %s with a bad value: %w", cliout.Short(f.GetPath()), err)
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
// line none when there are no fields.
func writeFieldsTable(w io.Writer, fields []fieldOut, none string) error {
	if len(fields) == 0 {
		return cliout.WriteOut(w, []byte(none+"\n"))
	}
	t := cliout.NewTable("PATH", "VALUE", "VERSION", "UPDATED")
	for _, f := range fields {
		updated := ""
		if !f.updated.IsZero() {
			updated = f.updated.Format(time.RFC3339)
		}
		t.Row(f.Path, f.value.Text(), strconv.FormatUint(f.Version, 10), updated)
	}
	return t.WriteTo(w)
}

// formatTime formats t for output: RFC 3339 in UTC, "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// formatDuration formats d as whole days ("90d") when it is one, else as
// a Go duration.
func formatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// orNone returns the items joined by spaces, or "-" when there are none.
func orNone(items []string) string {
	if len(items) == 0 {
		return "-"
	}
	return strings.Join(items, " ")
}

// nonNil returns list, or an empty list for nil, so that JSON shows [].
func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}
