package cli

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// selfAsserted marks, in tables, what a brand says about itself and
// nobody checked: its name and URL. Only its key thumbprint identifies it.
const selfAsserted = "(self-asserted)"

// requestOut is an access request in JSON output.
type requestOut struct {
	RequestID string `json:"request_id"`
	State     string `json:"state"`
	// BrandName and BrandURL are what the brand says it is: self-asserted.
	BrandName string `json:"brand_name"`
	BrandURL  string `json:"brand_url"`
	// BrandJKT is the brand key's thumbprint: the brand's identity.
	BrandJKT        string   `json:"brand_jkt"`
	Scopes          []string `json:"scopes"`
	Purposes        []string `json:"purposes"`
	DurationSeconds int64    `json:"duration_seconds"`
	Reason          string   `json:"reason"`
	Created         string   `json:"created,omitempty"`
	Expires         string   `json:"expires,omitempty"`
	ConsentID       string   `json:"consent_id,omitempty"`

	duration time.Duration
}

// requestsResult is the JSON output of vrm requests.
type requestsResult struct {
	Vault    string       `json:"vault"`
	State    string       `json:"state"`
	Requests []requestOut `json:"requests"`
}

// purposeOut is a purpose with the text vrm shows for it.
type purposeOut struct {
	Term string `json:"term"`
	// Description is empty for a term vrm does not know.
	Description string `json:"description"`
}

// requestDetail is the JSON output of vrm requests show.
type requestDetail struct {
	Vault string `json:"vault"`
	requestOut
	// Subject is the pairwise subject the brand receives for you if you
	// grant (PROTOCOL.md section 5).
	Subject        string       `json:"subject"`
	BrandJWK       string       `json:"brand_jwk,omitempty"`
	PurposeDetails []purposeOut `json:"purpose_details"`
}

// consentOut is a consent in JSON output.
type consentOut struct {
	ConsentID string   `json:"consent_id"`
	RequestID string   `json:"request_id"`
	BrandName string   `json:"brand_name"`
	BrandJKT  string   `json:"brand_jkt"`
	State     string   `json:"state"`
	Scopes    []string `json:"scopes"`
	Purposes  []string `json:"purposes"`
	NotBefore string   `json:"not_before,omitempty"`
	Expires   string   `json:"expires,omitempty"`
	Subject   string   `json:"subject,omitempty"`
}

// Delivery states of a consent in vrm consents: whether the brand's
// stream has acknowledged every change it may see.
const (
	deliveryUnknown  = "unknown" // the brand acknowledged nothing yet
	deliveryUpToDate = "up_to_date"
	deliveryBehind   = "behind"
)

// consentListItem is a consent in the JSON output of vrm consents.
type consentListItem struct {
	consentOut
	// AcknowledgedCursor is the last change the brand's stream
	// acknowledged; 0 when none.
	AcknowledgedCursor uint64 `json:"acknowledged_cursor"`
	// Delivery is unknown, up_to_date or behind.
	Delivery string `json:"delivery"`
	// ChangesBehind is how many changes the brand may see came after
	// its acknowledged cursor, when behind.
	ChangesBehind int64 `json:"changes_behind,omitempty"`
	// ChangesBehindCapped is set when the vault stopped counting at its
	// bound: the brand is at least ChangesBehind changes behind.
	ChangesBehindCapped bool `json:"changes_behind_capped,omitempty"`
}

// delivery tells, from the change cursor a brand's stream acknowledged
// and the vault's count of the changes after it that the brand may see,
// whether the brand has every change, and how many it lacks. A cursor of
// 0 means nothing acknowledged yet: unknown, whatever the count.
func delivery(ack uint64, behind int64) (string, int64) {
	switch {
	case ack == 0:
		return deliveryUnknown, 0
	case behind <= 0:
		return deliveryUpToDate, 0
	}
	return deliveryBehind, behind
}

