package cliout

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCell(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":  "plain text",
		"tab\there":   `"tab\there"`,
		"line\nbreak": `"line\nbreak"`,
		"\x1b[31mred": `"\x1b[31mred"`,
		"Zoë":         "Zoë",
	} {
		if got := Cell(in); got != want {
			t.Errorf("Cell(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestShort(t *testing.T) {
	if got := Short("short"); got != "short" {
		t.Errorf("Short(short) = %q", got)
	}
	long := strings.Repeat("é", MaxShown) // two bytes each
	got := Short(long)
	if !strings.HasSuffix(got, "...") || len(got) > MaxShown+3 || !utf8.ValidString(got) {
		t.Errorf("Short cut %d bytes of é to %q", len(long), got)
	}
}

func TestResolveFormat(t *testing.T) {
	var buf bytes.Buffer
	cases := []struct {
		flag, env string
		want      Format
		err       string
	}{
		{"", "", JSON, ""}, // not a terminal
		{"table", "json", Table, ""},
		{"", " TABLE ", Table, ""},
		{"yaml", "", "", "-o must be table or json"},
		{"", "xml", "", "VRM_X_FORMAT must be table or json"},
	}
	for _, c := range cases {
		got, err := ResolveFormat(c.flag, c.env, "VRM_X_FORMAT", &buf)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ResolveFormat(%q, %q) error %v, want %q", c.flag, c.env, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ResolveFormat(%q, %q) = %q, %v; want %q", c.flag, c.env, got, err, c.want)
		}
	}
}

func TestTable(t *testing.T) {
	tab := NewTable("NAME", "VALUE")
	tab.Row("a", "x\ty")
	var buf bytes.Buffer
	if err := tab.WriteTo(&buf, "note"); err != nil {
		t.Fatal(err)
	}
	want := "NAME  VALUE\na     \"x\\ty\"\nnote\n"
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
}
