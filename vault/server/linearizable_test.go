package server_test

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"hash/fnv"
	mrand "math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/consent"
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// The long form: go test -run TestConsentLinearizable ./vault/server/ -linear.duration=60s
var (
	linearDuration = flag.Duration("linear.duration", 0, "how long TestConsentLinearizable drives its workload (0: 8s, 3s with -short)")
	linearMaxOps   = flag.Int("linear.maxops", 50000, "most operations TestConsentLinearizable records")
)

// Shape of the workload of TestConsentLinearizable.
const (
	linWorkers   = 12               // concurrent clients
	linVaults    = 2                // vaults on one host
	linBrands    = 2                // brand keys, each asking every vault: one model partition per (vault, brand)
	linMaxLive   = 3                // a brand's consents the driver keeps granted at most
	linOpTimeout = 20 * time.Second // per operation: far beyond any answer, so unknown outcomes stay rare
	linMaxTries  = 200              // attempts of one ledger write whose head moved or that conflicted
)

// linRequest asks for what the workload reads and watches.
var linRequest = brand.Request{
	Name:     "Linear Shop",
	URL:      "https://linear.example.com",
	Scopes:   []string{"read:name.*", "watch:name.*"},
	Purposes: []string{"ServiceProvision"},
	Duration: 90 * 24 * time.Hour,
	Reason:   "To check that consent state is linearizable.",
}

// Kinds of operation in the history.
const (
	linGrant  = "grant"
	linRevoke = "revoke"
	linRead   = "read"
	linWatch  = "watch"
)

// Outcomes of operations. A grant or revocation whose outcome is unknown
// (deadline exceeded, connection lost) is recorded with linUnknown and a
// return at the end of the history: it may have taken effect at any point
// after its call, or never.
const (
	linOK        = "ok"           // grant or revocation stored
	linUnknown   = "unknown"      // grant or revocation that may or may not have been stored
	linNotFound  = "not-found"    // revocation of a consent the vault does not hold
	linDecided   = "decided"      // revocation of a consent no longer granted
	linData      = "data"         // read or watch start that returned the profile
	linEmpty     = "empty"        // read or watch start that succeeded without the profile: never legal
	linNoConsent = "no-consent"   // PERMISSION_DENIED "no active consent"
	linRevoked   = "revoked"      // PERMISSION_DENIED "consent revoked"
	linOther     = "other-denial" // PERMISSION_DENIED for another reason: never legal
)

// linInput is an operation of the history: on the consent state of one
// (vault, brand) (Brand numbers the pair, the partition), of kind, on
// consent cid (grants and revocations).
type linInput struct {
	Brand int
	Kind  string
	CID   string
}

// linState is the consent state of one (vault, brand): the consent ids
// granted and not revoked, and those revoked, each sorted. It is never
// modified once built.
type linState struct {
	active  []string
	revoked []string
}

func linInsert(set []string, id string) []string {
	i, _ := slices.BinarySearch(set, id)
	return slices.Insert(slices.Clone(set), i, id)
}

func linRemove(set []string, id string) []string {
	i, ok := slices.BinarySearch(set, id)
	if !ok {
		return set
	}
	return slices.Delete(slices.Clone(set), i, i+1)
}

func linHas(set []string, id string) bool {
	_, ok := slices.BinarySearch(set, id)
	return ok
}

// linStep is the sequential specification of a brand's consent state.
func linStep(state, input, output any) (bool, any) {
	s, in, out := state.(linState), input.(linInput), output.(string)
	switch in.Kind {
	case linGrant:
		// Each grant answers a fresh request with a fresh consent id.
		if linHas(s.active, in.CID) || linHas(s.revoked, in.CID) {
			return false, s
		}
		return true, linState{active: linInsert(s.active, in.CID), revoked: s.revoked}
	case linRevoke:
		active, revoked := linHas(s.active, in.CID), linHas(s.revoked, in.CID)
		switch out {
		case linOK:
			if !active {
				return false, s
			}
			return true, linState{active: linRemove(s.active, in.CID), revoked: linInsert(s.revoked, in.CID)}
		case linUnknown:
			// If it took effect here, the consent was active; if the
			// consent was not active here, it was refused and changed
			// nothing. (Not taking effect at all is the linearization at
			// the end of the history.)
			if active {
				return true, linState{active: linRemove(s.active, in.CID), revoked: linInsert(s.revoked, in.CID)}
			}
			return true, s
		case linNotFound:
			return !active && !revoked, s
		case linDecided:
			return revoked, s
		}
		return false, s
	case linRead, linWatch:
		switch out {
		case linData:
			return len(s.active) > 0, s
		case linNoConsent:
			return len(s.active) == 0 && len(s.revoked) == 0, s
		case linRevoked:
			return len(s.active) == 0 && len(s.revoked) > 0, s
		}
		return false, s
	}
	return false, s
}

