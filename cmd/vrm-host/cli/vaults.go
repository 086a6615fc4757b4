package cli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// Bounds of list --page-size.
const (
	// defaultPageSize is list's page size when --page-size is not given.
	defaultPageSize = 100
	// maxPageSize is the largest page a host serves (vault/server's cap).
	maxPageSize = 1000
)

// createResult is the JSON output of vrm-host create.
type createResult struct {
	// VaultID is the new vault's id.
	VaultID string `json:"vault_id"`
	// Address is the vault's address, host:port/<vault id>.
	Address string `json:"address"`
	// EnrollmentCode is the one-time code for the customer.
	EnrollmentCode string `json:"enrollment_code"`
	// CodeExpires is when the code expires, RFC 3339 in UTC.
	CodeExpires string `json:"code_expires"`
	// InitCommand is the command the customer runs to enrol.
	InitCommand string `json:"init_command"`
}

func (a *app) createCommand() *cobra.Command {
	var qf quotaFlags
	cmd := &cobra.Command{
		Use:   "create [--max-fields N] [--max-size-bytes SIZE] [--calls-per-second N] ...",
		Short: "Create a vault and its one-time enrolment code",
		Long: `Create a vault on the host and print its id, its address and a one-time
enrolment code with its expiry, and the command the customer runs to take
the vault over:

  vrm init --vault ADDRESS --code CODE

Whoever uses the code first becomes the vault's owner, so send it to the
customer privately. The quota flags set the vault's quotas; the others take the
host's defaults.`,
		Example: `  vrm-host create
  vrm-host create --max-fields 500 --max-size-bytes 1MiB --brand-calls-per-second 5`,
		Args: noArgs,
		RunE: cliexit.Run(func(cmd *cobra.Command, _ []string) error {
			return a.create(cmd, qf.quota())
		}),
	}
	qf.add(cmd)
	return cmd
}

// create creates a vault and prints how its customer enrols.
func (a *app) create(cmd *cobra.Command, quota *vrmv1.VaultQuota) error {
	s, err := a.open(cmd)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := a.callContext(cmd.Context())
	defer cancel()
	resp, err := s.client.CreateVault(ctx, quota)
	if err != nil {
		return s.rpcError("create vault", a.timeout, err)
	}
	addr := resp.GetAddress()
	if _, err := vaultconn.ParseAddress(addr); err != nil {
		// A vaultd with no address to advertise sends the bare id: the
		// vault is at the address vrm-host called.
		addr = vaultconn.Address{HostPort: s.host, VaultID: resp.GetVaultId()}.String()
	}
	res := createResult{
		VaultID: resp.GetVaultId(), Address: addr, EnrollmentCode: resp.GetEnrollmentCode(),
		InitCommand: "vrm init --vault " + shellQuote(addr) + " --code " + shellQuote(resp.GetEnrollmentCode()),
	}
	if ts := resp.GetCodeExpireTime(); ts != nil && ts.IsValid() {
		res.CodeExpires = formatTime(ts.AsTime())
	}
	if a.format == cliout.JSON {
		return cliout.WriteJSON(a.env.Stdout, res)
	}
	t := cliout.NewTable()
	t.Row("Vault:", res.VaultID)
	t.Row("Address:", res.Address)
	t.Row("Enrolment code:", res.EnrollmentCode)
	t.Row("Code expires:", res.CodeExpires)
	return t.WriteTo(a.env.Stdout, "",
		"Send the customer this command, privately (the code works once, until it expires):",
		"  "+cliout.Cell(res.InitCommand))
}

// vaultOut is a vault in list's JSON output.
type vaultOut struct {
	VaultID      string   `json:"vault_id"`
	Address      string   `json:"address"`
	Suspended    bool     `json:"suspended"`
	SizeBytes    int64    `json:"size_bytes"`
	FieldCount   int64    `json:"field_count"`
	ConsentCount int64    `json:"consent_count"`
	CallCount    int64    `json:"call_count"`
	Created      string   `json:"created"`
	Quota        quotaOut `json:"quota"`
}

// listResult is the JSON output of vrm-host list.
type listResult struct {
	// Vaults are the vaults listed, in the host's order (by id).
	Vaults []vaultOut `json:"vaults"`
	// NextPageToken continues the list (--page-token); "" at the end,
	// and always "" with --all.
	NextPageToken string `json:"next_page_token"`
}

