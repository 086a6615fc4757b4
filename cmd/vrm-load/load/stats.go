package load

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/status"
)

// The operations a run measures.
const (
	// OpRead is a brand's consented ReadProfile.
	OpRead = "read"
	// OpWrite is an owner's UpdateProfile of one field.
	OpWrite = "write"
	// OpRevoke is an owner's revocation of a brand's consent.
	OpRevoke = "revoke"
	// OpRegrant is the brand asking again and the owner granting, after
	// a revocation.
	OpRegrant = "regrant"
	// OpWatch is one change delivered to a watch stream: from the start
	// of the owner's write to the watcher's receipt.
	OpWatch = "watch"
	// OpRevokeClose is a watch stream ended by a revocation: from the
	// start of the revoke call to the stream's end.
	OpRevokeClose = "revoke-close"
)

// opOrder is the order of operations in reports.
var opOrder = []string{OpRead, OpWrite, OpRevoke, OpRegrant, OpWatch, OpRevokeClose}

// opStats are one operation's figures.
type opStats struct {
	done   atomic.Int64 // completions, successful or not, warm-up included: for progress
	failed atomic.Int64 // failures among them

	mu     sync.Mutex
	h      hist
	errors map[string]int64
}

// recorder collects the figures of a run. It records only while on, so
// that set-up and warm-up stay out of the figures.
type recorder struct {
	on  atomic.Bool
	ops map[string]*opStats // fixed at construction: read without a lock
}

func newRecorder() *recorder {
	r := &recorder{ops: map[string]*opStats{}}
	for _, op := range opOrder {
		r.ops[op] = &opStats{errors: map[string]int64{}}
	}
	return r
}

// done records one operation that took d and ended with err, if it was
// measured: started while the recorder was on.
func (r *recorder) done(op string, d time.Duration, err error, measured bool) {
	s := r.ops[op]
	s.done.Add(1)
	if err != nil {
		s.failed.Add(1)
	}
	if !measured {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errors[errorCode(err)]++
		return
	}
	s.h.record(d)
}

// OpReport is one operation's figures in a report.
type OpReport struct {
	// Op is the operation's name.
	Op string `json:"op"`
	// Count is the successful operations.
	Count uint64 `json:"count"`
	// Errors is the failed operations.
	Errors int64 `json:"errors"`
	// PerSecond is Count over the measured time.
	PerSecond float64 `json:"per_second"`
	// P50, P90, P99 and Max are latencies of successful operations, in
	// milliseconds.
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
	// ErrorsByCode counts the failures by gRPC status code.
	ErrorsByCode map[string]int64 `json:"errors_by_code,omitempty"`
}

// resultError is an answer that came back without error but wrong.
type resultError struct{ msg string }

func (e *resultError) Error() string { return e.msg }

// errorCode names an error for the report: its gRPC status code, or
// WrongResult for an answer that came back wrong.
func errorCode(err error) string {
	var re *resultError
	if errors.As(err, &re) {
		return "WrongResult"
	}
	return status.Code(err).String()
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// report returns the figures of every operation that happened, over the
// measured time elapsed.
func (r *recorder) report(elapsed time.Duration) []OpReport {
	var out []OpReport
	for _, op := range opOrder {
		s := r.ops[op]
		s.mu.Lock()
		rep := OpReport{
			Op: op, Count: s.h.n,
			P50: ms(s.h.quantile(50)), P90: ms(s.h.quantile(90)), P99: ms(s.h.quantile(99)), Max: ms(s.h.max),
		}
		if len(s.errors) > 0 {
			rep.ErrorsByCode = map[string]int64{}
			for code, n := range s.errors {
				rep.ErrorsByCode[code] = n
				rep.Errors += n
			}
		}
		s.mu.Unlock()
		if rep.Count == 0 && rep.Errors == 0 {
			continue
		}
		if elapsed > 0 {
			rep.PerSecond = float64(rep.Count) / elapsed.Seconds()
		}
		out = append(out, rep)
	}
	return out
}
