// Package registry owns the table of built-in API resources: their names,
// scope, discovery data, storage keys and the per-kind behaviour (what is spec,
// what is status, which fields can be selected) the API server applies to
// every request. Defaulting, validation and table printing live in the
// subpackages defaults, validation and printers.
package registry

import (
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// Scheme knows every built-in type; it is client-go's, which registers all
// groups served here.
var Scheme = scheme.Scheme

// Resource describes one served group/version/resource.
type Resource struct {
	Group, Version, Name string // Name is the plural resource name
	Kind                 string
	Singular             string
	ShortNames           []string
	Categories           []string
	Namespaced           bool
	// Verbs lists the verbs of the main resource, in discovery order.
	Verbs []string
	// StoragePrefix is the etcd key prefix under /registry (upstream's layout).
	StoragePrefix string
	// Status is true when the resource has a status subresource.
	Status bool
	// Scale is true when the resource has a scale subresource.
	Scale bool
	// Generation is true when metadata.generation tracks spec changes.
	Generation bool
	// KeepStatusOnCreate is true for kinds whose status a creator may set.
	KeepStatusOnCreate bool
	// Fields lists the field selector labels beyond metadata.name/namespace.
	Fields []string
	// ExtraSubresources are served subresources other than status and scale
	// (discovery only lists what is implemented).
	ExtraSubresources []Subresource
	// Strategy is behaviour supplied outside this table: the
	// CustomResourceDefinition kind and custom resources set it.
	Strategy *Strategy
}

// Subresource is a subresource other than status/scale, for discovery.
type Subresource struct {
	Name  string
	Kind  string
	Group string // group of Kind, "" for core
	Verbs []string
}

// GVR returns the resource's GroupVersionResource.
func (r *Resource) GVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: r.Group, Version: r.Version, Resource: r.Name}
}

// GVK returns the GroupVersionKind of the resource's objects.
func (r *Resource) GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
}

// GroupResource returns the group and resource, as used in error messages.
func (r *Resource) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.Group, Resource: r.Name}
}

// New returns a new empty object of the resource's kind.
func (r *Resource) New() runtime.Object {
	if r.IsCustom() {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(r.GVK())
		return u
	}
	obj, err := Scheme.New(r.GVK())
	if err != nil {
		panic("registry: kind not registered in scheme: " + r.GVK().String())
	}
	return obj
}

// NewList returns a new empty list of the resource's kind.
func (r *Resource) NewList() runtime.Object {
	if r.IsCustom() {
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(r.GVK().GroupVersion().WithKind(r.Kind + "List"))
		return l
	}
	obj, err := Scheme.New(r.GVK().GroupVersion().WithKind(r.Kind + "List"))
	if err != nil {
		panic("registry: list kind not registered in scheme: " + r.GVK().String())
	}
	return obj
}

// APIPath returns "/api/v1" for core and "/apis/<group>/<version>" otherwise.
func (r *Resource) APIPath() string {
	if r.Group == "" {
		return "/api/" + r.Version
	}
	return "/apis/" + r.Group + "/" + r.Version
}

