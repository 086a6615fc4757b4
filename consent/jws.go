package consent

import (
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// VerifyCompact checks a compact JWS signed by key with the given typ
// header and returns its payload. It bounds the input to maxLen bytes,
// requires exactly one signature by an allowed algorithm, and a kid header
// equal to the key's thumbprint. Used for documents signed by the vault key
// (audit checkpoints); the protocol's own objects have their own parsers.
func VerifyCompact(compact, typ string, key PublicKey, maxLen int) ([]byte, error) {
	if len(compact) > maxLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidSignature, maxLen)
	}
	if strings.Count(compact, ".") != 2 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrInvalidSignature)
	}
	jws, err := jose.ParseSignedCompact(compact, AllowedAlgorithms())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSignature, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: must have exactly one signature", ErrInvalidSignature)
	}
	h := jws.Signatures[0].Protected
	if got, _ := h.ExtraHeaders[jose.HeaderType].(string); got != typ {
		return nil, fmt.Errorf("%w: typ must be %s", ErrInvalidSignature, typ)
	}
	if h.KeyID != key.Thumbprint() || h.JSONWebKey != nil {
		return nil, fmt.Errorf("%w: not signed by key %s", ErrInvalidSignature, key.Thumbprint())
	}
	payload, err := jws.Verify(key.jwk.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: bad signature", ErrInvalidSignature)
	}
	return payload, nil
}

// ErrInvalidSignature is returned by VerifyCompact for a document that is
// malformed or not signed as required.
var ErrInvalidSignature = errors.New("invalid signed document")
