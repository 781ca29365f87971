// Package defaults owns API defaulting for skiff's built-in kinds: the fields
// an upstream Kubernetes API server fills in when it decodes a request body
// (its SetDefaults_* functions and the declarative +default markers of
// k8s.io/api), so that objects read back from skiff look the same as objects
// read back from upstream.
//
// It deliberately stops where upstream defaulting stops. Fields that upstream
// fills in later in the request (registry strategies such as a Pod's
// status.phase and qosClass, admission plugins such as a Pod's
// serviceAccountName, tolerations, priority and preemptionPolicy, and the
// Service IP allocator's clusterIP(s), ipFamilies and ipFamilyPolicy) are not
// set here. The one exception is the "kubernetes" namespace finalizer, which
// upstream adds in the namespace strategy; see namespace.
//
// Defaulting targets the behaviour of the Kubernetes release that matches the
// vendored k8s.io/api module, with that release's default feature gates.
package defaults
