// Package admission is the API server's admission chain: plugins that see
// every create, update and delete after it was decoded and before it is
// stored, and every connect (exec, attach, port-forward, proxy) before it
// is made, and may change (mutating phase) or refuse (validating phase) it.
//
// It follows k8s.io/apiserver/pkg/admission, which skiff does not import:
// a request first goes through the mutating plugins, then the object is
// validated (the registry's validation), then through the validating
// plugins, in upstream's recommended plugin order (see Order).
package admission

import (
	"context"
	"errors"
	"slices"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Operation is the kind of request being admitted.
type Operation string

// The operations, spelled like upstream's admission.Operation.
const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
	// Connect is a pods/exec, pods/attach, pods/portforward or proxy
	// request; its Object is the request's options (PodExecOptions, ...).
	Connect Operation = "CONNECT"
)

// UserInfo is the requesting user.
type UserInfo struct {
	Name   string
	Groups []string
}

// Attributes describe one request under admission.
type Attributes struct {
	Operation   Operation
	Resource    schema.GroupVersionResource
	Subresource string
	Namespace   string
	// Name is the object's name; for a create with generateName it is the
	// generated name, as upstream's validating admission sees it.
	Name string
	// Object is the new object (nil for DELETE, the connect options for
	// CONNECT) and OldObject the current one (UPDATE and DELETE), both in
	// the served version.
	Object, OldObject runtime.Object
	// Options are the request's options, as upstream's
	// GetOperationOptions: a meta.k8s.io/v1 CreateOptions, UpdateOptions or
	// DeleteOptions with its kind set; nil for CONNECT.
	Options runtime.Object
	User    UserInfo
	DryRun  bool

	mu          sync.Mutex
	warnings    []string
	annotations map[string]string
}

// AddWarning records a warning for the client (a "Warning: 299" header);
// duplicates are dropped, like upstream's warning recorder does.
func (a *Attributes) AddWarning(msg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !slices.Contains(a.warnings, msg) {
		a.warnings = append(a.warnings, msg)
	}
}

// Warnings returns the recorded warnings, in order.
func (a *Attributes) Warnings() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.warnings)
}

// AddAnnotation records an audit annotation (upstream's
// AddAnnotation); the first value for a key wins.
func (a *Attributes) AddAnnotation(key, value string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.annotations == nil {
		a.annotations = map[string]string{}
	}
	if _, ok := a.annotations[key]; !ok {
		a.annotations[key] = value
	}
}

// Annotations returns the recorded audit annotations.
func (a *Attributes) Annotations() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]string, len(a.annotations))
	for k, v := range a.annotations {
		out[k] = v
	}
	return out
}

// Lister lists the objects of a resource in a namespace ("" for all or
// cluster-scoped), as plugins that look at other objects need; the objects
// are shared and must not be changed.
type Lister func(ctx context.Context, gvr schema.GroupVersionResource, namespace string) ([]runtime.Object, error)

// Plugin is an admission plugin. It takes part in the mutating phase if it
// implements MutatingPlugin and in the validating phase if it implements
// ValidatingPlugin (it may do both).
type Plugin interface {
	Name() string
}

// MutatingPlugin may change the object before it is validated.
type MutatingPlugin interface {
	Plugin
	Admit(ctx context.Context, a *Attributes) error
}

// ValidatingPlugin may refuse the object after it was validated; it must
// not change it.
type ValidatingPlugin interface {
	Plugin
	Validate(ctx context.Context, a *Attributes) error
}

// Order is upstream's recommended order of the admission plugins
// (kube-apiserver's AllOrderedPlugins); a Chain runs its plugins in this
// order, whatever order they were given in. Skiff implements some of them
// (NamespaceLifecycle inline in the server, PodSecurity here); the others
// are listed so that new plugins fall into place.
var Order = []string{
	"AlwaysAdmit",
	"NamespaceAutoProvision",
	"NamespaceLifecycle",
	"NamespaceExists",
	"AlwaysPullImages",
	"LimitPodHardAntiAffinityTopology",
	"LimitRanger",
	"ServiceAccount",
	"NodeRestriction",
	"TaintNodesByCondition",
	"PodNodeSelector",
	"Priority",
	"DefaultTolerationSeconds",
	"PodTolerationRestriction",
	"EventRateLimit",
	"ExtendedResourceToleration",
	"PersistentVolumeLabel",
	"DefaultStorageClass",
	"StorageObjectInUseProtection",
	"OwnerReferencesPermissionEnforcement",
	"PersistentVolumeClaimResize",
	"RuntimeClass",
	"CertificateApproval",
	"CertificateSigning",
	"ClusterTrustBundleAttest",
	"CertificateSubjectRestriction",
	"DefaultIngressClass",
	"PodTopologyLabels",
	"DenyServiceExternalIPs",
	"PodSecurity",
	"MutatingAdmissionPolicy",
	"MutatingAdmissionWebhook",
	"ValidatingAdmissionPolicy",
	"ValidatingAdmissionWebhook",
	"ResourceQuota",
	"AlwaysDeny",
}

// Chain runs admission plugins in Order; plugins not in Order run last, in
// the order given. The zero value and a nil *Chain admit everything.
type Chain struct {
	plugins []Plugin
}

// NewChain returns a chain of plugins, sorted into upstream's order.
func NewChain(plugins ...Plugin) *Chain {
	ps := slices.Clone(plugins)
	rank := func(p Plugin) int {
		if i := slices.Index(Order, p.Name()); i >= 0 {
			return i
		}
		return len(Order)
	}
	slices.SortStableFunc(ps, func(a, b Plugin) int { return rank(a) - rank(b) })
	return &Chain{plugins: ps}
}

// Plugins returns the names of the chain's plugins, in the order they run.
func (c *Chain) Plugins() []string {
	if c == nil {
		return nil
	}
	out := make([]string, 0, len(c.plugins))
	for _, p := range c.plugins {
		out = append(out, p.Name())
	}
	return out
}

// Admit runs the mutating phase: each MutatingPlugin in turn, stopping at
// the first refusal.
func (c *Chain) Admit(ctx context.Context, a *Attributes) error {
	if c == nil {
		return nil
	}
	for _, p := range c.plugins {
		if m, ok := p.(MutatingPlugin); ok {
			if err := m.Admit(ctx, a); err != nil {
				return toStatusError(a, err)
			}
		}
	}
	return nil
}

// Validate runs the validating phase: each ValidatingPlugin in turn,
// stopping at the first refusal.
func (c *Chain) Validate(ctx context.Context, a *Attributes) error {
	if c == nil {
		return nil
	}
	for _, p := range c.plugins {
		if v, ok := p.(ValidatingPlugin); ok {
			if err := v.Validate(ctx, a); err != nil {
				return toStatusError(a, err)
			}
		}
	}
	return nil
}

// toStatusError keeps an API status error as it is and turns any other
// error into a 403 Forbidden, like upstream's admission.NewForbidden.
func toStatusError(a *Attributes, err error) error {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return err
	}
	return NewForbidden(a, err)
}

// NewForbidden is a 403 Forbidden refusing the request of a, with upstream's
// message: `<resource> "<name>" is forbidden: <err>`.
func NewForbidden(a *Attributes, err error) *apierrors.StatusError {
	return apierrors.NewForbidden(a.Resource.GroupResource(), a.Name, err)
}
