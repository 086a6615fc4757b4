package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
)

// The crash log is the crash harness's own durable record of the writes
// it made to vaultd: one JSON object a line, appended and fsync'd before
// the harness goes on, so that what it says survives whatever happens to
// vaultd. A write is logged as acknowledged only after its RPC returned OK,
// and as of unknown outcome when its RPC failed (it was in flight at the
// kill). After each restart the checker reads the log back from the disk,
// decides each unknown write (applied or absent) from what the vault holds,
// and appends that decision, so that the log alone says what the vault must
// hold.

// Kinds of crash log records.
const (
	recProfile = "profile" // an owner's UpdateProfile batch
	recContrib = "contrib" // a brand's WriteContributions batch
	recRequest = "request" // a brand's access request
	recGrant   = "grant"   // an owner-signed consent record granting a request
	recDeny    = "deny"    // an owner-signed consent record denying a request
	recRevoke  = "revoke"  // an owner-signed revocation
)

// Outcomes of crash log records.
const (
	outAck     = "ack"     // the RPC returned OK: the write must be in the vault
	outUnknown = "unknown" // the RPC failed: the write may or may not be in the vault
	outApplied = "applied" // a checker's decision: the unknown write is in the vault
	outAbsent  = "absent"  // a checker's decision: the unknown write is not in the vault
)

// maxCrashLogLine bounds one line of the crash log when it is read back.
const maxCrashLogLine = 64 << 10

// maxCrashLogRecords bounds the records read back from the crash log.
const maxCrashLogRecords = 10_000_000

// crashRecord is one line of the crash log.
type crashRecord struct {
	// Kind is one of the rec* constants.
	Kind string `json:"kind"`
	// Outcome is one of the out* constants.
	Outcome string `json:"outcome"`
	// Cycle is the kill cycle during which the write was made (0: setup).
	Cycle int `json:"cycle"`
	// Client names the writer: each profile writer owns its fields.
	Client string `json:"client,omitempty"`
	// Token is the unique value every field a batch sets is set to.
	Token string `json:"token,omitempty"`
	// Set are the fields (relative to the writer's prefix) set to Token.
	Set []string `json:"set,omitempty"`
	// Del are the fields (relative to the writer's prefix) deleted.
	Del []string `json:"del,omitempty"`
	// ID is the request id (request) or the consent id (grant, deny,
	// revoke); empty for an unknown grant or deny, whose id the client
	// never learnt.
	ID string `json:"id,omitempty"`
	// RequestID is the request a grant or deny answers.
	RequestID string `json:"request_id,omitempty"`
	// Seq is the vault sequence number the vault reported for an
	// acknowledged batch.
	Seq uint64 `json:"seq,omitempty"`
	// HeadSeq and HeadHash are the ledger head the vault reported after an
	// acknowledged ledger write.
	HeadSeq  uint64 `json:"head_seq,omitempty"`
	HeadHash string `json:"head_hash,omitempty"`
}

// crashLog is the append-only, fsync'd crash log. It is safe for
// concurrent use.
type crashLog struct {
	path string

	mu sync.Mutex
	f  *os.File
}

// openCrashLog opens (creating it if needed) the crash log at path for
// appending.
func openCrashLog(path string) (*crashLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open crash log: %w", err)
	}
	return &crashLog{path: path, f: f}, nil
}

// append writes r as one line and syncs the file: when it returns nil the
// record is on disk.
func (l *crashLog) append(r crashRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode crash log record: %w", err)
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("append to crash log %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("sync crash log %s: %w", l.path, err)
	}
	return nil
}

// close closes the log.
func (l *crashLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("close crash log %s: %w", l.path, err)
	}
	return nil
}

// readCrashLog reads every record of the crash log at path, in order.
func readCrashLog(path string) ([]crashRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open crash log: %w", err)
	}
	defer f.Close()
	var out []crashRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), maxCrashLogLine)
	for sc.Scan() {
		if len(out) == maxCrashLogRecords {
			return nil, fmt.Errorf("crash log %s: more than %d records", path, maxCrashLogRecords)
		}
		var r crashRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("crash log %s line %d: %w", path, len(out)+1, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read crash log %s: %w", path, err)
	}
	return out, nil
}

// fieldModel is what a writer's fields must hold: field (relative to the
// writer's prefix) to the token of the last batch that set it; a deleted
// or never written field is absent.
type fieldModel map[string]string

// apply returns m with the batch r applied, leaving m unchanged.
func (m fieldModel) apply(r crashRecord) fieldModel {
	out := make(fieldModel, len(m)+len(r.Set))
	for k, v := range m {
		out[k] = v
	}
	for _, f := range r.Del {
		delete(out, f)
	}
	for _, f := range r.Set {
		out[f] = r.Token
	}
	return out
}

