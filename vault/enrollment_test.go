package vault_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/audit"
)

// TestEnrollRefusesCodeOfNoOwner: Enroll refuses, as a wrong code, a code
// whose issuing key is not an owner key (RemoveOwnerKey deletes such
// codes; this is the check behind it).
func TestEnrollRefusesCodeOfNoOwner(t *testing.T) {
	h, id, _ := enrolled(t, openStore(t))
	ctx := context.Background()
	gone, err := consent.GenerateKey(consent.EdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issuer := vault.Caller{JKT: gone.Thumbprint(), Role: audit.RoleOwner, Method: "/vrm.v1.OwnerService/CreateEnrollmentCode"}
	enr, err := h.IssueEnrollmentCode(ctx, id, issuer)
	if err != nil {
		t.Fatal(err)
	}
	key, err := consent.GenerateKey(consent.EdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := consent.SignKeyEntry(key, consent.KeyEntryClaims{Op: consent.KeyOpAdd, Iat: time.Now().Unix(), Seq: 2, Prev: audit.Hash([]byte("refused before the ledger"))})
	if err != nil {
		t.Fatal(err)
	}
	c := vault.Caller{JKT: key.Thumbprint(), Role: audit.RoleOwner, Method: "/vrm.v1.OwnerService/Enroll"}
	if _, err := h.Enroll(ctx, id, enr.Code, key.Public(), "second", entry, c); !errors.Is(err, vault.ErrEnrollmentCode) {
		t.Fatalf("Enroll with a code issued by no owner key = %v, want ErrEnrollmentCode", err)
	}
}
