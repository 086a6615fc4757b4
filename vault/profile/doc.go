// Package profile is the profile model of a vrmvault vault: typed values at
// dotted paths, the rules of the well-known paths, the limits every write
// obeys, and the JSON and vCard codecs that move a profile in and out.
//
// It exists so that the vault server, which validates every owner write,
// and the vrm CLI, which types PATH=VALUE arguments and imports and exports
// files, agree on one definition of a valid profile. A value the CLI
// accepts is a value the server accepts, and an import never produces a
// field that a write would refuse.
//
// The package is pure: no I/O beyond the io.Reader and io.Writer it is
// handed, no clock (the caller passes now), no package-level mutable state.
//
// # Paths
//
// A path is dotted segments, each [A-Za-z0-9_-]{1,64}, at most 16 segments
// (PROTOCOL.md §4), and at most MaxPathBytes bytes, so that the storage key
// "p/<path>" stays inside the store's key limit. The wildcard segment "*"
// belongs to scopes and is refused in a field path. Paths are case
// sensitive; a first segment that spells a well-known prefix in another case
// (Email.home) is refused rather than treated as a free path, so that a typo
// cannot slip a value past its rule or out of a scope.
//
// # Well-known paths
//
// Paths under the well-known prefixes (name, email, phone, address,
// birthdate, social, prefs.contact, prefs.language, intents, brands) follow
// an allow-list: each leaf has a kind and a rule, and any other path under
// the prefix is refused with a message that lists what is allowed. Every
// other path is free: it is checked for syntax and size only. Validation
// never rewrites a value: it is accepted as given or refused.
//
// # Errors
//
// Validation returns a *FieldError whose Unwrap is one of ErrInvalidPath,
// ErrInvalidValue or ErrLimit, and whose message is one line that names the
// path and the rule broken, never the value: values are personal data and
// error messages reach logs. Import files that cannot be parsed give
// ErrMalformed.
//
// # Limits
//
// Limits holds every size and count bound with its default
// (DefaultLimits). Functions that take Limits treat a zero or negative
// field as its default, so Limits{} behaves as DefaultLimits(); a
// MaxPathDepth above the protocol's 16 is treated as 16.
//
// # Imports and the clock
//
// DecodeJSON and DecodeVCard take no clock, so the one clock-dependent rule
// (a birthdate may not lie in the future) cannot be checked there: decoded
// fields pass every other rule of ValidateField, and the caller validates
// the batch with its clock (the server does so on every write anyway).
package profile
