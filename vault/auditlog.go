package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault/audit"
	"github.com/vrmvault/vrmvault/vault/store"
)

// Audit log layout within a vault.
const (
	keyAuditHead       = "m/audit"
	keyCheckpointHead  = "m/checkpoint"
	prefixAudit        = "a/"
	prefixCheckpoint   = "k/"
	maxAuditPage       = 500
	maxAuditScanFactor = 20 // entries scanned per entry returned, at most, when filtering
)

// Caller identifies who makes a call, for the audit log.
type Caller struct {
	// JKT is the caller key's thumbprint.
	JKT string
	// Role is audit.RoleOwner, audit.RoleBrand or audit.RoleHost.
	Role string
	// Method is the full gRPC method name of the call.
	Method string
	// Quota is the vault's quota in force, read with the caller's key.
	Quota Quota
	// Proof, if set, is the call's proof jti, not yet in the replay
	// cache: the call records it in its own transaction and fails if it
	// is there already. Only ReadProfile and UpdateProfile accept it; nil
	// means recorded.
	Proof *ProofUse
	// Key, if set, is what the call's transaction confirms before it
	// does anything (KeyResolver.MemoRole); it fails with ErrKeyChanged
	// otherwise. Only ReadProfile and UpdateProfile accept it.
	Key *KeyCheck
}

// seqKey returns prefix followed by seq as 20 zero-padded digits, so that
// byte order is numeric order.
func seqKey(prefix string, seq uint64) string { return fmt.Sprintf("%s%020d", prefix, seq) }

// appendAudit appends an entry for c to the vault's audit log in tx: the
// same transaction as the work it records, so that the work is not
// committed without its entry (fail closed). Every CheckpointEvery entries
// it also signs a checkpoint of the head.
func (h *Host) appendAudit(tx store.Tx, vaultID string, c Caller, consentIDs []string, paths []string, outcome string) error {
	var head audit.Head
	switch b, err := tx.Get(keyAuditHead); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("audit head: %w", err)
	default:
		if head, err = audit.ParseHead(b); err != nil {
			return fmt.Errorf("audit head: %w", err)
		}
	}
	e := audit.Entry{
		Seq:     head.Seq + 1,
		Time:    h.now().UTC(),
		Caller:  c.JKT,
		Role:    c.Role,
		Method:  c.Method,
		Consent: strings.Join(consentIDs, ","),
		Paths:   paths,
		Outcome: outcome,
		Prev:    head.Hash,
	}
	canon, err := e.Canonical()
	if err != nil {
		return err
	}
	if err := tx.Put(seqKey(prefixAudit, e.Seq), canon); err != nil {
		return fmt.Errorf("audit entry: %w", err)
	}
	head = audit.Head{Seq: e.Seq, Hash: audit.Hash(canon)}
	b, err := audit.EncodeHead(head)
	if err != nil {
		return err
	}
	if err := tx.Put(keyAuditHead, b); err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	if e.Seq%audit.CheckpointEvery == 0 {
		return h.writeCheckpoint(tx, vaultID, head)
	}
	return nil
}

// writeCheckpoint signs head with the vault key and stores it.
func (h *Host) writeCheckpoint(tx store.Tx, vaultID string, head audit.Head) error {
	key, err := vaultKey(tx)
	if err != nil {
		return err
	}
	jws, err := audit.SignCheckpoint(key, audit.Checkpoint{Vault: vaultID, Seq: head.Seq, Hash: head.Hash, Iat: h.now().Unix()})
	if err != nil {
		return err
	}
	if err := tx.Put(seqKey(prefixCheckpoint, head.Seq), []byte(jws)); err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	return putJSON(tx, keyCheckpointHead, head)
}

// vaultKey loads the vault's signing key.
func vaultKey(tx store.Tx) (*consent.PrivateKey, error) {
	meta, err := loadMeta(tx)
	if err != nil {
		return nil, err
	}
	key, err := consent.ParsePrivateKey(meta.VaultKey)
	if err != nil {
		return nil, fmt.Errorf("vault key: %w", err)
	}
	return key, nil
}

// loadMeta reads the vault's metadata through the host's decode cache.
func (h *Host) loadMeta(tx store.Tx) (metaRecord, error) {
	b, err := tx.Get(keyMeta)
	if err != nil {
		return metaRecord{}, fmt.Errorf("vault metadata: %w", err)
	}
	return h.caches.meta.decode(b, func(b []byte) (metaRecord, error) {
		var meta metaRecord
		if err := json.Unmarshal(b, &meta); err != nil {
			return metaRecord{}, fmt.Errorf("vault metadata: decode %s: %w", keyMeta, err)
		}
		return meta, nil
	})
}

