package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	"github.com/vrmvault/vrmvault/consent"
)

// Names of environment variables and files.
const (
	// envHome names the directory holding the key and config.
	envHome = "VRM_HOST_HOME"
	// envFormat sets the default output format.
	envFormat = "VRM_HOST_FORMAT"
	// envAddr sets the host's HOST:PORT when --host is not given.
	envAddr = "VRM_HOST_ADDR"
	// envHostID sets the host id when --host-id is not given.
	envHostID = "VRM_HOST_ID"
	// homeName is the home's name in the user's configuration directory.
	homeName = "vrm-host"
	// keyFile is the name of the private admin key file in the home.
	keyFile = "admin.jwk"
	// publicKeyFile is the name of the public admin key file in the home,
	// the file vaultd --admin-key reads.
	publicKeyFile = "admin.pub.jwk"
	// configFile is the name of the configuration file in the home.
	configFile = "config.json"
)

// configVersion is the version of config.json this vrm-host writes and
// reads.
const configVersion = 1

// Bounds on the files vrm-host reads from its home.
const (
	maxConfigBytes = 64 << 10
	maxKeyBytes    = 16 << 10
)

// File modes of what vrm-host writes.
const (
	// modePrivate is the mode of the private key and the configuration.
	modePrivate fs.FileMode = 0o600
	// modePublic is the mode of the public key, which vaultd (often
	// another user) reads.
	modePublic fs.FileMode = 0o644
	// modeDir is the mode of a home directory vrm-host creates.
	modeDir fs.FileMode = 0o700
)

// errNoKey is returned by loadKey when there is no admin key yet.
var errNoKey = errors.New("no admin key")

// config is the on-disk configuration, config.json. It is versioned and
// private to this package. Every member but Version may be empty.
type config struct {
	// Version is configVersion.
	Version int `json:"version"`
	// AdminJKT is the thumbprint of the key in admin.jwk, written by
	// keygen; loadKey refuses a key that is not this one.
	AdminJKT string `json:"admin_jkt,omitempty"`
	// Host is the host's vaultd, HOST:PORT.
	Host string `json:"host,omitempty"`
	// HostID is the host's id, the "aud" of the admin proofs.
	HostID string `json:"host_id,omitempty"`
	// TLSCA is the absolute path of a PEM bundle of roots to trust
	// instead of the system's.
	TLSCA string `json:"tls_ca,omitempty"`
	// Insecure dials the host in plaintext even when it is not on
	// loopback.
	Insecure bool `json:"insecure,omitempty"`
}

// check refuses settings that no command could use.
func (c *config) check() error {
	if c.Host != "" {
		if err := checkHostPort(c.Host); err != nil {
			return fmt.Errorf("host: %w", err)
		}
	}
	if c.HostID != "" && !consent.ValidID(c.HostID) {
		return fmt.Errorf("host_id %q is not a host id", cliout.Short(c.HostID))
	}
	if c.TLSCA != "" && !filepath.IsAbs(c.TLSCA) {
		return fmt.Errorf("tls_ca %q is not an absolute path", cliout.Short(c.TLSCA))
	}
	return nil
}

// checkHostPort checks a HOST:PORT: both parts present, and no vault id
// after it.
func checkHostPort(s string) error {
	if strings.Contains(s, "/") {
		return fmt.Errorf("%q: want HOST:PORT without a vault id", cliout.Short(s))
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT: %v", cliout.Short(s), err)
	}
	if host == "" || port == "" {
		return fmt.Errorf("%q is not HOST:PORT", cliout.Short(s))
	}
	return nil
}

// homeDir returns vrm-host's home directory: $VRM_HOST_HOME, or the
// vrm-host directory of the user's configuration directory, as an
// absolute path.
func homeDir(getenv func(string) string) (string, error) {
	dir := getenv(envHome)
	if dir == "" {
		base, err := userConfigDir(getenv)
		if err != nil {
			return "", err
		}
		dir = filepath.Join(base, homeName)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("home directory %s: %w", dir, err)
	}
	return abs, nil
}