// deliveryText is the DELIVERY cell of a consent: "-", "up to date",
// "N behind", or "N+ behind" when the count is capped.
func deliveryText(state string, behind int64, capped bool) string {
	switch state {
	case deliveryUpToDate:
		return "up to date"
	case deliveryBehind:
		if capped {
			return fmt.Sprintf("%d+ behind", behind)
		}
		return fmt.Sprintf("%d behind", behind)
	}
	return "-"
}

// consentsResult is the JSON output of vrm consents.
type consentsResult struct {
	Vault    string            `json:"vault"`
	State    string            `json:"state"`
	LastSeq  uint64            `json:"last_seq"`
	Consents []consentListItem `json:"consents"`
}

// headOut is a ledger or audit head in JSON output.
type headOut struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// decisionResult is the JSON output of vrm grant, deny and revoke.
type decisionResult struct {
	Vault      string     `json:"vault"`
	Consent    consentOut `json:"consent"`
	LedgerHead headOut    `json:"ledger_head"`
}

// stateName is the lower-case name of a consent state: pending, granted,
// denied, revoked, expired.
func stateName(st vrmv1.ConsentState) string {
	if st == vrmv1.ConsentState_CONSENT_STATE_UNSPECIFIED {
		return "unknown"
	}
	return strings.ToLower(strings.TrimPrefix(st.String(), "CONSENT_STATE_"))
}

// stateAll is the --state value that selects every state.
const stateAll = "all"

// parseState reads a --state value among names (state names and "all").
func parseState(cmd *cobra.Command, value string, names []string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(value))
	if !slices.Contains(names, v) {
		return "", cliexit.Usagef(cmd, "--state must be one of %s; got %q", strings.Join(names, ", "), cliout.Short(value))
	}
	return v, nil
}

// stateValue returns the wire state of a state name.
func stateValue(name string) vrmv1.ConsentState {
	return vrmv1.ConsentState(vrmv1.ConsentState_value["CONSENT_STATE_"+strings.ToUpper(name)])
}

// tsOut formats a wire timestamp as RFC 3339 in UTC; "" for none (also
// the epoch, which the vault sends for a time a denial does not have).
func tsOut(ts *timestamppb.Timestamp) string {
	if ts == nil || !ts.IsValid() || (ts.GetSeconds() == 0 && ts.GetNanos() == 0) {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

// orDash returns s, or "-" when it is empty, for table cells.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// list joins values with ", " for a table cell; "-" when there are none.
func list(values []string) string { return orDash(strings.Join(values, ", ")) }

// checkID refuses a request or consent id argument that cannot be one,
// before anything is sent.
func checkID(cmd *cobra.Command, what, id string) error {
	if !consent.ValidID(id) {
		return cliexit.Usagef(cmd, "%s must be 1 to %d characters of A-Z a-z 0-9 _ -; got %q", what, consent.MaxIDLen, cliout.Short(id))
	}
	return nil
}

// validJKT reports whether s has the shape of a key thumbprint: 43
// base64url characters.
func validJKT(s string) bool {
	return len(s) == 43 && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	})
}

func requestOf(r *vrmv1.AccessRequest) requestOut {
	d := r.GetDuration().AsDuration()
	return requestOut{
		RequestID:       r.GetRequestId(),
		State:           stateName(r.GetState()),
		BrandName:       r.GetBrandName(),
		BrandURL:        r.GetBrandUrl(),
		BrandJKT:        r.GetBrandJkt(),
		Scopes:          nonNil(r.GetScopes()),
		Purposes:        nonNil(r.GetPurposes()),
		DurationSeconds: int64(d / time.Second),
		Reason:          r.GetReason(),
		Created:         tsOut(r.GetCreateTime()),
		Expires:         tsOut(r.GetExpireTime()),
		ConsentID:       r.GetConsentId(),
		duration:        d,
	}
}

