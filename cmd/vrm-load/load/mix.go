package load

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Mix is the share of each operation the workers run: weights, not
// necessarily summing to 100.
type Mix struct {
	// Read, Write and Revoke are the weights of OpRead, OpWrite and
	// OpRevoke (a revocation is followed by its regrant).
	Read, Write, Revoke int
}

// DefaultMix is the --mix default.
const DefaultMix = "read=90,write=8,revoke=2"

// maxWeight bounds one weight of a mix.
const maxWeight = 1_000_000

// ParseMix parses "read=90,write=8,revoke=2". Operations left out weigh
// 0; at least one must weigh more.
func ParseMix(s string) (Mix, error) {
	var m Mix
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Mix{}, fmt.Errorf("--mix: %q is not op=weight", part)
		}
		w, err := strconv.Atoi(val)
		if err != nil || w < 0 || w > maxWeight {
			return Mix{}, fmt.Errorf("--mix: weight of %s must be an integer from 0 to %d", name, maxWeight)
		}
		if seen[name] {
			return Mix{}, fmt.Errorf("--mix: %s given twice", name)
		}
		seen[name] = true
		switch name {
		case OpRead:
			m.Read = w
		case OpWrite:
			m.Write = w
		case OpRevoke:
			m.Revoke = w
		default:
			return Mix{}, fmt.Errorf("--mix: unknown operation %q (read, write or revoke)", name)
		}
	}
	if m.total() == 0 {
		return Mix{}, fmt.Errorf("--mix: every weight is 0")
	}
	return m, nil
}

func (m Mix) total() int { return m.Read + m.Write + m.Revoke }

// String returns the mix in ParseMix's syntax.
func (m Mix) String() string {
	return fmt.Sprintf("read=%d,write=%d,revoke=%d", m.Read, m.Write, m.Revoke)
}

// pick draws an operation with the mix's weights.
func (m Mix) pick(rng *rand.Rand) string {
	n := rng.IntN(m.total())
	switch {
	case n < m.Read:
		return OpRead
	case n < m.Read+m.Write:
		return OpWrite
	default:
		return OpRevoke
	}
}
