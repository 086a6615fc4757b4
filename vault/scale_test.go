//go:build scale

package vault_test

import (
	"context"
	"crypto/rand"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/seal"
	"github.com/vrmvault/vrmvault/vault/store/badgerstore"
)

var (
	scaleVaults  = flag.Int("scale.vaults", 1_000_000, "vaults to create")
	scaleWorkers = flag.Int("scale.workers", 32, "concurrent creators")
	scaleDir     = flag.String("scale.dir", "", "data directory (default: a temp dir)")
)

// rssBytes reads the process's resident set size.
func rssBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("VmRSS not found")
	return 0
}

// dirSize returns the apparent size of the files under dir and the disk
// space they take (badger preallocates files, so the two differ).
func dirSize(dir string) (apparent, allocated int64) {
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				apparent += info.Size()
				if st, ok := info.Sys().(*syscall.Stat_t); ok {
					allocated += st.Blocks * 512
				}
			}
		}
		return nil
	})
	return apparent, allocated
}

// TestScale creates many vaults in one host on the sealed badger layout
// vaultd uses, and prints the creation rate, the store size per vault and
// the resident memory growth per idle vault. Run it with
//
//	go test -tags scale -run TestScale -timeout 0 -v ./vault/ -args -scale.vaults=1000000
func TestScale(t *testing.T) {
	dir := *scaleDir
	if dir == "" {
		dir = t.TempDir()
	}
	data, err := badgerstore.Open(badgerstore.Config{Dir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	keys, err := badgerstore.Open(badgerstore.Config{Dir: filepath.Join(dir, "keys")})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	enc, _ := seal.GenerateHostKey(rand.Reader)
	hk, _ := seal.ParseHostKey([]byte(enc))
	ctx := context.Background()
	kr, err := seal.OpenKeyring(ctx, keys, hk, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := vault.NewHost(vault.Config{Store: seal.New(data, kr)})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	debug.FreeOSMemory()
	rss0 := rssBytes(t)
	var made atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	per := *scaleVaults / *scaleWorkers
	for w := 0; w < *scaleWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, _, err := h.CreateVault(ctx); err != nil {
					t.Error(err)
					return
				}
				if n := made.Add(1); n%10000 == 0 {
					el := time.Since(start)
					t.Logf("%d vaults, %.0f/s, RSS %d MiB", n, float64(n)/el.Seconds(), rssBytes(t)>>20)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	n := made.Load()
	time.Sleep(2 * time.Second) // idle
	runtime.GC()
	debug.FreeOSMemory()
	rss1 := rssBytes(t)
	apparent, allocated := dirSize(dir)
	t.Logf("created %d vaults in %s: %.0f vaults/s", n, el.Round(time.Second), float64(n)/el.Seconds())
	t.Logf("store: %d bytes on disk (%d apparent), %.0f bytes per vault on disk (%.0f apparent)",
		allocated, apparent, float64(allocated)/float64(n), float64(apparent)/float64(n))
	t.Logf("resident memory: %d MiB before, %d MiB after, %.1f bytes per idle vault", rss0>>20, rss1>>20, float64(rss1-rss0)/float64(n))
}
