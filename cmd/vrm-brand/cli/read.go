package cli

import (
	"github.com/spf13/cobra"

	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
)

// readResult is the JSON output of vrm-brand read, shaped like vrm's
// profile get with the customer's pairwise subject added.
type readResult struct {
	Vault   string     `json:"vault"`
	Subject string     `json:"subject"`
	Fields  []fieldOut `json:"fields"`
}

func (a *app) readCommand() *cobra.Command {
	var vault string
	cmd := &cobra.Command{
		Use:   "read --vault ADDR [PATH|PREFIX.*]...",
		Short: "Read the fields the customer consented to",
		Long: `Read the customer's fields that an active consent of this brand covers: all of
them without arguments, else those among PATH and PREFIX.* (a subtree).
Fields no consent covers are left out silently, as if they did not exist.

The JSON output also carries the customer's pairwise subject: the stable id
of this customer for this brand, the same in every read, different for
every brand. A read under a revoked consent fails with "consent revoked".`,
		Example: `  vrm-brand read --vault vault.example.net:443/v_3kq9
  vrm-brand read --vault vault.example.net:443/v_3kq9 name.given email.* -o json`,
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			addr, err := vaultconn.ParseAddress(vault)
			if err != nil {
				return cliexit.Usagef(cmd, "--vault: %v", err)
			}
			for _, p := range args {
				if p == "" {
					return cliexit.Usagef(cmd, "empty path")
				}
			}
			s, err := a.open(addr)
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			resp, err := s.client.Read(ctx, args...)
			if err != nil {
				return rpcError(addr, a.timeout, err)
			}
			fields, err := fieldsOut(resp.GetFields())
			if err != nil {
				return err
			}
			if a.format == cliout.JSON {
				return cliout.WriteJSON(a.env.Stdout, readResult{Vault: addr.String(), Subject: resp.GetSubject(), Fields: fields})
			}
			return writeFieldsTable(a.env.Stdout, fields, "No consented fields.")
		}),
	}
	cmd.Flags().StringVar(&vault, "vault", "", "vault address, host:port/<vault-id>")
	_ = cmd.MarkFlagRequired("vault")
	return cmd
}
