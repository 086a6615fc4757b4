// Package cliout is how the command-line tools (vrm, vrm-brand, vrm-host)
// print: the -o table|json choice, aligned tables whose cells cannot break
// the layout or reach the terminal as escape sequences, indented JSON, and
// arguments shortened for messages. It knows nothing of what they print.
package cliout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
)

// Format is how a command prints its result.
type Format string

// The output formats of -o.
const (
	Table Format = "table"
	JSON  Format = "json"
)

// ResolveFormat chooses the output format: the -o flag if given, else the
// environment variable envName (whose value is env) if set, else table
// when stdout is a terminal and json otherwise.
func ResolveFormat(flag, env, envName string, stdout io.Writer) (Format, error) {
	switch {
	case flag != "":
		f, ok := parseFormat(flag)
		if !ok {
			return "", fmt.Errorf("-o must be table or json, got %q", Short(flag))
		}
		return f, nil
	case env != "":
		f, ok := parseFormat(env)
		if !ok {
			return "", fmt.Errorf("%s must be table or json, got %q", envName, Short(env))
		}
		return f, nil
	case IsTerminal(stdout):
		return Table, nil
	}
	return JSON, nil
}

func parseFormat(s string) (Format, bool) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case Table, JSON:
		return f, true
	}
	return "", false
}

// IsTerminal reports whether w is an *os.File on a character device.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// WriteJSON writes v to w as one indented JSON document.
func WriteJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	return WriteOut(w, buf.Bytes())
}

// WriteOut writes data to w, reporting a failed write.
func WriteOut(w io.Writer, data []byte) error {
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// TableWriter writes aligned columns.
type TableWriter struct {
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

// NewTable returns a table with the given header row (none if empty).
func NewTable(header ...string) *TableWriter {
	t := &TableWriter{}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 4, 2, ' ', 0)
	if len(header) > 0 {
		t.Row(header...)
	}
	return t
}

// Row adds a row; cells are made safe for one line and one column.
func (t *TableWriter) Row(cells ...string) {
	for i, c := range cells {
		cells[i] = Cell(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

// WriteTo flushes the table to w, followed by the lines after it (notes
// that are not aligned with the table).
func (t *TableWriter) WriteTo(w io.Writer, after ...string) error {
	if err := t.tw.Flush(); err != nil {
		return fmt.Errorf("format table: %w", err)
	}
	for _, l := range after {
		t.buf.WriteString(l)
		t.buf.WriteByte('\n')
	}
	return WriteOut(w, t.buf.Bytes())
}

// Cell returns s for a table cell: as is if every character is graphic,
// else Go-quoted, so that tabs, line breaks and escape sequences in a
// value (the vault's, the host's and the customer's text among them)
// cannot break the table or reach the terminal.
func Cell(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return r != ' ' && !unicode.IsGraphic(r) }) {
		return strconv.QuoteToGraphic(s)
	}
	return s
}

// MaxShown bounds how much of an argument a message repeats.
const MaxShown = 64

// Short returns s cut to MaxShown bytes on a rune boundary, for messages.
func Short(s string) string {
	if len(s) <= MaxShown {
		return s
	}
	n := MaxShown
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}
