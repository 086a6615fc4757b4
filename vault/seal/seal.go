// Package seal encrypts a host's vaults at rest. It wraps any store.Store
// engine so that every value and change row of a vault is sealed with that
// vault's own data key (AES-256-GCM, with the vault id, the kind of row and
// the key bound as additional data, so a sealed value cannot be moved to
// another vault or path), and keeps the data keys, wrapped by the host key,
// in a separate key store.
//
// Deleting a vault destroys its data key first (crypto-shredding) and only
// then erases its rows, so the vault's data is unreadable in any copy or
// backup of the data store: the key store must therefore be kept apart
// from the data store (a separate directory, backed up separately).
//
// The host key comes from a file or an environment variable and is never
// logged. Rotating it re-wraps the data keys without touching any value.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// KeySize is the size of host keys and data keys: AES-256.
const KeySize = 32

// ErrBadKey is returned for a host key of the wrong size or encoding.
var ErrBadKey = errors.New("host key must be 32 bytes, base64 or raw")

// ErrOpen is returned when a sealed value fails to open: it was altered,
// moved from another vault or key, or sealed with another key.
var ErrOpen = errors.New("sealed value cannot be opened")

// HostKey is the key that wraps data keys.
type HostKey struct {
	aead cipher.AEAD
	id   string
}

// ParseHostKey reads a host key: 32 raw bytes, or their standard or URL
// base64 encoding (surrounding white space ignored).
func ParseHostKey(b []byte) (*HostKey, error) {
	raw := b
	if len(b) != KeySize {
		s := strings.TrimSpace(string(b))
		var err error
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if raw, err = enc.DecodeString(s); err == nil {
				break
			}
		}
		if err != nil {
			return nil, ErrBadKey
		}
	}
	if len(raw) != KeySize {
		return nil, ErrBadKey
	}
	aead, err := newAEAD(raw)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("vrmvault host key id\x00"), raw...))
	return &HostKey{aead: aead, id: base64.RawURLEncoding.EncodeToString(sum[:8])}, nil
}

// GenerateHostKey returns a new host key, base64 encoded, from rand.
func GenerateHostKey(rand io.Reader) (string, error) {
	var k [KeySize]byte
	if _, err := io.ReadFull(rand, k[:]); err != nil {
		return "", fmt.Errorf("generate host key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k[:]), nil
}

// ID is a short fingerprint of the key (not secret), recorded with every
// wrapped data key so that rotation knows which key wrapped it.
func (k *HostKey) ID() string { return k.id }

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return aead, nil
}

// sealWith encrypts plain with a random nonce and the additional data ad,
// returning nonce || ciphertext.
func sealWith(aead cipher.AEAD, rand io.Reader, plain, ad []byte) ([]byte, error) {
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := io.ReadFull(rand, out); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return aead.Seal(out, out, plain, ad), nil
}

// openWith reverses sealWith.
func openWith(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < n+aead.Overhead() {
		return nil, ErrOpen
	}
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// valueAD binds a sealed value to its vault, its kind of row and its key.
func valueAD(vault, kind, key string) []byte {
	ad := make([]byte, 0, len(vault)+len(kind)+len(key)+16)
	ad = append(ad, "vrmvault/v1\x00"...)
	ad = append(ad, vault...)
	ad = append(ad, 0)
	ad = append(ad, kind...)
	ad = append(ad, 0)
	ad = append(ad, key...)
	return ad
}
