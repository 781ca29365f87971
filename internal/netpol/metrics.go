package netpol

import "github.com/prometheus/client_golang/prometheus"

// metrics are the enforcer's Prometheus metrics.
type metrics struct {
	syncDuration prometheus.Histogram
	syncErrors   prometheus.Counter
	isolated     *prometheus.GaugeVec
	policies     prometheus.Gauge
	dropped      prometheus.CounterFunc // set by New: it reads the table
}

func newMetrics() *metrics {
	return &metrics{
		syncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "skiff_netpol_sync_duration_seconds",
			Help:    "Time to compute and write the NetworkPolicy nftables table.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		syncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "skiff_netpol_sync_errors_total",
			Help: "Failed writes of the NetworkPolicy nftables table.",
		}),
		isolated: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "skiff_netpol_isolated_pods",
			Help: "Local pods isolated by at least one NetworkPolicy, by direction (ingress, egress).",
		}, []string{"direction"}),
		policies: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "skiff_netpol_policies",
			Help: "NetworkPolicies known to the enforcer (all namespaces).",
		}),
	}
}

// register adds the metrics to r.
func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.syncDuration, m.syncErrors, m.isolated, m.policies, m.dropped} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
