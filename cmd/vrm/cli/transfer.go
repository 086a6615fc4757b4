package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	"github.com/vrmvault/vrmvault/vault/profile"
)

// fileFormat is the format of an imported or exported profile file.
type fileFormat string

// The file formats of --format.
const (
	fileJSON  fileFormat = "json"
	fileVCard fileFormat = "vcard"
)

// importResult is the JSON output of vrm profile import.
type importResult struct {
	Vault    string     `json:"vault"`
	Source   string     `json:"source"`
	Format   fileFormat `json:"format"`
	Seq      uint64     `json:"seq"`
	Imported int        `json:"imported"`
	Warnings []string   `json:"warnings"`
	Fields   []fieldOut `json:"fields"`
}

// exportResult is the JSON output of vrm profile export --out FILE.
type exportResult struct {
	Vault  string     `json:"vault"`
	Format fileFormat `json:"format"`
	Out    string     `json:"out"`
	Fields int        `json:"fields"`
	Bytes  int        `json:"bytes"`
}

// parseFileFormat reads --format; "" means not given.
func parseFileFormat(s string) (fileFormat, bool) {
	switch f := fileFormat(strings.ToLower(s)); f {
	case "", fileJSON, fileVCard:
		return f, true
	}
	return "", false
}

// formatByName tells the format from a file name's extension.
func formatByName(name string) fileFormat {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		return fileJSON
	case ".vcf", ".vcard":
		return fileVCard
	}
	return ""
}

// utf8BOM is the byte order mark some editors put at the start of a file.
const utf8BOM = "\xef\xbb\xbf"

// sniffFormat tells the format from the content: a vCard starts with
// BEGIN:VCARD, a JSON import with '{'.
func sniffFormat(data []byte) fileFormat {
	s := bytes.TrimLeft(bytes.TrimPrefix(data, []byte(utf8BOM)), " \t\r\n")
	const begin = "BEGIN:VCARD"
	switch {
	case len(s) >= len(begin) && bytes.EqualFold(s[:len(begin)], []byte(begin)):
		return fileVCard
	case len(s) > 0 && s[0] == '{':
		return fileJSON
	}
	return ""
}

func (a *app) profileImportCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import fields from a JSON or vCard file, in one atomic batch",
		Long: `Import fields from a JSON file or a vCard (3.0 or 4.0, as phones and mail
clients export contact cards) and store them in one atomic batch: either
every field is stored or none is. Fields already in the vault at the same
paths are replaced; other fields are left alone.

The format is --format if given, else told by the extension (.json, .vcf,
.vcard), else by the content. FILE - reads standard input.

JSON may be an export of vrm profile export, a nested object
({"name": {"given": "Ada"}}) or a flat one ({"name.given": "Ada"}).

The number of fields imported and any vCard properties that were left out
are reported on standard error.`,
		Example: `  vrm profile import contact.vcf
  vrm profile import profile.json
  cat card.txt | vrm profile import --format vcard -`,
		Args: argsExactly(1, "FILE (or - for standard input)"),
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			ff, ok := parseFileFormat(format)
			if !ok {
				return cliexit.Usagef(cmd, "--format must be json or vcard, got %q", cliout.Short(format))
			}
			name, source := args[0], args[0]
			var data []byte
			var err error
			if name == "-" {
				source = "stdin"
				data, err = readAllBounded(a.env.Stdin, source, profile.MaxImportBytes)
			} else {
				data, err = readBounded(name, profile.MaxImportBytes)
			}
			if err != nil {
				return err
			}
			if ff == "" && name != "-" {
				ff = formatByName(name)
			}
			if ff == "" {
				if ff = sniffFormat(data); ff == "" {
					return fmt.Errorf("%s: cannot tell whether it is JSON or vCard; give --format json or --format vcard", source)
				}
			}
			data = bytes.TrimPrefix(data, []byte(utf8BOM))

			var (
				fields   []profile.Field
				warnings []profile.Warning
			)
			switch ff {
			case fileJSON:
				fields, err = profile.DecodeJSON(bytes.NewReader(data), profile.DefaultLimits())
			case fileVCard:
				fields, warnings, err = profile.DecodeVCard(bytes.NewReader(data), profile.DefaultLimits())
			}
			if err != nil {
				return fmt.Errorf("%s: %w", source, err)
			}
			res := importResult{Source: source, Format: ff, Warnings: make([]string, 0, len(warnings))}
			for _, w := range warnings {
				res.Warnings = append(res.Warnings, w.String())
				fmt.Fprintf(a.env.Stderr, "vrm: warning: %s: %s\n", source, cliexit.OneLine(w.String()))
			}
			if len(fields) == 0 {
				return fmt.Errorf("%s: no fields to import", source)
			}

			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			resp, err := s.client.SetFields(ctx, fields)
			if err != nil {
				return rpcError(s.addr, a.timeout, err)
			}
			out, err := fieldsOut(resp.GetFields())
			if err != nil {
				return err
			}
			res.Vault, res.Seq, res.Imported, res.Fields = s.addr.String(), resp.GetSeq(), len(fields), out
			noun := "fields"
			if len(fields) == 1 {
				noun = "field"
			}
			fmt.Fprintf(a.env.Stderr, "imported %d %s from %s\n", len(fields), noun, source)
			if a.format == cliout.JSON {
				return cliout.WriteJSON(a.env.Stdout, res)
			}
			return writeFieldsTable(a.env.Stdout, out, noChanges)
		}),
	}
	cmd.Flags().StringVar(&format, "format", "", "file format: json or vcard (default: by extension, else by content)")
	_ = cmd.RegisterFlagCompletionFunc("format", cliexit.FixedCompletions(string(fileJSON), string(fileVCard)))
	return cmd
}

