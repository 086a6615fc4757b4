package consent

import "time"

// VerifyReceipt verifies a receipt offline (PROTOCOL.md section 3.5): the
// consent record a brand received. It must be a consent record
// (ParseLedgerEntry's rules, typ vrm-consent+jwt), signed by one of
// owners (the owner keys of the vault descriptor, see VerifyDescriptor),
// for vault vaultID and brand brandJKT, with status granted, and issued
// no more than DecisionSkew after now. Expiry is reported, not refused:
// see RecordClaims.Expired and ActiveAt. A refusal is a *RecordError.
//
// A brand can verify a receipt by importing this package alone.
func VerifyReceipt(compact string, owners []PublicKey, vaultID, brandJKT string, now time.Time) (*RecordClaims, error) {
	e, err := ParseLedgerEntry(compact)
	if err != nil {
		return nil, err
	}
	if e.Record == nil {
		return nil, recordErr("not a consent record (typ %s)", e.Type)
	}
	if _, err := e.VerifySignature(owners); err != nil {
		return nil, err
	}
	c := e.Record
	switch {
	case c.Vault != vaultID:
		return nil, recordErr("receipt of another vault")
	case c.Brand != brandJKT:
		return nil, recordErr("receipt of another brand")
	case c.Status != StatusGranted:
		return nil, recordErr("not a grant (status %s)", c.Status)
	case time.Unix(c.Iat, 0).After(now.Add(DecisionSkew)):
		return nil, recordErr("issued in the future")
	}
	return c, nil
}