func linShort(id string) string {
	if len(id) > 6 {
		return id[:6]
	}
	return id
}

// linModel is the model of the history, partitioned by brand.
var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byBrand := map[int][]porcupine.Operation{}
		for _, op := range history {
			b := op.Input.(linInput).Brand
			byBrand[b] = append(byBrand[b], op)
		}
		keys := make([]int, 0, len(byBrand))
		for b := range byBrand {
			keys = append(keys, b)
		}
		sort.Ints(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, b := range keys {
			out = append(out, byBrand[b])
		}
		return out
	},
	Init: func() any { return linState{} },
	Step: linStep,
	Equal: func(a, b any) bool {
		x, y := a.(linState), b.(linState)
		return slices.Equal(x.active, y.active) && slices.Equal(x.revoked, y.revoked)
	},
	Hash: func(state any) uint64 {
		s := state.(linState)
		h := fnv.New64a()
		for _, id := range s.active {
			_, _ = h.Write([]byte(id))
		}
		_, _ = h.Write([]byte{0})
		for _, id := range s.revoked {
			_, _ = h.Write([]byte(id))
		}
		return h.Sum64()
	},
	DescribeOperation: func(input, output any) string {
		in := input.(linInput)
		if in.CID != "" {
			return fmt.Sprintf("vault%d/brand%d %s(%s) -> %s", in.Brand/linBrands, in.Brand%linBrands, in.Kind, linShort(in.CID), output)
		}
		return fmt.Sprintf("vault%d/brand%d %s -> %s", in.Brand/linBrands, in.Brand%linBrands, in.Kind, output)
	},
	DescribeState: func(state any) string {
		s := state.(linState)
		active := make([]string, 0, len(s.active))
		for _, id := range s.active {
			active = append(active, linShort(id))
		}
		return fmt.Sprintf("active {%s}, %d revoked", strings.Join(active, " "), len(s.revoked))
	},
}

// linVault is one vault of the workload, with its owner.
type linVault struct {
	id       string
	owner    vrmv1.OwnerServiceClient
	ownerKey *consent.PrivateKey
}

// linBrand is one brand in one vault and what the driver knows of its
// consents there.
type linBrand struct {
	idx    int // the partition: vault*linBrands + brand
	vault  *linVault
	client *brand.Client

	mu       sync.Mutex
	pending  []string       // requests to grant, each used once
	live     []string       // consent ids granted (or being granted) and not known revoked
	revoking map[string]int // revocations under way, by consent id
}

func (b *linBrand) takeRequest() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 {
		return ""
	}
	rid := b.pending[len(b.pending)-1]
	b.pending = b.pending[:len(b.pending)-1]
	return rid
}

func (b *linBrand) putRequest(rid string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending = append(b.pending, rid)
}

func (b *linBrand) liveCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.live)
}

func (b *linBrand) addLive(cid string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.live = append(b.live, cid)
}

func (b *linBrand) dropLive(cid string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := slices.Index(b.live, cid); i >= 0 {
		b.live = slices.Delete(b.live, i, i+1)
	}
}

