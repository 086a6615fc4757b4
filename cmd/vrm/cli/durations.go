package cli

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
)

// day is the length of the "d" unit of parseDuration: 24 hours.
const day = 24 * time.Hour

// maxDays is the most days parseDuration accepts: what a time.Duration
// holds (about 292 years).
const maxDays = math.MaxInt64 / int64(day)

// errDurationSyntax is the message of a DURATION that is not one.
var errDurationSyntax = errors.New("must be a number of days (30d) or a Go duration (12h, 90m, 1h30m)")

// parseDuration parses DURATION of --expires and --since: a whole number
// of days ("30d") or a Go duration ("12h", "1h30m"). It must be positive.
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" && !strings.ContainsFunc(n, func(r rune) bool { return r < '0' || r > '9' }) {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days > maxDays {
			return 0, fmt.Errorf("%q is too long", cliout.Short(s))
		}
		if days == 0 {
			return 0, fmt.Errorf("%q must be positive", cliout.Short(s))
		}
		return time.Duration(days) * day, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q %w", cliout.Short(s), errDurationSyntax)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", cliout.Short(s))
	}
	return d, nil
}

// parseSince parses T of --since: an RFC 3339 time, or a DURATION
// (parseDuration) before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q must be an RFC 3339 time (2025-01-31T09:00:00Z) or a duration before now (24h, 7d)", cliout.Short(s))
	}
	return now.Add(-d), nil
}

// formatDuration writes d as parseDuration reads it: whole days as "90d",
// whole hours as "36h", anything else as Go writes it.
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d%day == 0:
		return strconv.FormatInt(int64(d/day), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	return d.String()
}