// userConfigDir is os.UserConfigDir reading the environment through getenv.
func userConfigDir(getenv func(string) string) (string, error) {
	const hint = "; set " + envHome
	switch runtime.GOOS {
	case "windows":
		if dir := getenv("AppData"); dir != "" {
			return dir, nil
		}
		return "", errors.New("cannot find the configuration directory: %AppData% is not set" + hint)
	case "darwin", "ios":
		if home := getenv("HOME"); home != "" {
			return filepath.Join(home, "Library", "Application Support"), nil
		}
		return "", errors.New("cannot find the configuration directory: $HOME is not set" + hint)
	case "plan9":
		if home := getenv("home"); home != "" {
			return filepath.Join(home, "lib"), nil
		}
		return "", errors.New("cannot find the configuration directory: $home is not set" + hint)
	}
	if dir := getenv("XDG_CONFIG_HOME"); dir != "" {
		if !filepath.IsAbs(dir) {
			return "", errors.New("cannot find the configuration directory: $XDG_CONFIG_HOME is a relative path" + hint)
		}
		return dir, nil
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".config"), nil
	}
	return "", errors.New("cannot find the configuration directory: neither $XDG_CONFIG_HOME nor $HOME is set" + hint)
}

// loadConfig reads and checks dir/config.json. A missing file is not an
// error: it returns an empty configuration.
func loadConfig(dir string) (*config, error) {
	path := filepath.Join(dir, configFile)
	data, err := readBounded(path, maxConfigBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return &config{Version: configVersion}, nil
	}
	if err != nil {
		return nil, err
	}
	var c config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %v", path, err)
	}
	if c.Version != configVersion {
		return nil, fmt.Errorf("%s has version %d; this vrm-host reads version %d", path, c.Version, configVersion)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// saveConfig writes dir/config.json atomically with mode 0600.
func saveConfig(dir string, c *config) error {
	c.Version = configVersion
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, configFile), append(data, '\n'), modePrivate)
}

// loadKey reads the private admin key from dir/admin.jwk. It refuses a
// file that group or others may access, and a key whose thumbprint is not
// wantJKT (when that is not empty). A missing key is an error wrapping
// errNoKey whose message says what to run.
func loadKey(dir, wantJKT string) (*consent.PrivateKey, error) {
	path := filepath.Join(dir, keyFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist; run %s keygen first", errNoKey, path, programName)
	}
	if err != nil {
		return nil, fmt.Errorf("open admin key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("admin key: %w", err)
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
		return nil, fmt.Errorf("admin key %s: %w", path, err)
	}
	if wantJKT != "" && key.Thumbprint() != wantJKT {
		return nil, fmt.Errorf("admin key %s is %s but %s names %s; run %s keygen --force to start again",
			path, key.Thumbprint(), configFile, wantJKT, programName)
	}
	return key, nil
}

// checkKeyMode refuses a key file that is not a regular file, or that
// group or others may access (on systems with Unix permissions).
func checkKeyMode(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("admin key %s is not a regular file", path)
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		return nil
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("admin key %s has mode %04o and is accessible by group or others; run: chmod 600 %s", path, perm, path)
	}
	return nil
}

// saveKeys writes the private key to dir/admin.jwk (mode 0600) and its
// public JWK to dir/admin.pub.jwk (mode 0644), each atomically, the
// private key first. The public file is derived from the private one; a
// crash between the two writes is mended by keygen --force.
func saveKeys(dir string, key *consent.PrivateKey) error {
	priv, err := key.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode admin key: %w", err)
	}
	pub, err := key.Public().MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode public admin key: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, keyFile), append(priv, '\n'), modePrivate); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, publicKeyFile), append(pub, '\n'), modePublic)
}

// ensureDir creates dir (and its parents) with mode 0700 if it does not
// exist. An existing directory keeps its mode: vrm-host's private files in
// it are 0600 whatever the directory's mode; the caller may warn about a
// loose one.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, modeDir); err != nil {
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

// writeFileAtomic replaces path with data, with mode perm: it writes a
// temporary file (mode 0600 until it is whole) in the same directory,
// syncs it, renames it over path and syncs the directory, so that a crash
// leaves either the old file or the new one, whole.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
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
	if err = f.Chmod(modePrivate); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if perm != modePrivate {
		if err = f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
			return fmt.Errorf("write %s: %w", path, err)
		}
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
