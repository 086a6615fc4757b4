package cli

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// quotaField is one member of a vault's quota: its flag, its JSON name
// and how to read and set it in the wire message.
type quotaField struct {
	flag  string
	help  string
	bytes bool // a size, which takes a KiB/MiB/GiB suffix
	get   func(*vrmv1.VaultQuota) int64
	set   func(*vrmv1.VaultQuota, int64)
}

// quotaFields returns the members of a quota in the order they are
// printed.
func quotaFields() []quotaField {
	return []quotaField{
		{"max-size-bytes", "largest stored profile, in bytes (suffix KiB, MiB, GiB allowed)", true,
			(*vrmv1.VaultQuota).GetMaxSizeBytes, func(q *vrmv1.VaultQuota, v int64) { q.MaxSizeBytes = v }},
		{"max-fields", "most profile fields", false,
			(*vrmv1.VaultQuota).GetMaxFields, func(q *vrmv1.VaultQuota, v int64) { q.MaxFields = v }},
		{"calls-per-second", "calls per second to the vault, from everyone", false,
			(*vrmv1.VaultQuota).GetCallsPerSecond, func(q *vrmv1.VaultQuota, v int64) { q.CallsPerSecond = v }},
		{"brand-calls-per-second", "calls per second to the vault from one brand", false,
			(*vrmv1.VaultQuota).GetBrandCallsPerSecond, func(q *vrmv1.VaultQuota, v int64) { q.BrandCallsPerSecond = v }},
		{"brand-pending-requests", "pending access requests of one brand", false,
			(*vrmv1.VaultQuota).GetBrandPendingRequests, func(q *vrmv1.VaultQuota, v int64) { q.BrandPendingRequests = v }},
		{"brand-open-streams", "open watch streams of one brand", false,
			(*vrmv1.VaultQuota).GetBrandOpenStreams, func(q *vrmv1.VaultQuota, v int64) { q.BrandOpenStreams = v }},
	}
}

// quotaFlags are the quota flags of a command; the zero value of each is
// "not given".
type quotaFlags struct {
	q vrmv1.VaultQuota
}

// add registers the flags on cmd.
func (qf *quotaFlags) add(cmd *cobra.Command) {
	for _, f := range quotaFields() {
		cmd.Flags().Var(&quotaValue{q: &qf.q, f: f}, f.flag, f.help)
	}
}

// quota returns the quota the flags give, nil when none is given.
func (qf *quotaFlags) quota() *vrmv1.VaultQuota {
	for _, f := range quotaFields() {
		if f.get(&qf.q) != 0 {
			return &qf.q
		}
	}
	return nil
}

// quotaFlagList names the quota flags, for messages.
func quotaFlagList() string {
	var names []string
	for _, f := range quotaFields() {
		names = append(names, "--"+f.flag)
	}
	return strings.Join(names, ", ")
}

// quotaValue is the flag.Value of one quota flag.
type quotaValue struct {
	q *vrmv1.VaultQuota
	f quotaField
}

func (v *quotaValue) String() string {
	if v.q == nil || v.f.get(v.q) == 0 {
		return ""
	}
	return strconv.FormatInt(v.f.get(v.q), 10)
}

func (v *quotaValue) Set(s string) error {
	n, err := parseQuota(s, v.f.bytes)
	if err != nil {
		return err
	}
	v.f.set(v.q, n)
	return nil
}

func (v *quotaValue) Type() string {
	if v.f.bytes {
		return "SIZE"
	}
	return "N"
}

// errQuotaNotPositive refuses 0 and negative quotas: the host reads 0 as
// "keep the current value" and refuses negative ones.
var errQuotaNotPositive = errors.New("must be at least 1 (a quota cannot be set to 0 or below)")

// parseQuota parses a quota: a whole number of at least 1, which for a
// size may end in a binary unit (KiB, MiB, GiB, TiB, or K, M, G, T).
func parseQuota(s string, size bool) (int64, error) {
	// The suffixes a size may carry, longest first.
	units := []struct {
		suffix string
		mult   int64
	}{
		{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
		{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1},
	}
	num, mult := strings.TrimSpace(s), int64(1)
	if size {
		for _, u := range units {
			if rest, ok := strings.CutSuffix(num, u.suffix); ok {
				num, mult = strings.TrimSpace(rest), u.mult
				break
			}
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		if size {
			return 0, fmt.Errorf("not a size (a whole number of bytes, or with KiB, MiB, GiB)")
		}
		return 0, fmt.Errorf("not a whole number")
	}
	if n < 1 {
		return 0, errQuotaNotPositive
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("too large")
	}
	return n * mult, nil
}

// quotaOut is a quota in JSON output, with the wire's member names. A 0
// member is one the host does not bound per vault (its own limits still
// apply).
type quotaOut struct {
	MaxSizeBytes         int64 `json:"max_size_bytes"`
	MaxFields            int64 `json:"max_fields"`
	CallsPerSecond       int64 `json:"calls_per_second"`
	BrandCallsPerSecond  int64 `json:"brand_calls_per_second"`
	BrandPendingRequests int64 `json:"brand_pending_requests"`
	BrandOpenStreams     int64 `json:"brand_open_streams"`
}

// newQuotaOut converts a wire quota (nil reads as all zero).
func newQuotaOut(q *vrmv1.VaultQuota) quotaOut {
	return quotaOut{
		MaxSizeBytes: q.GetMaxSizeBytes(), MaxFields: q.GetMaxFields(), CallsPerSecond: q.GetCallsPerSecond(),
		BrandCallsPerSecond: q.GetBrandCallsPerSecond(), BrandPendingRequests: q.GetBrandPendingRequests(),
		BrandOpenStreams: q.GetBrandOpenStreams(),
	}
}

// quotaRows adds a quota to a table, one member a row, named by its
// flag; 0 is shown as "-".
func quotaRows(t *cliout.TableWriter, q *vrmv1.VaultQuota) {
	for _, f := range quotaFields() {
		v := f.get(q)
		s := strconv.FormatInt(v, 10)
		switch {
		case v == 0:
			s = "-"
		case f.bytes && v >= 1024:
			s += " (" + formatBytes(v) + ")"
		}
		t.Row(f.flag+":", s)
	}
}
