package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
)

// getResult is the JSON output of vrm profile get.
type getResult struct {
	Vault  string     `json:"vault"`
	Fields []fieldOut `json:"fields"`
}

// setResult is the JSON output of vrm profile set.
type setResult struct {
	Vault  string     `json:"vault"`
	Seq    uint64     `json:"seq"`
	Fields []fieldOut `json:"fields"`
}

// rmResult is the JSON output of vrm profile rm.
type rmResult struct {
	Vault   string   `json:"vault"`
	Seq     uint64   `json:"seq"`
	Deleted []string `json:"deleted"`
}

func (a *app) profileCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Read, edit, import and export your profile",
		Long: `Read, edit, import and export the profile stored in your vault.

A profile is typed values (string, int, bool, timestamp, list) at dotted
paths. Well-known paths such as name.given, email.<label>, phone.<label>
(E.164), address.<label>.country (ISO 3166-1 alpha-2) and birthdate have a
type and a rule the vault checks; any other path is free.`,
		Args: cobra.ArbitraryArgs,
		RunE: cliexit.Group,
	}
	cmd.AddCommand(a.profileGetCommand(), a.profileSetCommand(), a.profileRmCommand(),
		a.profileImportCommand(), a.profileExportCommand())
	return cmd
}

func (a *app) profileGetCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "get [PATH|PREFIX.*]...",
		Short: "Show profile fields (all of them without arguments)",
		Long: `Show profile fields: all of them without arguments, else those among PATH and
PREFIX.* (a subtree).

Brands you allowed to write keep their records under brands.<brand key>.*.
For those fields a table adds a BY column: the name the brand gives itself
(self-asserted) and the start of its key thumbprint, which identifies it;
the JSON output carries "provenance": {"brand_jkt", "brand_name",
"consent_id"}. Your own fields have none.`,
		Example: `  vrm profile get
  vrm profile get brands.*
  vrm profile get name.given email.*
  vrm profile get -o json address.home.*`,
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			for _, p := range args {
				if p == "" {
					return cliexit.Usagef(cmd, "empty path")
				}
			}
			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			resp, err := s.client.GetProfile(ctx, args...)
			if err != nil {
				return rpcError(s.addr, a.timeout, err)
			}
			fields, err := fieldsOut(resp.GetFields())
			if err != nil {
				return err
			}
			if a.format == cliout.JSON {
				return cliout.WriteJSON(a.env.Stdout, getResult{Vault: s.addr.String(), Fields: fields})
			}
			return writeFieldsTable(a.env.Stdout, fields, "No fields.")
		}),
	}
}

func (a *app) profileSetCommand() *cobra.Command {
	var (
		typ        string
		ifVersions []string
	)
	cmd := &cobra.Command{
		Use:   "set PATH=VALUE...",
		Short: "Set profile fields, all in one atomic batch",
		Long: `Set profile fields, all in one atomic batch: either every field is stored
or none is.

Each value is typed by its path: name.given is a string, birthdate a
timestamp, prefs.contact.channels a list, and so on; a value of any other
path is a string unless --type says otherwise (--type applies to every
argument). Everything after the first '=' is the value, so values may
contain '='. A list is given as comma-separated items.

--if-version PATH=N stores the batch only if the field at PATH still has
version N (0: only if it does not exist yet); repeat it for several paths.`,
		Example: `  vrm profile set name.given=Ada email.home=ada@example.org
  vrm profile set phone.mobile=+447700900123 --if-version phone.mobile=12
  vrm profile set --type int loyalty.points=120`,
		Args: argsAtLeast(1, "PATH=VALUE arguments"),
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
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
			paths := make([]string, len(assigns))
			for i, as := range assigns {
				paths[i] = as.path
			}
			versions, err := parseIfVersions(ifVersions, paths)
			if err != nil {
				return cliexit.Usagef(cmd, "%v", err)
			}
			changes := make([]*vrmv1.FieldChange, 0, len(assigns))
			for _, as := range assigns {
				v, err := profile.ParseValue(as.path, as.text, kind, explicit)
				if err != nil {
					return err
				}
				ch := owner.SetChange(profile.Field{Path: as.path, Value: v})
				if n, ok := versions[as.path]; ok {
					ch = owner.WithExpectedVersion(ch, n)
				}
				changes = append(changes, ch)
			}

			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			resp, err := s.client.Update(ctx, changes)
			if err != nil {
				return rpcError(s.addr, a.timeout, err)
			}
			return a.printUpdate(s, resp)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&typ, "type", "", "type of every value: string, int, bool, timestamp or list (default: by path)")
	f.StringArrayVar(&ifVersions, "if-version", nil, "store only if the field at PATH has version N (0: does not exist); PATH=N, repeatable")
	_ = cmd.RegisterFlagCompletionFunc("type", cliexit.FixedCompletions("string", "int", "bool", "timestamp", "list"))
	return cmd
}

// noChanges is the table output of a batch that changed nothing: every
// value was already stored.
const noChanges = "Nothing changed: every value was already stored."