func consentOf(c *vrmv1.Consent) consentOut {
	return consentOut{
		ConsentID: c.GetConsentId(),
		RequestID: c.GetRequestId(),
		BrandName: c.GetBrandName(),
		BrandJKT:  c.GetBrandJkt(),
		State:     stateName(c.GetState()),
		Scopes:    nonNil(c.GetScopes()),
		Purposes:  nonNil(c.GetPurposes()),
		NotBefore: tsOut(c.GetNotBefore()),
		Expires:   tsOut(c.GetExpireTime()),
		Subject:   c.GetSubject(),
	}
}

// nonNil returns s, or an empty slice for nil, so that JSON shows [].
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// requestStates are the --state values of vrm requests.
var requestStates = []string{"pending", "granted", "denied", "revoked", "expired", stateAll}

func (a *app) requestsCommand() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "requests [--state STATE]",
		Short: "List brands' access requests (pending ones by default)",
		Long: `List brands' requests for access to your vault: pending ones by default,
or those in another state with --state (pending, granted, denied, revoked,
expired or all).

A brand is identified by its key thumbprint (BRAND KEY). Its name and URL are
what it says about itself: nobody checked them. Show one request in full with
vrm requests show ID, then answer it with vrm grant ID or vrm deny ID.`,
		Example: `  vrm requests
  vrm requests --state all -o json
  vrm requests show 7Vb3kq9xQ2mJc1dA4pLrZg`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cliexit.Group(cmd, args)
			}
			return nil
		},
		RunE: cliexit.Run(func(cmd *cobra.Command, _ []string) error {
			st, err := parseState(cmd, state, requestStates)
			if err != nil {
				return err
			}
			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			states := []string{st}
			if st == stateAll {
				states = requestStates[:len(requestStates)-1]
			}
			res := requestsResult{Vault: s.addr.String(), State: st, Requests: []requestOut{}}
			seen := map[string]bool{}
			for _, name := range states {
				ctx, cancel := a.callContext(cmd.Context())
				reqs, err := s.client.ListRequests(ctx, stateValue(name))
				cancel()
				if err != nil {
					return rpcError(s.addr, a.timeout, err)
				}
				for _, r := range reqs {
					if !seen[r.GetRequestId()] {
						seen[r.GetRequestId()] = true
						res.Requests = append(res.Requests, requestOf(r))
					}
				}
			}
			if len(states) > 1 { // oldest first, as the vault lists each state
				slices.SortStableFunc(res.Requests, func(x, y requestOut) int { return strings.Compare(x.Created, y.Created) })
			}
			if a.format == cliout.JSON {
				return cliout.WriteJSON(a.env.Stdout, res)
			}
			if len(res.Requests) == 0 {
				none := "No pending requests."
				if st != "pending" {
					none = fmt.Sprintf("No requests (state %s).", st)
				}
				return cliout.WriteOut(a.env.Stdout, []byte(none+"\n"))
			}
			t := cliout.NewTable("ID", "STATE", "BRAND "+selfAsserted, "URL "+selfAsserted, "BRAND KEY", "SCOPES", "PURPOSES", "DURATION", "CREATED", "EXPIRES", "REASON")
			for _, r := range res.Requests {
				t.Row(r.RequestID, r.State, orDash(r.BrandName), orDash(r.BrandURL), r.BrandJKT, list(r.Scopes), list(r.Purposes),
					formatDuration(r.duration), orDash(r.Created), orDash(r.Expires), orDash(r.Reason))
			}
			return t.WriteTo(a.env.Stdout)
		}),
	}
	cmd.Flags().StringVar(&state, "state", "pending", "only requests in this state: "+strings.Join(requestStates, ", "))
	_ = cmd.RegisterFlagCompletionFunc("state", cliexit.FixedCompletions(requestStates...))
	cmd.AddCommand(a.requestsShowCommand())
	return cmd
}

