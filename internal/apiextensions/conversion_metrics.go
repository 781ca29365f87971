package apiextensions

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Failure types of a conversion webhook call, upstream's label values.
const (
	webhookCallFailure              = "conversion_webhook_call_failure"
	webhookMalformedResponseFailure = "conversion_webhook_malformed_response_failure"
	webhookPartialResponseFailure   = "conversion_webhook_partial_response_failure"
	webhookInvalidObjectFailure     = "conversion_webhook_invalid_converted_object_failure"
)

// conversionMetrics are upstream's conversion webhook metrics.
type conversionMetrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	crdDuration *prometheus.HistogramVec
}

func newConversionMetrics() *conversionMetrics {
	buckets := []float64{0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30}
	return &conversionMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_conversion_webhook_request_total",
			Help: "Counter for conversion webhook requests with success/failure and failure error type",
		}, []string{"result", "failure_type"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "apiserver_conversion_webhook_duration_seconds", Help: "Conversion webhook request latency", Buckets: buckets,
		}, []string{"result", "failure_type"}),
		crdDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "apiserver_crd_conversion_webhook_duration_seconds", Help: "CRD webhook conversion duration in seconds", Buckets: buckets,
		}, []string{"crd_name", "from_version", "to_version", "succeeded"}),
	}
}

// RegisterMetrics registers the controller's metrics (conversion webhook
// calls) with reg.
func (c *Controller) RegisterMetrics(reg prometheus.Registerer) error {
	for _, col := range []prometheus.Collector{c.metrics.requests, c.metrics.duration, c.metrics.crdDuration} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}

// observe records one webhook call of crd's objects from one version to
// another; failure is empty when it succeeded.
func (m *conversionMetrics) observe(crd, from, to string, began time.Time, failure string) {
	if m == nil {
		return
	}
	d := time.Since(began).Seconds()
	result := "success"
	if failure != "" {
		result = "failure"
	}
	m.requests.WithLabelValues(result, failure).Inc()
	m.duration.WithLabelValues(result, failure).Observe(d)
	m.crdDuration.WithLabelValues(crd, from, to, strconv.FormatBool(failure == "")).Observe(d)
}
