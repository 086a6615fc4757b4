package badgerstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Top-level key prefixes. Each names one kind of row; the package doc
// describes the whole layout. A vault id never contains '/', so
// "<prefix><id>/" of one vault is never a prefix of another vault's keys.
const (
	formatKey    = "h/format"          // on-disk format version of the whole DB
	probeKey     = "h/subscribe-probe" // written at start-up to prove the subscription is live
	markerPrefix = "h/vault/"          // h/vault/<id>: the vault exists
	erasePrefix  = "h/erase/"          // h/erase/<id>: the vault was erased, its rows are still being removed
	dataPrefix   = "v/"                // v/<id>/<key>: the caller's rows
	changePrefix = "x/"                // x/<id>/<seq>: change feed rows
	seqPrefix    = "s/"                // s/<id>: the vault's last change sequence number
)

// formatVersion is the on-disk format this package writes and reads.
// Open refuses a DB that records another one.
const formatVersion = 1

// Row format bytes. Every value this package writes starts with one, so
// a later format can be told apart from this one.
const (
	rowPlain    byte = 1 // data row: value follows
	rowExpiring byte = 2 // data row: 8-byte big-endian expiry (Unix ns), then value
	rowChange   byte = 1 // change row: 8-byte big-endian time (Unix ns), then data
	rowMarker   byte = 1 // vault marker or erase tombstone: 8-byte big-endian time (Unix ns)
)

// errCorrupt reports a stored row this package cannot decode.
var errCorrupt = errors.New("badgerstore: corrupt row")

func markerKey(vault string) []byte { return []byte(markerPrefix + vault) }
func eraseKey(vault string) []byte  { return []byte(erasePrefix + vault) }
func seqKey(vault string) []byte    { return []byte(seqPrefix + vault) }

// vaultDataPrefix returns "v/<id>/", the prefix of every caller row of the
// vault.
func vaultDataPrefix(vault string) []byte { return []byte(dataPrefix + vault + "/") }

// vaultChangePrefix returns "x/<id>/", the prefix of every change row of
// the vault.
func vaultChangePrefix(vault string) []byte { return []byte(changePrefix + vault + "/") }

// changeKey returns "x/<id>/<seq>" with seq as 8 big-endian bytes, so byte
// order is numeric order.
func changeKey(vault string, seq uint64) []byte {
	k := make([]byte, 0, len(changePrefix)+len(vault)+1+8)
	k = append(k, changePrefix...)
	k = append(k, vault...)
	k = append(k, '/')
	return binary.BigEndian.AppendUint64(k, seq)
}

// vaultOfNotifiedKey returns the vault id a change row or marker key
// belongs to, or "" for any other key.
func vaultOfNotifiedKey(key []byte) []byte {
	switch {
	case hasPrefix(key, changePrefix):
		rest := key[len(changePrefix):]
		for i, c := range rest {
			if c == '/' {
				return rest[:i]
			}
		}
	case hasPrefix(key, markerPrefix):
		return key[len(markerPrefix):]
	}
	return nil
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

// encodeData returns the stored form of a caller value. expiry is the Unix
// time in nanoseconds after which the row reads as absent, or 0 for none.
// The result is a fresh slice: badger keeps it until commit, and the
// caller may reuse value.
func encodeData(value []byte, expiry int64) []byte {
	if expiry == 0 {
		b := make([]byte, 0, 1+len(value))
		b = append(b, rowPlain)
		return append(b, value...)
	}
	b := make([]byte, 0, 9+len(value))
	b = append(b, rowExpiring)
	b = binary.BigEndian.AppendUint64(b, uint64(expiry))
	return append(b, value...)
}

// decodeData returns the caller value inside a stored data row (a
// sub-slice of b) and whether it is live at now.
func decodeData(b []byte, now time.Time) (value []byte, live bool, err error) {
	if len(b) == 0 {
		return nil, false, fmt.Errorf("%w: empty data row", errCorrupt)
	}
	switch b[0] {
	case rowPlain:
		return b[1:], true, nil
	case rowExpiring:
		if len(b) < 9 {
			return nil, false, fmt.Errorf("%w: short expiring data row", errCorrupt)
		}
		expiry := int64(binary.BigEndian.Uint64(b[1:9]))
		return b[9:], now.UnixNano() < expiry, nil
	default:
		return nil, false, fmt.Errorf("%w: data row format %d", errCorrupt, b[0])
	}
}

// encodeChange returns the stored form of a change row.
func encodeChange(t time.Time, data []byte) []byte {
	b := make([]byte, 0, 9+len(data))
	b = append(b, rowChange)
	b = binary.BigEndian.AppendUint64(b, uint64(t.UnixNano()))
	return append(b, data...)
}

// decodeChange returns the time and data of a stored change row; data is
// a sub-slice of b.
func decodeChange(b []byte) (time.Time, []byte, error) {
	if len(b) < 9 || b[0] != rowChange {
		return time.Time{}, nil, fmt.Errorf("%w: change row", errCorrupt)
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9]))).UTC(), b[9:], nil
}

// encodeMarker returns the stored form of a vault marker or erase
// tombstone, recording when it was written.
func encodeMarker(t time.Time) []byte {
	b := make([]byte, 0, 9)
	b = append(b, rowMarker)
	return binary.BigEndian.AppendUint64(b, uint64(t.UnixNano()))
}

func encodeSeq(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func decodeSeq(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: sequence counter of %d bytes", errCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}
