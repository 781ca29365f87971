// Package validation owns the semantic validation of built-in API objects for
// the skiff API server: the checks the server runs on create, on update of the
// main resource and on update through the status subresource, after defaulting
// and before persisting.
//
// Objects are the versioned k8s.io/api types (for example *corev1.Pod). The
// rules, field paths and messages follow upstream Kubernetes so that clients
// such as kubectl see familiar errors; the code is our own. Every failure is
// reported as a field.Error whose Field is the JSON path of the offending
// value, which the server turns into the causes of a 422 Invalid Status.
//
// Scope is taken from the kind, so callers only pass objects. Kinds this
// package does not know only get generic metadata checks.
package validation
