package cli

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
)

// stateVersion is the version of state.json this vrm-brand writes and
// reads.
const stateVersion = 1

// Bounds on state.json.
const (
	// maxStateBytes bounds the state file read.
	maxStateBytes = 4 << 20
	// maxRequestsPerVault is how many requests state.json remembers per
	// vault; the oldest are forgotten first. A pending request expires
	// after seven days, so a brand rarely needs more than the latest.
	maxRequestsPerVault = 256
)

// state is the on-disk state, state.json: what vrm-brand remembers of
// each vault it contacted, by canonical vault address
// (host:port/<vault-id>). It is versioned and private to this package.
//
//	{
//	  "version": 1,
//	  "vaults": {
//	    "vault.example.net:443/v_3kq9": {
//	      "vault_jkt": "<thumbprint of the vault key pinned on first contact>",
//	      "pinned": "2026-05-01T10:00:00Z",
//	      "requests": [
//	        {"request_id": "…", "brand_jkt": "…", "created": "2026-05-01T10:00:00Z",
//	         "scopes": ["read:name.*"], "purposes": ["ServiceProvision"]}
//	      ],
//	      "watch": {"brand_jkt": "…", "cursor": 42, "saved": "2026-05-02T08:00:00Z"}
//	    }
//	  }
//	}
//
// Requests are in the order made, newest last. Two vrm-brand processes
// updating the state at the same moment do not corrupt it (every write
// replaces the file atomically), but the update of one may be lost.
type state struct {
	// Version is stateVersion.
	Version int `json:"version"`
	// Vaults maps a canonical vault address to what is known of it.
	Vaults map[string]*vaultState `json:"vaults"`
}

// vaultState is what vrm-brand remembers of one vault.
type vaultState struct {
	// VaultJKT is the thumbprint of the vault key pinned on first
	// contact: every descriptor of this vault must be signed by it.
	VaultJKT string `json:"vault_jkt,omitempty"`
	// Pinned is when the key was pinned, RFC 3339 in UTC.
	Pinned string `json:"pinned,omitempty"`
	// Requests are the access requests made from this home, oldest first.
	Requests []requestRecord `json:"requests,omitempty"`
	// Watch is where vrm-brand watch got to in this vault, if it ran.
	Watch *watchRecord `json:"watch,omitempty"`
}

// watchRecord is the last change cursor vrm-brand watch received from a
// vault, from which the next watch resumes.
type watchRecord struct {
	// BrandJKT is the brand key that watched: the cursor is only resumed
	// by the same key, whose consents decide which changes it sees.
	BrandJKT string `json:"brand_jkt"`
	// Cursor is the cursor of the last event received (and printed).
	Cursor uint64 `json:"cursor"`
	// Saved is when it was saved, RFC 3339 in UTC.
	Saved string `json:"saved,omitempty"`
}

// requestRecord is one access request made from this home.
type requestRecord struct {
	// RequestID is the id the vault assigned.
	RequestID string `json:"request_id"`
	// BrandJKT is the brand key that made it (keygen --force makes a new
	// one, which cannot see the old key's requests).
	BrandJKT string `json:"brand_jkt"`
	// Created is when the vault stored it, RFC 3339 in UTC.
	Created string `json:"created,omitempty"`
	// Scopes are the scopes asked for.
	Scopes []string `json:"scopes"`
	// Purposes are the purposes stated.
	Purposes []string `json:"purposes"`
}

// loadState reads dir/state.json; a missing file is an empty state.
func loadState(dir string) (*state, error) {
	path := filepath.Join(dir, stateFile)
	data, err := readBounded(path, maxStateBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return &state{Version: stateVersion, Vaults: map[string]*vaultState{}}, nil
	}
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %v", path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("%s has version %d; this vrm-brand reads version %d", path, s.Version, stateVersion)
	}
	if s.Vaults == nil {
		s.Vaults = map[string]*vaultState{}
	}
	for addr, v := range s.Vaults {
		if v == nil {
			delete(s.Vaults, addr)
			continue
		}
		if _, err := vaultconn.ParseAddress(addr); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if v.VaultJKT != "" && !isThumbprint(v.VaultJKT) {
			return nil, fmt.Errorf("%s: the pinned vault key of %s is not a key thumbprint", path, addr)
		}
	}
	return &s, nil
}

// saveState writes dir/state.json atomically with mode 0600, creating dir
// if need be.
func saveState(dir string, s *state) error {
	s.Version = stateVersion
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := ensureDir(dir); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), append(data, '\n'))
}

// vault returns the state of the vault at addr, adding an empty one.
func (s *state) vault(addr vaultconn.Address) *vaultState {
	v := s.Vaults[addr.String()]
	if v == nil {
		v = &vaultState{}
		s.Vaults[addr.String()] = v
	}
	return v
}

// pinnedKey returns the vault key pinned for addr, or "".
func (s *state) pinnedKey(addr vaultconn.Address) string {
	if v := s.Vaults[addr.String()]; v != nil {
		return v.VaultJKT
	}
	return ""
}

// addRequest remembers a request, forgetting the oldest beyond
// maxRequestsPerVault.
func (v *vaultState) addRequest(r requestRecord) {
	v.Requests = append(v.Requests, r)
	if n := len(v.Requests) - maxRequestsPerVault; n > 0 {
		v.Requests = append([]requestRecord(nil), v.Requests[n:]...)
	}
}

// latestRequest returns the id of the newest request brandJKT made of the
// vault at addr, or "".
func (s *state) latestRequest(addr vaultconn.Address, brandJKT string) string {
	v := s.Vaults[addr.String()]
	if v == nil {
		return ""
	}
	for i := len(v.Requests) - 1; i >= 0; i-- {
		if v.Requests[i].BrandJKT == brandJKT {
			return v.Requests[i].RequestID
		}
	}
	return ""
}

// watchCursor returns the cursor vrm-brand watch saved for brandJKT in
// the vault at addr, or 0.
func (s *state) watchCursor(addr vaultconn.Address, brandJKT string) uint64 {
	if v := s.Vaults[addr.String()]; v != nil && v.Watch != nil && v.Watch.BrandJKT == brandJKT {
		return v.Watch.Cursor
	}
	return 0
}

// pin records jkt as the vault key of addr at now.
func (v *vaultState) pin(jkt string, now time.Time) {
	v.VaultJKT = jkt
	v.Pinned = now.UTC().Format(time.RFC3339)
}

// isThumbprint reports whether s has the shape of a key thumbprint: the
// base64url (no padding) of 32 bytes.
func isThumbprint(s string) bool {
	if len(s) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == 32
}

// validRequestID reports whether s can be a request id.
func validRequestID(s string) bool { return consent.ValidID(s) }
