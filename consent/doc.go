// Package consent is the pure domain of vrmvault's security protocol
// (../shared/PROTOCOL.md): keys and their identities (RFC 7638
// thumbprints), request proofs, and, as the protocol grows, scopes,
// access requests, owner-signed consent records, revocations, receipts and
// ledger hashing.
//
// It does no I/O and imports no other package of this module, so that a
// brand can verify a receipt, and any client can sign a proof, by
// importing this package alone. Whatever it needs from the outside (a
// clock, randomness, a replay cache, a key lookup) is passed in. JOSE is
// go-jose v4, always called with the protocol's algorithm allow-list
// (EdDSA and ES256).
package consent