// equal reports whether m and o hold the same fields and values.
func (m fieldModel) equal(o fieldModel) bool {
	if len(m) != len(o) {
		return false
	}
	for k, v := range m {
		if w, ok := o[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// writerModel is what the crash log says one batch writer's fields hold.
type writerModel struct {
	// kind is recProfile or recContrib.
	kind string
	// state is the fields after every acknowledged batch and every unknown
	// batch decided as applied.
	state fieldModel
	// pending is the batch of unknown outcome not yet decided, if any; a
	// writer stops at its first failed call, so there is at most one.
	pending *crashRecord
	// acked counts the writer's acknowledged batches.
	acked int
	// maxSeq is the greatest vault sequence number of an acknowledged
	// batch.
	maxSeq uint64
}

// ledgerModel is what the crash log says of the consent ledger and the
// access requests.
type ledgerModel struct {
	// acked are the acknowledged requests, grants, denials and revocations.
	acked []crashRecord
	// pending are the unknown grants, denials and revocations not yet
	// decided.
	pending []crashRecord
	// unknownRequests counts requests of unknown outcome: their id was
	// never learnt, so they are not decided.
	unknownRequests int
}

// crashModel is the crash log replayed.
type crashModel struct {
	writers map[string]*writerModel
	ledger  ledgerModel
	// acked and unknown count the log's records of each outcome.
	acked, unknown int
}

// replayCrashLog builds the model of what the vault must hold from the
// records of the crash log. A decision that matches no pending write is an
// error: the log is inconsistent.
func replayCrashLog(recs []crashRecord) (*crashModel, error) {
	m := &crashModel{writers: map[string]*writerModel{}}
	writer := func(r crashRecord) *writerModel {
		w := m.writers[r.Client]
		if w == nil {
			w = &writerModel{kind: r.Kind, state: fieldModel{}}
			m.writers[r.Client] = w
		}
		return w
	}
	for i, r := range recs {
		switch r.Outcome {
		case outAck:
			m.acked++
		case outUnknown:
			m.unknown++
		}
		switch r.Kind {
		case recProfile, recContrib:
			w := writer(r)
			switch r.Outcome {
			case outAck:
				if w.pending != nil {
					return nil, fmt.Errorf("crash log record %d: %s wrote on before its unknown batch %s was decided", i+1, r.Client, w.pending.Token)
				}
				w.state = w.state.apply(r)
				w.acked++
				w.maxSeq = max(w.maxSeq, r.Seq)
			case outUnknown:
				if w.pending != nil {
					return nil, fmt.Errorf("crash log record %d: %s has two undecided batches", i+1, r.Client)
				}
				p := r
				w.pending = &p
			case outApplied, outAbsent:
				if w.pending == nil || w.pending.Token != r.Token {
					return nil, fmt.Errorf("crash log record %d: decision on %s batch %s, which is not pending", i+1, r.Client, r.Token)
				}
				if r.Outcome == outApplied {
					w.state = w.state.apply(*w.pending)
				}
				w.pending = nil
			}
		case recRequest, recGrant, recDeny, recRevoke:
			switch r.Outcome {
			case outAck:
				m.ledger.acked = append(m.ledger.acked, r)
			case outUnknown:
				if r.Kind == recRequest {
					m.ledger.unknownRequests++
				} else {
					m.ledger.pending = append(m.ledger.pending, r)
				}
			case outApplied, outAbsent:
				j := pendingLedgerIndex(m.ledger.pending, r)
				if j < 0 {
					return nil, fmt.Errorf("crash log record %d: decision on %s %s%s, which is not pending", i+1, r.Kind, r.ID, r.RequestID)
				}
				m.ledger.pending = append(m.ledger.pending[:j], m.ledger.pending[j+1:]...)
				if r.Outcome == outApplied {
					m.ledger.acked = append(m.ledger.acked, r)
				}
			}
		default:
			return nil, fmt.Errorf("crash log record %d: unknown kind %q", i+1, r.Kind)
		}
	}
	return m, nil
}

// pendingLedgerIndex finds the pending ledger write a decision r is about:
// a revocation by consent id, a grant or denial by request id.
func pendingLedgerIndex(pending []crashRecord, r crashRecord) int {
	for j, p := range pending {
		if p.Kind != r.Kind {
			continue
		}
		if r.Kind == recRevoke && p.ID == r.ID || r.Kind != recRevoke && p.RequestID == r.RequestID {
			return j
		}
	}
	return -1
}
