package openapi

import (
	"reflect"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// fallbackDocs describes the few API types that have no SwaggerDoc method
// (their documentation upstream comes from Go comments, which are gone at
// run time). Key "" is the type, other keys are JSON field names.
var fallbackDocs = map[reflect.Type]map[string]string{
	reflect.TypeFor[resource.Quantity](): {
		"": "Quantity is a fixed-point number serialized as a string, such as \"100m\", \"1Gi\", \"2.5\" or \"1e3\": " +
			"a decimal number followed by an optional binary SI suffix (Ki, Mi, Gi, Ti, Pi, Ei), decimal SI suffix " +
			"(n, u, m, \"\", k, M, G, T, P, E) or decimal exponent (e or E and an integer).",
	},
	reflect.TypeFor[intstr.IntOrString](): {
		"": "IntOrString holds either an int32 or a string and serializes as the JSON number or string it holds.",
	},
	reflect.TypeFor[metav1.Time](): {
		"": "Time is a timestamp serialized as an RFC 3339 string with second precision, e.g. \"2006-01-02T15:04:05Z\".",
	},
	reflect.TypeFor[metav1.MicroTime](): {
		"": "MicroTime is a timestamp serialized as an RFC 3339 string with microsecond precision.",
	},
	reflect.TypeFor[metav1.Duration](): {
		"": "Duration is a length of time serialized as a Go duration string such as \"1h2m3s\".",
	},
	reflect.TypeFor[runtime.RawExtension](): {
		"": "RawExtension holds an embedded object in its serialized form; its fields depend on the kind of the object it holds.",
	},
	reflect.TypeFor[metav1.WatchEvent](): {
		"":       "WatchEvent is one notification of a watch stream.",
		"type":   "The kind of change: ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.",
		"object": "The object concerned: its new state for ADDED and MODIFIED, its last state for DELETED, an object carrying only the resourceVersion for BOOKMARK, and a Status describing the failure for ERROR.",
	},
}
