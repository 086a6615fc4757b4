package server_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/vault/vaulttest"
)

// BenchmarkRevocationLatency measures, for each of b.N revocations, the
// time from the revoke call returning to the end of the brand's open
// watch stream, and reports the median and p99. Run it with
//
//	go test -run='^$' -bench=RevocationLatency -benchtime=1000x ./vault/server/
func BenchmarkRevocationLatency(b *testing.B) {
	v := vaulttest.Start(b)
	ctx := context.Background()
	o, _ := v.Owner(b)
	set(b, o, "name.given", "Ada")
	br := v.Brand(b, vaulttest.NewKey(b))
	req := nameEmailRequest
	req.Scopes = []string{"watch:name.*"}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r, err := br.RequestAccess(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		g, err := o.Grant(ctx, r.GetRequestId(), owner.Grant{})
		if err != nil {
			b.Fatal(err)
		}
		sctx, cancel := context.WithCancel(ctx)
		s, err := br.Watch(sctx, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			b.Fatalf("revocation %d: first event: %v", i, err)
		}
		b.StartTimer()
		if _, err := o.Revoke(ctx, g.GetConsent().GetConsentId()); err != nil {
			b.Fatal(err)
		}
		returned := time.Now()
		_, err = s.Recv()
		lat = append(lat, time.Since(returned))
		cancel()
		if status.Code(err) != codes.PermissionDenied {
			b.Fatalf("stream ended with %v, want PERMISSION_DENIED", err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "median-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}
