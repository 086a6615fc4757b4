package load

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/vrmvault/vrmvault/cmd/vrm-load/bench"
	"github.com/vrmvault/vrmvault/vault"
)

// Report is what a run measured; -o json prints it as one document.
type Report struct {
	// Mode is "in-process" or "remote"; Target says what was loaded.
	Mode   string `json:"mode"`
	Target string `json:"target"`
	// The shape of the run, as configured.
	Vaults        int     `json:"vaults"`
	IdleVaults    int     `json:"idle_vaults"`
	Brands        int     `json:"brands_per_vault"`
	Watchers      int     `json:"watchers"`
	Concurrency   int     `json:"concurrency"`
	Mix           string  `json:"mix"`
	Rate          float64 `json:"rate,omitempty"`
	WarmupSeconds float64 `json:"warmup_seconds"`
	// CommitDelay is --commit-delay as given (Go duration syntax), when
	// set.
	CommitDelay string `json:"commit_delay,omitempty"`
	// Machine is where it ran.
	Machine Machine `json:"machine"`
	// SetupSeconds is the time to create the fleet; ElapsedSeconds the
	// measured time.
	SetupSeconds   float64 `json:"setup_seconds"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// Presigned is the number of read proofs signed before the warm-up
	// (--presign), PresignSeconds how long that took, and
	// ReadsSignedLive the reads (warm-up included) that signed their own
	// all the same.
	Presigned       int     `json:"presigned_proofs,omitempty"`
	PresignSeconds  float64 `json:"presign_seconds,omitempty"`
	ReadsSignedLive int64   `json:"reads_signed_live,omitempty"`
	// CPUSeconds is the process's CPU time (user and system) over the
	// measured time: in-process, the vaultd's and the clients' together.
	// CPUMicrosPerCall divides it by the calls measured (watch events
	// and stream ends are not calls). Both are 0 where the CPU time
	// cannot be read.
	CPUSeconds       float64 `json:"cpu_seconds,omitempty"`
	CPUMicrosPerCall float64 `json:"cpu_us_per_call,omitempty"`
	// ReadMemo counts the reads of the warm-up and the measured time that
	// the in-process host answered from memory (see vault.MemoStats);
	// absent with --addr.
	ReadMemo *vault.MemoStats `json:"read_memo,omitempty"`
	// Ops are the figures of each operation that ran.
	Ops []OpReport `json:"ops"`
	// Floor is present with --floor.
	Floor *FloorFigures `json:"floor,omitempty"`
}

// opNotes say what an operation's latency spans.
var opNotes = map[string]string{
	OpRead:        "brand ReadProfile, signed proof",
	OpWrite:       "owner UpdateProfile, one field",
	OpRevoke:      "owner revocation (ledger head + signed revocation)",
	OpRegrant:     "brand request + owner grant",
	OpWatch:       "write start -> watcher receipt",
	OpRevokeClose: "revoke start -> watch stream ended",
}

// WriteText writes the report as a table.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "vrm-load: %s (%s)\n", r.Mode, r.Target)
	fmt.Fprintf(&b, "machine: %d CPUs (GOMAXPROCS %d), %s, %s %s/%s; load average %s\n", m.CPUs, m.GOMAXPROCS, orUnknown(m.CPUModel), m.Go, m.OS, m.Arch, orUnknown(m.LoadAvg))
	fmt.Fprintf(&b, "fleet: %d vaults (+%d idle) x %d brands, %d watchers; mix %s; concurrency %d", r.Vaults, r.IdleVaults, r.Brands, r.Watchers, r.Mix, r.Concurrency)
	if r.Rate > 0 {
		fmt.Fprintf(&b, "; rate %.0f/s", r.Rate)
	}
	if r.CommitDelay != "" {
		fmt.Fprintf(&b, "; commit delay %s", r.CommitDelay)
	}
	fmt.Fprintf(&b, "\nset-up %.1fs; measured %.1fs after %.1fs warm-up\n", r.SetupSeconds, r.ElapsedSeconds, r.WarmupSeconds)
	if r.CPUSeconds > 0 {
		fmt.Fprintf(&b, "process CPU: %.1fs in %.1fs measured (%.2f cores busy), %.0fµs a call\n", r.CPUSeconds, r.ElapsedSeconds, r.CPUSeconds/r.ElapsedSeconds, r.CPUMicrosPerCall)
	}
	if m := r.ReadMemo; m != nil && m.ViewHits+m.ViewMisses > 0 {
		fmt.Fprintf(&b, "reads answered from memory (warm-up included): consents %.1f%%, fields %.1f%% of %d\n",
			percent(m.ViewHits, m.ViewHits+m.ViewMisses), percent(m.FieldHits, m.FieldHits+m.FieldMisses), m.ViewHits+m.ViewMisses)
	}
	if r.Presigned > 0 {
		fmt.Fprintf(&b, "proofs: %d read proofs signed in %.1fs before the warm-up; %d reads signed their own\n", r.Presigned, r.PresignSeconds, r.ReadsSignedLive)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "%-13s %9s %9s %9s %9s %9s %9s %7s  %s\n", "op", "count", "per s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "latency of")
	for _, op := range r.Ops {
		fmt.Fprintf(&b, "%-13s %9d %9.1f %9.3f %9.3f %9.3f %9.3f %7d  %s\n", op.Op, op.Count, op.PerSecond, op.P50, op.P90, op.P99, op.Max, op.Errors, opNotes[op.Op])
	}
	var errs []string
	for _, op := range r.Ops {
		codes := make([]string, 0, len(op.ErrorsByCode))
		for c := range op.ErrorsByCode {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		for _, c := range codes {
			errs = append(errs, fmt.Sprintf("  %-13s %-20s %d", op.Op, c, op.ErrorsByCode[c]))
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(&b, "\nerrors by code:\n%s\n", strings.Join(errs, "\n"))
	}
	if f := r.Floor; f != nil {
		names := make([]string, 0, len(f.Parts))
		for n := range f.Parts {
			names = append(names, n)
		}
		slices.Sort(names)
		fmt.Fprintf(&b, "\nfloor (measured before and after the run, in parallel; their mean; ns/op = 1/throughput):\n")
		for _, n := range names {
			fmt.Fprintf(&b, "  %-20s %10s/op\n", n, bench.FormatNs(f.Parts[n]))
		}
		fmt.Fprintf(&b, "  floor throughput     %10.0f reads/s (1 / the sum of the floor parts; %.0f before the run, %.0f after)\n",
			f.ReadsPerSecond, f.ReadsPerSecondBefore, f.ReadsPerSecondAfter)
		if f.ReadFraction > 0 {
			fmt.Fprintf(&b, "  reads/s of this run as a fraction of the floor: %.3f\n", f.ReadFraction)
		}
		if f.BatchesPerSecond > 0 {
			fmt.Fprintf(&b, "  badger's own synced batches (%d writers): %.0f/s; writes/s of this run as a fraction: %.3f\n", bench.Writers, f.BatchesPerSecond, f.WriteFraction)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func percent(n, of uint64) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}