func (a *app) listCommand() *cobra.Command {
	var o struct {
		pageSize  int32
		pageToken string
		all       bool
	}
	cmd := &cobra.Command{
		Use:   "list [--page-size N] [--page-token TOKEN] [--all]",
		Short: "List the host's vaults with usage",
		Long: `List the host's vaults with their usage, one page at a time (--page-size, at most
1000), or all of them with --all. The table shows each vault's id, whether it
is suspended, its profile fields and stored size, its consents (in any state),
the calls it served since vaultd started, and when it was created; the JSON
output adds each vault's address and the quota in force. No vault content is
ever shown: the host cannot read it.

When there are more vaults than a page holds, the token of the next page is
printed (in JSON, next_page_token; on a table, a note on standard error).`,
		Example: `  vrm-host list
  vrm-host list --all -o json`,
		Args: noArgs,
		RunE: cliexit.Run(func(cmd *cobra.Command, _ []string) error {
			if o.pageSize < 1 || o.pageSize > maxPageSize {
				return cliexit.Usagef(cmd, "--page-size must be 1 to %d, got %d", maxPageSize, o.pageSize)
			}
			return a.list(cmd, o.pageSize, o.pageToken, o.all)
		}),
	}
	f := cmd.Flags()
	f.Int32Var(&o.pageSize, "page-size", defaultPageSize, "vaults per page (at most 1000)")
	f.StringVar(&o.pageToken, "page-token", "", "start after this page token, from an earlier list")
	f.BoolVar(&o.all, "all", false, "page through all the vaults")
	return cmd
}

// list prints one page of vaults, or all of them.
func (a *app) list(cmd *cobra.Command, pageSize int32, token string, all bool) error {
	s, err := a.open(cmd)
	if err != nil {
		return err
	}
	defer s.Close()
	res := listResult{Vaults: []vaultOut{}}
	for {
		resp, err := a.listPage(cmd.Context(), s, pageSize, token)
		if err != nil {
			return err
		}
		for _, v := range resp.GetVaults() {
			vo := vaultOut{
				VaultID: v.GetVaultId(), Address: v.GetAddress(), Suspended: v.GetSuspended(),
				SizeBytes: v.GetSizeBytes(), FieldCount: v.GetFieldCount(), ConsentCount: v.GetConsentCount(),
				CallCount: v.GetCallCount(), Quota: newQuotaOut(v.GetQuota()),
			}
			if ts := v.GetCreateTime(); ts != nil && ts.IsValid() {
				vo.Created = formatTime(ts.AsTime())
			}
			res.Vaults = append(res.Vaults, vo)
		}
		next := resp.GetNextPageToken()
		if next != "" && next == token {
			return fmt.Errorf("list vaults: the host returned page token %q twice", cliout.Short(next))
		}
		token = next
		if !all || token == "" {
			break
		}
	}
	res.NextPageToken = token
	if a.format == cliout.JSON {
		return cliout.WriteJSON(a.env.Stdout, res)
	}
	if token != "" {
		a.warnf("more vaults: %s list --page-token %s (or --all)", programName, shellQuote(token))
	}
	if len(res.Vaults) == 0 {
		return cliout.WriteOut(a.env.Stdout, []byte("no vaults\n"))
	}
	t := cliout.NewTable("VAULT", "SUSPENDED", "FIELDS", "SIZE", "CONSENTS", "CALLS", "CREATED")
	for _, v := range res.Vaults {
		t.Row(v.VaultID, yesNo(v.Suspended), strconv.FormatInt(v.FieldCount, 10), formatBytes(v.SizeBytes),
			strconv.FormatInt(v.ConsentCount, 10), strconv.FormatInt(v.CallCount, 10), v.Created)
	}
	return t.WriteTo(a.env.Stdout)
}

// listPage fetches one page, under its own deadline.
func (a *app) listPage(ctx context.Context, s *session, pageSize int32, token string) (*vrmv1.ListVaultsResponse, error) {
	ctx, cancel := a.callContext(ctx)
	defer cancel()
	resp, err := s.client.ListVaults(ctx, pageSize, token)
	if err != nil {
		return nil, s.rpcError("list vaults", a.timeout, err)
	}
	return resp, nil
}

// suspendResult is the JSON output of vrm-host suspend and resume.
type suspendResult struct {
	VaultID   string `json:"vault_id"`
	Suspended bool   `json:"suspended"`
}

func (a *app) suspendCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "suspend VAULT_ID",
		Short: "Suspend a vault",
		Long: `Suspend a vault: until it is resumed, it answers every call of its owner and
of brands with FAILED_PRECONDITION "vault suspended". Its data is kept, and
HostService still manages it.`,
		Example: `  vrm-host suspend v_3kq9`,
		Args:    vaultIDArg,
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			return a.setSuspended(cmd, args[0], true)
		}),
	}
}