// printUpdate prints the fields a set changed (a field set to the value it
// already had keeps its version and is not listed).
func (a *app) printUpdate(s *session, resp *vrmv1.UpdateProfileResponse) error {
	fields, err := fieldsOut(resp.GetFields())
	if err != nil {
		return err
	}
	if a.format == cliout.JSON {
		return cliout.WriteJSON(a.env.Stdout, setResult{Vault: s.addr.String(), Seq: resp.GetSeq(), Fields: fields})
	}
	return writeFieldsTable(a.env.Stdout, fields, noChanges)
}

func (a *app) profileRmCommand() *cobra.Command {
	var ifVersions []string
	cmd := &cobra.Command{
		Use:     "rm PATH|PREFIX.*...",
		Aliases: []string{"delete"},
		Short:   "Delete profile fields, all in one atomic batch",
		Long: `Delete profile fields, all in one atomic batch: either every field is
deleted or none is. A path that does not exist fails the batch.

PREFIX.* deletes every field below PREFIX as it is now: if one of them
changes before the batch is applied, nothing is deleted.

--if-version PATH=N deletes only if the field at PATH still has version N.`,
		Example: `  vrm profile rm email.work
  vrm profile rm address.old.*`,
		Args: argsAtLeast(1, "PATH arguments"),
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			var exact, prefixes []string
			for _, p := range args {
				switch {
				case p == "":
					return cliexit.Usagef(cmd, "empty path")
				case strings.HasSuffix(p, ".*"):
					prefixes = append(prefixes, p)
				default:
					exact = append(exact, p)
				}
			}
			versions, err := parseIfVersions(ifVersions, exact)
			if err != nil {
				return cliexit.Usagef(cmd, "%v", err)
			}

			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			changes, err := a.deletions(cmd, s, exact, prefixes, versions)
			if err != nil {
				return err
			}
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			resp, err := s.client.Update(ctx, changes)
			if err != nil {
				return rpcError(s.addr, a.timeout, err)
			}
			res := rmResult{Vault: s.addr.String(), Seq: resp.GetSeq(), Deleted: make([]string, 0, len(changes))}
			for _, ch := range changes {
				res.Deleted = append(res.Deleted, ch.GetPath())
			}
			slices.Sort(res.Deleted)
			if a.format == cliout.JSON {
				return cliout.WriteJSON(a.env.Stdout, res)
			}
			t := cliout.NewTable()
			for _, p := range res.Deleted {
				t.Row("Deleted", p)
			}
			return t.WriteTo(a.env.Stdout)
		}),
	}
	cmd.Flags().StringArrayVar(&ifVersions, "if-version", nil, "delete only if the field at PATH has version N; PATH=N, repeatable")
	return cmd
}

// deletions returns the changes that delete the exact paths and every
// field now below the prefixes (PREFIX.*); the latter carry the version
// read, so that the batch fails if one of them changed meanwhile.
func (a *app) deletions(cmd *cobra.Command, s *session, exact, prefixes []string, versions map[string]uint64) ([]*vrmv1.FieldChange, error) {
	seen := map[string]bool{}
	var changes []*vrmv1.FieldChange
	for _, p := range exact {
		if seen[p] {
			continue
		}
		seen[p] = true
		ch := owner.DeleteChange(p)
		if n, ok := versions[p]; ok {
			ch = owner.WithExpectedVersion(ch, n)
		}
		changes = append(changes, ch)
	}
	if len(prefixes) == 0 {
		return changes, nil
	}
	ctx, cancel := a.callContext(cmd.Context())
	defer cancel()
	resp, err := s.client.GetProfile(ctx, prefixes...)
	if err != nil {
		return nil, rpcError(s.addr, a.timeout, err)
	}
	found := 0
	for _, f := range resp.GetFields() {
		found++
		if seen[f.GetPath()] {
			continue
		}
		seen[f.GetPath()] = true
		changes = append(changes, owner.WithExpectedVersion(owner.DeleteChange(f.GetPath()), f.GetVersion()))
	}
	if found == 0 {
		return nil, fmt.Errorf("no fields match %s", strings.Join(prefixes, " "))
	}
	return changes, nil
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

// parseIfVersions parses --if-version PATH=N flags. Each PATH must be one
// of paths, and appear once.
func parseIfVersions(specs, paths []string) (map[string]uint64, error) {
	out := make(map[string]uint64, len(specs))
	for _, spec := range specs {
		path, n, ok := strings.Cut(spec, "=")
		if !ok || path == "" {
			return nil, fmt.Errorf("--if-version: expected PATH=VERSION, got %q", cliout.Short(spec))
		}
		v, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--if-version: version of %s must be a whole number, got %q", cliout.Short(path), cliout.Short(n))
		}
		if _, dup := out[path]; dup {
			return nil, fmt.Errorf("--if-version: %s is given twice", cliout.Short(path))
		}
		if !slices.Contains(paths, path) {
			return nil, fmt.Errorf("--if-version: %s is not among the fields of this batch", cliout.Short(path))
		}
		out[path] = v
	}
	return out, nil
}