// pickLive returns a consent id to revoke: mostly one that no other
// worker is revoking, sometimes any (two revocations of one consent race).
func (b *linBrand) pickLive(r *mrand.Rand) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var idle []string
	for _, cid := range b.live {
		if b.revoking[cid] == 0 {
			idle = append(idle, cid)
		}
	}
	var cid string
	switch {
	case len(idle) > 0 && r.IntN(10) > 0:
		cid = idle[r.IntN(len(idle))]
	case len(b.live) > 0:
		cid = b.live[r.IntN(len(b.live))]
	default:
		return ""
	}
	if b.revoking == nil {
		b.revoking = map[string]int{}
	}
	b.revoking[cid]++
	return cid
}

// revoked ends a revocation of cid that pickLive returned; gone reports
// that the consent is revoked.
func (b *linBrand) revoked(cid string, gone bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.revoking[cid]--; b.revoking[cid] == 0 {
		delete(b.revoking, cid)
	}
	if gone {
		if i := slices.Index(b.live, cid); i >= 0 {
			b.live = slices.Delete(b.live, i, i+1)
		}
	}
}

// linRun is the state shared by the workers.
type linRun struct {
	t        *testing.T
	brands   []*linBrand
	start    time.Time
	deadline time.Time
	budget   atomic.Int64 // operations left to record

	mu     sync.Mutex
	counts map[string]int // "kind outcome" and "kind dropped code"
}

// now is the history's clock: monotonic nanoseconds since the start.
func (r *linRun) now() int64 { return int64(time.Since(r.start)) }

func (r *linRun) count(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[key]++
}

// unknownOutcome reports whether a call that failed with code may still
// have taken effect on the vault. Every other failure is a refusal that
// stored nothing: the vault decides inside one transaction, and a
// transaction that fails, ABORTED by a conflict included (badgerstore
// commits nothing when Commit reports a conflict, then runs the
// transaction again or gives up), writes nothing.
func unknownOutcome(code codes.Code) bool {
	switch code {
	case codes.DeadlineExceeded, codes.Canceled, codes.Unavailable, codes.Internal, codes.Unknown:
		return true
	}
	return false
}

// unexpected reports a failure that no correct vault gives to this
// workload.
func (r *linRun) unexpected(what string, err error) {
	switch status.Code(err) {
	case codes.Internal, codes.Unknown, codes.Unauthenticated, codes.InvalidArgument:
		r.t.Errorf("%s: %v", what, err)
	}
}

// ledgerHeadOf returns the ledger head a FAILED_PRECONDITION carries when
// a ledger write did not extend the head.
func ledgerHeadOf(err error) (*vrmv1.LedgerHead, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.FailedPrecondition {
		return nil, false
	}
	for _, d := range st.Details() {
		if h, ok := d.(*vrmv1.LedgerHead); ok {
			return h, true
		}
	}
	return nil, false
}

// grant submits an owner-signed grant with consent id cid on request rid,
// signing again whenever the ledger head moved or the write conflicted.
// It returns linOK, linUnknown, or "" when the vault certainly stored
// nothing.
func (r *linRun) grant(ctx context.Context, v *linVault, rid, cid string) string {
	info, err := v.owner.GetAccessRequest(ctx, &vrmv1.GetAccessRequestRequest{VaultId: v.id, RequestId: rid})
	if err != nil {
		r.unexpected("get request", err)
		return "" // nothing was submitted
	}
	req, head := info.GetRequest(), info.GetLedgerHead()
	for try := 0; try < linMaxTries; try++ {
		now := time.Now()
		record, err := consent.SignRecord(v.ownerKey, consent.RecordClaims{
			CID: cid, RID: rid, Vault: v.id, Brand: req.GetBrandJkt(), Sub: info.GetSubject(),
			Status: consent.StatusGranted, Scopes: req.GetScopes(), Purposes: req.GetPurposes(),
			Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(req.GetDuration().AsDuration()).Unix(),
			Seq: head.GetSeq() + 1, Prev: head.GetHash(),
		})
		if err != nil {
			r.t.Errorf("sign grant: %v", err)
			return ""
		}
		_, err = v.owner.SubmitConsent(ctx, &vrmv1.SubmitConsentRequest{VaultId: v.id, Record: record})
		if err == nil {
			return linOK
		}
		if h, ok := ledgerHeadOf(err); ok {
			head = h
			continue
		}
		code := status.Code(err)
		if code == codes.Aborted {
			continue
		}
		if unknownOutcome(code) {
			r.unexpected("grant", err)
			r.count("grant unknown " + code.String())
			return linUnknown
		}
		r.unexpected("grant", err)
		r.count("grant refused " + code.String())
		return ""
	}
	r.count("grant gave up")
	return ""
}

