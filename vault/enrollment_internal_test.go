package vault

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault/audit"
	"github.com/vrmvault/vrmvault/vault/store"
)

// owners is a vault with two enrolled owner keys, A and B.
type owners struct {
	h      *Host
	id     string
	a, b   *consent.PrivateKey
	head   consent.Head // the ledger head
	byHost Enrollment   // an unused code the host issued
}

func ownerCaller(k *consent.PrivateKey, method string) Caller {
	return Caller{JKT: k.Thumbprint(), Role: audit.RoleOwner, Method: "/vrm.v1.OwnerService/" + method}
}

func newKey(t *testing.T) *consent.PrivateKey {
	t.Helper()
	k, err := consent.GenerateKey(consent.EdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// enrolKey enrols key with code, its add entry extending head.
func enrolKey(t *testing.T, h *Host, id, code string, key *consent.PrivateKey, head consent.Head) (consent.Head, error) {
	t.Helper()
	entry, err := consent.SignKeyEntry(key, consent.KeyEntryClaims{Op: consent.KeyOpAdd, Iat: time.Now().Unix(), Seq: head.Seq + 1, Prev: head.Hash})
	if err != nil {
		t.Fatal(err)
	}
	return h.Enroll(context.Background(), id, code, key.Public(), "device", entry, ownerCaller(key, "Enroll"))
}

func newOwners(t *testing.T) *owners {
	t.Helper()
	h := newTestHost(t)
	ctx := context.Background()
	o := &owners{h: h, a: newKey(t), b: newKey(t)}
	var (
		first Enrollment
		err   error
	)
	if o.id, first, err = h.CreateVault(ctx); err != nil {
		t.Fatal(err)
	}
	if o.head, err = enrolKey(t, h, o.id, first.Code, o.a, consent.Head{}); err != nil {
		t.Fatal(err)
	}
	code, err := h.IssueEnrollmentCode(ctx, o.id, ownerCaller(o.a, "CreateEnrollmentCode"))
	if err != nil {
		t.Fatal(err)
	}
	if o.head, err = enrolKey(t, h, o.id, code.Code, o.b, o.head); err != nil {
		t.Fatal(err)
	}
	if o.byHost, err = h.NewEnrollmentCode(ctx, o.id); err != nil {
		t.Fatal(err)
	}
	return o
}

// codeIssuers returns the issuers of the vault's unused codes ("" for
// the host), sorted.
func (o *owners) codeIssuers(t *testing.T) []string {
	t.Helper()
	var issuers []string
	err := o.h.view(context.Background(), o.id, func(tx store.Tx) error {
		return scanEnrollmentCodes(tx, func(_ string, rec enrollmentRecord) error {
			issuers = append(issuers, rec.Issuer)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(issuers)
	return issuers
}

// ownerCount returns how many owner keys the vault has.
func (o *owners) ownerCount(t *testing.T) int {
	t.Helper()
	n := 0
	err := o.h.view(context.Background(), o.id, func(tx store.Tx) error {
		return tx.Scan(prefixOwner, "", 0, func(string, []byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRemoveOwnerKeyDeletesItsCodes: removing B deletes the codes B
// issued, and only those.
func TestRemoveOwnerKeyDeletesItsCodes(t *testing.T) {
	o := newOwners(t)
	ctx := context.Background()
	for _, k := range []*consent.PrivateKey{o.b, o.a, o.b} {
		if _, err := o.h.IssueEnrollmentCode(ctx, o.id, ownerCaller(k, "CreateEnrollmentCode")); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := o.codeIssuers(t), sortedOf("", o.a.Thumbprint(), o.b.Thumbprint(), o.b.Thumbprint()); !slices.Equal(got, want) {
		t.Fatalf("codes before the removal by issuer %q, want %q", got, want)
	}
	rm, err := consent.SignKeyEntry(o.a, consent.KeyEntryClaims{Op: consent.KeyOpRemove, JKT: o.b.Thumbprint(), Iat: time.Now().Unix(), Seq: o.head.Seq + 1, Prev: o.head.Hash})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.h.RemoveOwnerKey(ctx, o.id, ownerCaller(o.a, "RemoveOwnerKey"), o.b.Thumbprint(), rm); err != nil {
		t.Fatal(err)
	}
	if got, want := o.codeIssuers(t), sortedOf("", o.a.Thumbprint()); !slices.Equal(got, want) {
		t.Errorf("codes after removing B by issuer %q, want %q", got, want)
	}
}

func sortedOf(s ...string) []string {
	slices.Sort(s)
	return s
}

// TestEnrollRefusesVoidCodes: Enroll refuses, as a wrong code and
// without spending it or adding a key, a code whose issuer is no owner
// key, or an owner key enrolled again since it issued the code.
func TestEnrollRefusesVoidCodes(t *testing.T) {
	o := newOwners(t)
	var enrolledB time.Time
	err := o.h.view(context.Background(), o.id, func(tx store.Tx) error {
		issuer, err := loadCodeIssuer(tx, o.b.Thumbprint())
		enrolledB = issuer.enrolled
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, issuer := range map[string]codeIssuer{
		"issued by no owner key":              {jkt: newKey(t).Thumbprint(), enrolled: enrolledB},
		"issued by an earlier enrolment of B": {jkt: o.b.Thumbprint(), enrolled: enrolledB.Add(-time.Hour)},
	} {
		var code Enrollment
		err := o.h.update(context.Background(), o.id, func(tx store.Tx) error {
			var err error
			code, err = o.h.putEnrollmentCode(tx, issuer)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		before := len(o.codeIssuers(t))
		if _, err := enrolKey(t, o.h, o.id, code.Code, newKey(t), o.head); !errors.Is(err, ErrEnrollmentCode) {
			t.Errorf("%s: Enroll = %v, want ErrEnrollmentCode", name, err)
		}
		if n := o.ownerCount(t); n != 2 {
			t.Errorf("%s: %d owner keys after the refusal, want 2", name, n)
		}
		if after := len(o.codeIssuers(t)); after != before {
			t.Errorf("%s: %d codes after the refusal, want %d (unspent)", name, after, before)
		}
	}
	// The host's code and A's still enrol.
	if _, err := enrolKey(t, o.h, o.id, o.byHost.Code, newKey(t), o.head); err != nil {
		t.Errorf("Enroll with the host's code: %v", err)
	}
}

// TestIssueEnrollmentCodeByNoOwner: a caller whose key is no owner key
// (removed after it was admitted) gets ErrKeyChanged, and no code.
func TestIssueEnrollmentCodeByNoOwner(t *testing.T) {
	o := newOwners(t)
	before := o.codeIssuers(t)
	_, err := o.h.IssueEnrollmentCode(context.Background(), o.id, ownerCaller(newKey(t), "CreateEnrollmentCode"))
	if !errors.Is(err, ErrKeyChanged) {
		t.Errorf("IssueEnrollmentCode by no owner key = %v, want ErrKeyChanged", err)
	}
	if after := o.codeIssuers(t); !slices.Equal(after, before) {
		t.Errorf("codes by issuer %q after the refusal, want %q", after, before)
	}
}
