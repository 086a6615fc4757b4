package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// auditPage is the page size vrm audit asks for (the vault caps it).
const auditPage = 500

// auditOut is an audit entry in JSON output.
type auditOut struct {
	Seq  uint64 `json:"seq"`
	Time string `json:"time"`
	// Role is owner, brand or host.
	Role      string `json:"role"`
	CallerJKT string `json:"caller_jkt"`
	// CallerName is the brand's self-asserted name, or the device name of
	// an owner key, when vrm knows it.
	CallerName string `json:"caller_name,omitempty"`
	// Method is the full gRPC method name.
	Method     string   `json:"method"`
	ConsentIDs []string `json:"consent_ids"`
	Paths      []string `json:"paths"`
	// Outcome is "ok" or the name of a gRPC status code.
	Outcome string `json:"outcome"`
}

// auditResult is the JSON output of vrm audit.
type auditResult struct {
	Vault   string     `json:"vault"`
	Entries []auditOut `json:"entries"`
	// More is true when --limit stopped the listing before the vault said
	// it was done (further pages may still hold no matching entry).
	More bool `json:"more"`
}

func (a *app) auditCommand() *cobra.Command {
	var o struct {
		brand, path, since string
		limit              int
	}
	cmd := &cobra.Command{
		Use:   "audit [--brand JKT] [--path PATH] [--since T] [--limit N]",
		Short: "Show the audit log: who read or changed what, and when",
		Long: `Show the vault's audit log, oldest first: every call that touched your data
(brands' reads, watches and writes, your own changes and decisions), with the
caller's key, the consent it used, the paths it touched and the outcome.

--brand keeps the calls of one key (a brand's, or an owner key's) by its
thumbprint; --path those that touched PATH (or, with PATH.*, anything below
it); --since those at or after T, an RFC 3339 time or a duration before now
(24h, 7d); --limit stops after N entries (default: all).

The caller's name is the name a brand gives itself (nobody checked it) or the
device name of an owner key. vrm verify checks the log's hash chain.`,
		Example: `  vrm audit --since 7d
  vrm audit --brand 0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I --limit 20
  vrm audit --path address.* -o json`,
		Args: noArgs,
		RunE: cliexit.Run(func(cmd *cobra.Command, _ []string) error {
			if o.brand != "" && !validJKT(o.brand) {
				return cliexit.Usagef(cmd, "--brand must be a key thumbprint (43 characters of A-Z a-z 0-9 _ -); got %q", cliout.Short(o.brand))
			}
			if cmd.Flags().Changed("path") && o.path == "" {
				return cliexit.Usagef(cmd, "--path must not be empty")
			}
			if o.limit < 0 {
				return cliexit.Usagef(cmd, "--limit must be 0 (all) or more; got %d", o.limit)
			}
			var since time.Time
			if cmd.Flags().Changed("since") {
				t, err := parseSince(o.since, a.env.Now())
				if err != nil {
					return cliexit.Usagef(cmd, "--since: %v", err)
				}
				since = t
			}
			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			names, err := a.callerNames(cmd.Context(), s)
			if err != nil {
				return err
			}

			res := auditResult{Vault: s.addr.String(), Entries: []auditOut{}}
			var after uint64
		pages:
			for {
				req := &vrmv1.ListAuditEntriesRequest{AfterSeq: after, PageSize: auditPage, CallerJkt: o.brand, Path: o.path}
				if o.limit > 0 {
					req.PageSize = int32(min(auditPage, o.limit-len(res.Entries)))
				}
				if !since.IsZero() {
					req.Since = timestamppb.New(since)
				}
				ctx, cancel := a.callContext(cmd.Context())
				page, err := s.client.AuditPage(ctx, req)
				cancel()
				if err != nil {
					return rpcError(s.addr, a.timeout, err)
				}
				for _, e := range page.GetEntries() {
					if o.limit > 0 && len(res.Entries) == o.limit {
						res.More = true
						break pages
					}
					res.Entries = append(res.Entries, auditOf(e, names))
				}
				next := page.GetNextAfterSeq()
				switch {
				case next == 0:
					break pages
				case next <= after:
					return fmt.Errorf("the vault at %s returned an audit page that does not move on (after %d, next %d)", s.addr, after, next)
				case o.limit > 0 && len(res.Entries) == o.limit:
					res.More = true
					break pages
				}
				after = next
			}
			if a.format == cliout.JSON {
				return cliout.WriteJSON(a.env.Stdout, res)
			}
			if len(res.Entries) == 0 {
				return cliout.WriteOut(a.env.Stdout, []byte("No audit entries.\n"))
			}
			t := cliout.NewTable("SEQ", "TIME", "ROLE", "CALLER", "METHOD", "CONSENT", "PATHS", "OUTCOME")
			for _, e := range res.Entries {
				caller := shortJKT(e.CallerJKT)
				if e.CallerName != "" {
					caller += " " + e.CallerName
				}
				t.Row(strconv.FormatUint(e.Seq, 10), e.Time, e.Role, caller, shortMethod(e.Method),
					list(e.ConsentIDs), list(e.Paths), e.Outcome)
			}
			if err := t.WriteTo(a.env.Stdout); err != nil {
				return err
			}
			if res.More {
				return cliout.WriteOut(a.env.Stdout, []byte(fmt.Sprintf("(stopped at --limit %d; more entries follow)\n", o.limit)))
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.brand, "brand", "", "only calls by this key thumbprint (a brand's or an owner key's)")
	f.StringVar(&o.path, "path", "", "only calls that touched PATH (PATH.*: anything below it)")
	f.StringVar(&o.since, "since", "", "only calls at or after T: RFC 3339, or a duration before now (24h, 7d)")
	f.IntVar(&o.limit, "limit", 0, "stop after N entries (0: all)")
	return cmd
}

// callerNames returns names for the keys the audit log may name: brands'
// self-asserted names from their consents and pending requests, and the
// device names of owner keys ("(this device)" for this one).
func (a *app) callerNames(ctx context.Context, s *session) (map[string]string, error) {
	names := map[string]string{}
	call := func(fn func(ctx context.Context) error) error {
		ctx, cancel := a.callContext(ctx)
		defer cancel()
		if err := fn(ctx); err != nil {
			return rpcError(s.addr, a.timeout, err)
		}
		return nil
	}
	err := call(func(ctx context.Context) error {
		reqs, err := s.client.ListRequests(ctx, vrmv1.ConsentState_CONSENT_STATE_PENDING)
		for _, r := range reqs {
			if r.GetBrandName() != "" {
				names[r.GetBrandJkt()] = r.GetBrandName()
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	err = call(func(ctx context.Context) error {
		resp, err := s.client.Consents(ctx, vrmv1.ConsentState_CONSENT_STATE_UNSPECIFIED)
		for _, c := range resp.GetConsents() {
			if _, ok := names[c.GetBrandJkt()]; !ok && c.GetBrandName() != "" {
				names[c.GetBrandJkt()] = c.GetBrandName()
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	err = call(func(ctx context.Context) error {
		resp, err := s.client.Status(ctx)
		for _, k := range resp.GetOwnerKeys() {
			name := k.GetDeviceName()
			if k.GetJkt() == s.key.Thumbprint() {
				name = strings.TrimSpace(name + " (this device)")
			}
			names[k.GetJkt()] = name
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}

func auditOf(e *vrmv1.AuditEntry, names map[string]string) auditOut {
	out := auditOut{
		Seq:        e.GetSeq(),
		Role:       e.GetRole(),
		CallerJKT:  e.GetCallerJkt(),
		CallerName: names[e.GetCallerJkt()],
		Method:     e.GetMethod(),
		ConsentIDs: []string{},
		Paths:      nonNil(e.GetPaths()),
		Outcome:    e.GetOutcome(),
	}
	if e.GetTime().IsValid() {
		out.Time = e.GetTime().AsTime().UTC().Format(time.RFC3339)
	}
	for _, id := range strings.Split(e.GetConsentId(), ",") {
		if id != "" {
			out.ConsentIDs = append(out.ConsentIDs, id)
		}
	}
	return out
}

// shortJKT returns the first characters of a thumbprint, for tables; the
// full one is in the JSON output.
func shortJKT(jkt string) string {
	const n = 8
	if len(jkt) <= n {
		return jkt
	}
	return jkt[:n] + "…"
}

// shortMethod returns the last element of a full gRPC method name:
// "/vrm.v1.BrandService/ReadProfile" is "ReadProfile".
func shortMethod(m string) string {
	if i := strings.LastIndexByte(m, '/'); i >= 0 && i < len(m)-1 {
		return m[i+1:]
	}
	return m
}
