package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	"github.com/vrmvault/vrmvault/vault/profile"
)

// brandsPrefix starts every path of the brands' namespaces.
const brandsPrefix = "brands."

// writtenOut is a field written by vrm-brand write, in JSON output.
type writtenOut struct {
	// Path is the full path, under brands.<jkt>.
	Path string `json:"path"`
	// Type is string, int, bool, timestamp or list.
	Type string `json:"type"`
	// Value is the value as its natural JSON type.
	Value any `json:"value"`
}

// writeResult is the JSON output of vrm-brand write.
type writeResult struct {
	Vault string `json:"vault"`
	// Seq is the vault's sequence number of the write.
	Seq    uint64       `json:"seq"`
	Fields []writtenOut `json:"fields"`
}

func (a *app) writeCommand() *cobra.Command {
	var (
		vault string
		typ   string
	)
	cmd := &cobra.Command{
		Use:   "write --vault ADDR PATH=VALUE... [--type KIND]",
		Short: "Write this brand's own records into the customer's vault",
		Long: `Write this brand's own records (orders, loyalty tier, ...) into the customer's
vault, all in one atomic batch: either every field is stored or none is.
The customer sees them in their profile, marked as written by this brand,
and may delete them or share them with other brands.

A brand writes only below its own namespace, brands.<its key thumbprint>,
and needs a consent with the scope write:brands.<its key thumbprint>.*
(ask for it with vrm-brand request). A PATH that does not start with
"brands." is taken relative to the namespace: orders.o1.total=42 writes
brands.<jkt>.orders.o1.total. The well-known fields of the customer's
profile (name.given, email.home, phone.mobile, address.home.country, ...)
are the exception: they are sent as they are, and the vault refuses them;
write brands.<jkt>.email.support to keep such a record of your own.

Everything after the first '=' is the value. Values are strings unless
--type says otherwise (string, int, bool, timestamp or list; it applies to
every argument); a list is given as comma-separated items, a timestamp in
RFC 3339.`,
		Example: `  vrm-brand write --vault vault.example.net:443/v_3kq9 orders.o1.total="42.00 GBP" orders.o1.status=shipped
  vrm-brand write --vault vault.example.net:443/v_3kq9 --type int loyalty.points=120`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cliexit.Usagef(cmd, "missing PATH=VALUE arguments")
			}
			return nil
		},
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			addr, err := vaultconn.ParseAddress(vault)
			if err != nil {
				return cliexit.Usagef(cmd, "--vault: %v", err)
			}
			kind, explicit := profile.Kind(0), false
			if cmd.Flags().Changed("type") {
				k, err := profile.ParseKind(typ)
				if err != nil {
					return cliexit.Usagef(cmd, "--type must be one of string, int, bool, timestamp, list; got %q", cliout.Short(typ))
				}
				kind, explicit = k, true
			}
			assigns, err := parseAssignments(args)
			if err != nil {
				return cliexit.Usagef(cmd, "%v", err)
			}

			s, err := a.open(addr)
			if err != nil {
				return err
			}
			defer s.Close()
			ns := s.client.Namespace()
			seen := make(map[string]bool, len(assigns))
			fields := make([]profile.Field, 0, len(assigns))
			for _, as := range assigns {
				path := inNamespace(ns, as.path)
				if seen[path] {
					return cliexit.Usagef(cmd, "%s is given twice", cliout.Short(path))
				}
				seen[path] = true
				v, err := profile.ParseValue(path, as.text, kind, explicit)
				if err != nil {
					return err
				}
				fields = append(fields, profile.Field{Path: path, Value: v})
			}
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			seq, err := s.client.Write(ctx, fields...)
			if err != nil {
				return rpcError(addr, a.timeout, err)
			}
			res := writeResult{Vault: addr.String(), Seq: seq, Fields: make([]writtenOut, 0, len(fields))}
			for _, f := range fields {
				res.Fields = append(res.Fields, writtenOut{Path: f.Path, Type: f.Value.Kind.String(), Value: jsonValue(f.Value)})
			}
			if a.format == cliout.JSON {
				return cliout.WriteJSON(a.env.Stdout, res)
			}
			t := cliout.NewTable()
			t.Row("Seq:", strconv.FormatUint(seq, 10))
			for i, f := range fields {
				label := ""
				if i == 0 {
					label = "Written:"
				}
				t.Row(label, f.Path+" = "+f.Value.Text())
			}
			return t.WriteTo(a.env.Stdout)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&vault, "vault", "", "vault address, host:port/<vault-id>")
	f.StringVar(&typ, "type", "", "type of every value: string, int, bool, timestamp or list (default: string)")
	_ = cmd.MarkFlagRequired("vault")
	_ = cmd.RegisterFlagCompletionFunc("type", cliexit.FixedCompletions("string", "int", "bool", "timestamp", "list"))
	return cmd
}

// inNamespace returns path below the namespace ns ("brands.<jkt>"),
// unless it already names a path under "brands." or a well-known field of
// the customer's profile (one with a type of its own: name.given,
// email.home, address.home.country, ...). Those are sent as they are, so
// that the vault refuses a write outside the namespace rather than a
// brand that meant the customer's name.given storing its own record.
func inNamespace(ns, path string) string {
	if strings.HasPrefix(path, brandsPrefix) {
		return path
	}
	if _, wellKnown := profile.KindFor(path); wellKnown {
		return path
	}
	return ns + "." + path
}

// assignment is one PATH=VALUE argument.
type assignment struct {
	path, text string
}

// parseAssignments splits PATH=VALUE arguments at the first '=', so that
// a value may contain '='. A missing '=', an empty path and a path given
// twice are errors.
func parseAssignments(args []string) ([]assignment, error) {
	out := make([]assignment, 0, len(args))
	seen := make(map[string]bool, len(args))
	for _, arg := range args {
		path, text, ok := strings.Cut(arg, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("expected PATH=VALUE, got %q", cliout.Short(arg))
		case path == "":
			return nil, fmt.Errorf("expected PATH=VALUE, got %q: the path is empty", cliout.Short(arg))
		case seen[path]:
			return nil, fmt.Errorf("%s is given twice", cliout.Short(path))
		}
		seen[path] = true
		out = append(out, assignment{path: path, text: text})
	}
	return out, nil
}