func (a *app) resumeCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "resume VAULT_ID",
		Short:   "Resume a suspended vault",
		Long:    `Lift a vault's suspension: it answers its owner and brands again.`,
		Example: `  vrm-host resume v_3kq9`,
		Args:    vaultIDArg,
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			return a.setSuspended(cmd, args[0], false)
		}),
	}
}

// setSuspended suspends or resumes a vault.
func (a *app) setSuspended(cmd *cobra.Command, id string, suspend bool) error {
	s, err := a.open(cmd)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := a.callContext(cmd.Context())
	defer cancel()
	verb, done := "resume", "resumed"
	if suspend {
		verb, done = "suspend", "suspended"
		err = s.client.Suspend(ctx, id)
	} else {
		err = s.client.Resume(ctx, id)
	}
	if err != nil {
		return s.rpcError(verb+" vault "+id, a.timeout, err)
	}
	if a.format == cliout.JSON {
		return cliout.WriteJSON(a.env.Stdout, suspendResult{VaultID: id, Suspended: suspend})
	}
	return cliout.WriteOut(a.env.Stdout, []byte("vault "+id+" "+done+"\n"))
}

// quotaResult is the JSON output of vrm-host quota.
type quotaResult struct {
	VaultID string `json:"vault_id"`
	// Quota is the quota in force after the change.
	Quota quotaOut `json:"quota"`
}

func (a *app) quotaCommand() *cobra.Command {
	var qf quotaFlags
	cmd := &cobra.Command{
		Use:   "quota VAULT_ID [--max-fields N] [--max-size-bytes SIZE] [--calls-per-second N] ...",
		Short: "Set a vault's quotas",
		Long: `Set the given quotas of a vault, keeping the others, and print the quota in
force. At least one quota flag is required. Crossing a quota gets the caller
RESOURCE_EXHAUSTED naming it; nothing is partly written. In the output, "-"
marks a quota the vault does not set (the host's own limits apply).`,
		Example: `  vrm-host quota v_3kq9 --max-fields 1000 --max-size-bytes 2MiB
  vrm-host quota v_3kq9 --brand-calls-per-second 2 --brand-open-streams 1`,
		Args: vaultIDArg,
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			q := qf.quota()
			if q == nil {
				return cliexit.Usagef(cmd, "give at least one of %s", quotaFlagList())
			}
			return a.setQuota(cmd, args[0], q)
		}),
	}
	qf.add(cmd)
	return cmd
}

// setQuota sets a vault's quota and prints the quota in force.
func (a *app) setQuota(cmd *cobra.Command, id string, q *vrmv1.VaultQuota) error {
	s, err := a.open(cmd)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := a.callContext(cmd.Context())
	defer cancel()
	got, err := s.client.SetQuota(ctx, id, q)
	if err != nil {
		return s.rpcError("set quota of vault "+id, a.timeout, err)
	}
	if a.format == cliout.JSON {
		return cliout.WriteJSON(a.env.Stdout, quotaResult{VaultID: id, Quota: newQuotaOut(got)})
	}
	t := cliout.NewTable()
	t.Row("Vault:", id)
	quotaRows(t, got)
	return t.WriteTo(a.env.Stdout)
}

// deleteResult is the JSON output of vrm-host delete.
type deleteResult struct {
	VaultID string `json:"vault_id"`
	Deleted bool   `json:"deleted"`
}

func (a *app) deleteCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete VAULT_ID --yes",
		Short: "Delete a vault for good",
		Long: `Delete a vault: the host destroys the vault's data key first, so that its data
is unreadable even in backups of the store, then erases its data. This cannot
be undone, and --yes is required to say so.`,
		Example: `  vrm-host delete v_3kq9 --yes`,
		Args:    vaultIDArg,
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			if !yes {
				return cliexit.Usagef(cmd, "deleting vault %s destroys its data key and all its data, and cannot be undone; pass --yes to confirm", args[0])
			}
			return a.delete(cmd, args[0])
		}),
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm that the vault and its data are to be destroyed")
	return cmd
}

// delete destroys a vault.
func (a *app) delete(cmd *cobra.Command, id string) error {
	s, err := a.open(cmd)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := a.callContext(cmd.Context())
	defer cancel()
	if err := s.client.Destroy(ctx, id); err != nil {
		return s.rpcError("delete vault "+id, a.timeout, err)
	}
	if a.format == cliout.JSON {
		return cliout.WriteJSON(a.env.Stdout, deleteResult{VaultID: id, Deleted: true})
	}
	return cliout.WriteOut(a.env.Stdout, []byte("vault "+id+" deleted: its data key is destroyed and its data erased\n"))
}
