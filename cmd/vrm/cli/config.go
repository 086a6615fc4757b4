package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"

	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	"github.com/vrmvault/vrmvault/consent"
)

// Names of environment variables and files.
const (
	// envHome names the directory holding config.json and owner.jwk.
	envHome = "VRM_HOME"
	// envFormat sets the default output format.
	envFormat = "VRM_FORMAT"
	// configFile is the name of the configuration file in the home.
	configFile = "config.json"
	// keyFile is the name of the private owner key file in the home.
	keyFile = "owner.jwk"
)

// Versions of config.json. Version 2 added what vrm remembers to check the
// vault against (ledger_head, audit_head, vault_key_jkt,
// known_owner_keys); a version 1 file reads as a version 2 file that has
// seen nothing yet. vrm writes configVersion.
const (
	configVersion    = 2
	minConfigVersion = 1
)

// Bounds on the files vrm reads from its home.
const (
	maxConfigBytes = 64 << 10
	maxKeyBytes    = 16 << 10
)

// errNotInitialised is returned by loadConfig when there is no config.
var errNotInitialised = errors.New("not initialised")

// config is the on-disk configuration, config.json. It is versioned and
// private to this package.
type config struct {
	// Version is configVersion.
	Version int `json:"version"`
	// Vault is the vault address, host:port/<vault-id>.
	Vault string `json:"vault"`
	// OwnerJKT is the thumbprint of the key in owner.jwk.
	OwnerJKT string `json:"owner_jkt"`
	// Device is the device name given at enrolment.
	Device string `json:"device,omitempty"`
	// TLSCA is the absolute path of a PEM bundle of roots to trust
	// instead of the system's.
	TLSCA string `json:"tls_ca,omitempty"`
	// Insecure dials the vault in plaintext even when it is not on
	// loopback.
	Insecure bool `json:"insecure,omitempty"`

	// The members below are version 2. They are what vrm has seen of the
	// vault, so that a later look can tell whether the host dropped or
	// rewrote history (PROTOCOL.md section 6).

	// LedgerHead is the last head of the vault's consent ledger that vrm
	// saw: the head after enrolment, moved on by grant, deny, revoke and
	// keys rm when the ledger provably extends it, and by every successful
	// vrm verify. vrm verify fails loudly when the ledger does not extend it.
	// Nil: none seen.
	LedgerHead *savedHead `json:"ledger_head,omitempty"`
	// AuditHead is the head of the vault's audit log at the last
	// successful vrm verify. Nil: never verified.
	AuditHead *savedHead `json:"audit_head,omitempty"`
	// VaultKeyJKT is the thumbprint of the vault key, pinned at vrm init
	// (or at the first vrm verify): the descriptor must be signed by it.
	VaultKeyJKT string `json:"vault_key_jkt,omitempty"`
	// KnownOwnerKeys are the thumbprints of owner keys other than this
	// device's that the owner said are theirs (vrm verify --trust).
	KnownOwnerKeys []string `json:"known_owner_keys,omitempty"`
}

// savedHead is the head of a hash chain (the consent ledger or the audit
// log) as config.json records it.
type savedHead struct {
	// Seq is the position of the latest entry; 0 for an empty chain.
	Seq uint64 `json:"seq"`
	// Hash is the latest entry's hash; "" for an empty chain.
	Hash string `json:"hash"`
}

// ledgerHead returns the saved ledger head; the zero head when none was
// saved.
func (c *config) ledgerHead() consent.Head {
	if c.LedgerHead == nil {
		return consent.Head{}
	}
	return consent.Head{Seq: c.LedgerHead.Seq, Hash: c.LedgerHead.Hash}
}

// setLedgerHead records h as the saved ledger head.
func (c *config) setLedgerHead(h consent.Head) {
	c.LedgerHead = &savedHead{Seq: h.Seq, Hash: h.Hash}
}

// knows reports whether jkt is an owner key the owner named as theirs.
func (c *config) knows(jkt string) bool {
	return jkt == c.OwnerJKT || slices.Contains(c.KnownOwnerKeys, jkt)
}

// check reports a saved head whose seq and hash contradict each other.
func (h *savedHead) check(name string) error {
	if h == nil {
		return nil
	}
	if (h.Seq == 0) != (h.Hash == "") {
		return fmt.Errorf("%s: seq %d and hash %q do not go together", name, h.Seq, cliout.Short(h.Hash))
	}
	return nil
}

// homeDir returns vrm's home directory: $VRM_HOME, or the vrm directory of
// the user's configuration directory, as an absolute path.
func homeDir(getenv func(string) string) (string, error) {
	dir := getenv(envHome)
	if dir == "" {
		base, err := userConfigDir(getenv)
		if err != nil {
			return "", err
		}
		dir = filepath.Join(base, "vrm")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("home directory %s: %w", dir, err)
	}
	return abs, nil
}

