package server_test

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// Profile values of the two vaults of a twoVaults. None of them may ever
// reach a caller that is not the vault's owner or a brand whose consent
// covers the field; the attack and isolation tests look for them in every
// answer.
const (
	secretFamilyA = "Lovelace-zq7SENTINEL-A"
	secretNotesA  = "notes-zq7SENTINEL-A"
	secretGivenB  = "Grace-zq7SENTINEL-B"
	secretNotesB  = "notes-zq7SENTINEL-B"
)

// twoVaults is two vaults on one host (one server): vault A with an owner,
// a profile and a brand holding a granted consent (watch:name.given and
// write in its own namespace), vault B with its own owner and profile, and
// the address of a vault that does not exist on that host.
type twoVaults struct {
	v *vaulttest.Vault

	addrA, addrB, missing vaultconn.Address

	ownerA, ownerB       *owner.Client
	ownerKeyA, ownerKeyB *consent.PrivateKey

	// brandKey holds a consent in vault A only.
	brandKey *consent.PrivateKey
	brandA   *brand.Client
	// reqA and cidA are the brand's request in vault A and its consent.
	reqA, cidA string
}

// newTwoVaults starts the server and sets up both vaults.
func newTwoVaults(t *testing.T) *twoVaults {
	t.Helper()
	v := vaulttest.Start(t)
	ctx := ctxT(t)
	w := &twoVaults{v: v, addrA: v.Address}
	w.ownerA, w.ownerKeyA = v.Owner(t)
	set(t, w.ownerA, "name.given", "Ada", "name.family", secretFamilyA, "notes.secret", secretNotesA)

	addrB, codeB := v.NewVault(t)
	w.addrB = addrB
	w.ownerKeyB = vaulttest.NewKey(t)
	w.ownerB = v.ClientAt(t, addrB, w.ownerKeyB)
	if _, err := w.ownerB.Enroll(ctx, codeB, "b"); err != nil {
		t.Fatal(err)
	}
	set(t, w.ownerB, "name.given", secretGivenB, "notes.secret", secretNotesB)

	w.missing = vaultconn.Address{HostPort: v.Address.HostPort, VaultID: "AAAAAAAAAAAAAAAAAAAAAA"}

	w.brandKey = vaulttest.NewKey(t)
	w.brandA = v.Brand(t, w.brandKey)
	req := nameEmailRequest
	req.Scopes = []string{"watch:name.*", "write:" + w.brandA.Namespace() + ".*"}
	r, err := w.brandA.RequestAccess(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	g, err := w.ownerA.Grant(ctx, r.GetRequestId(), owner.Grant{Only: []string{"watch:name.given", "write:" + w.brandA.Namespace() + ".*"}})
	if err != nil {
		t.Fatal(err)
	}
	w.reqA, w.cidA = r.GetRequestId(), g.GetConsent().GetConsentId()
	if got, err := w.brandA.Read(ctx); err != nil || len(got.GetFields()) != 1 {
		t.Fatalf("the brand's read in vault A: %v, %v", got, err)
	}
	return w
}

// plainConn is a connection that adds no proof of its own, for calls that
// carry crafted proofs (or none).
func plainConn(t *testing.T, hostPort string) *grpc.ClientConn {
	t.Helper()
	conn, err := vaultconn.DialPublic(vaultconn.Config{Address: vaultconn.Address{HostPort: hostPort}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// noResponse reports whether a response is absent: a nil interface or a typed
// nil message, as the generated clients return with an error.
func noResponse(m proto.Message) bool { return m == nil || !m.ProtoReflect().IsValid() }

// firstMessage receives the first message of a server stream that opened with
// err; the answer of a streaming RPC is that message or the stream's
// error.
func firstMessage[T any](s grpc.ServerStreamingClient[T], err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return s.Recv()
}

// callAnswer is what a caller learns from a refused call: its code and
// message.
type callAnswer struct {
	Code    codes.Code
	Message string
}

func callAnswerOf(err error) callAnswer {
	st := status.Convert(err)
	return callAnswer{Code: st.Code(), Message: st.Message()}
}

func (a callAnswer) String() string { return a.Code.String() + " " + a.Message }
