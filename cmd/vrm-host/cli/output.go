package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// outputFormat is how a command prints its result.
type outputFormat string

// The output formats of -o.
const (
	formatTable outputFormat = "table"
	formatJSON  outputFormat = "json"
)

// resolveFormat chooses the output format: the -o flag if given, else
// $VRM_HOST_FORMAT if set, else table when stdout is a terminal and json
// otherwise.
func resolveFormat(flag, env string, stdout io.Writer) (outputFormat, error) {
	switch {
	case flag != "":
		f, ok := parseFormat(flag)
		if !ok {
			return "", fmt.Errorf("-o must be table or json, got %q", short(flag))
		}
		return f, nil
	case env != "":
		f, ok := parseFormat(env)
		if !ok {
			return "", fmt.Errorf("%s must be table or json, got %q", envFormat, short(env))
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

// writeTo flushes the table to w, followed by the lines after it (notes
// that are not aligned with the table).
func (t *table) writeTo(w io.Writer, after ...string) error {
	if err := t.tw.Flush(); err != nil {
		return fmt.Errorf("format table: %w", err)
	}
	for _, l := range after {
		t.buf.WriteString(l)
		t.buf.WriteByte('\n')
	}
	return writeOut(w, t.buf.Bytes())
}

// cell returns s for a table cell: as is if every character is graphic,
// else Go-quoted, so that tabs, line breaks and escape sequences in a
// value sent by the host cannot break the table or reach the terminal.
func cell(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return r != ' ' && !unicode.IsGraphic(r) }) {
		return strconv.QuoteToGraphic(s)
	}
	return s
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
