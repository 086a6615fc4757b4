package bench

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/store"
	"github.com/vrmvault/vrmvault/vault/store/badgerstore"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// Parallelism is the testing.B.SetParallelism of the parallel parts:
// RunParallel runs Parallelism goroutines per GOMAXPROCS, enough to keep
// a loopback round trip and badger's group commit busy on a small host.
const Parallelism = 8

// Writers is how many goroutines the raw badger batch part commits
// from, the writer count the issue sizes a host by.
const Writers = 32

// ParallelVaults is how many vaults the parallel full path spreads its
// goroutines over. Reads of one vault serialize on its audit chain, as
// they do on a host; a host serves many vaults at once.
const ParallelVaults = 16

// Names of the parts, as they appear under BenchmarkFloor and in the
// floor report.
const (
	VerifyEdDSAJose   = "verify-eddsa-jose"
	VerifyEdDSACrypto = "verify-eddsa-crypto"
	VerifyES256Jose   = "verify-es256-jose"
	VerifyES256Crypto = "verify-es256-crypto"
	SignEdDSA         = "sign-eddsa"
	StoreGet          = "store-get"
	StoreScan         = "store-scan"
	SealedGet         = "sealed-get"
	SealedScan        = "sealed-scan"
	StoreSyncedWrite  = "store-synced-write"
	GRPCEmpty         = "grpc-empty"
	FullRead          = "full-read"
	BadgerSyncedBatch = "badger-synced-batch"
)

// Part is one measurement.
type Part struct {
	// Name identifies the part (one of the constants above).
	Name string
	// What says in a few words what one operation is.
	What string
	// Bench measures it; ns/op is the cost of one operation (for a
	// parallel part: wall time over operations, the inverse of throughput).
	Bench func(*testing.B)
}

// Parts returns the sequential measurements: one operation at a time,
// ns/op is its latency.
func Parts() []Part {
	return []Part{
		{VerifyEdDSAJose, "check one EdDSA proof with consent.ProofVerifier (go-jose), key resolved from memory, replay cache a no-op", func(b *testing.B) { benchVerifyJose(b, consent.EdDSA, false) }},
		{VerifyEdDSACrypto, "crypto/ed25519.Verify on the same proof's bytes", func(b *testing.B) { benchVerifyCrypto(b, consent.EdDSA, false) }},
		{VerifyES256Jose, "check one ES256 proof with consent.ProofVerifier (go-jose)", func(b *testing.B) { benchVerifyJose(b, consent.ES256, false) }},
		{VerifyES256Crypto, "SHA-256 and crypto/ecdsa.Verify on the same proof's bytes", func(b *testing.B) { benchVerifyCrypto(b, consent.ES256, false) }},
		{SignEdDSA, "sign one EdDSA request proof (consent.NewProof: the brand's cost)", func(b *testing.B) { benchSign(b, false) }},
		{StoreGet, "badger point read of one profile field through badgerstore (own read transaction)", func(b *testing.B) { benchStoreGet(b, false, false) }},
		{StoreScan, "badger prefix scan of one vault's profile (10 fields) through badgerstore", func(b *testing.B) { benchStoreScan(b, false, false) }},
		{SealedGet, "the same point read through the vault's sealed store (package seal over badgerstore: AES-GCM open)", func(b *testing.B) { benchStoreGet(b, true, false) }},
		{SealedScan, "the same profile scan through the vault's sealed store", func(b *testing.B) { benchStoreScan(b, true, false) }},
		{StoreSyncedWrite, "one synced badgerstore Update writing one TTL row (a replay-cache record)", func(b *testing.B) { benchSyncedWrite(b, false) }},
		{GRPCEmpty, "gRPC unary round trip on loopback, empty message (health Check on the vault's server)", func(b *testing.B) { benchGRPCEmpty(b, false) }},
		{FullRead, "ReadProfile by a consented brand through vaulttest over loopback: sign, proof check, consent check, read, audit append, response", func(b *testing.B) { benchFullRead(b, false) }},
	}
}

// ParallelParts returns the same measurements run with b.RunParallel
// (Parallelism goroutines per GOMAXPROCS): ns/op is the inverse of the
// throughput the machine sustains for that part alone.
func ParallelParts() []Part {
	return []Part{
		{VerifyEdDSAJose, "EdDSA proofs checked with consent.ProofVerifier, in parallel", func(b *testing.B) { benchVerifyJose(b, consent.EdDSA, true) }},
		{VerifyEdDSACrypto, "crypto/ed25519.Verify, in parallel", func(b *testing.B) { benchVerifyCrypto(b, consent.EdDSA, true) }},
		{SignEdDSA, "EdDSA request proofs signed, in parallel", func(b *testing.B) { benchSign(b, true) }},
		{StoreScan, "profile prefix scans through badgerstore, in parallel", func(b *testing.B) { benchStoreScan(b, false, true) }},
		{StoreSyncedWrite, "synced badgerstore Updates, in parallel (group commit)", func(b *testing.B) { benchSyncedWrite(b, true) }},
		{GRPCEmpty, "empty gRPC round trips on one loopback connection, in parallel", func(b *testing.B) { benchGRPCEmpty(b, true) }},
		{FullRead, fmt.Sprintf("consented ReadProfile calls over %d vaults, in parallel", ParallelVaults), func(b *testing.B) { benchFullRead(b, true) }},
		{BadgerSyncedBatch, fmt.Sprintf("badger alone (SyncWrites): one Update of 3 keys, like an owner write, from %d writers", Writers), benchBadgerBatch},
	}
}

