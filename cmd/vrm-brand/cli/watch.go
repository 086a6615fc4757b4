package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/cmd/internal/cliexit"
	"github.com/vrmvault/vrmvault/cmd/internal/cliout"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// Defaults and bounds of watch and watch-consent.
const (
	// DefaultAckEvery is how often watch saves and acknowledges the last
	// cursor received, by default.
	DefaultAckEvery = time.Second
	// minReconnectDelay is the wait before the first attempt to reopen a
	// stream that ended asking to resume; each further attempt waits
	// twice as long as the one before, up to maxReconnectDelay. An event
	// received starts the sequence again.
	minReconnectDelay = 100 * time.Millisecond
	// maxReconnectDelay is the longest wait between two attempts.
	maxReconnectDelay = 5 * time.Second
	// exitAckTimeout bounds the last acknowledgement of an interrupted
	// watch, so that an unreachable vault does not hold up the exit.
	exitAckTimeout = 2 * time.Second
)

// watchEventOut is one event of watch in JSON output: one object a line
// (JSON Lines).
type watchEventOut struct {
	// Cursor is the event's cursor: watch resumes after it.
	Cursor uint64 `json:"cursor"`
	// Fields are the fields the change set (the current values, in the
	// first event of a watch from the start), sorted by path.
	Fields []fieldOut `json:"fields"`
	// Deleted are the paths the change deleted, sorted.
	Deleted []string `json:"deleted"`
}

func (a *app) watchCommand() *cobra.Command {
	var o struct {
		vault     string
		fromStart bool
		ackEvery  time.Duration
	}
	cmd := &cobra.Command{
		Use:   "watch --vault ADDR [PATH|PREFIX.*]... [--from-start] [--ack-every D]",
		Short: "Print changes to the consented fields as they happen",
		Long: `Print the changes to the customer's fields that a watch consent of this brand
covers, as they happen, until interrupted: all of them without arguments,
else those among PATH and PREFIX.* (a subtree). Changes to other fields are
never sent.

Each event has a cursor. A table prints one line per changed path,
"cursor 42  address.home.locality = Leeds" or "cursor 43  email.home deleted";
JSON prints one object per event per line (JSON Lines):
{"cursor":42,"fields":[{"path":...,"type":...,"value":...,"version":...,"updated":...}],"deleted":[...]}.
Each event is written as soon as it arrives.

The last cursor received is saved in $VRM_BRAND_HOME/state.json, at most
once per --ack-every and on exit, and then acknowledged to the vault, so
the customer sees that this brand is up to date. The next watch of the
same vault resumes after the saved cursor: it prints exactly the changes
made meanwhile, none twice. --from-start ignores the saved cursor and
starts with the current values of the watched fields. Resuming with other
paths than the last watch does not print the current values of the new
ones: use --from-start for that.

When the vault ends the stream asking to resume (it is shutting down, or
this watch fell behind), or, once a stream was open, cannot be reached,
watch reconnects from the last cursor received, waiting 100ms, then twice
as long at every attempt up to 5s, for as long as it runs, with one line
on standard error per attempt. When the customer
revokes the consent, or it expires, watch fails with "consent revoked" or
"consent expired". Interrupted (Ctrl-C), it saves the cursor and exits 0.
The stream itself has no deadline; --timeout bounds each acknowledgement.`,
		Example: `  vrm-brand watch --vault vault.example.net:443/v_3kq9
  vrm-brand watch --vault vault.example.net:443/v_3kq9 address.home.* -o json
  vrm-brand watch --vault vault.example.net:443/v_3kq9 --from-start --ack-every 10s`,
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			addr, err := vaultconn.ParseAddress(o.vault)
			if err != nil {
				return cliexit.Usagef(cmd, "--vault: %v", err)
			}
			for _, p := range args {
				if p == "" {
					return cliexit.Usagef(cmd, "empty path")
				}
			}
			if o.ackEvery <= 0 {
				return cliexit.Usagef(cmd, "--ack-every must be positive, got %s", o.ackEvery)
			}
			s, err := a.open(addr)
			if err != nil {
				return err
			}
			defer s.Close()
			w := &watcher{a: a, s: s, paths: args, ackEvery: o.ackEvery}
			return w.run(cmd.Context(), o.fromStart)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.vault, "vault", "", "vault address, host:port/<vault-id>")
	f.BoolVar(&o.fromStart, "from-start", false, "start with the current values instead of resuming after the saved cursor")
	f.DurationVar(&o.ackEvery, "ack-every", DefaultAckEvery, "how often to save and acknowledge the last cursor received")
	_ = cmd.MarkFlagRequired("vault")
	return cmd
}

