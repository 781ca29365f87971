package ingress

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the router's Prometheus metrics.
type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	reloads        prometheus.Counter
	upstreamErrors *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_ingress_requests_total",
			Help: "HTTP requests served by the ingress router, by Ingress, namespace, service and status code.",
		}, []string{"ingress", "namespace", "service", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "skiff_ingress_request_duration_seconds",
			Help:    "Time from receiving a request to finishing its response (or upgraded connection), by Ingress, namespace and service.",
			Buckets: prometheus.DefBuckets,
		}, []string{"ingress", "namespace", "service"}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "skiff_ingress_config_reloads_total",
			Help: "Routing table rebuilds.",
		}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_ingress_upstream_errors_total",
			Help: "Requests that failed to reach a backend endpoint (connection refused, reset, timeout), by Ingress, namespace and service.",
		}, []string{"ingress", "namespace", "service"}),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	var errs []error
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.reloads, m.upstreamErrors} {
		errs = append(errs, r.Register(c))
	}
	return errors.Join(errs...)
}
