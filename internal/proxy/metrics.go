package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the proxy's Prometheus metrics, named like kube-proxy's with
// the skiff_proxy_ prefix.
type metrics struct {
	syncDuration        prometheus.Histogram
	syncFullDuration    prometheus.Histogram
	syncPartialDuration prometheus.Histogram
	lastSync            prometheus.Gauge
	objects             *prometheus.GaugeVec
	syncFailures        prometheus.Counter
	chainsWritten       prometheus.Gauge
	servicesWritten     prometheus.Gauge
	chainsWrittenTotal  prometheus.Counter
	serviceChanges      prometheus.Counter
	endpointChanges     prometheus.Counter
	programming         prometheus.Histogram
}

func newMetrics() *metrics {
	buckets := prometheus.ExponentialBuckets(0.001, 2, 15)
	return &metrics{
		syncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "skiff_proxy_sync_proxy_rules_duration_seconds", Buckets: buckets,
			Help: "SyncProxyRules latency in seconds (full and partial syncs).",
		}),
		syncFullDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "skiff_proxy_sync_full_proxy_rules_duration_seconds", Buckets: buckets,
			Help: "Latency in seconds of full resyncs of the proxy rules.",
		}),
		syncPartialDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "skiff_proxy_sync_partial_proxy_rules_duration_seconds", Buckets: buckets,
			Help: "Latency in seconds of partial (incremental) syncs of the proxy rules.",
		}),
		lastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "skiff_proxy_sync_proxy_rules_last_timestamp_seconds",
			Help: "The last time the proxy rules were successfully synced (unix seconds).",
		}),
		objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "skiff_proxy_sync_proxy_rules_nftables_objects",
			Help: "Number of nftables objects (chains, rules, sets, maps, elements) the proxy owns, by table.",
		}, []string{"table"}),
		syncFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "skiff_proxy_sync_proxy_rules_nftables_sync_failures_total",
			Help: "Number of failed nftables transactions.",
		}),
		chainsWritten: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "skiff_proxy_sync_proxy_rules_last_written_chains",
			Help: "Number of per-service chains (service-, local-, external-, endpoint-) the last sync created or rewrote.",
		}),
		servicesWritten: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "skiff_proxy_sync_proxy_rules_last_written_services",
			Help: "Number of Services whose chains the last sync created, rewrote or deleted.",
		}),
		chainsWrittenTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "skiff_proxy_sync_proxy_rules_written_chains_total",
			Help: "Cumulative number of per-service chains created or rewritten.",
		}),
		serviceChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "skiff_proxy_sync_proxy_rules_service_changes_total",
			Help: "Cumulative Service changes seen.",
		}),
		endpointChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "skiff_proxy_sync_proxy_rules_endpoint_changes_total",
			Help: "Cumulative EndpointSlice changes seen.",
		}),
		programming: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "skiff_proxy_network_programming_duration_seconds",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
			Help:    "Time from an endpoints change (endpoints.kubernetes.io/last-change-trigger-time) to its rules being programmed.",
		}),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{
		m.syncDuration, m.syncFullDuration, m.syncPartialDuration, m.lastSync, m.objects,
		m.syncFailures, m.chainsWritten, m.servicesWritten, m.chainsWrittenTotal,
		m.serviceChanges, m.endpointChanges, m.programming,
	} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