// watcher is one run of vrm-brand watch. Only the goroutine of run uses
// it.
type watcher struct {
	a        *app
	s        *session
	paths    []string
	ackEvery time.Duration

	cursor  uint64 // of the last event printed; 0 before any
	saved   uint64 // the cursor in state.json
	acked   uint64 // the cursor the vault last acknowledged
	resumed bool   // the watch started from a saved cursor
	ackErr  string // the last acknowledgement failure warned about
	// saveFailed is set once a cursor could not be saved: that error
	// ends the watch, and is not repeated on the way out.
	saveFailed bool
}

// run watches until ctx ends (nil), the vault refuses or ends the stream
// for good, or a cursor cannot be saved.
func (w *watcher) run(ctx context.Context, fromStart bool) error {
	if !fromStart {
		st, err := loadState(w.s.home)
		if err != nil {
			return err
		}
		w.cursor = st.watchCursor(w.s.addr, w.s.key.Thumbprint())
		w.saved, w.resumed = w.cursor, w.cursor != 0
	}
	tick := time.NewTicker(w.ackEvery)
	defer tick.Stop()
	var (
		retry       backoff
		established bool // an event or a resume request came: keep trying
	)
	for {
		end, err := w.stream(ctx, tick.C, &retry, &established)
		if err != nil {
			w.saveOnError()
			return err
		}
		if ctx.Err() != nil {
			return w.finish(ctx)
		}
		if !reconnectable(end, established) {
			w.saveOnError()
			return w.endError(end)
		}
		established = true
		d := retry.next()
		from := "the start"
		if w.cursor != 0 {
			from = fmt.Sprintf("cursor %d", w.cursor)
		}
		w.a.warnf("the stream ended (%s); reconnecting from %s in %s", status.Convert(end).Message(), from, d)
		if err := w.pause(ctx, d, tick.C); err != nil {
			w.saveOnError()
			return err
		}
		if ctx.Err() != nil {
			return w.finish(ctx)
		}
	}
}

// recvResult is what one Recv of a stream returned.
type recvResult[T any] struct {
	msg *T
	err error
}

// stream opens one stream after w.cursor and prints its events until it
// ends; it returns the error that ended it (ctx's, when ctx ended), or
// as err a local failure that must end the watch: an event that cannot
// be printed, a cursor that cannot be saved, a vault that breaks the
// order of cursors. It saves and acknowledges on every tick.
func (w *watcher) stream(ctx context.Context, tick <-chan time.Time, retry *backoff, established *bool) (end, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := w.s.client.Watch(sctx, w.cursor, w.paths...)
	if err != nil {
		return err, nil
	}
	// Recv blocks, so it runs in its own goroutine, one event at a time:
	// the next is not received before this one is printed, so that a
	// consumer that cannot keep up slows the stream instead of buffering.
	events := make(chan recvResult[vrmv1.WatchProfileResponse])
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := stream.Recv()
			select {
			case events <- recvResult[vrmv1.WatchProfileResponse]{m, err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() { cancel(); <-done }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err(), nil
		case r := <-events:
			if r.err != nil {
				return r.err, nil
			}
			*established = true
			retry.reset()
			if c := r.msg.GetCursor(); w.cursor != 0 && c <= w.cursor {
				return nil, fmt.Errorf("the vault at %s sent cursor %d after %d: events out of order", w.s.addr, c, w.cursor)
			}
			if err := w.print(r.msg); err != nil {
				return nil, err
			}
			w.cursor = r.msg.GetCursor()
		case <-tick:
			if err := w.flush(ctx); err != nil {
				return nil, err
			}
		}
	}
}

// pause waits d (or until ctx ends), saving and acknowledging on ticks.
func (w *watcher) pause(ctx context.Context, d time.Duration, tick <-chan time.Time) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			return nil
		case <-tick:
			if err := w.flush(ctx); err != nil {
				return err
			}
		}
	}
}

// print writes one event to standard output at once.
func (w *watcher) print(ev *vrmv1.WatchProfileResponse) error {
	fields, err := fieldsOut(ev.GetFields())
	if err != nil {
		return err
	}
	deleted := slices.Sorted(slices.Values(ev.GetDeletedPaths()))
	var buf bytes.Buffer
	if w.a.format == cliout.JSON {
		if err := encodeLine(&buf, watchEventOut{Cursor: ev.GetCursor(), Fields: fields, Deleted: nonNil(deleted)}); err != nil {
			return err
		}
	} else {
		for _, f := range fields {
			fmt.Fprintf(&buf, "cursor %d  %s = %s\n", ev.GetCursor(), cliout.Cell(f.Path), cliout.Cell(f.value.Text()))
		}
		for _, p := range deleted {
			fmt.Fprintf(&buf, "cursor %d  %s deleted\n", ev.GetCursor(), cliout.Cell(p))
		}
	}
	return writeNow(w.a.env.Stdout, buf.Bytes())
}

