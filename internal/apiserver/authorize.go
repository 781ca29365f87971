package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/bootstraptoken"
	"skiff/internal/registry"
	"skiff/internal/storage"
)

// Identities the authorizer knows.
const (
	nodeUserPrefix = "system:node:"
	// NodesGroup is the group of every node's client certificate.
	NodesGroup = "system:nodes"
)

// authorize decides whether the request's user may do it. Nodes get
// upstream's node authorization (a node reads only the Secrets,
// ConfigMaps and claims its own pods use, and writes only its own Node,
// Lease and pods' status); bootstrap token users may only ask for a
// certificate; anonymous users may only read cluster-info. Everyone else
// is allowed everything until RBAC lands.
func (s *Server) authorize(q *request) error {
	u := UserFrom(q.r.Context())
	switch {
	case slices.Contains(u.Groups, "system:masters"):
		return nil
	case slices.Contains(u.Groups, NodesGroup) && strings.HasPrefix(u.Name, nodeUserPrefix):
		return s.authorizeNode(q, u, strings.TrimPrefix(u.Name, nodeUserPrefix))
	case slices.Contains(u.Groups, bootstraptoken.Group):
		if q.res.Group == "certificates.k8s.io" && q.res.Name == "certificatesigningrequests" && q.subresource == "" &&
			slices.Contains([]string{"create", "get", "list", "watch"}, q.verb) {
			return nil
		}
		if q.isClusterInfoRead() {
			return nil
		}
		return forbidden(q, u, "")
	case u.Name == "system:anonymous":
		if q.isClusterInfoRead() {
			return nil
		}
		return forbidden(q, u, "")
	}
	return nil
}

func (q *request) isClusterInfoRead() bool {
	return q.res.Group == "" && q.res.Name == "configmaps" && q.namespace == bootstraptoken.ClusterInfoNamespace &&
		q.name == bootstraptoken.ClusterInfoName && q.verb == "get" && q.subresource == ""
}

// forbidden is upstream's 403 for an authorization denial.
func forbidden(q *request, u User, reason string) error {
	res := q.res.Name
	if q.subresource != "" {
		res += "/" + q.subresource
	}
	msg := fmt.Sprintf("User %q cannot %s resource %q in API group %q", u.Name, q.verb, res, q.res.Group)
	if q.namespace != "" {
		msg += fmt.Sprintf(" in the namespace %q", q.namespace)
	} else {
		msg += " at the cluster scope"
	}
	if reason != "" {
		msg += ": " + reason
	}
	return apierrors.NewForbidden(q.gr(), q.name, errors.New(msg))
}

// nodeReadable are what every node may read, as upstream's system:node
// role allows.
var nodeReadable = map[string]bool{
	"/services": true, "/endpoints": true, "/namespaces": true,
	"discovery.k8s.io/endpointslices": true, "node.k8s.io/runtimeclasses": true,
	"storage.k8s.io/csidrivers": true, "storage.k8s.io/csinodes": true, "storage.k8s.io/storageclasses": true,
	"storage.k8s.io/volumeattachments": true, "networking.k8s.io/ingresses": true, "networking.k8s.io/networkpolicies": true,
	"networking.k8s.io/ingressclasses": true,
}

func (s *Server) authorizeNode(q *request, u User, node string) error {
	gr := q.res.Group + "/" + q.res.Name
	read := q.verb == "get" || q.verb == "list" || q.verb == "watch"
	ctx := q.r.Context()
	switch gr {
	case "/secrets", "/configmaps", "/persistentvolumeclaims", "/persistentvolumes":
		name := q.name
		if !read || q.subresource != "" {
			return forbidden(q, u, "")
		}
		if q.verb != "get" {
			// A single-object list or watch (how kubelets watch what they mount).
			sel, err := fields.ParseSelector(q.r.URL.Query().Get("fieldSelector"))
			v, ok := "", false
			if err == nil {
				v, ok = sel.RequiresExactMatch("metadata.name")
			}
			// The ingress router on every node serves the certificates of
			// TLS Secrets (and only those, filtered by the server).
			if t, tls := sel.RequiresExactMatch("type"); err == nil && !ok && gr == "/secrets" && tls && t == string(corev1.SecretTypeTLS) {
				return nil
			}
			if !ok || q.namespace == "" && gr != "/persistentvolumes" {
				return forbidden(q, u, "can only read resources related to this node")
			}
			name = v
		}
		related, err := s.nodeUses(ctx, node, gr, q.namespace, name)
		if err != nil {
			return err
		}
		if !related {
			return forbidden(q, u, fmt.Sprintf("no relationship found between node '%s' and this object", node))
		}
		return nil
	case "/serviceaccounts":
		if q.subresource == "token" && q.verb == "create" {
			related, err := s.nodeUses(ctx, node, gr, q.namespace, q.name)
			if err != nil {
				return err
			}
			if related {
				return nil
			}
			return forbidden(q, u, fmt.Sprintf("no relationship found between node '%s' and this object", node))
		}
		return forbidden(q, u, "")
	case "/events", "events.k8s.io/events":
		return nil
	case "/nodes":
		if read && q.subresource == "" {
			return nil
		}
		if q.name == node && (q.subresource == "" || q.subresource == "status") {
			return nil // its own Node; creating it carries its name in the body (checked by admission)
		}
		if q.verb == "create" && q.subresource == "" {
			return nil
		}
		return forbidden(q, u, fmt.Sprintf("node '%s' cannot modify node '%s'", node, q.name))
	case "/pods":
		if read && q.subresource == "" {
			return nil
		}
		switch {
		case q.verb == "delete" && q.subresource == "", q.subresource == "status" && (q.verb == "update" || q.verb == "patch"):
			pod, err := s.storedPod(ctx, q.namespace, q.name)
			if err != nil {
				return err
			}
			if pod.Spec.NodeName == node {
				return nil
			}
			return forbidden(q, u, fmt.Sprintf("node '%s' can only modify pods bound to it", node))
		case q.subresource == "eviction" && q.verb == "create":
			return nil
		}
		return forbidden(q, u, "")
	case "coordination.k8s.io/leases":
		if read || q.namespace == corev1.NamespaceNodeLease && (q.name == node || q.verb == "create") {
			return nil
		}
		return forbidden(q, u, "")
	case "certificates.k8s.io/certificatesigningrequests":
		if q.subresource == "" && (read || q.verb == "create") {
			return nil
		}
		return forbidden(q, u, "")
	}
	if read && nodeReadable[gr] && q.subresource == "" {
		return nil
	}
	return forbidden(q, u, "")
}

