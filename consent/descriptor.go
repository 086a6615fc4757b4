package consent

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Vault descriptor constants.
const (
	// DescriptorType is the "typ" header of a vault descriptor.
	DescriptorType = "vrm-descriptor+jwt"
	// ProtocolVersion is the protocol a descriptor announces.
	ProtocolVersion = "vrm/1"
	// MaxDescriptorLen is the longest descriptor accepted, in bytes.
	MaxDescriptorLen = 32 << 10
	// MaxDescriptorLimits is the most limits a descriptor lists.
	MaxDescriptorLimits = 64
)

// ErrInvalidDescriptor is the kind of every refused vault descriptor.
var ErrInvalidDescriptor = errors.New("invalid vault descriptor")

func descriptorErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidDescriptor, fmt.Sprintf(format, args...))
}

// DescriptorClaims are the claims of a vault descriptor: the vault's
// public identity, signed by its vault key, served publicly so that a
// brand can verify receipts.
type DescriptorClaims struct {
	// Vault is the vault id.
	Vault string `json:"vault"`
	// OwnerKeys are the owner public keys in force, as JWKs.
	OwnerKeys []json.RawMessage `json:"owner_keys"`
	// VaultKey is the vault's public key, as a JWK; it signs the
	// descriptor.
	VaultKey json.RawMessage `json:"vault_key"`
	// Protocol is ProtocolVersion.
	Protocol string `json:"protocol"`
	// Limits are the vault's limits by name ([a-z0-9_], from 1 to 64
	// characters, starting with a letter), each 0 or more.
	Limits map[string]int64 `json:"limits"`
	// Iat is when the vault signed, seconds since the epoch.
	Iat int64 `json:"iat"`
}

var descriptorMembers = []string{"vault", "owner_keys", "vault_key", "protocol", "limits", "iat"}

// Descriptor is a verified vault descriptor.
type Descriptor struct {
	// Claims are the descriptor's claims.
	Claims DescriptorClaims
	// OwnerKeys are the parsed owner keys, in the order listed.
	OwnerKeys []PublicKey
	// VaultKey is the parsed vault key, which signed the descriptor.
	VaultKey PublicKey
	// JWS is the descriptor as verified.
	JWS string
}

// checkDescriptor checks the shape of c and returns its parsed owner keys
// and vault key.
func checkDescriptor(c *DescriptorClaims) ([]PublicKey, PublicKey, error) {
	if !ValidID(c.Vault) {
		return nil, PublicKey{}, descriptorErr("vault %s", idRule)
	}
	if c.Protocol != ProtocolVersion {
		return nil, PublicKey{}, descriptorErr("protocol %q not supported (want %s)", truncate(c.Protocol, 16), ProtocolVersion)
	}
	vk, err := parseJWK(c.VaultKey)
	if err != nil {
		return nil, PublicKey{}, descriptorErr("vault_key: %v", err)
	}
	if len(c.OwnerKeys) > MaxOwnerKeys {
		return nil, PublicKey{}, descriptorErr("more than %d owner keys", MaxOwnerKeys)
	}
	owners := make([]PublicKey, 0, len(c.OwnerKeys))
	for i, raw := range c.OwnerKeys {
		k, err := parseJWK(raw)
		if err != nil {
			return nil, PublicKey{}, descriptorErr("owner key %d: %v", i+1, err)
		}
		for _, o := range owners {
			if o.Thumbprint() == k.Thumbprint() {
				return nil, PublicKey{}, descriptorErr("owner key %s listed twice", k.Thumbprint())
			}
		}
		if k.Thumbprint() == vk.Thumbprint() {
			return nil, PublicKey{}, descriptorErr("the vault key must not also be an owner key")
		}
		owners = append(owners, k)
	}
	if len(c.Limits) > MaxDescriptorLimits {
		return nil, PublicKey{}, descriptorErr("more than %d limits", MaxDescriptorLimits)
	}
	for name, v := range c.Limits {
		if !validLimitName(name) {
			return nil, PublicKey{}, descriptorErr("limit name %q is not [a-z][a-z0-9_]{0,63}", truncate(name, 64))
		}
		if v < 0 {
			return nil, PublicKey{}, descriptorErr("limit %s is negative", name)
		}
	}
	if !validTime(c.Iat) {
		return nil, PublicKey{}, descriptorErr("iat %s", timeRule)
	}
	return owners, vk, nil
}

func validLimitName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// SignDescriptor checks c and returns it signed by the vault key. An
// empty VaultKey is filled in from vaultKey; a VaultKey that is not
// vaultKey's public key is refused. A vault may have no owner key yet
// (before its first enrolment). Nil owner keys and limits are written as
// empty.
func SignDescriptor(vaultKey *PrivateKey, c DescriptorClaims) (string, error) {
	if vaultKey == nil {
		return "", errNilKey
	}
	if len(c.VaultKey) == 0 {
		c.VaultKey = json.RawMessage(vaultKey.Public().JSON())
	}
	_, vk, err := checkDescriptor(&c)
	if err != nil {
		return "", err
	}
	if vk.Thumbprint() != vaultKey.Thumbprint() {
		return "", descriptorErr("vault_key is not the signing key")
	}
	if c.OwnerKeys == nil {
		c.OwnerKeys = []json.RawMessage{}
	}
	if c.Limits == nil {
		c.Limits = map[string]int64{}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode descriptor: %w", err)
	}
	out, err := vaultKey.Sign(DescriptorType, b)
	if err != nil {
		return "", err
	}
	if len(out) > MaxDescriptorLen {
		return "", descriptorErr("longer than %d bytes", MaxDescriptorLen)
	}
	return out, nil
}

// VerifyDescriptor parses and verifies a vault descriptor of vault
// vaultID: the parsing rules of ParseLedgerEntry (bounded to
// MaxDescriptorLen, canonical compact JWS, header of exactly alg, typ and
// kid, claims of exactly the descriptor's members), typ
// vrm-descriptor+jwt, protocol vrm/1, valid keys, and a signature by the
// vault key it carries, whose thumbprint is the kid. With pinnedVaultJKT
// not empty, the vault key must be that key: pin it on first contact,
// since a descriptor on its own proves only that its vault key signed it,
// and whoever hosts the vault holds that key. A refusal wraps
// ErrInvalidDescriptor.
func VerifyDescriptor(compact, vaultID, pinnedVaultJKT string) (*Descriptor, error) {
	d, err := parseSigned(compact, MaxDescriptorLen, []string{DescriptorType}, descriptorErr)
	if err != nil {
		return nil, err
	}
	var c DescriptorClaims
	m, err := decodeExact(d.payload, &c, descriptorMembers, descriptorMembers, "claims", descriptorErr)
	if err != nil {
		return nil, err
	}
	if _, err := objectMembers(m["limits"]); err != nil {
		return nil, descriptorErr("limits: %v", err)
	}
	owners, vk, err := checkDescriptor(&c)
	if err != nil {
		return nil, err
	}
	if c.Vault != vaultID {
		return nil, descriptorErr("descriptor of another vault")
	}
	if vk.Thumbprint() != d.hdr.Kid {
		return nil, descriptorErr("not signed by its vault key")
	}
	if pinnedVaultJKT != "" && vk.Thumbprint() != pinnedVaultJKT {
		return nil, descriptorErr("vault key %s is not the pinned key %s", vk.Thumbprint(), truncate(pinnedVaultJKT, 64))
	}
	if err := d.verifyWith(vk, descriptorErr); err != nil {
		return nil, err
	}
	return &Descriptor{Claims: c, OwnerKeys: owners, VaultKey: vk, JWS: compact}, nil
}