func (a *app) requestsShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one access request in full",
		Long: `Show one access request in full: who asks (the brand's key thumbprint, and
the name and URL it gives itself, which nobody checked), for which scopes and
purposes, for how long and why, and the pairwise subject: the identifier the
brand will receive for you, different for every brand.`,
		Example: `  vrm requests show 7Vb3kq9xQ2mJc1dA4pLrZg`,
		Args:    argsExactly(1, "request ID"),
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := checkID(cmd, "request ID", id); err != nil {
				return err
			}
			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			resp, err := s.client.Request(ctx, id)
			if err != nil {
				return rpcError(s.addr, a.timeout, err)
			}
			r := resp.GetRequest()
			res := requestDetail{
				Vault:          s.addr.String(),
				requestOut:     requestOf(r),
				Subject:        resp.GetSubject(),
				BrandJWK:       r.GetBrandJwk(),
				PurposeDetails: []purposeOut{},
			}
			for _, p := range r.GetPurposes() {
				desc, _ := consent.DescribePurpose(p)
				res.PurposeDetails = append(res.PurposeDetails, purposeOut{Term: p, Description: desc})
			}
			if a.format == cliout.JSON {
				return cliout.WriteJSON(a.env.Stdout, res)
			}
			t := cliout.NewTable()
			t.Row("Request:", res.RequestID)
			t.Row("State:", res.State)
			t.Row("Brand:", orDash(res.BrandName)+" "+selfAsserted)
			t.Row("URL:", orDash(res.BrandURL)+" "+selfAsserted)
			t.Row("Brand key:", res.BrandJKT+" (the brand's identity)")
			t.Row("Subject:", res.Subject+" (what the brand receives as your id)")
			rows(t, "Scopes:", res.Scopes)
			var purposes []string
			for _, p := range res.PurposeDetails {
				desc := p.Description
				if desc == "" {
					desc = "a purpose vrm does not know"
				}
				purposes = append(purposes, p.Term+": "+desc)
			}
			rows(t, "Purposes:", purposes)
			t.Row("Duration:", formatDuration(res.duration))
			t.Row("Reason:", orDash(res.Reason))
			t.Row("Created:", orDash(res.Created))
			t.Row("Expires:", orDash(res.Expires))
			if res.ConsentID != "" {
				t.Row("Consent:", res.ConsentID)
			}
			return t.WriteTo(a.env.Stdout)
		}),
	}
}

// rows adds label and values to a two-column table, one value a row;
// "-" when there are none.
func rows(t *cliout.TableWriter, label string, values []string) {
	if len(values) == 0 {
		t.Row(label, "-")
	}
	for i, v := range values {
		if i > 0 {
			label = ""
		}
		t.Row(label, v)
	}
}

