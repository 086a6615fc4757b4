package profile

import (
	"errors"
	"fmt"
)

// Fixed bounds, set by the protocol or by this package rather than by
// configuration.
const (
	// MaxSegments is the protocol's maximum number of segments in a path
	// (PROTOCOL.md §4). Limits.MaxPathDepth may lower it, never raise it.
	MaxSegments = 16
	// MaxSegmentBytes is the longest segment of a path (PROTOCOL.md §4).
	MaxSegmentBytes = 64
	// MaxPathBytes is the longest path, dots included. Sixteen segments of
	// 64 bytes would make 1039; the bound is lower so that the storage key
	// "p/<path>" stays under the store's 1024-byte key limit.
	MaxPathBytes = 1000
	// MaxListItemBytes is the longest item of a list value.
	MaxListItemBytes = 256
	// MaxImportBytes is the largest JSON or vCard file the decoders read.
	MaxImportBytes = 4 << 20
)

// Limits bounds the size of values, batches and profiles. Every field has
// a default (DefaultLimits); the vault host sets them from flags, and the
// vault descriptor publishes them to clients.
type Limits struct {
	// MaxValueBytes bounds Value.Size of one value. Default 4096.
	MaxValueBytes int
	// MaxListItems bounds the number of items of a list value. Default 64.
	MaxListItems int
	// MaxFieldsPerBatch bounds the fields of one write. Default 100.
	MaxFieldsPerBatch int
	// MaxPathDepth bounds the segments of a path. Default and maximum 16
	// (MaxSegments, the protocol's bound).
	MaxPathDepth int
	// MaxFields bounds the fields of one profile, and so of one import.
	// Default 2000.
	MaxFields int
	// MaxProfileBytes bounds the sum over a profile of Value.Size plus the
	// length of the path (FieldBytes). Default 1 MiB.
	MaxProfileBytes int
}

// The defaults of DefaultLimits, one for each field of Limits.
const (
	DefaultMaxValueBytes     = 4096        // Limits.MaxValueBytes
	DefaultMaxListItems      = 64          // Limits.MaxListItems
	DefaultMaxFieldsPerBatch = 100         // Limits.MaxFieldsPerBatch
	DefaultMaxPathDepth      = MaxSegments // Limits.MaxPathDepth
	DefaultMaxFields         = 2000        // Limits.MaxFields
	DefaultMaxProfileBytes   = 1 << 20     // Limits.MaxProfileBytes
)

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxValueBytes:     DefaultMaxValueBytes,
		MaxListItems:      DefaultMaxListItems,
		MaxFieldsPerBatch: DefaultMaxFieldsPerBatch,
		MaxPathDepth:      DefaultMaxPathDepth,
		MaxFields:         DefaultMaxFields,
		MaxProfileBytes:   DefaultMaxProfileBytes,
	}
}

// Validate checks limits given as configuration: every field must be
// positive and MaxPathDepth at most 16. (Functions that take Limits are
// more lenient: they read a zero field as its default.)
func (l Limits) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{
		{"MaxValueBytes", l.MaxValueBytes},
		{"MaxListItems", l.MaxListItems},
		{"MaxFieldsPerBatch", l.MaxFieldsPerBatch},
		{"MaxPathDepth", l.MaxPathDepth},
		{"MaxFields", l.MaxFields},
		{"MaxProfileBytes", l.MaxProfileBytes},
	} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("%w: %s is %d, must be positive", ErrLimit, f.name, f.v))
		}
	}
	if l.MaxPathDepth > MaxSegments {
		errs = append(errs, fmt.Errorf("%w: MaxPathDepth is %d, the protocol allows at most %d", ErrLimit, l.MaxPathDepth, MaxSegments))
	}
	return errors.Join(errs...)
}

// withDefaults returns l with every zero or negative field replaced by its
// default and MaxPathDepth capped at MaxSegments.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.MaxValueBytes, d.MaxValueBytes)
	set(&l.MaxListItems, d.MaxListItems)
	set(&l.MaxFieldsPerBatch, d.MaxFieldsPerBatch)
	set(&l.MaxPathDepth, d.MaxPathDepth)
	set(&l.MaxFields, d.MaxFields)
	set(&l.MaxProfileBytes, d.MaxProfileBytes)
	if l.MaxPathDepth > MaxSegments {
		l.MaxPathDepth = MaxSegments
	}
	return l
}

// FieldBytes returns what a field counts against Limits.MaxProfileBytes:
// the length of its path plus Value.Size.
func FieldBytes(f Field) int { return len(f.Path) + f.Value.Size() }

// CheckProfileSize checks a whole profile's field count and byte total
// (the sum of FieldBytes) against Limits.MaxFields and
// Limits.MaxProfileBytes. The server calls it with the totals the profile
// would have after a write; it returns a *FieldError wrapping ErrLimit.
func CheckProfileSize(fields, bytes int, lim Limits) error {
	lim = lim.withDefaults()
	if fields > lim.MaxFields {
		return fieldErr("", ErrLimit, fmt.Sprintf("profile would have %d fields, limit is %d (max fields)", fields, lim.MaxFields))
	}
	if bytes > lim.MaxProfileBytes {
		return fieldErr("", ErrLimit, fmt.Sprintf("profile would be %d bytes, limit is %d (max profile size)", bytes, lim.MaxProfileBytes))
	}
	return nil
}