// revoke submits an owner-signed revocation of cid, signing again
// whenever the ledger head moved or the write conflicted. It returns the
// outcome, or "" when the vault certainly stored nothing and said nothing
// about the consent.
func (r *linRun) revoke(ctx context.Context, v *linVault, cid string) string {
	ledger, err := v.owner.GetLedger(ctx, &vrmv1.GetLedgerRequest{VaultId: v.id, PageSize: 1, AfterSeq: ^uint64(0) - 1})
	if err != nil {
		r.unexpected("get ledger", err)
		return ""
	}
	head := ledger.GetHead()
	for try := 0; try < linMaxTries; try++ {
		rev, err := consent.SignRevocation(v.ownerKey, consent.RevocationClaims{
			CID: cid, Iat: time.Now().Unix(), Seq: head.GetSeq() + 1, Prev: head.GetHash(),
		})
		if err != nil {
			r.t.Errorf("sign revocation: %v", err)
			return ""
		}
		_, err = v.owner.SubmitRevocation(ctx, &vrmv1.SubmitRevocationRequest{VaultId: v.id, Revocation: rev})
		if err == nil {
			return linOK
		}
		if h, ok := ledgerHeadOf(err); ok {
			head = h
			continue
		}
		st := status.Convert(err)
		switch {
		case st.Code() == codes.Aborted:
			continue
		case st.Code() == codes.NotFound && strings.Contains(st.Message(), "consent not found"):
			return linNotFound
		case st.Code() == codes.FailedPrecondition && strings.Contains(st.Message(), "already decided"):
			return linDecided
		case unknownOutcome(st.Code()):
			r.unexpected("revoke", err)
			r.count("revoke unknown " + st.Code().String())
			return linUnknown
		}
		r.unexpected("revoke", err)
		r.count("revoke refused " + st.Code().String())
		return ""
	}
	r.count("revoke gave up")
	return ""
}

// hasProfile reports whether fields hold the profile's name.given.
func hasProfile(fields []*vrmv1.Field) bool {
	for _, f := range fields {
		if f.GetPath() == "name.given" && f.GetValue().GetStringValue() == "Ada" {
			return true
		}
	}
	return false
}

// readOutcome classifies the answer of a read or a watch start; "" means
// the read said nothing about the consent (no answer, or refused for load)
// and is left out of the history.
func (r *linRun) readOutcome(kind string, fields []*vrmv1.Field, err error) string {
	if err == nil {
		if hasProfile(fields) {
			return linData
		}
		return linEmpty
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.PermissionDenied:
		switch st.Message() {
		case "no active consent":
			return linNoConsent
		case "consent revoked":
			return linRevoked
		}
		r.t.Errorf("%s refused: %v", kind, err)
		return linOther
	case codes.Aborted, codes.DeadlineExceeded, codes.Canceled, codes.Unavailable, codes.ResourceExhausted:
		r.count(kind + " dropped " + st.Code().String())
		return ""
	}
	r.t.Errorf("%s: %v", kind, err)
	return ""
}

