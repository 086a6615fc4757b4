package brand_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"time"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// A brand asks a customer's vault for access, waits for the customer's
// decision, keeps the customer-signed receipt and reads what it may. In
// production the key is generated once and loaded from a secret store,
// and the vault key seen on first contact is stored and pinned on every
// later run.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	key, err := consent.GenerateKey(consent.EdDSA, rand.Reader) // the brand's identity
	if err != nil {
		log.Fatal(err)
	}
	addr, err := vaultconn.ParseAddress("vault.example.net:443/v_3kq9") // given by the customer
	if err != nil {
		log.Fatal(err)
	}
	c, err := brand.Dial(vaultconn.Config{Address: addr, Key: key})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Pin the vault key on first contact: receipts are verified against
	// the owner keys of descriptors signed by it.
	d, _, err := c.Descriptor(ctx)
	if err != nil {
		log.Fatal(err)
	}
	c.PinVaultKey(d.VaultKey.Thumbprint())

	req, err := c.RequestAccess(ctx, brand.Request{
		Name: "Example Shop", URL: "https://shop.example.com",
		Scopes: []string{"read:name.*", "read:email.*"}, Purposes: []string{"ServiceProvision"},
		Duration: 90 * 24 * time.Hour, Reason: "To address your orders to you.",
	})
	if err != nil {
		log.Fatal(err)
	}
	decision, err := c.WaitForDecision(ctx, req.GetRequestId(), 5*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	if decision.GetRequest().GetState() != vrmv1.ConsentState_CONSENT_STATE_GRANTED {
		log.Fatalf("the customer said %s", decision.GetRequest().GetState())
	}
	receipt, claims, err := c.Receipt(ctx, req.GetRequestId()) // verified; store it
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(receipt) > 0, claims.CID, claims.Scopes, time.Unix(claims.Exp, 0))

	profile, err := c.Read(ctx) // every consented field
	if brand.IsRevoked(err) {
		log.Fatal("the customer revoked the consent")
	} else if err != nil {
		log.Fatal(err)
	}
	for _, f := range profile.GetFields() {
		fmt.Println(profile.GetSubject(), f.GetPath(), f.GetValue())
	}
}

// A brand whose customers' vaults an intermediary hosts holds one
// connection to that host, shared by its clients of every vault; each
// client still signs its own proofs, for its own vault.
func ExampleNew() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key, err := consent.GenerateKey(consent.EdDSA, rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	host := vaultconn.Address{HostPort: "vaults.intermediary.example:443"}
	conn, err := vaultconn.DialHost(vaultconn.Config{Address: host})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	for _, id := range []string{"v_3kq9", "v_8pz2"} { // the customers' vault ids
		c, err := brand.New(conn, vaultconn.Config{Address: vaultconn.Address{HostPort: host.HostPort, VaultID: id}, Key: key})
		if err != nil {
			log.Fatal(err)
		}
		resp, err := c.Read(ctx)
		if err != nil {
			log.Printf("vault %s: %v", id, err)
			continue
		}
		fmt.Println(id, len(resp.GetFields()), "fields")
	}
}