func (a *app) grantCommand() *cobra.Command {
	var (
		only    []string
		expires string
	)
	cmd := &cobra.Command{
		Use:   "grant ID [--only SCOPE...] [--expires DURATION]",
		Short: "Grant a brand's access request, signed with your owner key",
		Long: `Grant an access request: vrm signs a consent record with this device's owner
key and the vault stores it in its ledger. The brand can then read what the
record grants, until it expires or you revoke it.

--only grants less than was asked: each SCOPE must lie within a requested
scope (read:name.given within read:name.*); a scope wider than the request is
refused. --expires makes the consent end sooner than the brand asked; it
cannot make it longer. DURATION is a number of days (30d, 90d) or a Go
duration (12h, 90m).`,
		Example: `  vrm grant 7Vb3kq9xQ2mJc1dA4pLrZg
  vrm grant 7Vb3kq9xQ2mJc1dA4pLrZg --only read:name.given,read:email.home --expires 30d`,
		Args: argsExactly(1, "request ID"),
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := checkID(cmd, "request ID", id); err != nil {
				return err
			}
			if _, err := consent.ParseScopes(only); err != nil {
				return cliexit.Usagef(cmd, "--only: %v", err)
			}
			var g owner.Grant
			g.Only = only
			if cmd.Flags().Changed("expires") {
				d, err := parseDuration(expires)
				if err != nil {
					return cliexit.Usagef(cmd, "--expires: %v", err)
				}
				g.Expires = d
			}
			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			if g.Expires > 0 {
				// The client caps a longer expiry at the requested
				// duration; refuse it instead, so the owner is not
				// surprised.
				info, err := s.client.Request(ctx, id)
				if err != nil {
					return rpcError(s.addr, a.timeout, err)
				}
				if asked := info.GetRequest().GetDuration().AsDuration(); g.Expires > asked {
					return fmt.Errorf("--expires %s is longer than the %s the brand asked for; a grant may shorten a request, never lengthen it", expires, formatDuration(asked))
				}
			}
			resp, err := s.client.Grant(ctx, id, g)
			if errors.Is(err, owner.ErrWidens) {
				return fmt.Errorf("%w; you may grant less than a brand asks for, never more", err)
			}
			if err != nil {
				return rpcError(s.addr, a.timeout, err)
			}
			return a.decided(cmd, s, "Granted:", resp.GetConsent(), resp.GetConsent().GetRecord(), resp.GetLedgerHead())
		}),
	}
	f := cmd.Flags()
	f.StringSliceVar(&only, "only", nil, "grant only these scopes, each within a requested one (repeatable, or comma-separated)")
	f.StringVar(&expires, "expires", "", "end the consent after DURATION (30d, 12h), sooner than requested")
	return cmd
}

func (a *app) denyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "deny ID",
		Short: "Deny a brand's access request, signed with your owner key",
		Long: `Deny an access request: vrm signs a consent record saying "denied" with this
device's owner key, and the vault stores it in its ledger. The brand can see
that you said no.`,
		Example: `  vrm deny 7Vb3kq9xQ2mJc1dA4pLrZg`,
		Args:    argsExactly(1, "request ID"),
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := checkID(cmd, "request ID", id); err != nil {
				return err
			}
			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			resp, err := s.client.Deny(ctx, id)
			if err != nil {
				return rpcError(s.addr, a.timeout, err)
			}
			return a.decided(cmd, s, "Denied:", resp.GetConsent(), resp.GetConsent().GetRecord(), resp.GetLedgerHead())
		}),
	}
}

func (a *app) revokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke CONSENT_ID",
		Short: "Revoke a consent you granted, signed with your owner key",
		Long: `Revoke a granted consent: vrm signs a revocation with this device's owner key
and the vault stores it in its ledger. From then on every call of the brand
under that consent is refused, and its open streams are closed. List your
consents and their ids with vrm consents.`,
		Example: `  vrm revoke Qm3kT0a9Lr2xYc8VbN1dZw`,
		Args:    argsExactly(1, "CONSENT_ID"),
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := checkID(cmd, "CONSENT_ID", id); err != nil {
				return err
			}
			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			resp, err := s.client.Revoke(ctx, id)
			if err != nil {
				return rpcError(s.addr, a.timeout, err)
			}
			return a.decided(cmd, s, "Revoked:", resp.GetConsent(), resp.GetConsent().GetRevocation(), resp.GetLedgerHead())
		}),
	}
}

// decided remembers the ledger head after a decision whose ledger entry is
// entry and prints the consent.
func (a *app) decided(cmd *cobra.Command, s *session, verb string, c *vrmv1.Consent, entry string, head *vrmv1.LedgerHead) error {
	a.rememberHead(cmd, s, entry, consent.Head{Seq: head.GetSeq(), Hash: head.GetHash()})
	res := decisionResult{Vault: s.addr.String(), Consent: consentOf(c), LedgerHead: headOut{Seq: head.GetSeq(), Hash: head.GetHash()}}
	if a.format == cliout.JSON {
		return cliout.WriteJSON(a.env.Stdout, res)
	}
	co := res.Consent
	t := cliout.NewTable()
	switch verb {
	case "Revoked:":
		t.Row(verb, "consent "+co.ConsentID)
	default:
		t.Row(verb, "request "+co.RequestID)
		t.Row("Consent:", co.ConsentID)
	}
	t.Row("Brand:", orDash(co.BrandName)+" "+selfAsserted)
	t.Row("Brand key:", co.BrandJKT)
	t.Row("State:", co.State)
	if co.State != "denied" {
		rows(t, "Scopes:", co.Scopes)
		rows(t, "Purposes:", co.Purposes)
		t.Row("Not before:", orDash(co.NotBefore))
		t.Row("Expires:", orDash(co.Expires))
	}
	t.Row("Ledger entry:", strconv.FormatUint(res.LedgerHead.Seq, 10))
	return t.WriteTo(a.env.Stdout)
}

