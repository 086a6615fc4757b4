package vault

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/vrmvault/vrmvault/vault/store"
)

// TestDeleteCodesIssuedBy deletes the codes one key issued and no others.
func TestDeleteCodesIssuedBy(t *testing.T) {
	h, id := newTagHost(t)
	err := h.update(context.Background(), id, func(tx store.Tx) error {
		for _, issuer := range []string{"X", "Y", "X", ""} {
			if _, err := h.putEnrollmentCode(tx, issuer); err != nil {
				return err
			}
		}
		return deleteCodesIssuedBy(tx, "X")
	})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	err = h.view(context.Background(), id, func(tx store.Tx) error {
		return tx.Scan(prefixEnrollment, "", 0, func(_ string, v []byte) error {
			var rec enrollmentRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			left = append(left, rec.Issuer)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(left)
	// The vault's own first code (CreateVault) is the host's too.
	if want := []string{"", "", "Y"}; !slices.Equal(left, want) {
		t.Errorf("codes left by issuer %q, want %q", left, want)
	}
}