// worker runs random operations until the deadline or the budget ends
// and returns the history it recorded.
func (r *linRun) worker(id int) []porcupine.Operation {
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(id)))
	var ops []porcupine.Operation
	record := func(b *linBrand, kind, cid string, call int64, out string, ret int64) {
		ops = append(ops, porcupine.Operation{ClientId: id, Input: linInput{Brand: b.idx, Kind: kind, CID: cid}, Call: call, Output: out, Return: ret})
		r.count(kind + " " + out)
	}
	for time.Now().Before(r.deadline) && r.budget.Add(-1) >= 0 {
		b := r.brands[rng.IntN(len(r.brands))]
		live := b.liveCount()
		p := rng.Float64()
		// Keep each brand moving between no consent and some: grant when
		// it has none, revoke when it has some, and read all the time.
		var kind string
		switch {
		case live == 0 && p < 0.25, live > 0 && live < linMaxLive && p < 0.05:
			kind = linGrant
		case live > 0 && p < 0.30:
			kind = linRevoke
		case p < 0.75:
			kind = linRead
		default:
			kind = linWatch
		}
		ctx, cancel := context.WithTimeout(context.Background(), linOpTimeout)
		switch kind {
		case linGrant:
			rid := b.takeRequest()
			if rid == "" {
				req, err := b.client.RequestAccess(ctx, linRequest)
				if err != nil {
					// A full pending list (other workers' requests) or a
					// conflict: try another operation.
					r.unexpected("request access", err)
					r.count("request access failed " + status.Code(err).String())
					break
				}
				rid = req.GetRequestId()
			}
			cid, err := consent.NewID(rand.Reader)
			if err != nil {
				r.t.Errorf("new id: %v", err)
				break
			}
			b.addLive(cid) // revocations may race with the grant from here
			call := r.now()
			out := r.grant(ctx, b.vault, rid, cid)
			ret := r.now()
			switch out {
			case linOK:
				record(b, linGrant, cid, call, out, ret)
			case linUnknown:
				record(b, linGrant, cid, call, out, -1) // returns at the end of the history
			default:
				// Certainly not stored: the request is still pending.
				b.dropLive(cid)
				b.putRequest(rid)
			}
		case linRevoke:
			cid := b.pickLive(rng)
			if cid == "" {
				break
			}
			call := r.now()
			out := r.revoke(ctx, b.vault, cid)
			ret := r.now()
			b.revoked(cid, out == linOK || out == linDecided)
			switch out {
			case linOK, linDecided:
				record(b, linRevoke, cid, call, out, ret)
			case linNotFound:
				record(b, linRevoke, cid, call, out, ret) // its grant may still be in flight
			case linUnknown:
				record(b, linRevoke, cid, call, out, -1)
			}
		case linRead:
			call := r.now()
			resp, err := b.client.Read(ctx)
			ret := r.now()
			if out := r.readOutcome(linRead, resp.GetFields(), err); out != "" {
				record(b, linRead, "", call, out, ret)
			}
		case linWatch:
			// A watch start that delivers its first event read the
			// profile under an active consent, when it started.
			sctx, stop := context.WithCancel(ctx)
			call := r.now()
			var first *vrmv1.WatchProfileResponse
			stream, err := b.client.Watch(sctx, 0)
			if err == nil {
				first, err = stream.Recv()
			}
			ret := r.now()
			stop()
			if out := r.readOutcome(linWatch, first.GetFields(), err); out != "" {
				record(b, linWatch, "", call, out, ret)
			}
		}
		cancel()
	}
	return ops
}

