package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"skiff/internal/registry"
	"skiff/internal/storage"
)

// SystemNamespaces exist in every cluster.
var SystemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// bootstrap creates the system namespaces and the default/kubernetes
// Service with its Endpoints, retrying until the store answers.
func (s *Server) bootstrap(ctx context.Context) error {
	for {
		err := s.bootstrapOnce(ctx)
		if err == nil {
			return nil
		}
		s.log.Warn("bootstrapping system objects", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (s *Server) bootstrapOnce(ctx context.Context) error {
	for _, ns := range SystemNamespaces {
		if err := s.ensure(ctx, "", "namespaces", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
		if err := s.ensure(ctx, "", "serviceaccounts", defaultServiceAccount(ns)); err != nil {
			return err
		}
	}
	// Upstream's built-in PriorityClasses.
	for _, pc := range []*schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "system-cluster-critical"}, Value: 2000000000,
			Description: "For system pods the cluster cannot work without; they may move to another node."},
		{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 2000001000,
			Description: "For system pods that must stay on the node they run on."},
	} {
		if err := s.ensure(ctx, schedulingv1.GroupName, "priorityclasses", pc); err != nil {
			return err
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: s.kubernetesServiceIP().String(),
			Ports:     []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(int32(s.cfg.Port))}},
		},
	}
	if err := s.ensure(ctx, "", "services", svc); err != nil {
		return err
	}
	ip := s.cfg.AdvertiseAddress
	if ip == nil {
		ip = net.IPv4(127, 0, 0, 1)
	}
	port := int32(s.cfg.Port)
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: ip.String()}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: port, Protocol: corev1.ProtocolTCP}},
		}},
	}
	if err := s.upsert(ctx, "", "endpoints", ep); err != nil {
		return err
	}
	ready := true
	name, proto := "https", corev1.ProtocolTCP
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{
			discoveryv1.LabelServiceName: "kubernetes", discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}},
	}
	return s.upsert(ctx, "discovery.k8s.io", "endpointslices", slice)
}

// kubernetesServiceIP is the first address of the service range.
func (s *Server) kubernetesServiceIP() net.IP {
	ip := s.cfg.ServiceCIDR.IP.To4()
	out := make(net.IP, 4)
	copy(out, ip)
	out[3]++
	return out
}

// ensure creates obj unless it exists.
func (s *Server) ensure(ctx context.Context, group, resource string, obj runtime.Object) error {
	_, err := s.createInternal(ctx, group, resource, obj)
	if errors.Is(err, storage.ErrAlreadyExists) {
		return nil
	}
	return err
}

// upsert creates obj, or replaces the spec-like content of an existing one.
func (s *Server) upsert(ctx context.Context, group, resource string, obj runtime.Object) error {
	res := registry.Lookup(group, "v1", resource)
	_, err := s.createInternal(ctx, group, resource, obj.DeepCopyObject())
	if !errors.Is(err, storage.ErrAlreadyExists) {
		return err
	}
	m, _ := meta.Accessor(obj)
	_, err = s.store.Update(ctx, storageKey(res, m.GetNamespace(), m.GetName()), func(current runtime.Object) (runtime.Object, error) {
		next := obj.DeepCopyObject()
		nm, _ := meta.Accessor(next)
		cm, _ := meta.Accessor(current)
		nm.SetUID(cm.GetUID())
		nm.SetCreationTimestamp(cm.GetCreationTimestamp())
		nm.SetResourceVersion(cm.GetResourceVersion())
		if s.hooks.Default != nil {
			s.hooks.Default(next)
		}
		return next, nil
	}, nil)
	return err
}

// createInternal stores a system object through the create path (defaults
// and allocation) without an HTTP request.
func (s *Server) createInternal(ctx context.Context, group, resource string, obj runtime.Object) (runtime.Object, error) {
	res := registry.Lookup(group, "v1", resource)
	if res == nil {
		return nil, fmt.Errorf("unknown resource %s.%s", resource, group)
	}
	setKind(obj, res.GVK())
	if s.hooks.Default != nil {
		s.hooks.Default(obj)
	}
	prepareCreate(res, obj)
	// System objects are written as upstream's reconcilers write them,
	// without validation: the kubernetes Endpoints may point at loopback
	// when the server only listens there.
	m, _ := meta.Accessor(obj)
	var claims []storage.Claim
	if svc, ok := obj.(*corev1.Service); ok {
		if err := s.allocateService(svc); err != nil {
			return nil, err
		}
		claims = s.serviceClaims(svc)
	}
	return s.store.Create(ctx, storageKey(res, m.GetNamespace(), m.GetName()), obj, claims)
}

// defaultServiceAccount is the account every namespace has.
func defaultServiceAccount(ns string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
}

// ensureDefaultServiceAccount creates a new namespace's default service
// account along with it. The service account controller does this too
// (and re-creates a deleted one), but only after the namespace reached its
// informer: pods created right after their namespace would meet the
// ServiceAccount admission plugin before the account exists, a race
// upstream's users work around by waiting. A failure here is left to the
// controller.
func (s *Server) ensureDefaultServiceAccount(ctx context.Context, ns string) {
	if err := s.ensure(ctx, "", "serviceaccounts", defaultServiceAccount(ns)); err != nil {
		s.log.Warn("creating the default service account", "namespace", ns, "err", err)
	}
}
