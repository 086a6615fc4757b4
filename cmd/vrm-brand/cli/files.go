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
	"syscall"

	"github.com/vrmvault/vrmvault/consent"
)

// Names of environment variables and files.
const (
	// envHome names the directory holding the key, config and state.
	envHome = "VRM_BRAND_HOME"
	// envFormat sets the default output format.
	envFormat = "VRM_BRAND_FORMAT"
	// homeName is the home's name in the user's configuration directory.
	homeName = "vrm-brand"
	// keyFile is the name of the private brand key file in the home.
	keyFile = "brand.jwk"
	// configFile is the name of the configuration file in the home.
	configFile = "config.json"
	// stateFile is the name of the per-vault state file in the home.
	stateFile = "state.json"
)

// configVersion is the version of config.json this vrm-brand writes and
// reads.
const configVersion = 1

// Bounds on the files vrm-brand reads from its home.
const (
	maxConfigBytes = 64 << 10
	maxKeyBytes    = 16 << 10
)

// errNoKey is returned by loadKey when there is no brand key yet.
var errNoKey = errors.New("no brand key")

// config is the on-disk configuration, config.json, written by keygen. It
// is versioned and private to this package.
type config struct {
	// Version is configVersion.
	Version int `json:"version"`
	// BrandJKT is the thumbprint of the key in brand.jwk.
	BrandJKT string `json:"brand_jkt"`
	// Name is the default brand display name of requests.
	Name string `json:"name,omitempty"`
	// URL is the default brand URL of requests.
	URL string `json:"url,omitempty"`
}

// homeDir returns vrm-brand's home directory: $VRM_BRAND_HOME, or the
// vrm-brand directory of the user's configuration directory, as an
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

// loadConfig reads dir/config.json. A missing file is not an error: it
// returns nil (keygen writes it, but a key copied in by hand may come
// without one).
func loadConfig(dir string) (*config, error) {
	path := filepath.Join(dir, configFile)
	data, err := readBounded(path, maxConfigBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %v", path, err)
	}
	if c.Version != configVersion {
		return nil, fmt.Errorf("%s has version %d; this vrm-brand reads version %d", path, c.Version, configVersion)
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
	return writeFileAtomic(filepath.Join(dir, configFile), append(data, '\n'))
}

// loadKey reads the private brand key from dir/brand.jwk. It refuses a
// file that group or others may access, and a key whose thumbprint is not
// the one config.json names (when there is one). A missing key is an
// error wrapping errNoKey whose message says what to run.
func loadKey(dir string) (*consent.PrivateKey, *config, error) {
	path := filepath.Join(dir, keyFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %s does not exist; run %s keygen first", errNoKey, path, programName)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open brand key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("brand key: %w", err)
	}
	if err := checkKeyMode(path, fi); err != nil {
		return nil, nil, err
	}
	data, err := readAllBounded(f, path, maxKeyBytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := consent.ParsePrivateKey(bytes.TrimSpace(data))
	if err != nil {
		return nil, nil, fmt.Errorf("brand key %s: %w", path, err)
	}
	cfg, err := loadConfig(dir)
	if err != nil {
		return nil, nil, err
	}
	if cfg == nil {
		cfg = &config{BrandJKT: key.Thumbprint()}
	}
	if cfg.BrandJKT != key.Thumbprint() {
		return nil, nil, fmt.Errorf("brand key %s is %s but %s names %s; run %s keygen --force to start again", path, key.Thumbprint(), configFile, cfg.BrandJKT, programName)
	}
	return key, cfg, nil
}

// checkKeyMode refuses a key file that is not a regular file, or that
// group or others may access (on systems with Unix permissions).
func checkKeyMode(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("brand key %s is not a regular file", path)
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		return nil
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("brand key %s has mode %04o and is accessible by group or others; run: chmod 600 %s", path, perm, path)
	}
	return nil
}

// saveKey writes the private key to dir/brand.jwk atomically with mode
// 0600.
func saveKey(dir string, key *consent.PrivateKey) error {
	data, err := key.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode brand key: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, keyFile), append(data, '\n'))
}

// ensureDir creates dir (and its parents) with mode 0700 if it does not
// exist. An existing directory keeps its mode: vrm-brand's files in it are
// 0600 whatever the directory's mode; the caller may warn about a loose
// one.
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