// loop runs op b.N times (b.Loop), or under b.RunParallel with
// Parallelism when parallel.
func loop(b *testing.B, parallel bool, op func() error) {
	b.Helper()
	if !parallel {
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	loopParallel(b, Parallelism, op)
}

// loopParallel runs op under b.RunParallel with p goroutines per
// GOMAXPROCS.
func loopParallel(b *testing.B, p int, op func() error) {
	b.Helper()
	b.SetParallelism(p)
	var failed atomic.Pointer[error]
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				failed.CompareAndSwap(nil, &err)
				return
			}
		}
	})
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
}

const (
	benchAud    = "bench-vault"
	benchMethod = vrmv1.BrandService_ReadProfile_FullMethodName
)

// staticKey resolves exactly one key, from memory.
type staticKey struct{ key consent.PublicKey }

func (s staticKey) ResolveKey(_ context.Context, jkt string) (consent.PublicKey, error) {
	if jkt != s.key.Thumbprint() {
		return consent.PublicKey{}, consent.ErrUnknownKey
	}
	return s.key, nil
}

// nopReplay accepts every jti: the verifier's own cost, without a store.
type nopReplay struct{}

func (nopReplay) Remember(context.Context, string, string, time.Time) error { return nil }

// signedProof returns a key of alg and one proof it signed for
// ReadProfile on benchAud at now.
func signedProof(b *testing.B, alg consent.Algorithm, now time.Time) (*consent.PrivateKey, string) {
	b.Helper()
	k, err := consent.GenerateKey(alg, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	proof, err := consent.NewProof(k, benchAud, benchMethod, now, rand.Reader, false)
	if err != nil {
		b.Fatal(err)
	}
	return k, proof
}

func benchVerifyJose(b *testing.B, alg consent.Algorithm, parallel bool) {
	now := time.Now()
	k, proof := signedProof(b, alg, now)
	v := &consent.ProofVerifier{Now: func() time.Time { return now }, Replay: nopReplay{}}
	want := consent.Expect{Aud: benchAud, Method: benchMethod, Mode: consent.KeyByID, Keys: staticKey{k.Public()}}
	ctx := context.Background()
	loop(b, parallel, func() error {
		_, err := v.Verify(ctx, proof, want)
		return err
	})
}

// rawProof is a compact JWS taken apart: what a verifier hands to the
// signature algorithm.
type rawProof struct {
	signingInput []byte
	sig          []byte
}

func splitProof(b *testing.B, proof string) rawProof {
	b.Helper()
	i := strings.LastIndexByte(proof, '.')
	sig, err := base64.RawURLEncoding.DecodeString(proof[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	return rawProof{signingInput: []byte(proof[:i]), sig: sig}
}

// cryptoKey returns the crypto/* public key behind k, through its JWK.
func cryptoKey(b *testing.B, k consent.PublicKey) any {
	b.Helper()
	js, err := k.MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(js); err != nil {
		b.Fatal(err)
	}
	return jwk.Key
}

var errBadSignature = errors.New("signature does not verify")

func benchVerifyCrypto(b *testing.B, alg consent.Algorithm, parallel bool) {
	k, proof := signedProof(b, alg, time.Now())
	raw := splitProof(b, proof)
	var op func() error
	switch pub := cryptoKey(b, k.Public()).(type) {
	case ed25519.PublicKey:
		op = func() error {
			if !ed25519.Verify(pub, raw.signingInput, raw.sig) {
				return errBadSignature
			}
			return nil
		}
	case *ecdsa.PublicKey:
		if len(raw.sig) != 64 {
			b.Fatalf("ES256 signature of %d bytes", len(raw.sig))
		}
		op = func() error {
			h := sha256.Sum256(raw.signingInput)
			r, s := new(big.Int).SetBytes(raw.sig[:32]), new(big.Int).SetBytes(raw.sig[32:])
			if !ecdsa.Verify(pub, h[:], r, s) {
				return errBadSignature
			}
			return nil
		}
	default:
		b.Fatalf("unexpected key type %T", pub)
	}
	if err := op(); err != nil {
		b.Fatal(err)
	}
	loop(b, parallel, op)
}

func benchSign(b *testing.B, parallel bool) {
	k, err := consent.GenerateKey(consent.EdDSA, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	loop(b, parallel, func() error {
		_, err := consent.NewProof(k, benchAud, benchMethod, time.Now(), rand.Reader, false)
		return err
	})
}

// profileKey is where package vault keeps a profile field ("p/<path>",
// see its package doc).
const profileKey = "p/name.given"

// profileStore returns a store holding one vault's profile as package
// vault stores it, and the vault's id. sealed: the vault's own store
// (package seal over badgerstore, as vaultd runs it). Otherwise a
// badgerstore of its own holding the same records in the clear: the
// floor under the sealed store.
func profileStore(b *testing.B, sealed bool) (store.Store, string) {
	b.Helper()
	v, rv := startVault(b)
	if sealed {
		return v.Store(), rv.addr.VaultID
	}
	ctx := context.Background()
	records := map[string][]byte{}
	err := v.Store().View(ctx, rv.addr.VaultID, func(tx store.Tx) error {
		return tx.Scan("p/", "", 0, func(k string, val []byte) error {
			records[k] = bytes.Clone(val)
			return nil
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	raw, err := badgerstore.Open(badgerstore.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = raw.Close() })
	const id = "floor-bench"
	if err := raw.CreateVault(ctx, id); err != nil {
		b.Fatal(err)
	}
	err = raw.Update(ctx, id, func(tx store.Tx) error {
		for k, val := range records {
			if err := tx.Put(k, val); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return raw, id
}

func benchStoreGet(b *testing.B, sealed, parallel bool) {
	st, id := profileStore(b, sealed)
	ctx := context.Background()
	op := func() error {
		return st.View(ctx, id, func(tx store.Tx) error {
			_, err := tx.Get(profileKey)
			return err
		})
	}
	if err := op(); err != nil {
		b.Fatalf("read %s: %v (has package vault's key layout changed?)", profileKey, err)
	}
	loop(b, parallel, op)
}

func benchStoreScan(b *testing.B, sealed, parallel bool) {
	st, id := profileStore(b, sealed)
	ctx := context.Background()
	want := len(ProfileFields())
	op := func() error {
		n := 0
		err := st.View(ctx, id, func(tx store.Tx) error {
			return tx.Scan("p/", "", 0, func(string, []byte) error { n++; return nil })
		})
		if err == nil && n != want {
			err = fmt.Errorf("scan found %d fields, want %d (has package vault's key layout changed?)", n, want)
		}
		return err
	}
	loop(b, parallel, op)
}

// benchSyncedWrite measures synced commits of one small TTL row on a
// badgerstore of its own.
func benchSyncedWrite(b *testing.B, parallel bool) {
	st, err := badgerstore.Open(badgerstore.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	const id = "floor-bench"
	if err := st.CreateVault(ctx, id); err != nil {
		b.Fatal(err)
	}
	var n atomic.Uint64
	loop(b, parallel, func() error {
		key := fmt.Sprintf("j/floor-bench/%d", n.Add(1))
		return st.Update(ctx, id, func(tx store.Tx) error {
			return tx.PutTTL(key, []byte{1}, 2*time.Minute)
		})
	})
}

// benchBadgerBatch measures badger's own synced commit throughput: a
// database of its own with SyncWrites, each operation one Update of three
// small keys (a field, a change row, a counter: the shape of an owner
// write), from Writers goroutines.
func benchBadgerBatch(b *testing.B) {
	opts := badger.DefaultOptions(b.TempDir()).WithSyncWrites(true).WithLogger(nil).
		WithMetricsEnabled(false).WithMemTableSize(32 << 20)
	db, err := badger.Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	value := bytes.Repeat([]byte{'v'}, 100)
	var n atomic.Uint64
	loopParallel(b, max(1, Writers/runtime.GOMAXPROCS(0)), func() error {
		i := n.Add(1)
		return db.Update(func(txn *badger.Txn) error {
			for _, k := range []string{"v/bench/p/field", "x/bench/", "s/bench"} {
				if err := txn.Set(fmt.Appendf(nil, "%s%d", k, i), value); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

func benchGRPCEmpty(b *testing.B, parallel bool) {
	v := vaulttest.Start(b)
	conn, err := grpc.NewClient(v.Address.HostPort, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	hc := healthpb.NewHealthClient(conn)
	ctx := context.Background()
	op := func() error {
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	if err := op(); err != nil {
		b.Fatal(err)
	}
	loop(b, parallel, op)
}

func benchFullRead(b *testing.B, parallel bool) {
	v, first := startVault(b)
	vaults := []*readVault{first}
	if parallel {
		for len(vaults) < ParallelVaults {
			vaults = append(vaults, addVault(b, v))
		}
	}
	ctx := context.Background()
	want := len(ProfileFields()) - 1
	var next atomic.Uint64
	read := func(rv *readVault) error {
		resp, err := rv.brand.Read(ctx)
		if err == nil && len(resp.GetFields()) != want {
			err = fmt.Errorf("read returned %d fields, want %d", len(resp.GetFields()), want)
		}
		return err
	}
	if !parallel {
		loop(b, false, func() error { return read(first) })
		return
	}
	b.SetParallelism(Parallelism)
	var failed atomic.Pointer[error]
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Each goroutine keeps to one vault, as a brand's worker would.
		rv := vaults[next.Add(1)%uint64(len(vaults))]
		for pb.Next() {
			if err := read(rv); err != nil {
				failed.CompareAndSwap(nil, &err)
				return
			}
		}
	})
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
}