func (a *app) profileExportCommand() *cobra.Command {
	var format, out string
	cmd := &cobra.Command{
		Use:   "export --format json|vcard [--out FILE]",
		Short: "Export the profile as JSON or vCard",
		Long: `Export the profile as JSON (every field, with its type, version and update
time; vrm profile import reads it back) or as a vCard 4.0 contact card (the
contact fields: name, email, phone, address, birthdate, social).

The file is written to standard output, or with --out to FILE, replaced
atomically and readable by you only (mode 0600): it holds personal data.
--format may be left out when FILE ends in .json, .vcf or .vcard.`,
		Example: `  vrm profile export --format json --out profile.json
  vrm profile export --format vcard > me.vcf`,
		Args: noArgs,
		RunE: cliexit.Run(func(cmd *cobra.Command, _ []string) error {
			ff, ok := parseFileFormat(format)
			if !ok {
				return cliexit.Usagef(cmd, "--format must be json or vcard, got %q", cliout.Short(format))
			}
			if ff == "" && out != "" && out != "-" {
				ff = formatByName(out)
			}
			if ff == "" {
				return cliexit.Usagef(cmd, "--format is required: json or vcard")
			}

			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			resp, err := s.client.GetProfile(ctx)
			if err != nil {
				return rpcError(s.addr, a.timeout, err)
			}
			fields, err := fieldsOut(resp.GetFields())
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			switch ff {
			case fileJSON:
				exp := make([]profile.ExportedField, len(fields))
				for i, f := range fields {
					exp[i] = profile.ExportedField{Path: f.Path, Value: f.value, Version: f.Version, Updated: f.updated}
				}
				err = profile.EncodeJSON(&buf, s.addr.VaultID, exp)
			case fileVCard:
				plain := make([]profile.Field, len(fields))
				for i, f := range fields {
					plain[i] = profile.Field{Path: f.Path, Value: f.value}
				}
				err = profile.EncodeVCard(&buf, plain)
			}
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}

			if out == "" || out == "-" {
				return cliout.WriteOut(a.env.Stdout, buf.Bytes())
			}
			if err := writeFileAtomic(out, buf.Bytes()); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("--out %s: the directory does not exist", out)
				}
				return err
			}
			res := exportResult{Vault: s.addr.String(), Format: ff, Out: out, Fields: len(fields), Bytes: buf.Len()}
			if a.format == cliout.JSON {
				return cliout.WriteJSON(a.env.Stdout, res)
			}
			msg := fmt.Sprintf("Exported %d fields as JSON to %s (%d bytes).\n", res.Fields, cliout.Cell(out), res.Bytes)
			if ff == fileVCard {
				msg = fmt.Sprintf("Exported the contact fields as vCard to %s (%d bytes).\n", cliout.Cell(out), res.Bytes)
			}
			return cliout.WriteOut(a.env.Stdout, []byte(msg))
		}),
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "", "file format: json or vcard")
	f.StringVar(&out, "out", "", "write to FILE (mode 0600) instead of standard output")
	_ = cmd.RegisterFlagCompletionFunc("format", cliexit.FixedCompletions(string(fileJSON), string(fileVCard)))
	_ = cmd.MarkFlagFilename("out", "json", "vcf", "vcard")
	return cmd
}
