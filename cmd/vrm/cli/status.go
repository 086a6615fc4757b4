package cli

import (
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

// statusResult is the JSON output of vrm status.
type statusResult struct {
	Vault        string        `json:"vault"`
	OwnerJKT     string        `json:"owner_jkt"`
	FieldCount   int64         `json:"field_count"`
	ProfileBytes int64         `json:"profile_bytes"`
	LastSeq      uint64        `json:"last_seq"`
	OwnerKeys    []ownerKeyOut `json:"owner_keys"`
	Limits       *limitsOut    `json:"limits,omitempty"`
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

func (a *app) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the vault, this device's owner key and the profile's size",
		Args:  noArgs,
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
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
				FieldCount:   resp.GetFieldCount(),
				ProfileBytes: resp.GetProfileBytes(),
				LastSeq:      resp.GetLastSeq(),
				OwnerKeys:    []ownerKeyOut{},
			}
			for _, k := range resp.GetOwnerKeys() {
				ko := ownerKeyOut{JKT: k.GetJkt(), Device: k.GetDeviceName(), ThisDevice: k.GetJkt() == res.OwnerJKT}
				if t := k.GetEnrollTime(); t != nil && t.IsValid() {
					ko.Enrolled = t.AsTime().UTC().Format(time.RFC3339)
				}
				res.OwnerKeys = append(res.OwnerKeys, ko)
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
			if a.format == formatJSON {
				return writeJSON(a.env.Stdout, res)
			}
			t := newTable()
			t.row("Vault:", res.Vault)
			t.row("Owner key:", res.OwnerJKT)
			t.row("Fields:", strconv.FormatInt(res.FieldCount, 10))
			t.row("Profile bytes:", strconv.FormatInt(res.ProfileBytes, 10))
			t.row("Last seq:", strconv.FormatUint(res.LastSeq, 10))
			for i, k := range res.OwnerKeys {
				label := ""
				if i == 0 {
					label = "Owner keys:"
				}
				desc := k.JKT + "  " + k.Device
				if k.ThisDevice {
					desc += " (this device)"
				}
				t.row(label, desc)
			}
			return t.writeTo(a.env.Stdout)
		}),
	}
}
