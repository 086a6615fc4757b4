package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
)

// resolveFormat chooses the output format: the -o flag, else the
// environment variable envFormat, else table on a terminal and json
// otherwise (cliout.ResolveFormat).
func resolveFormat(flag, env string, stdout io.Writer) (cliout.Format, error) {
	return cliout.ResolveFormat(flag, env, envFormat, stdout)
}

// formatTime formats t for output: RFC 3339 in UTC, "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// formatBytes formats n bytes for a table: exact below 1 KiB, else in
// binary units with one decimal ("1.5 MiB").
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// yesNo formats a boolean for a table.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// shellQuote returns s as one word for a POSIX shell: as is when it holds
// only characters no shell treats specially, else in single quotes.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/@+=,", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
