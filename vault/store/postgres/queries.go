package postgres

import (
	"fmt"
	"strings"
	"time"
)

// queries holds the SQL of the engine, with table names qualified by the
// store's schema (so that no search_path can redirect them). Every
// statement on a vault's rows filters by the vault id ($1), which also
// routes it to a single shard on Citus.
type queries struct {
	createVault, readVault, lockVault, lockVaultForErase string
	eraseKV, eraseChanges, eraseVault                    string
	listVaultsAfter, listVaultsFrom                      string
	get, put, del                                        string
	scan                                                 [4]string // by scanVariant
	appendChange, setLastSeq, changes                    string
	deleteExpired                                        string
}

// newQueries returns the statements on the tables of schema, an already
// quoted identifier.
func newQueries(schema string) queries {
	r := strings.NewReplacer("{vaults}", schema+".vaults", "{kv}", schema+".kv", "{changes}", schema+".changes")
	q := queries{
		createVault: r.Replace(`INSERT INTO {vaults} (vault, created_at) VALUES ($1, $2)`),
		readVault:   r.Replace(`SELECT last_seq FROM {vaults} WHERE vault = $1`),
		// FOR NO KEY UPDATE: the lock that UPDATE of a non-key column
		// takes; writers of one vault exclude each other, while the
		// foreign key checks of their own inserts (FOR KEY SHARE) pass.
		lockVault:         r.Replace(`SELECT last_seq FROM {vaults} WHERE vault = $1 FOR NO KEY UPDATE`),
		lockVaultForErase: r.Replace(`SELECT last_seq FROM {vaults} WHERE vault = $1 FOR UPDATE`),
		eraseKV:           r.Replace(`DELETE FROM {kv} WHERE vault = $1`),
		eraseChanges:      r.Replace(`DELETE FROM {changes} WHERE vault = $1`),
		eraseVault:        r.Replace(`DELETE FROM {vaults} WHERE vault = $1`),
		listVaultsAfter:   r.Replace(`SELECT vault FROM {vaults} WHERE vault > $1 ORDER BY vault LIMIT $2`),
		listVaultsFrom:    r.Replace(`SELECT vault FROM {vaults} WHERE vault >= $1 ORDER BY vault LIMIT $2`),
		get: r.Replace(`SELECT value FROM {kv}
			WHERE vault = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)`),
		put: r.Replace(`INSERT INTO {kv} (vault, key, value, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (vault, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`),
		del:          r.Replace(`DELETE FROM {kv} WHERE vault = $1 AND key = $2`),
		appendChange: r.Replace(`INSERT INTO {changes} (vault, seq, time, data) VALUES ($1, $2, $3, $4)`),
		setLastSeq:   r.Replace(`UPDATE {vaults} SET last_seq = $2 WHERE vault = $1`),
		// One statement, so one snapshot: no row means no vault, a row of
		// NULLs a vault with no change after the cursor. The subquery
		// repeats the vault filter so that Citus routes it to one shard.
		changes: r.Replace(`SELECT c.seq, c.time, c.data FROM {vaults} v
			LEFT JOIN LATERAL (
				SELECT seq, time, data FROM {changes}
				WHERE vault = $1 AND seq > $2 ORDER BY seq LIMIT $3
			) c ON true
			WHERE v.vault = $1`),
		// Across vaults, by design: the rows are expired for every reader.
		deleteExpired: r.Replace(`DELETE FROM {kv} WHERE expires_at IS NOT NULL AND expires_at <= $1`),
	}
	for v := range q.scan {
		strict, upper := v&1 != 0, v&2 != 0
		lower := ">="
		if strict {
			lower = ">"
		}
		cond := fmt.Sprintf("key %s $2", lower)
		args := 3
		if upper {
			cond += " AND key < $3"
			args = 4
		}
		q.scan[v] = r.Replace(fmt.Sprintf(`SELECT key, value FROM {kv}
			WHERE vault = $1 AND %s AND (expires_at IS NULL OR expires_at > $%d)
			ORDER BY key LIMIT $%d`, cond, args, args+1))
	}
	return q
}

// scanQuery returns the Scan statement for a lower bound (strict: >,
// else >=) and an optional upper bound, with its arguments.
func (q *queries) scanQuery(strict, hasUpper bool, vault string, lower, upper []byte, now time.Time, limit int) (string, []any) {
	v := 0
	if strict {
		v |= 1
	}
	if hasUpper {
		v |= 2
		return q.scan[v], []any{vault, lower, upper, now, limit}
	}
	return q.scan[v], []any{vault, lower, now, limit}
}