func (s *Server) storedPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	return storedObject[*corev1.Pod](ctx, s, "pods", ns, name)
}

// storedObject reads one object of a core/v1 resource from the store.
func storedObject[T runtime.Object](ctx context.Context, s *Server, resource, ns, name string) (T, error) {
	var zero T
	res := registry.Lookup("", "v1", resource)
	obj, err := s.store.Get(ctx, storageKey(res, ns, name))
	if err != nil {
		return zero, toStatusError(err, res.GroupResource(), name)
	}
	out, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("stored %s %s/%s is a %T", resource, ns, name, obj)
	}
	return out, nil
}

// nodeUses says whether a pod bound to node refers to the object: a
// Secret, ConfigMap, claim or service account in namespace ns, or a
// PersistentVolume bound to a claim one of them uses.
func (s *Server) nodeUses(ctx context.Context, node, gr, ns, name string) (bool, error) {
	podRes := registry.Lookup("", "v1", "pods")
	prefix := storagePrefix(podRes, ns)
	if gr == "/persistentvolumes" {
		prefix = storagePrefix(podRes, "")
	}
	list, err := s.store.List(ctx, prefix, storage.ListOptions{Filter: func(o runtime.Object) bool {
		p, ok := o.(*corev1.Pod)
		return ok && p.Spec.NodeName == node
	}})
	if err != nil {
		return false, toStatusError(err, podRes.GroupResource(), "")
	}
	for _, o := range list.Items {
		pod := o.(*corev1.Pod)
		refs := podReferences(pod)
		switch gr {
		case "/secrets":
			if refs.secrets[name] {
				return true, nil
			}
		case "/configmaps":
			if refs.configMaps[name] {
				return true, nil
			}
		case "/persistentvolumeclaims":
			if refs.claims[name] {
				return true, nil
			}
		case "/serviceaccounts":
			if pod.Spec.ServiceAccountName == name {
				return true, nil
			}
		case "/persistentvolumes":
			for claim := range refs.claims {
				if s.claimBoundTo(ctx, pod.Namespace, claim, name) {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

func (s *Server) claimBoundTo(ctx context.Context, ns, claim, pv string) bool {
	pvc, err := storedObject[*corev1.PersistentVolumeClaim](ctx, s, "persistentvolumeclaims", ns, claim)
	return err == nil && pvc.Spec.VolumeName == pv
}

type podRefs struct{ secrets, configMaps, claims map[string]bool }

// podReferences collects the Secrets, ConfigMaps and claims a pod uses,
// in volumes, projections, env, envFrom and image pull secrets.
func podReferences(pod *corev1.Pod) podRefs {
	r := podRefs{secrets: map[string]bool{}, configMaps: map[string]bool{}, claims: map[string]bool{}}
	for _, s := range pod.Spec.ImagePullSecrets {
		r.secrets[s.Name] = true
	}
	for _, v := range pod.Spec.Volumes {
		src := v.VolumeSource
		switch {
		case src.Secret != nil:
			r.secrets[src.Secret.SecretName] = true
		case src.ConfigMap != nil:
			r.configMaps[src.ConfigMap.Name] = true
		case src.PersistentVolumeClaim != nil:
			r.claims[src.PersistentVolumeClaim.ClaimName] = true
		case src.Ephemeral != nil:
			r.claims[pod.Name+"-"+v.Name] = true
		case src.Projected != nil:
			for _, p := range src.Projected.Sources {
				if p.Secret != nil {
					r.secrets[p.Secret.Name] = true
				}
				if p.ConfigMap != nil {
					r.configMaps[p.ConfigMap.Name] = true
				}
			}
		}
	}
	containers := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range containers {
		for _, f := range c.EnvFrom {
			if f.SecretRef != nil {
				r.secrets[f.SecretRef.Name] = true
			}
			if f.ConfigMapRef != nil {
				r.configMaps[f.ConfigMapRef.Name] = true
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if k := e.ValueFrom.SecretKeyRef; k != nil {
				r.secrets[k.Name] = true
			}
			if k := e.ValueFrom.ConfigMapKeyRef; k != nil {
				r.configMaps[k.Name] = true
			}
		}
	}
	return r
}

// adminsOnly serves h to cluster admins (system:masters) and answers
// everyone else with upstream's 403 for a path no role grants.
func (s *Server) adminsOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := UserFrom(r.Context())
		if !slices.Contains(u.Groups, "system:masters") {
			err := apierrors.NewForbidden(schema.GroupResource{}, "", fmt.Errorf("User %q cannot %s path %q", u.Name, strings.ToLower(r.Method), r.URL.Path))
			s.writeError(w, r, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}
