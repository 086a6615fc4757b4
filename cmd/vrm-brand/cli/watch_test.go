package cli

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/vaultconn"
)

func TestBackoffDoublesUpToTheMaximum(t *testing.T) {
	var b backoff
	var got []time.Duration
	for range 9 {
		got = append(got, b.next())
	}
	want := []time.Duration{minReconnectDelay, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, maxReconnectDelay, maxReconnectDelay, maxReconnectDelay}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits %v, want %v", got, want)
		}
	}
	b.reset()
	if d := b.next(); d != minReconnectDelay {
		t.Errorf("after reset: %s", d)
	}
}

func TestReconnectable(t *testing.T) {
	tests := []struct {
		err         error
		established bool
		want        bool
	}{
		{status.Error(codes.ResourceExhausted, "stream fell behind: the consumer took no event for 30s; resume from the last cursor you received"), false, true},
		{status.Error(codes.Unavailable, "vault shutting down; resume from the last cursor you received"), false, true},
		{status.Error(codes.ResourceExhausted, "16 open streams for this brand, limit is 16 (open streams per brand)"), true, false},
		{status.Error(codes.Unavailable, "connection refused"), false, false},
		{status.Error(codes.Unavailable, "connection refused"), true, true},
		{status.Error(codes.Canceled, "call canceled"), false, false},
		{status.Error(codes.Canceled, "call canceled"), true, true},
		{status.Error(codes.PermissionDenied, "consent revoked"), true, false},
		{status.Error(codes.PermissionDenied, "resume"), true, false},
		{status.Error(codes.InvalidArgument, "cursor is ahead of the vault's latest change"), true, false},
		{errors.New("resume"), true, false},
	}
	for _, tt := range tests {
		if got := reconnectable(tt.err, tt.established); got != tt.want {
			t.Errorf("reconnectable(%v, %v) = %v", tt.err, tt.established, got)
		}
	}
}

func TestInNamespace(t *testing.T) {
	const ns = "brands.0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	for in, want := range map[string]string{
		"orders.o1.total":          ns + ".orders.o1.total",
		"tier":                     ns + ".tier",
		"brands":                   ns + ".brands",
		ns + ".tier":               ns + ".tier",
		"brands.other.x":           "brands.other.x",
		"name.given":               "name.given",
		"email.home":               "email.home",
		"address.home.locality":    "address.home.locality",
		"birthdate":                "birthdate",
		"name.nickname":            ns + ".name.nickname", // no such field of the customer's
		"notes.n":                  ns + ".notes.n",
		"prefs.contact.x.channels": "prefs.contact.x.channels",
	} {
		if got := inNamespace(ns, in); got != want {
			t.Errorf("inNamespace(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWatchCursorIsPerBrandKey(t *testing.T) {
	dir := t.TempDir()
	addr := vaultconn.Address{HostPort: "127.0.0.1:7443", VaultID: "v1"}
	st, err := loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := newKey(t).Thumbprint(), newKey(t).Thumbprint()
	st.vault(addr).Watch = &watchRecord{BrandJKT: a, Cursor: 42}
	if err := saveState(dir, st); err != nil {
		t.Fatal(err)
	}
	if st, err = loadState(dir); err != nil {
		t.Fatal(err)
	}
	if got := st.watchCursor(addr, a); got != 42 {
		t.Errorf("cursor of the key that watched = %d", got)
	}
	if got := st.watchCursor(addr, b); got != 0 {
		t.Errorf("cursor of another key = %d", got)
	}
	if got := st.watchCursor(vaultconn.Address{HostPort: "127.0.0.1:7443", VaultID: "v2"}, a); got != 0 {
		t.Errorf("cursor of another vault = %d", got)
	}
}
