package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// Defaults of status --wait.
const (
	// DefaultWaitTimeout is how long status --wait waits by default.
	DefaultWaitTimeout = 10 * time.Minute
	// DefaultPollInterval is how often status --wait asks by default.
	DefaultPollInterval = 2 * time.Second
)

// requestOut is an access request in JSON output.
type requestOut struct {
	RequestID       string   `json:"request_id"`
	State           string   `json:"state"`
	BrandJKT        string   `json:"brand_jkt"`
	BrandName       string   `json:"brand_name"`
	BrandURL        string   `json:"brand_url"`
	Scopes          []string `json:"scopes"`
	Purposes        []string `json:"purposes"`
	DurationSeconds int64    `json:"duration_seconds"`
	Reason          string   `json:"reason"`
	Created         string   `json:"created,omitempty"`
	Expires         string   `json:"expires,omitempty"`
	ConsentID       string   `json:"consent_id,omitempty"`

	duration time.Duration
}

// consentOut is the owner's decision on a request in JSON output.
type consentOut struct {
	ConsentID string   `json:"consent_id"`
	State     string   `json:"state"`
	Scopes    []string `json:"scopes"`
	Purposes  []string `json:"purposes"`
	NotBefore string   `json:"not_before,omitempty"`
	Expires   string   `json:"expires,omitempty"`
	Subject   string   `json:"subject,omitempty"`
}

// requestResult is the JSON output of vrm-brand request.
type requestResult struct {
	Vault    string     `json:"vault"`
	VaultJKT string     `json:"vault_jkt"`
	Request  requestOut `json:"request"`
}

// statusResult is the JSON output of vrm-brand status.
type statusResult struct {
	Vault   string      `json:"vault"`
	Request requestOut  `json:"request"`
	Consent *consentOut `json:"consent,omitempty"`
}