func loadMeta(tx store.Tx) (metaRecord, error) {
	var meta metaRecord
	if err := getJSON(tx, keyMeta, &meta); err != nil {
		return metaRecord{}, fmt.Errorf("vault metadata: %w", err)
	}
	return meta, nil
}

// Checkpoint signs a checkpoint of the vault's audit head if entries were
// added since the last one. vaultd calls it for every vault on shutdown.
func (h *Host) Checkpoint(ctx context.Context, vaultID string) error {
	return h.update(ctx, vaultID, func(tx store.Tx) error {
		var head, last audit.Head
		if err := getJSON(tx, keyAuditHead, &head); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}
		if err := getJSON(tx, keyCheckpointHead, &last); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if head.Seq == last.Seq {
			return nil
		}
		return h.writeCheckpoint(tx, vaultID, head)
	})
}

// CheckpointAll signs checkpoints for every vault of the host.
func (h *Host) CheckpointAll(ctx context.Context) error {
	after := ""
	for {
		ids, err := h.ListVaults(ctx, after, 100)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := h.Checkpoint(ctx, id); err != nil && !errors.Is(err, ErrVaultNotFound) {
				return fmt.Errorf("vault %s: checkpoint: %w", id, err)
			}
		}
		if len(ids) < 100 {
			return nil
		}
		after = ids[len(ids)-1]
	}
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	// After returns entries with a greater seq.
	After uint64
	// Limit is the most entries to return (capped at 500).
	Limit int
	// Caller keeps entries of this key thumbprint only.
	Caller string
	// Path keeps entries that touched this path, or a path below it when
	// it ends in ".*".
	Path string
	// Since keeps entries at or after this time.
	Since time.Time
}

// AuditRecord is a stored audit entry with its canonical bytes.
type AuditRecord struct {
	// Entry is the decoded entry.
	Entry audit.Entry
	// Canonical is the encoding the chain hashes.
	Canonical []byte
}

// AuditPage is one page of the audit log.
type AuditPage struct {
	// Records are the matching entries in log order.
	Records []AuditRecord
	// Checkpoints are the signed checkpoints with seq in the scanned range.
	Checkpoints []string
	// CheckpointSeqs are the seqs of Checkpoints.
	CheckpointSeqs []uint64
	// Next is the seq to pass as After for the next page; 0 at the end.
	Next uint64
}

// ListAudit returns audit entries matching f.
func (h *Host) ListAudit(ctx context.Context, vaultID string, f AuditFilter) (AuditPage, error) {
	limit := f.Limit
	if limit <= 0 || limit > maxAuditPage {
		limit = maxAuditPage
	}
	var page AuditPage
	err := h.view(ctx, vaultID, func(tx store.Tx) error {
		scanned, last := 0, f.After
		maxScan := limit * maxAuditScanFactor
		err := tx.Scan(prefixAudit, seqKey(prefixAudit, f.After), maxScan, func(k string, v []byte) error {
			scanned++
			e, err := audit.Decode(v)
			if err != nil {
				return fmt.Errorf("audit entry %s: %w", k, err)
			}
			last = e.Seq
			if matchAudit(e, f) {
				page.Records = append(page.Records, AuditRecord{Entry: e, Canonical: append([]byte(nil), v...)})
				if len(page.Records) == limit {
					return errStopScan
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopScan) {
			return err
		}
		if errors.Is(err, errStopScan) || scanned == maxScan {
			page.Next = last
		}
		return tx.Scan(prefixCheckpoint, seqKey(prefixCheckpoint, f.After), 0, func(k string, v []byte) error {
			var seq uint64
			if _, err := fmt.Sscanf(strings.TrimPrefix(k, prefixCheckpoint), "%d", &seq); err != nil {
				return fmt.Errorf("checkpoint key %s: %w", k, err)
			}
			if seq > last && last != 0 {
				return errStopScan
			}
			page.Checkpoints = append(page.Checkpoints, string(v))
			page.CheckpointSeqs = append(page.CheckpointSeqs, seq)
			return nil
		})
	})
	if errors.Is(err, errStopScan) {
		err = nil
	}
	if err != nil {
		return AuditPage{}, fmt.Errorf("vault %s: list audit: %w", vaultID, err)
	}
	return page, nil
}

// errStopScan ends a Scan early; it never leaves this package.
var errStopScan = errors.New("stop scan")

func matchAudit(e audit.Entry, f AuditFilter) bool {
	if f.Caller != "" && e.Caller != f.Caller {
		return false
	}
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if f.Path == "" {
		return true
	}
	root, subtree := strings.CutSuffix(f.Path, ".*")
	for _, p := range e.Paths {
		if p == f.Path || (subtree && strings.HasPrefix(p, root+".")) {
			return true
		}
	}
	return false
}
