package load

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// MaxPresign bounds --presign: a proof is about 400 bytes.
const MaxPresign = 500_000

// presignMaxAge is the age after which a presigned proof is not used
// (the read signs its own): a vault accepts an iat within ±60 s of its
// clock by default.
const presignMaxAge = 40 * time.Second

// proofPool is one slot's proofs for ReadProfile, signed before the
// measured time.
type proofPool struct {
	proofs   []string
	next     atomic.Int64
	signedAt time.Time
	raw      vrmv1.BrandServiceClient // the brand's shared connection, unsigned
}

// take returns the next unused proof, or false when none is left or they
// are too old.
func (p *proofPool) take(now time.Time) (string, bool) {
	if now.Sub(p.signedAt) > presignMaxAge {
		return "", false
	}
	i := p.next.Add(1) - 1
	if i >= int64(len(p.proofs)) {
		return "", false
	}
	return p.proofs[i], true
}

// read calls ReadProfile on the slot's vault with proof.
func (p *proofPool) read(ctx context.Context, vaultID, proof string) (*vrmv1.ReadProfileResponse, error) {
	ctx = metadata.AppendToOutgoingContext(ctx, consent.ProofMetadataKey, proof)
	return p.raw.ReadProfile(ctx, &vrmv1.ReadProfileRequest{VaultId: vaultID})
}

// presign signs n ReadProfile proofs, spread evenly over the fleet's
// slots, on every core, and gives each slot its pool. The brands'
// connections must be shared (fleetBrand.conn).
func presign(ctx context.Context, f *fleet, n int) error {
	per := (n + len(f.slots) - 1) / len(f.slots)
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(f.slots) || ctx.Err() != nil {
					return
				}
				s := f.slots[i]
				b := s.brand
				if b.conn == nil {
					errOnce.Do(func() { first = fmt.Errorf("presign: brand has no shared connection") })
					return
				}
				pool := &proofPool{proofs: make([]string, per), signedAt: time.Now(), raw: vrmv1.NewBrandServiceClient(b.conn.Unsigned())}
				for j := range per {
					p, err := consent.NewProof(b.key, s.v.addr.VaultID, vrmv1.BrandService_ReadProfile_FullMethodName, pool.signedAt, rand.Reader, false)
					if err != nil {
						errOnce.Do(func() { first = fmt.Errorf("presign: %w", err) })
						return
					}
					pool.proofs[j] = p
				}
				s.presigned = pool
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// presignedProof returns one of the slot's presigned proofs, if it has
// one left that is fresh enough.
func (s *slot) presignedProof(now time.Time) (string, bool) {
	if s.presigned == nil {
		return "", false
	}
	return s.presigned.take(now)
}