var (
	verbsAll       = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	verbsNamespace = []string{"create", "delete", "get", "list", "patch", "update", "watch"}
	podFields      = []string{"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"}
	eventFields    = []string{"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}
	newEventFields = []string{"regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "regarding.apiVersion", "regarding.resourceVersion", "regarding.fieldPath", "reason", "reportingController", "type"}
)

// builtin is the table of every served resource.
var builtin = []*Resource{
	// core/v1
	{Name: "pods", Kind: "Pod", Singular: "pod", ShortNames: []string{"po"}, Categories: []string{"all"}, Namespaced: true, StoragePrefix: "pods", Status: true, Generation: true, Fields: podFields,
		ExtraSubresources: []Subresource{{Name: "binding", Kind: "Binding", Verbs: []string{"create"}}, {Name: "eviction", Group: "policy", Kind: "Eviction", Verbs: []string{"create"}}}},
	{Name: "services", Kind: "Service", Singular: "service", ShortNames: []string{"svc"}, Categories: []string{"all"}, Namespaced: true, StoragePrefix: "services/specs", Status: true, Fields: []string{"spec.clusterIP", "spec.type"}},
	{Name: "endpoints", Kind: "Endpoints", Singular: "endpoints", ShortNames: []string{"ep"}, Namespaced: true, StoragePrefix: "services/endpoints"},
	{Name: "nodes", Kind: "Node", Singular: "node", ShortNames: []string{"no"}, StoragePrefix: "minions", Status: true, KeepStatusOnCreate: true, Fields: []string{"spec.unschedulable"}},
	{Name: "namespaces", Kind: "Namespace", Singular: "namespace", ShortNames: []string{"ns"}, Verbs: verbsNamespace, StoragePrefix: "namespaces", Status: true, Fields: []string{"status.phase"},
		ExtraSubresources: []Subresource{{Name: "finalize", Kind: "Namespace", Verbs: []string{"update"}}}},
	{Name: "configmaps", Kind: "ConfigMap", Singular: "configmap", ShortNames: []string{"cm"}, Namespaced: true, StoragePrefix: "configmaps"},
	{Name: "secrets", Kind: "Secret", Singular: "secret", Namespaced: true, StoragePrefix: "secrets", Fields: []string{"type"}},
	{Name: "serviceaccounts", Kind: "ServiceAccount", Singular: "serviceaccount", ShortNames: []string{"sa"}, Namespaced: true, StoragePrefix: "serviceaccounts",
		ExtraSubresources: []Subresource{{Name: "token", Group: "authentication.k8s.io", Kind: "TokenRequest", Verbs: []string{"create"}}}},
	{Name: "persistentvolumes", Kind: "PersistentVolume", Singular: "persistentvolume", ShortNames: []string{"pv"}, StoragePrefix: "persistentvolumes", Status: true, Fields: []string{"name"}},
	{Name: "persistentvolumeclaims", Kind: "PersistentVolumeClaim", Singular: "persistentvolumeclaim", ShortNames: []string{"pvc"}, Namespaced: true, StoragePrefix: "persistentvolumeclaims", Status: true, Fields: []string{"name"}},
	{Name: "events", Kind: "Event", Singular: "event", ShortNames: []string{"ev"}, Namespaced: true, StoragePrefix: "events", KeepStatusOnCreate: true, Fields: eventFields},
	{Name: "limitranges", Kind: "LimitRange", Singular: "limitrange", ShortNames: []string{"limits"}, Namespaced: true, StoragePrefix: "limitranges"},
	{Name: "resourcequotas", Kind: "ResourceQuota", Singular: "resourcequota", ShortNames: []string{"quota"}, Namespaced: true, StoragePrefix: "resourcequotas", Status: true},
	{Name: "replicationcontrollers", Kind: "ReplicationController", Singular: "replicationcontroller", ShortNames: []string{"rc"}, Categories: []string{"all"}, Namespaced: true, StoragePrefix: "controllers", Status: true, Scale: true, Generation: true, Fields: []string{"status.replicas"}},
	{Name: "podtemplates", Kind: "PodTemplate", Singular: "podtemplate", Namespaced: true, StoragePrefix: "podtemplates"},
	// apps/v1
	{Group: "apps", Name: "deployments", Kind: "Deployment", Singular: "deployment", ShortNames: []string{"deploy"}, Categories: []string{"all"}, Namespaced: true, StoragePrefix: "deployments", Status: true, Scale: true, Generation: true},
	{Group: "apps", Name: "replicasets", Kind: "ReplicaSet", Singular: "replicaset", ShortNames: []string{"rs"}, Categories: []string{"all"}, Namespaced: true, StoragePrefix: "replicasets", Status: true, Scale: true, Generation: true, Fields: []string{"status.replicas"}},
	{Group: "apps", Name: "statefulsets", Kind: "StatefulSet", Singular: "statefulset", ShortNames: []string{"sts"}, Categories: []string{"all"}, Namespaced: true, StoragePrefix: "statefulsets", Status: true, Scale: true, Generation: true},
	{Group: "apps", Name: "daemonsets", Kind: "DaemonSet", Singular: "daemonset", ShortNames: []string{"ds"}, Categories: []string{"all"}, Namespaced: true, StoragePrefix: "daemonsets", Status: true, Generation: true},
	{Group: "apps", Name: "controllerrevisions", Kind: "ControllerRevision", Singular: "controllerrevision", Namespaced: true, StoragePrefix: "controllerrevisions"},
	// batch/v1
	{Group: "batch", Name: "jobs", Kind: "Job", Singular: "job", Categories: []string{"all"}, Namespaced: true, StoragePrefix: "jobs", Status: true, Generation: true, Fields: []string{"status.successful"}},
	{Group: "batch", Name: "cronjobs", Kind: "CronJob", Singular: "cronjob", ShortNames: []string{"cj"}, Categories: []string{"all"}, Namespaced: true, StoragePrefix: "cronjobs", Status: true, Generation: true},
	// networking.k8s.io/v1
	{Group: "networking.k8s.io", Name: "ingresses", Kind: "Ingress", Singular: "ingress", ShortNames: []string{"ing"}, Namespaced: true, StoragePrefix: "ingress", Status: true, Generation: true},
	{Group: "networking.k8s.io", Name: "ingressclasses", Kind: "IngressClass", Singular: "ingressclass", StoragePrefix: "ingressclasses", Generation: true},
	{Group: "networking.k8s.io", Name: "networkpolicies", Kind: "NetworkPolicy", Singular: "networkpolicy", ShortNames: []string{"netpol"}, Namespaced: true, StoragePrefix: "networkpolicies", Generation: true},
	// discovery.k8s.io/v1
	{Group: "discovery.k8s.io", Name: "endpointslices", Kind: "EndpointSlice", Singular: "endpointslice", Namespaced: true, StoragePrefix: "endpointslices"},
	// coordination.k8s.io/v1
	{Group: "coordination.k8s.io", Name: "leases", Kind: "Lease", Singular: "lease", Namespaced: true, StoragePrefix: "leases"},
	// autoscaling
	{Group: "autoscaling", Version: "v2", Name: "horizontalpodautoscalers", Kind: "HorizontalPodAutoscaler", Singular: "horizontalpodautoscaler", ShortNames: []string{"hpa"}, Categories: []string{"all"}, Namespaced: true, StoragePrefix: "horizontalpodautoscalers", Status: true, Generation: true},
	{Group: "autoscaling", Version: "v1", Name: "horizontalpodautoscalers", Kind: "HorizontalPodAutoscaler", Singular: "horizontalpodautoscaler", ShortNames: []string{"hpa"}, Categories: []string{"all"}, Namespaced: true, StoragePrefix: "horizontalpodautoscalers", Status: true, Generation: true},
	// rbac.authorization.k8s.io/v1
	{Group: "rbac.authorization.k8s.io", Name: "roles", Kind: "Role", Singular: "role", Namespaced: true, StoragePrefix: "roles"},
	{Group: "rbac.authorization.k8s.io", Name: "rolebindings", Kind: "RoleBinding", Singular: "rolebinding", Namespaced: true, StoragePrefix: "rolebindings"},
	{Group: "rbac.authorization.k8s.io", Name: "clusterroles", Kind: "ClusterRole", Singular: "clusterrole", StoragePrefix: "clusterroles"},
	{Group: "rbac.authorization.k8s.io", Name: "clusterrolebindings", Kind: "ClusterRoleBinding", Singular: "clusterrolebinding", StoragePrefix: "clusterrolebindings"},
	// storage.k8s.io/v1
	{Group: "storage.k8s.io", Name: "storageclasses", Kind: "StorageClass", Singular: "storageclass", ShortNames: []string{"sc"}, StoragePrefix: "storageclasses"},
	// policy/v1
	{Group: "policy", Name: "poddisruptionbudgets", Kind: "PodDisruptionBudget", Singular: "poddisruptionbudget", ShortNames: []string{"pdb"}, Namespaced: true, StoragePrefix: "poddisruptionbudgets", Status: true, Generation: true},
	// events.k8s.io/v1
	{Group: "events.k8s.io", Name: "events", Kind: "Event", Singular: "event", ShortNames: []string{"ev"}, Namespaced: true, StoragePrefix: "events", KeepStatusOnCreate: true, Fields: newEventFields},
	// scheduling.k8s.io/v1
	{Group: "scheduling.k8s.io", Name: "priorityclasses", Kind: "PriorityClass", Singular: "priorityclass", ShortNames: []string{"pc"}, StoragePrefix: "priorityclasses"},
	// admissionregistration.k8s.io/v1
	{Group: "admissionregistration.k8s.io", Name: "validatingwebhookconfigurations", Kind: "ValidatingWebhookConfiguration", Singular: "validatingwebhookconfiguration", Categories: []string{"api-extensions"}, StoragePrefix: "validatingwebhookconfigurations", Generation: true},
	{Group: "admissionregistration.k8s.io", Name: "mutatingwebhookconfigurations", Kind: "MutatingWebhookConfiguration", Singular: "mutatingwebhookconfiguration", Categories: []string{"api-extensions"}, StoragePrefix: "mutatingwebhookconfigurations", Generation: true},
	// certificates.k8s.io/v1
	{Group: "certificates.k8s.io", Name: "certificatesigningrequests", Kind: "CertificateSigningRequest", Singular: "certificatesigningrequest", ShortNames: []string{"csr"}, StoragePrefix: "certificatesigningrequests", Status: true, Fields: []string{"spec.signerName"},
		ExtraSubresources: []Subresource{{Name: "approval", Group: "certificates.k8s.io", Kind: "CertificateSigningRequest", Verbs: []string{"get", "patch", "update"}}}},
}

func init() {
	for _, r := range builtin {
		if r.Version == "" {
			r.Version = "v1"
		}
		if r.Verbs == nil {
			r.Verbs = verbsAll
		}
	}
}

// All returns every served resource, in a stable order: the built-in
// ones, then the custom resources currently served.
func All() []*Resource {
	custom := customResources()
	if len(custom) == 0 {
		return builtin
	}
	out := make([]*Resource, 0, len(builtin)+len(custom))
	return append(append(out, builtin...), custom...)
}

// GroupVersions returns the served group versions: core first, then groups
// in the order upstream lists them in discovery, preferred version first.
func GroupVersions() []schema.GroupVersion {
	seen := map[schema.GroupVersion]bool{}
	var out []schema.GroupVersion
	for _, r := range All() {
		gv := schema.GroupVersion{Group: r.Group, Version: r.Version}
		if !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	return out
}

// Lookup finds the resource of a group/version by its plural name.
func Lookup(group, version, name string) *Resource {
	for _, r := range builtin {
		if r.Group == group && r.Version == version && r.Name == name {
			return r
		}
	}
	for _, r := range customResources() {
		if r.Group == group && r.Version == version && r.Name == name {
			return r
		}
	}
	return nil
}

// ForGroupVersion lists the resources of one group version sorted by name.
func ForGroupVersion(gv schema.GroupVersion) []*Resource {
	var out []*Resource
	for _, r := range All() {
		if r.Group == gv.Group && r.Version == gv.Version {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
