// Package consent is the pure domain of vrmvault's security protocol
// (../shared/PROTOCOL.md): everything a vault, the owner's client and a
// brand must agree on byte for byte, and nothing else.
//
//   - Keys and identities (keys.go): Ed25519 and P-256 keys, their RFC 7638
//     thumbprints (jkt), and compact JWS signing with a kid header.
//   - Request proofs (proof.go, section 2): the signed vrm-proof of every
//     call, verified against a replay cache and a key resolver.
//   - Scopes (scope.go, section 4): "action:path" parsed strictly, with
//     Covers, Allows and Contains, and the rule that a brand writes only
//     under brands.<its jkt>.*.
//   - Purposes (purpose.go): a closed list of W3C DPV purpose terms.
//   - Access requests (request.go, section 3.1): every field bounded.
//   - Ledger entries (record.go, sections 3.2, 3.3, 6): owner-signed
//     consent records, revocations and owner-key entries, signed and
//     parsed.
//   - The ledger (ledger.go, section 6): entry hashing, the head, and
//     VerifyChain, which replays a whole ledger with the owner keys in
//     force at each entry.
//   - Decisions (decision.go): what the vault checks before it appends a
//     record or a revocation: that a grant never widens the request.
//   - Pairwise subjects (subject.go, section 5), receipts (receipt.go,
//     section 3.5) and the vault descriptor (descriptor.go).
//   - Other vault-signed documents (jws.go): VerifyCompact, used for audit
//     checkpoints.
//
// It does no I/O and imports no other package of this module, so that a
// brand can verify a receipt, and any client can sign a proof, by
// importing this package alone. Whatever it needs from the outside (a
// clock, randomness, a replay cache, a key lookup) is passed in. JOSE is
// go-jose v4, always called with the protocol's algorithm allow-list
// (EdDSA and ES256).
//
// # Strict parsing of signed documents
//
// Ledger entries, receipts and descriptors are evidence: the owner signs
// them, the vault chains them by hash, brands keep them. So exactly one
// byte string must stand for each, and every reader must read it the
// same way. Their parsers (signed.go) therefore refuse, before any
// signature check: input over a named limit; base64url that is not
// canonical (go-jose re-encodes what it decoded to verify, so a
// non-canonical encoding would verify while hashing differently); a
// protected header other than exactly alg, typ and kid; claims with an
// unknown member, a member of another case, or a member named twice
// (encoding/json would silently keep the last); payloads that are not
// UTF-8. Request proofs are parsed more leniently (unknown members
// allowed), as proof.go documents: they are checked once and thrown away.
//
// # Decisions where the protocol is silent
//
//   - Consent, request and vault ids are 1 to 64 characters of
//     [A-Za-z0-9_-]; NewID makes 128-bit ones.
//   - Every member of a record is always present; exp is 0 only on a
//     denial, nbf 0 means "from iat". Times run to the year 9999, the end
//     of a protobuf Timestamp.
//   - Scopes of a request or record take at most MaxScopesLen bytes
//     together, so that a record granting a whole request fits in
//     MaxLedgerEntryLen.
//   - A grant may run from max(nbf, iat) for at most the requested
//     duration plus a minute; its iat, and a revocation's, must be within
//     DecisionSkew (5 minutes) of the vault's clock.
//   - Owner-key entries (typ vrm-key+jwt) put enrolments and removals in
//     the ledger. An add is signed by the key it adds (proof of
//     possession); it is authorised by the one-time enrolment code the
//     vault checks, which the ledger cannot show. A remove is signed by an
//     owner key and never removes the last one. Entry 1 adds the first
//     owner key.
//   - Brand names and reasons refuse control and format characters
//     (bidirectional overrides among them); brand URLs are printable ASCII,
//     https (http only for localhost), no user information.
//   - "Delivery", named by the protocol as a DPV purpose, is not a DPV
//     term; it is accepted as the protocol's shorthand for
//     dpv:DeliveryOfGoods.
package consent