func (a *app) requestCommand() *cobra.Command {
	var o struct {
		vault, name, url, duration, reason string
		scopes, purposes                   []string
	}
	cmd := &cobra.Command{
		Use:   "request --vault ADDR --scope SCOPE... --purpose PURPOSE... --duration D",
		Short: "Ask a customer's vault for scoped access",
		Long: `Ask the owner of the vault at ADDR (host:port/<vault-id>) for access and print
the request's id. The request waits for the customer's decision for up to
seven days; follow it with vrm-brand status.

A scope is action:path, the action read, watch or write (write only under
brands.<your jkt>.*), the path dotted segments with an optional last ".*":
read:name.given, read:address.shipping.*. Purposes are W3C DPV terms such
as ServiceProvision, Delivery, CustomerCare, Marketing, Personalisation.
--scope and --purpose may be repeated or given comma-separated.

--duration is how long the consent should last, from 1h to two years: a Go
duration (36h) or whole days (90d). --name and --url default to those
stored by vrm-brand keygen.

On first contact, the vault's descriptor is fetched and its vault key
pinned; the request id is remembered in $VRM_BRAND_HOME/state.json, so that
status and receipt can find it without being told.`,
		Example: `  vrm-brand request --vault vault.example.net:443/v_3kq9 \
      --scope read:name.* --scope read:email.* --purpose ServiceProvision \
      --duration 90d --reason "To address your orders to you."`,
		Args: noArgs,
		RunE: cliexit.Run(func(cmd *cobra.Command, _ []string) error {
			addr, err := vaultconn.ParseAddress(o.vault)
			if err != nil {
				return cliexit.Usagef(cmd, "--vault: %v", err)
			}
			d, err := parseDuration(o.duration)
			if err != nil {
				return cliexit.Usagef(cmd, "--duration: %v", err)
			}
			return a.request(cmd, addr, o.name, o.url, o.scopes, o.purposes, d, o.reason)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.vault, "vault", "", "vault address, host:port/<vault-id>")
	f.StringVar(&o.name, "name", "", "brand display name shown to the customer (default: from keygen)")
	f.StringVar(&o.url, "url", "", "brand URL shown to the customer (default: from keygen)")
	f.StringSliceVar(&o.scopes, "scope", nil, "scope asked for, action:path (repeatable)")
	f.StringSliceVar(&o.purposes, "purpose", nil, "DPV purpose (repeatable)")
	f.StringVar(&o.duration, "duration", "", "how long the consent should last: 90d, 36h, ...")
	f.StringVar(&o.reason, "reason", "", "why you ask, at most 500 characters, shown to the customer")
	_ = cmd.MarkFlagRequired("vault")
	_ = cmd.MarkFlagRequired("scope")
	_ = cmd.MarkFlagRequired("purpose")
	_ = cmd.MarkFlagRequired("duration")
	_ = cmd.RegisterFlagCompletionFunc("purpose", cliexit.FixedCompletions(consent.Purposes()...))
	return cmd
}

// request checks the request, pins the vault key on first contact, sends
// the request and remembers it.
func (a *app) request(cmd *cobra.Command, addr vaultconn.Address, name, url string, scopes, purposes []string, d time.Duration, reason string) error {
	// Check the command line before anything is read or dialled: the
	// defaults come from config.json, the brand key's thumbprint only
	// matters to write scopes (checked again once the key is loaded).
	home, err := homeDir(a.env.Getenv)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(home)
	if err != nil {
		return err
	}
	jkt := placeholderJKT
	if cfg != nil {
		name = cmp.Or(name, cfg.Name)
		url = cmp.Or(url, cfg.URL)
		if isThumbprint(cfg.BrandJKT) {
			jkt = cfg.BrandJKT
		}
	}
	switch {
	case name == "":
		return cliexit.Usagef(cmd, "--name is required (or store a default with %s keygen --name)", programName)
	case url == "":
		return cliexit.Usagef(cmd, "--url is required (or store a default with %s keygen --url)", programName)
	}
	parsed, err := consent.ParseScopes(scopes)
	if err != nil {
		return cliexit.Usagef(cmd, "--scope: %v", err)
	}
	ar := consent.AccessRequest{BrandName: name, BrandURL: url, Scopes: parsed, Purposes: purposes, Duration: d, Reason: reason}
	if err := ar.Validate(jkt); err != nil {
		return cliexit.Usagef(cmd, "%v", err)
	}

	s, err := a.open(addr)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := ar.Validate(s.key.Thumbprint()); err != nil {
		return cliexit.Usagef(cmd, "%v", err)
	}

	d0, _, err := a.fetchDescriptor(cmd.Context(), s)
	if err != nil {
		return err
	}
	ctx, cancel := a.callContext(cmd.Context())
	defer cancel()
	req, err := s.client.RequestAccess(ctx, brand.Request{
		Name: name, URL: url, Scopes: scopes, Purposes: purposes, Duration: d, Reason: reason,
	})
	if err != nil {
		return rpcError(addr, a.timeout, err)
	}
	if !validRequestID(req.GetRequestId()) {
		return fmt.Errorf("the vault at %s answered with a malformed request id", addr)
	}

	st, err := loadState(s.home)
	if err != nil {
		return err
	}
	rec := requestRecord{
		RequestID: req.GetRequestId(), BrandJKT: s.key.Thumbprint(),
		Scopes: nonNil(req.GetScopes()), Purposes: nonNil(req.GetPurposes()),
	}
	if t := req.GetCreateTime(); t != nil && t.IsValid() {
		rec.Created = formatTime(t.AsTime())
	}
	st.vault(addr).addRequest(rec)
	if err := saveState(s.home, st); err != nil {
		a.warnf("warning: the request was made but could not be remembered: %v", err)
	}

	out := requestOutOf(req)
	if a.format == cliout.JSON {
		return cliout.WriteJSON(a.env.Stdout, requestResult{Vault: addr.String(), VaultJKT: d0.VaultKey.Thumbprint(), Request: out})
	}
	return cliout.WriteOut(a.env.Stdout, []byte(cliout.Cell(out.RequestID)+"\n"))
}

func (a *app) statusCommand() *cobra.Command {
	var o struct {
		vault                   string
		wait                    bool
		waitTimeout, pollPeriod time.Duration
	}
	cmd := &cobra.Command{
		Use:   "status --vault ADDR [REQUEST_ID]",
		Short: "Show the state of an access request and its consent",
		Long: `Show the state of an access request (pending, granted, denied, revoked or
expired) and, once the customer decided, the consent: the scopes and
purposes granted, when it starts and ends, and the customer's pairwise
subject. Without REQUEST_ID, the latest request this brand key made of the
vault from this home is shown.

--wait asks again every --poll-interval until the request is no longer
pending, for up to --wait-timeout. The exit status is 0 whatever the
decision; read it from the output.`,
		Example: `  vrm-brand status --vault vault.example.net:443/v_3kq9
  vrm-brand status --vault vault.example.net:443/v_3kq9 --wait -o json 7Qm1X2...`,
		Args: argsAtMost(1),
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			addr, err := vaultconn.ParseAddress(o.vault)
			if err != nil {
				return cliexit.Usagef(cmd, "--vault: %v", err)
			}
			if len(args) == 1 && !validRequestID(args[0]) {
				return cliexit.Usagef(cmd, "%q is not a request id", cliout.Short(args[0]))
			}
			if o.waitTimeout <= 0 {
				return cliexit.Usagef(cmd, "--wait-timeout must be positive, got %s", o.waitTimeout)
			}
			if o.pollPeriod <= 0 {
				return cliexit.Usagef(cmd, "--poll-interval must be positive, got %s", o.pollPeriod)
			}
			s, err := a.open(addr)
			if err != nil {
				return err
			}
			defer s.Close()
			id, err := a.requestID(s, args)
			if err != nil {
				return err
			}
			var resp *vrmv1.GetConsentResponse
			if o.wait {
				resp, err = a.waitForDecision(cmd.Context(), s, id, o.waitTimeout, o.pollPeriod)
			} else {
				ctx, cancel := a.callContext(cmd.Context())
				resp, err = s.client.Consent(ctx, id)
				cancel()
				if err != nil {
					err = rpcError(addr, a.timeout, err)
				}
			}
			if err != nil {
				return err
			}
			return a.printStatus(addr, resp)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.vault, "vault", "", "vault address, host:port/<vault-id>")
	f.BoolVar(&o.wait, "wait", false, "wait until the customer decides")
	f.DurationVar(&o.waitTimeout, "wait-timeout", DefaultWaitTimeout, "how long --wait waits")
	f.DurationVar(&o.pollPeriod, "poll-interval", DefaultPollInterval, "how often --wait asks the vault")
	_ = cmd.MarkFlagRequired("vault")
	return cmd
}

// requestID returns the request id argument, or the latest request this
// brand key made of the session's vault.
func (a *app) requestID(s *session, args []string) (string, error) {
	if len(args) == 1 {
		return args[0], nil
	}
	st, err := loadState(s.home)
	if err != nil {
		return "", err
	}
	id := st.latestRequest(s.addr, s.key.Thumbprint())
	if id == "" {
		return "", fmt.Errorf("no request of this brand key to %s is remembered in %s; give REQUEST_ID", s.addr, s.home)
	}
	return id, nil
}

// waitForDecision polls the request until it is decided or waitTimeout
// passes.
func (a *app) waitForDecision(ctx context.Context, s *session, id string, waitTimeout, every time.Duration) (*vrmv1.GetConsentResponse, error) {
	wctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	resp, err := s.client.WaitForDecision(wctx, id, every)
	if err == nil {
		return resp, nil
	}
	if ctx.Err() != nil {
		return nil, errors.New("interrupted")
	}
	// The only deadline of the polls is wctx's; the vault may notice it
	// passing before this process does.
	if errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
		return nil, fmt.Errorf("request %s is still pending after %s (see --wait-timeout)", id, waitTimeout)
	}
	return nil, rpcError(s.addr, waitTimeout, err)
}

// requestState is a request with the consent that answered it, as
// GetConsent and WatchConsent return them.
type requestState interface {
	GetRequest() *vrmv1.AccessRequest
	GetConsent() *vrmv1.Consent
}

// statusOf converts a request and its consent for output.
func statusOf(addr vaultconn.Address, resp requestState) statusResult {
	res := statusResult{Vault: addr.String(), Request: requestOutOf(resp.GetRequest())}
	if c := resp.GetConsent(); c != nil && c.GetConsentId() != "" {
		co := &consentOut{
			ConsentID: c.GetConsentId(), State: stateName(c.GetState()),
			Scopes: nonNil(c.GetScopes()), Purposes: nonNil(c.GetPurposes()), Subject: c.GetSubject(),
		}
		if t := c.GetNotBefore(); t != nil && t.IsValid() && t.AsTime().Unix() > 0 {
			co.NotBefore = formatTime(t.AsTime())
		}
		if t := c.GetExpireTime(); t != nil && t.IsValid() && t.AsTime().Unix() > 0 {
			co.Expires = formatTime(t.AsTime())
		}
		res.Consent = co
	}
	return res
}

// printStatus prints the state of a request and its consent.
func (a *app) printStatus(addr vaultconn.Address, resp *vrmv1.GetConsentResponse) error {
	res := statusOf(addr, resp)
	if a.format == cliout.JSON {
		return cliout.WriteJSON(a.env.Stdout, res)
	}
	r := res.Request
	state := r.State
	if res.Consent != nil {
		state = res.Consent.State
	}
	t := cliout.NewTable()
	t.Row("Request:", r.RequestID)
	t.Row("State:", state)
	t.Row("Vault:", res.Vault)
	t.Row("Brand:", r.BrandName+" <"+r.BrandURL+">")
	t.Row("Brand key:", r.BrandJKT)
	t.Row("Requested:", orNone(r.Scopes))
	t.Row("Purposes:", orNone(r.Purposes))
	t.Row("Duration:", formatDuration(r.duration))
	if r.Reason != "" {
		t.Row("Reason:", r.Reason)
	}
	t.Row("Created:", r.Created)
	if state == "pending" && r.Expires != "" {
		t.Row("Pending until:", r.Expires)
	}
	if c := res.Consent; c != nil {
		t.Row("Consent:", c.ConsentID)
		t.Row("Granted:", orNone(c.Scopes))
		t.Row("Granted for:", orNone(c.Purposes))
		if c.NotBefore != "" || c.Expires != "" {
			t.Row("Valid:", "from "+c.NotBefore+" until "+c.Expires)
		}
		if c.Subject != "" {
			t.Row("Subject:", c.Subject)
		}
	}
	return t.WriteTo(a.env.Stdout)
}

// requestOutOf converts a wire request for output.
func requestOutOf(r *vrmv1.AccessRequest) requestOut {
	out := requestOut{
		RequestID: r.GetRequestId(), State: stateName(r.GetState()),
		BrandJKT: r.GetBrandJkt(), BrandName: r.GetBrandName(), BrandURL: r.GetBrandUrl(),
		Scopes: nonNil(r.GetScopes()), Purposes: nonNil(r.GetPurposes()),
		Reason: r.GetReason(), ConsentID: r.GetConsentId(),
	}
	if d := r.GetDuration(); d != nil && d.IsValid() {
		out.duration = d.AsDuration()
		out.DurationSeconds = int64(out.duration / time.Second)
	}
	if t := r.GetCreateTime(); t != nil && t.IsValid() {
		out.Created = formatTime(t.AsTime())
	}
	if t := r.GetExpireTime(); t != nil && t.IsValid() {
		out.Expires = formatTime(t.AsTime())
	}
	return out
}

// stateName returns the lower-case name of a state: pending, granted,
// denied, revoked, expired ("unknown" for anything else).
func stateName(s vrmv1.ConsentState) string {
	switch s {
	case vrmv1.ConsentState_CONSENT_STATE_PENDING,
		vrmv1.ConsentState_CONSENT_STATE_GRANTED,
		vrmv1.ConsentState_CONSENT_STATE_DENIED,
		vrmv1.ConsentState_CONSENT_STATE_REVOKED,
		vrmv1.ConsentState_CONSENT_STATE_EXPIRED:
		return strings.ToLower(strings.TrimPrefix(s.String(), "CONSENT_STATE_"))
	}
	return "unknown"
}

// maxDays is the most whole days a time.Duration holds.
const maxDays = math.MaxInt64 / int64(24*time.Hour)

// parseDuration parses a positive Go duration ("36h", "90m") or a whole
// number of days ("90d").
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty; give a Go duration (36h) or days (90d)")
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days <= 0 || days > maxDays || n[0] == '+' {
			return 0, fmt.Errorf("%q is not a positive whole number of days", cliout.Short(s))
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a Go duration (36h) nor days (90d)", cliout.Short(s))
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q is not positive", cliout.Short(s))
	}
	return d, nil
}
