package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// WatchersPerBrand is how many of a fan-out's watch streams share one
// brand (and so one gRPC connection): 1,000 watchers are 10 brands.
const WatchersPerBrand = 100

// fanOutTimeout bounds the wait for every watcher to receive one change.
const fanOutTimeout = 30 * time.Second

// delivery is one watcher's receipt of an event.
type delivery struct {
	cursor uint64
	at     time.Time
	err    error
}

// FanOut measures one owner write reaching n open watch streams. Each of
// b.N iterations writes one field the watchers' consent covers and waits
// until every watcher has received it; the time from the start of the
// write call to each watcher's receipt is one sample. It reports the
// percentiles of all samples (p50, p90, p99, max, in µs) and the median
// over iterations of the time until the last watcher received the change
// (last-median-µs). The streams belong to ceil(n/WatchersPerBrand) brands
// of one vault, each on its own connection.
func FanOut(b *testing.B, n int) {
	v := vaulttest.Start(b, vaulttest.Options{MaxStreamsPerBrand: WatchersPerBrand, MaxStreamsPerVault: max(n, 4096)})
	o, _ := v.Owner(b)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	write := func(i int) (uint64, error) {
		resp, err := o.SetFields(ctx, []profile.Field{{Path: "notes.fanout", Value: profile.StringValue(fmt.Sprint(i))}})
		return resp.GetSeq(), err
	}
	if _, err := write(-1); err != nil {
		b.Fatal(err)
	}
	var brands []*brand.Client
	for len(brands)*WatchersPerBrand < n {
		br := v.Brand(b, vaulttest.NewKey(b))
		sctx, scancel := context.WithTimeout(ctx, setupTimeout)
		req, err := br.RequestAccess(sctx, brand.Request{
			Name: "Fan-out Shop", URL: "https://fanout.example", Scopes: []string{"watch:notes.*"},
			Purposes: []string{"ServiceProvision"}, Duration: 24 * time.Hour, Reason: "benchmark",
		})
		if err == nil {
			_, err = o.Grant(sctx, req.GetRequestId(), owner.Grant{})
		}
		scancel()
		if err != nil {
			b.Fatalf("grant brand %d: %v", len(brands), err)
		}
		brands = append(brands, br)
	}
	got := make(chan delivery, n)
	for i := range n {
		s, err := brands[i/WatchersPerBrand].Watch(ctx, 0)
		if err != nil {
			b.Fatalf("watch %d: %v", i, err)
		}
		if _, err := s.Recv(); err != nil { // the current values
			b.Fatalf("watch %d: first event: %v", i, err)
		}
		go func() {
			for {
				ev, err := s.Recv()
				select {
				case got <- delivery{cursor: ev.GetCursor(), at: time.Now(), err: err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}

	samples := make([]time.Duration, 0, b.N*n)
	lasts := make([]time.Duration, 0, b.N)
	timeout := time.NewTimer(fanOutTimeout)
	defer timeout.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		seq, err := write(i)
		if err != nil {
			b.Fatal(err)
		}
		timeout.Reset(fanOutTimeout)
		var last time.Duration
		for range n {
			select {
			case d := <-got:
				if d.err != nil || d.cursor != seq {
					b.Fatalf("change %d: a watcher got cursor %d (want %d), error %v", i, d.cursor, seq, d.err)
				}
				lat := d.at.Sub(start)
				samples = append(samples, lat)
				last = max(last, lat)
			case <-timeout.C:
				b.Fatalf("change %d: not every watcher received it within %s", i, fanOutTimeout)
			}
		}
		lasts = append(lasts, last)
	}
	b.StopTimer()
	cancel()
	slices.Sort(samples)
	slices.Sort(lasts)
	b.ReportMetric(us(Percentile(samples, 50)), "p50-µs")
	b.ReportMetric(us(Percentile(samples, 90)), "p90-µs")
	b.ReportMetric(us(Percentile(samples, 99)), "p99-µs")
	b.ReportMetric(us(samples[len(samples)-1]), "max-µs")
	b.ReportMetric(us(Percentile(lasts, 50)), "last-median-µs")
}

func us(d time.Duration) float64 { return float64(d.Microseconds()) }

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method; zero for an empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