// consentStates are the --state values of vrm consents.
var consentStates = []string{"granted", "denied", "revoked", "expired", stateAll}

func (a *app) consentsCommand() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "consents [--state STATE]",
		Short: "List your consents: what each brand may do, until when",
		Long: `List the consents you gave or refused: for each, the brand (its key
thumbprint, and the name it gives itself), the state (granted, denied,
revoked or expired), the scopes and purposes, and when it starts and ends.
--state shows only those in one state.

DELIVERY says whether a brand watching your profile has received your
changes: "-" until its stream acknowledges one, then "up to date" when it
has every change it may see, or how many of those it has not acknowledged
yet ("N behind"; "N+ behind" when there are more than the vault counts).`,
		Example: `  vrm consents
  vrm consents --state granted -o json`,
		Args: noArgs,
		RunE: cliexit.Run(func(cmd *cobra.Command, _ []string) error {
			st, err := parseState(cmd, state, consentStates)
			if err != nil {
				return err
			}
			s, err := a.open()
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := a.callContext(cmd.Context())
			defer cancel()
			filter := vrmv1.ConsentState_CONSENT_STATE_UNSPECIFIED
			if st != stateAll {
				filter = stateValue(st)
			}
			resp, err := s.client.Consents(ctx, filter)
			if err != nil {
				return rpcError(s.addr, a.timeout, err)
			}
			res := consentsResult{Vault: s.addr.String(), State: st, LastSeq: resp.GetLastSeq(), Consents: []consentListItem{}}
			for _, c := range resp.GetConsents() {
				item := consentListItem{consentOut: consentOf(c), AcknowledgedCursor: c.GetAcknowledgedCursor()}
				item.Delivery, item.ChangesBehind = delivery(item.AcknowledgedCursor, c.GetChangesBehind())
				item.ChangesBehindCapped = item.Delivery == deliveryBehind && c.GetChangesBehindCapped()
				res.Consents = append(res.Consents, item)
			}
			if a.format == cliout.JSON {
				return cliout.WriteJSON(a.env.Stdout, res)
			}
			if len(res.Consents) == 0 {
				none := "No consents."
				if st != stateAll {
					none = fmt.Sprintf("No consents (state %s).", st)
				}
				return cliout.WriteOut(a.env.Stdout, []byte(none+"\n"))
			}
			t := cliout.NewTable("ID", "BRAND "+selfAsserted, "BRAND KEY", "STATE", "SCOPES", "PURPOSES", "NOT BEFORE", "EXPIRES", "DELIVERY")
			for _, c := range res.Consents {
				t.Row(c.ConsentID, orDash(c.BrandName), c.BrandJKT, c.State, list(c.Scopes), list(c.Purposes),
					orDash(c.NotBefore), orDash(c.Expires), deliveryText(c.Delivery, c.ChangesBehind, c.ChangesBehindCapped))
			}
			return t.WriteTo(a.env.Stdout)
		}),
	}
	cmd.Flags().StringVar(&state, "state", stateAll, "only consents in this state: "+strings.Join(consentStates, ", "))
	_ = cmd.RegisterFlagCompletionFunc("state", cliexit.FixedCompletions(consentStates...))
	return cmd
}
