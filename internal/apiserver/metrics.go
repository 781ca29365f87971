package apiserver

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API server's Prometheus metrics, named as upstream's so
// that existing dashboards work.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inflight *prometheus.GaugeVec
	watchers *prometheus.GaugeVec
	rejected *prometheus.CounterVec
	// initialEvents counts watches that began by sending the current state
	// (list-like work, as a watch-list or an unversioned watch does).
	initialEvents *prometheus.CounterVec
	// listChunks counts compressed list chunks reused and compressed.
	listChunks *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "Counter of apiserver requests broken out for each verb, group, version, resource, subresource, scope and HTTP response code.",
		}, []string{"verb", "group", "version", "resource", "subresource", "scope", "component", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "Response latency distribution in seconds for each verb, group, version, resource, subresource and scope.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60},
		}, []string{"verb", "group", "version", "resource", "subresource", "scope", "component"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiserver_current_inflight_requests",
			Help: "Maximal number of currently used inflight request limit of this apiserver per request kind in last second.",
		}, []string{"request_kind"}),
		watchers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiserver_longrunning_requests",
			Help: "Gauge of all active long-running apiserver requests (watches) broken out by group, version and resource.",
		}, []string{"group", "version", "resource"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_dropped_requests_total",
			Help: "Number of requests refused with 429 because the inflight limit was reached, by request kind.",
		}, []string{"request_kind"}),
		initialEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_apiserver_watch_initial_events_total",
			Help: "Watches that started by sending the current state of the collection, by group and resource.",
		}, []string{"group", "resource"}),
		listChunks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_apiserver_list_gzip_chunks_total",
			Help: "Chunks of gzip-compressed lists, by whether a kept compressed chunk was reused (hit) or the chunk was compressed (miss).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.requests, m.latency, m.inflight, m.watchers, m.rejected, m.initialEvents, m.listChunks)
	return m
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument counts and times a resource request.
func (s *Server) instrument(q *request, serve func()) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: q.w}
	q.w = rec
	kind := "readOnly"
	switch q.verb {
	case "create", "update", "patch", "delete", "deletecollection":
		kind = "mutating"
	}
	long := q.verb == "watch"
	if !long {
		slots := s.readOnly
		if kind == "mutating" {
			slots = s.mutating
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			s.metrics.inflight.WithLabelValues(kind).Inc()
			defer s.metrics.inflight.WithLabelValues(kind).Dec()
			serve()
		default:
			// Overloaded: refuse at once, and say when to come back.
			s.metrics.rejected.WithLabelValues(kind).Inc()
			s.writeError(q.w, q.r, tooManyRequests())
		}
	} else {
		serve()
	}
	scope := "cluster"
	switch {
	case q.name != "":
		scope = "resource"
	case q.namespace != "":
		scope = "namespace"
	}
	verb := map[string]string{"get": "GET", "list": "LIST", "watch": "WATCH", "create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETE"}[q.verb]
	code := rec.code
	if code == 0 {
		code = http.StatusOK
	}
	s.metrics.requests.WithLabelValues(verb, q.res.Group, q.res.Version, q.res.Name, q.subresource, scope, "apiserver", strconv.Itoa(code)).Inc()
	if !long {
		s.metrics.latency.WithLabelValues(verb, q.res.Group, q.res.Version, q.res.Name, q.subresource, scope, "apiserver").Observe(time.Since(start).Seconds())
	}
}
