// Package metrics holds vaultd's Prometheus metrics: calls by method and
// status code, call latency, open streams, vaults and store size. Labels
// never carry a vault id, a key or any personal data: a host of a million
// vaults must not make a million series, and metrics leave the host.
package metrics

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one process's set of metrics, on its own registry.
type Metrics struct {
	reg      *prometheus.Registry
	calls    *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	streams  prometheus.GaugeFunc
	vaults   prometheus.Gauge
	size     prometheus.Gauge
	openFunc atomic.Pointer[func() int]
}

// New returns the metrics, registered with Go runtime and process
// collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "vrmvault", Name: "calls_total",
		Help: "gRPC calls served, by full method name and status code.",
	}, []string{"method", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "vrmvault", Name: "call_duration_seconds",
		Help:    "Duration of gRPC calls (unary) and of streams, by full method name.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 60, 600},
	}, []string{"method"})
	m.streams = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "vrmvault", Name: "open_streams",
		Help: "Watch streams open now.",
	}, func() float64 {
		if f := m.openFunc.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	m.vaults = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "vrmvault", Name: "vaults",
		Help: "Vaults on this host, as last counted.",
	})
	m.size = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "vrmvault", Name: "store_size_bytes",
		Help: "Bytes on disk of the data store (LSM tree and value log), as last measured.",
	})
	m.reg.MustRegister(m.calls, m.latency, m.streams, m.vaults, m.size,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveCall records one finished call.
func (m *Metrics) ObserveCall(method, code string, d time.Duration) {
	m.calls.WithLabelValues(method, code).Inc()
	m.latency.WithLabelValues(method).Observe(d.Seconds())
}

// OpenStreams sets the function that counts open streams.
func (m *Metrics) OpenStreams(f func() int) { m.openFunc.Store(&f) }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Gauges reports the slow-moving figures: the number of vaults and the
// store's size.
type Gauges interface {
	// CountVaults returns the number of vaults.
	CountVaults(ctx context.Context) (int64, error)
	// StoreSize returns the store's size on disk in bytes.
	StoreSize() int64
}

// Refresh updates the vault count and store size every interval until
// ctx ends (counting a million vaults is not free: keep it to minutes).
func (m *Metrics) Refresh(ctx context.Context, g Gauges, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := g.CountVaults(ctx); err == nil {
			m.vaults.Set(float64(n))
		}
		m.size.Set(float64(g.StoreSize()))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