// userConfigDir is os.UserConfigDir reading the environment through getenv.
func userConfigDir(getenv func(string) string) (string, error) {
	switch runtime.GOOS {
	case "windows":
		if dir := getenv("AppData"); dir != "" {
			return dir, nil
		}
		return "", errors.New("cannot find the configuration directory: %AppData% is not set; set VRM_HOME")
	case "darwin", "ios":
		if home := getenv("HOME"); home != "" {
			return filepath.Join(home, "Library", "Application Support"), nil
		}
		return "", errors.New("cannot find the configuration directory: $HOME is not set; set VRM_HOME")
	case "plan9":
		if home := getenv("home"); home != "" {
			return filepath.Join(home, "lib"), nil
		}
		return "", errors.New("cannot find the configuration directory: $home is not set; set VRM_HOME")
	}
	if dir := getenv("XDG_CONFIG_HOME"); dir != "" {
		if !filepath.IsAbs(dir) {
			return "", errors.New("cannot find the configuration directory: $XDG_CONFIG_HOME is a relative path; set VRM_HOME")
		}
		return dir, nil
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".config"), nil
	}
	return "", errors.New("cannot find the configuration directory: neither $XDG_CONFIG_HOME nor $HOME is set; set VRM_HOME")
}

// loadConfig reads and checks dir/config.json. A missing file is an error
// wrapping errNotInitialised whose message says what to run.
func loadConfig(dir string) (*config, error) {
	path := filepath.Join(dir, configFile)
	data, err := readBounded(path, maxConfigBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s; run vrm init --vault ADDR --code CODE first", errNotInitialised, path)
	}
	if err != nil {
		return nil, err
	}
	var c config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %v", path, err)
	}
	if c.Version < minConfigVersion || c.Version > configVersion {
		return nil, fmt.Errorf("%s has version %d; this vrm reads versions %d to %d", path, c.Version, minConfigVersion, configVersion)
	}
	if _, err := vaultconn.ParseAddress(c.Vault); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.OwnerJKT == "" {
		return nil, fmt.Errorf("%s names no owner key; run vrm init --force to enrol again", path)
	}
	if err := c.LedgerHead.check("ledger_head"); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.AuditHead.check("audit_head"); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// updateConfig applies change to the configuration in dir as it is on disk
// now and saves it, provided it still names the vault and owner key of
// want (another vrm may have run vrm init --force meanwhile); want is
// updated to match. It is how commands record what they saw of the vault.
func updateConfig(dir string, want *config, change func(c *config)) error {
	c, err := loadConfig(dir)
	if err != nil {
		return err
	}
	if c.Vault != want.Vault || c.OwnerJKT != want.OwnerJKT {
		return fmt.Errorf("%s changed while vrm ran (now vault %s, owner key %s); not saving", filepath.Join(dir, configFile), c.Vault, c.OwnerJKT)
	}
	change(c)
	if err := saveConfig(dir, c); err != nil {
		return err
	}
	*want = *c
	return nil
}

// saveConfig writes dir/config.json atomically with mode 0600.
func saveConfig(dir string, c *config) error {
	c.Version = configVersion
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, configFile), append(data, '\n'))
}

// loadKey reads the private owner key from dir/owner.jwk. It refuses a
// file that group or others may access, and a key whose thumbprint is not
// wantJKT.
func loadKey(dir, wantJKT string) (*consent.PrivateKey, error) {
	path := filepath.Join(dir, keyFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("owner key %s is missing; run vrm init --force to enrol a new one", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open owner key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("owner key: %w", err)
	}
	if err := checkKeyMode(path, fi); err != nil {
		return nil, err
	}
	data, err := readAllBounded(f, path, maxKeyBytes)
	if err != nil {
		return nil, err
	}
	key, err := consent.ParsePrivateKey(bytes.TrimSpace(data))
	if err != nil {
		return nil, fmt.Errorf("owner key %s: %w", path, err)
	}
	if key.Thumbprint() != wantJKT {
		return nil, fmt.Errorf("owner key %s is %s but %s names %s; run vrm init --force to enrol again", path, key.Thumbprint(), configFile, wantJKT)
	}
	return key, nil
}

// checkKeyMode refuses a key file that is not a regular file, or that
// group or others may access (on systems with Unix permissions).
func checkKeyMode(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("owner key %s is not a regular file", path)
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		return nil
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("owner key %s has mode %04o and is accessible by group or others; run: chmod 600 %s", path, perm, path)
	}
	return nil
}

// saveKey writes the private key to dir/owner.jwk atomically with mode
// 0600.
func saveKey(dir string, key *consent.PrivateKey) error {
	data, err := key.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode owner key: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, keyFile), append(data, '\n'))
}

// ensureDir creates dir (and its parents) with mode 0700 if it does not
// exist. An existing directory keeps its mode: vrm's files in it are 0600
// whatever the directory's mode; the caller may warn about a loose one.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return nil
}

// dirIsShared reports whether dir grants group or others any access.
func dirIsShared(dir string) bool {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		return false
	}
	fi, err := os.Stat(dir)
	return err == nil && fi.Mode().Perm()&0o077 != 0
}

// writeFileAtomic replaces path with data, mode 0600: it writes a
// temporary file in the same directory, syncs it, renames it over path and
// syncs the directory, so that a crash leaves either the old file or the
// new one, whole.
func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. File systems and systems that
// cannot sync a directory are not an error.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// readBounded reads the file at path, refusing one larger than max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllBounded(f, path, max)
}

// readAllBounded reads r, named name in errors, refusing more than max
// bytes.
func readAllBounded(r io.Reader, name string, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, max)
	}
	return data, nil
}
