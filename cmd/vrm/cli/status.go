package cli

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// statusResult is the JSON output of vrm status.
type statusResult struct {
	Vault    string `json:"vault"`
	OwnerJKT string `json:"owner_jkt"`
	// HostID is the id of the host that serves the vault; "" when vaultd
	// serves this vault alone.
	HostID string `json:"host_id"`
	// Suspended is whether the host suspended the vault (a suspended
	// vault refuses vrm status itself, which then fails saying so).
	Suspended    bool  `json:"suspended"`
	FieldCount   int64 `json:"field_count"`
	ProfileBytes int64 `json:"profile_bytes"`
	ConsentCount int64 `json:"consent_count"`
	// CallCount is the calls to the vault that its server answered since
	// it started.
	CallCount int64         `json:"call_count"`
	LastSeq   uint64        `json:"last_seq"`
	OwnerKeys []ownerKeyOut `json:"owner_keys"`
	Limits    *limitsOut    `json:"limits,omitempty"`
	// Quota is the quota in force; absent from a vault that does not
	// report one.
	Quota *quotaOut `json:"quota,omitempty"`
}

// ownerKeyOut is one enrolled owner key.
type ownerKeyOut struct {
	JKT        string `json:"jkt"`
	Device     string `json:"device"`
	Enrolled   string `json:"enrolled,omitempty"`
	ThisDevice bool   `json:"this_device"`
}

// limitsOut are the vault's limits.
type limitsOut struct {
	MaxValueBytes     int64 `json:"max_value_bytes"`
	MaxListItems      int64 `json:"max_list_items"`
	MaxFieldsPerBatch int64 `json:"max_fields_per_batch"`
	MaxPathDepth      int64 `json:"max_path_depth"`
	MaxFields         int64 `json:"max_fields"`
	MaxProfileBytes   int64 `json:"max_profile_bytes"`
}

// quotaOut is the quota in force, with the wire's member names. A
// calls_per_second or brand_calls_per_second of 0 means unlimited.
type quotaOut struct {
	MaxSizeBytes         int64 `json:"max_size_bytes"`
	MaxFields            int64 `json:"max_fields"`
	CallsPerSecond       int64 `json:"calls_per_second"`
	BrandCallsPerSecond  int64 `json:"brand_calls_per_second"`
	BrandPendingRequests int64 `json:"brand_pending_requests"`
	BrandOpenStreams     int64 `json:"brand_open_streams"`
}

func newQuotaOut(q *vrmv1.VaultQuota) *quotaOut {
	if q == nil {
		return nil
	}
	return &quotaOut{
		MaxSizeBytes: q.GetMaxSizeBytes(), MaxFields: q.GetMaxFields(), CallsPerSecond: q.GetCallsPerSecond(),
		BrandCallsPerSecond: q.GetBrandCallsPerSecond(), BrandPendingRequests: q.GetBrandPendingRequests(),
		BrandOpenStreams: q.GetBrandOpenStreams(),
	}
}

func (a *app) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the vault, its host, quota and usage, and its owner keys",
		Long: `Show your vault: its address, the host that serves it (none when vaultd serves
this vault alone), whether the host suspended it, the quota in force (calls
per second to the vault and per brand, pending requests and open streams per
brand, fields and profile bytes), its usage (fields, profile bytes, consents,
and the calls its server answered since it started), and the owner keys,
this device's marked.

A vault its host suspended refuses every call of yours and of brands,
this one included: vrm status then fails and says so.`,
		Args: noArgs,
		RunE: cliexit.Run(func(cmd *cobra.Command, _ []string) error {
			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			resp, err := s.client.Status(ctx)
			if err != nil {
				return rpcError(s.addr, a.timeout, err)
			}
			res := statusResult{
				Vault:        s.addr.String(),
				OwnerJKT:     s.key.Thumbprint(),
				HostID:       resp.GetHostId(),
				Suspended:    resp.GetSuspended(),
				FieldCount:   resp.GetFieldCount(),
				ProfileBytes: resp.GetProfileBytes(),
				ConsentCount: resp.GetConsentCount(),
				CallCount:    resp.GetCallCount(),
				LastSeq:      resp.GetLastSeq(),
				OwnerKeys:    ownerKeysOut(resp.GetOwnerKeys(), s.key.Thumbprint()),
				Quota:        newQuotaOut(resp.GetQuota()),
			}
			if l := resp.GetLimits(); l != nil {
				res.Limits = &limitsOut{
					MaxValueBytes:     l.GetMaxValueBytes(),
					MaxListItems:      l.GetMaxListItems(),
					MaxFieldsPerBatch: l.GetMaxFieldsPerBatch(),
					MaxPathDepth:      l.GetMaxPathDepth(),
					MaxFields:         l.GetMaxFields(),
					MaxProfileBytes:   l.GetMaxProfileBytes(),
				}
			}
			if a.format == cliout.JSON {
				return cliout.WriteJSON(a.env.Stdout, res)
			}
			return writeStatusTable(a, res)
		}),
	}
}

// writeStatusTable writes vrm status as a two-column table.
func writeStatusTable(a *app, res statusResult) error {
	t := cliout.NewTable()
	t.Row("Vault:", res.Vault)
	host := res.HostID
	if host == "" {
		host = "none (vaultd serves this vault alone)"
	}
	t.Row("Host:", host)
	suspended := "no"
	if res.Suspended {
		suspended = "YES: the host suspended this vault; it refuses your calls and brands' until the host resumes it"
	}
	t.Row("Suspended:", suspended)
	t.Row("Owner key:", res.OwnerJKT)
	fields, bytes := strconv.FormatInt(res.FieldCount, 10), strconv.FormatInt(res.ProfileBytes, 10)
	if q := res.Quota; q != nil {
		fields += " of " + bounded(q.MaxFields)
		bytes += " of " + bounded(q.MaxSizeBytes)
	}
	t.Row("Fields:", fields)
	t.Row("Profile bytes:", bytes)
	t.Row("Consents:", strconv.FormatInt(res.ConsentCount, 10))
	t.Row("Calls:", strconv.FormatInt(res.CallCount, 10)+" (since the vault's server started)")
	t.Row("Last seq:", strconv.FormatUint(res.LastSeq, 10))
	if q := res.Quota; q != nil {
		rows(t, "Quota:", []string{
			"calls per second to the vault: " + bounded(q.CallsPerSecond),
			"calls per second per brand: " + bounded(q.BrandCallsPerSecond),
			"pending requests per brand: " + bounded(q.BrandPendingRequests),
			"open streams per brand: " + bounded(q.BrandOpenStreams),
			"fields: " + bounded(q.MaxFields),
			"profile bytes: " + bounded(q.MaxSizeBytes),
		})
	}
	var keys []string
	for _, k := range res.OwnerKeys {
		desc := k.JKT + "  " + k.Device
		if k.ThisDevice {
			desc += " (this device)"
		}
		keys = append(keys, desc)
	}
	rows(t, "Owner keys:", keys)
	return t.WriteTo(a.env.Stdout)
}

// bounded writes a quota: the number, or "unlimited" for 0.
func bounded(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	return strconv.FormatInt(n, 10)
}