// flush saves the last cursor received, then acknowledges it.
func (w *watcher) flush(ctx context.Context) error {
	if err := w.save(); err != nil {
		return err
	}
	actx, cancel := w.a.callContext(ctx)
	defer cancel()
	w.ack(actx)
	return nil
}

// save writes the last cursor received to state.json, if it changed.
// The file is read again first, so that what other vrm-brand commands
// wrote meanwhile is kept.
func (w *watcher) save() error {
	if w.cursor == w.saved || w.cursor == 0 {
		return nil
	}
	st, err := loadState(w.s.home)
	if err != nil {
		w.saveFailed = true
		return fmt.Errorf("save the watch cursor: %w", err)
	}
	st.vault(w.s.addr).Watch = &watchRecord{BrandJKT: w.s.key.Thumbprint(), Cursor: w.cursor, Saved: formatTime(w.a.env.Now())}
	if err := saveState(w.s.home, st); err != nil {
		w.saveFailed = true
		return fmt.Errorf("save the watch cursor: %w", err)
	}
	w.saved = w.cursor
	return nil
}

// ack acknowledges the saved cursor to the vault, if it has not yet. A
// failure is noted on standard error (once for the same message) and
// tried again at the next flush; refusals and an unreachable vault are
// left to the stream to report.
func (w *watcher) ack(ctx context.Context) {
	if w.saved == 0 || w.saved <= w.acked {
		return
	}
	err := w.s.client.Acknowledge(ctx, w.saved)
	if err == nil {
		w.acked, w.ackErr = w.saved, ""
		return
	}
	switch status.Code(err) {
	case codes.PermissionDenied, codes.Canceled, codes.Unavailable, codes.DeadlineExceeded:
		return
	}
	if msg := rpcError(w.s.addr, w.a.timeout, err).Error(); msg != w.ackErr {
		w.ackErr = msg
		w.a.warnf("warning: cursor %d was saved but not acknowledged: %s", w.saved, msg)
	}
}

// finish ends an interrupted watch: it saves the cursor and acknowledges
// it, for at most exitAckTimeout.
func (w *watcher) finish(ctx context.Context) error {
	if err := w.save(); err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(exitAckTimeout, w.a.timeout))
	defer cancel()
	w.ack(actx)
	return nil
}

// saveOnError saves the cursor of a watch that fails, noting a failure
// to do so: the error that ends the watch is the one reported.
func (w *watcher) saveOnError() {
	if w.saveFailed {
		return
	}
	if err := w.save(); err != nil {
		w.a.warnf("warning: %v", err)
	}
}

// endError is the error reported for a stream that ended for good.
func (w *watcher) endError(err error) error {
	st, _ := status.FromError(err)
	if w.resumed && st.Code() == codes.InvalidArgument && strings.Contains(st.Message(), "cursor is ahead") {
		return fmt.Errorf("the vault at %s has no change %d, the cursor saved in %s (was the vault restored?); run with --from-start",
			w.s.addr, w.cursor, filepath.Join(w.s.home, stateFile))
	}
	return rpcError(w.s.addr, w.a.timeout, err)
}

// resumable reports whether a stream ended asking to be resumed from the
// last cursor received: RESOURCE_EXHAUSTED (the consumer fell behind) or
// UNAVAILABLE (the vault is shutting down) saying "resume".
func resumable(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.ResourceExhausted, codes.Unavailable:
		return strings.Contains(st.Message(), "resume")
	}
	return false
}

// reconnectable reports whether a stream that ended with err should be
// opened again: when the vault asked to resume, and, once a stream was
// established, when the vault cannot be reached (it is restarting) or
// cancelled the call itself (a draining vault may). A vault unreachable
// from the start is an error. The caller checks first that the
// cancellation is not its own.
func reconnectable(err error, established bool) bool {
	if resumable(err) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled:
		return established
	}
	return false
}

// backoff is the wait before reopening a stream: minReconnectDelay, then
// twice the previous wait, up to maxReconnectDelay.
type backoff struct{ last time.Duration }

// next returns the wait before the next attempt.
func (b *backoff) next() time.Duration {
	if b.last == 0 {
		b.last = minReconnectDelay
	} else {
		b.last = min(2*b.last, maxReconnectDelay)
	}
	return b.last
}

// reset starts the sequence again, after a stream delivered.
func (b *backoff) reset() { b.last = 0 }

