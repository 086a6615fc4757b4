package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "vaultd.conf")
	if err := os.WriteFile(conf, []byte("# comment\nmax-fields = 10\nlisten = 127.0.0.1:9999\nadmin-key = a.jwk\nadmin-key = b.jwk\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(string) string { return "" }
	o, err := parseFlags([]string{"--config=" + conf, "--listen", "127.0.0.1:1234", "--admin-key", "c.jwk"}, io.Discard, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if o.limits.MaxFields != 10 || o.listen != "127.0.0.1:1234" || len(o.adminKeys) != 3 {
		t.Fatalf("options from config: max-fields %d, listen %s (the command line must win), admin keys %v", o.limits.MaxFields, o.listen, o.adminKeys)
	}
	// The shipped example parses.
	if _, err := parseFlags([]string{"--config", "vaultd.conf.example"}, io.Discard, getenv); err != nil {
		t.Fatalf("vaultd.conf.example: %v", err)
	}
	for _, bad := range []string{"bogus = 1\n", "max-fields\n", "max-fields = many\n"} {
		if err := os.WriteFile(conf, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := parseFlags([]string{"--config", conf}, io.Discard, getenv); err == nil || !strings.Contains(err.Error(), "config") {
			t.Errorf("config %q: %v, want an error naming the config", bad, err)
		}
	}
}