// TestConsentLinearizable drives concurrent grants, revocations, reads and
// watch starts of several brands against a real vault and checks with
// porcupine that the history is linearizable against a per-brand model of
// consent state: a read is served only while a consent is active, and
// refused only while none is. In particular no read is served under a
// consent after its revocation was acknowledged.
//
// Grants and revocations whose outcome is unknown (no answer) may take
// effect at any time after their call, or never; refused ones, ABORTED
// included, took none. Reads without an answer, or refused for load, say
// nothing and are left out. The default run takes about 8 s; for a long
// one:
//
//	go test -race -run TestConsentLinearizable ./vault/server/ -linear.duration=60s
func TestConsentLinearizable(t *testing.T) {
	duration := *linearDuration
	if duration <= 0 {
		duration = 8 * time.Second
		if testing.Short() {
			duration = 3 * time.Second
		}
	}
	v := vaulttest.Start(t, vaulttest.Options{MaxStreamsPerBrand: 4 * linWorkers})
	setup, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := &linRun{t: t, counts: map[string]int{}}
	brandKeys := make([]*consent.PrivateKey, linBrands)
	for i := range brandKeys {
		brandKeys[i] = vaulttest.NewKey(t)
	}
	for vi := 0; vi < linVaults; vi++ {
		// The same brand keys ask every vault: one vault's consents
		// must not open another's profile.
		addr, code := v.Address, v.Code
		if vi > 0 {
			addr, code = v.NewVault(t)
		}
		okey := vaulttest.NewKey(t)
		o := v.ClientAt(t, addr, okey)
		if _, err := o.Enroll(setup, code, "linear"); err != nil {
			t.Fatal(err)
		}
		if _, err := o.SetFields(setup, []profile.Field{
			{Path: "name.given", Value: profile.StringValue("Ada")},
			{Path: "name.family", Value: profile.StringValue("Lovelace")},
			{Path: "email.home", Value: profile.StringValue("ada@example.org")},
		}); err != nil {
			t.Fatal(err)
		}
		lv := &linVault{id: addr.VaultID, owner: o.Service(), ownerKey: okey}
		for bi, key := range brandKeys {
			b := &linBrand{idx: vi*linBrands + bi, vault: lv, client: v.BrandAt(t, addr, key)}
			// The first request makes the brand's key known to the
			// vault; before it, its reads are not even authenticated.
			for j := 0; j < 2; j++ {
				req, err := b.client.RequestAccess(setup, linRequest)
				if err != nil {
					t.Fatal(err)
				}
				b.pending = append(b.pending, req.GetRequestId())
			}
			r.brands = append(r.brands, b)
		}
	}
	r.budget.Store(int64(*linearMaxOps))
	r.start = time.Now()
	r.deadline = r.start.Add(duration)
	histories := make([][]porcupine.Operation, linWorkers)
	var wg sync.WaitGroup
	for w := 0; w < linWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			histories[w] = r.worker(w)
		}()
	}
	wg.Wait()
	elapsed := time.Since(r.start)

	end := r.now() + 1
	var history []porcupine.Operation
	for _, h := range histories {
		for _, op := range h {
			if op.Return < 0 {
				op.Return = end // unknown outcome: may take effect at any time after its call
			}
			history = append(history, op)
		}
	}
	keys := make([]string, 0, len(r.counts))
	for k := range r.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var summary []string
	for _, k := range keys {
		summary = append(summary, fmt.Sprintf("%s: %d", k, r.counts[k]))
	}
	t.Logf("workload: %d workers, %d vaults x %d brands, %s: %s", linWorkers, linVaults, linBrands, elapsed.Round(time.Millisecond), strings.Join(summary, ", "))

	t.Logf("latency: %s", linLatencies(history, end))

	checkStart := time.Now()
	res, info := porcupine.CheckOperationsVerbose(linModel, history, 2*time.Minute)
	checkTime := time.Since(checkStart)
	t.Logf("checked %d operations in %s: %s", len(history), checkTime.Round(time.Millisecond), res)
	switch res {
	case porcupine.Ok:
	case porcupine.Illegal:
		f, err := os.CreateTemp("", "consent-linearizability-*.html")
		if err != nil {
			t.Fatalf("consent history is not linearizable (and its visualization failed: %v)", err)
		}
		path := f.Name()
		if err := f.Close(); err != nil {
			t.Fatalf("consent history is not linearizable (and its visualization failed: %v)", err)
		}
		if err := porcupine.VisualizePath(linModel, info, path); err != nil {
			t.Fatalf("consent history is not linearizable (and its visualization failed: %v)", err)
		}
		t.Fatalf("consent history is not linearizable; visualization: %s", path)
	default:
		// The check ran out of time: nothing illegal found, nothing proved.
		t.Logf("linearizability check inconclusive after %s", checkTime.Round(time.Millisecond))
	}
}

// linLatencies summarizes the latency of the operations with a known
// outcome, by kind: median and maximum.
func linLatencies(history []porcupine.Operation, end int64) string {
	by := map[string][]time.Duration{}
	for _, op := range history {
		if op.Return != end {
			k := op.Input.(linInput).Kind
			by[k] = append(by[k], time.Duration(op.Return-op.Call))
		}
	}
	var out []string
	for _, k := range []string{linGrant, linRevoke, linRead, linWatch} {
		d := by[k]
		if len(d) == 0 {
			continue
		}
		slices.Sort(d)
		out = append(out, fmt.Sprintf("%s median %s max %s", k, d[len(d)/2].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond)))
	}
	return strings.Join(out, ", ")
}