func (a *app) watchConsentCommand() *cobra.Command {
	var vault string
	cmd := &cobra.Command{
		Use:   "watch-consent --vault ADDR [REQUEST_ID]",
		Short: "Print each change of state of an access request until it is final",
		Long: `Print the state of an access request, then each change of it as the customer
decides (granted, denied) and later (revoked, expired), until it reaches a
final state: denied, revoked or expired. A granted consent is not final: it
may still be revoked or expire. Without REQUEST_ID, the latest request this
brand key made of the vault from this home is followed.

A table prints one line per state, "granted  request <id>  consent <id>
<scopes>  until <time>"; JSON prints one object per state per line (JSON
Lines), shaped like the output of vrm-brand status. When the vault ends
the stream asking to resume, watch-consent reconnects as watch does. The
exit status is 0 whatever the decision, and when interrupted.`,
		Example: `  vrm-brand watch-consent --vault vault.example.net:443/v_3kq9
  vrm-brand watch-consent --vault vault.example.net:443/v_3kq9 7Qm1X2... -o json`,
		Args: argsAtMost(1),
		RunE: cliexit.Run(func(cmd *cobra.Command, args []string) error {
			addr, err := vaultconn.ParseAddress(vault)
			if err != nil {
				return cliexit.Usagef(cmd, "--vault: %v", err)
			}
			if len(args) == 1 && !validRequestID(args[0]) {
				return cliexit.Usagef(cmd, "%q is not a request id", cliout.Short(args[0]))
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
			return a.watchConsent(cmd.Context(), s, id)
		}),
	}
	cmd.Flags().StringVar(&vault, "vault", "", "vault address, host:port/<vault-id>")
	_ = cmd.MarkFlagRequired("vault")
	return cmd
}

// watchConsent follows request id until it reaches a final state or ctx
// ends, reconnecting when the vault asks to resume.
func (a *app) watchConsent(ctx context.Context, s *session, id string) error {
	var (
		retry       backoff
		established bool
		last        string // the state printed last, to skip its repetition on reconnecting
	)
	for {
		end := a.followConsent(ctx, s, id, &last, &retry, &established)
		if end == nil || ctx.Err() != nil {
			return nil
		}
		var local *localError
		if errors.As(end, &local) {
			return local.err
		}
		if !reconnectable(end, established) {
			return rpcError(s.addr, a.timeout, end)
		}
		established = true
		d := retry.next()
		a.warnf("the stream ended (%s); reconnecting in %s", status.Convert(end).Message(), d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// localError is a failure of vrm-brand itself (not the end of a stream):
// it ends a watch without reconnecting.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// followConsent prints the states one stream of request id delivers; it
// returns nil when the stream ended after a final state, else the error
// that ended it.
func (a *app) followConsent(ctx context.Context, s *session, id string, last *string, retry *backoff, established *bool) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.client.WatchConsent(sctx, id)
	if err != nil {
		return err
	}
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		*established = true
		retry.reset()
		res := statusOf(s.addr, m)
		key := res.Request.State + "/" + res.Request.ConsentID
		if res.Consent != nil {
			key += "/" + res.Consent.State
		}
		if key == *last {
			continue
		}
		*last = key
		if err := a.printConsentEvent(res); err != nil {
			return &localError{err: err}
		}
	}
}

// printConsentEvent writes one state of a request to standard output at
// once: one JSON object, or one line.
func (a *app) printConsentEvent(res statusResult) error {
	var buf bytes.Buffer
	if a.format == cliout.JSON {
		if err := encodeLine(&buf, res); err != nil {
			return err
		}
		return writeNow(a.env.Stdout, buf.Bytes())
	}
	r := res.Request
	parts := []string{r.State, "request " + cliout.Cell(r.RequestID)}
	if c := res.Consent; c != nil {
		parts[0] = c.State
		parts = append(parts, "consent "+cliout.Cell(c.ConsentID))
		if c.State == "granted" {
			parts = append(parts, cliout.Cell(orNone(c.Scopes)))
			if c.Expires != "" {
				parts = append(parts, "until "+c.Expires)
			}
		}
	} else if r.State == "pending" && r.Expires != "" {
		parts = append(parts, "pending until "+r.Expires)
	}
	buf.WriteString(strings.Join(parts, "  ") + "\n")
	return writeNow(a.env.Stdout, buf.Bytes())
}

// encodeLine appends v to buf as one line of compact JSON.
func encodeLine(buf *bytes.Buffer, v any) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	return nil
}

// writeNow writes data to w in one write and, if w buffers (has a Flush
// method), flushes it, so that a reader of a stream sees each event as it
// comes.
func writeNow(w io.Writer, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if err := cliout.WriteOut(w, data); err != nil {
		return err
	}
	if f, ok := w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	return nil
}
