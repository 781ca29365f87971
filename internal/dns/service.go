package dns

import (
	"context"
	"fmt"
	"maps"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// Names of the objects EnsureService keeps: upstream's kube-dns Service,
// and one EndpointSlice per DNS server, owned by this package rather than
// the endpointslice controller (the Service has no selector).
const (
	ServiceNamespace = metav1.NamespaceSystem
	ServiceName      = "kube-dns"
	ManagedBy        = "skiff-dns"
)

// serviceLabels are the ones upstream's kube-dns Service carries, so tools
// that look for cluster DNS by label find it.
var serviceLabels = map[string]string{
	"k8s-app":                       "kube-dns",
	"kubernetes.io/cluster-service": "true",
	"kubernetes.io/name":            "CoreDNS",
}

// EnsureService creates or updates the kube-system/kube-dns Service
// (clusterIP, no selector, ports dns 53/UDP and dns-tcp 53/TCP) and the
// EndpointSlice kube-dns-<nodeName> that points it at this node's server,
// addr:port, ready. Each server calls it at start; it is idempotent. A
// kube-dns Service with another cluster IP is an error: cluster IPs are
// immutable, and pods are configured with the expected one.
func EnsureService(ctx context.Context, client kubernetes.Interface, clusterIP, nodeName, addr string, port int32) error {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return fmt.Errorf("dns: endpoint address %q: %w", addr, err)
	}
	ip = ip.Unmap()
	if nodeName == "" {
		return fmt.Errorf("dns: empty node name")
	}
	// Several servers start at once: a conflict means another one wrote
	// first, so look again.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error { return ensureService(ctx, client, clusterIP) }); err != nil {
		return err
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error { return ensureSlice(ctx, client, nodeName, ip, port) })
}

func ensureService(ctx context.Context, client kubernetes.Interface, clusterIP string) error {
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ServiceName, Namespace: ServiceNamespace, Labels: serviceLabels},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: clusterIP,
			Ports: []corev1.ServicePort{
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(53)},
			},
		},
	}
	svcs := client.CoreV1().Services(ServiceNamespace)
	cur, err := svcs.Get(ctx, ServiceName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = svcs.Create(ctx, want, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			if err != nil {
				return fmt.Errorf("dns: creating service %s/%s: %w", ServiceNamespace, ServiceName, err)
			}
			return nil
		}
		// Another server created it meanwhile: check it as below.
		cur, err = svcs.Get(ctx, ServiceName, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("dns: getting service %s/%s: %w", ServiceNamespace, ServiceName, err)
	}
	if cur.Spec.ClusterIP != clusterIP {
		return fmt.Errorf("dns: service %s/%s has cluster IP %q, want %q", ServiceNamespace, ServiceName, cur.Spec.ClusterIP, clusterIP)
	}
	upd := cur.DeepCopy()
	if upd.Labels == nil {
		upd.Labels = map[string]string{}
	}
	maps.Copy(upd.Labels, serviceLabels)
	upd.Spec.Type = corev1.ServiceTypeClusterIP
	upd.Spec.Selector = nil
	upd.Spec.Ports = mergePorts(cur.Spec.Ports, want.Spec.Ports)
	if apiequality.Semantic.DeepEqual(cur, upd) {
		return nil
	}
	if _, err := svcs.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("dns: updating service %s/%s: %w", ServiceNamespace, ServiceName, err)
	}
	return nil
}

// mergePorts keeps what the API server defaulted on existing ports
// (nodePort, appProtocol) while setting the fields we own.
func mergePorts(cur, want []corev1.ServicePort) []corev1.ServicePort {
	out := make([]corev1.ServicePort, 0, len(want))
	for _, w := range want {
		p := w
		for _, c := range cur {
			if c.Name == w.Name {
				p = c
				p.Protocol, p.Port, p.TargetPort = w.Protocol, w.Port, w.TargetPort
			}
		}
		out = append(out, p)
	}
	return out
}

// RemoveEndpoint deletes this node's endpoint of the kube-dns Service, so
// that queries go to the other servers while it is down.
func RemoveEndpoint(ctx context.Context, client kubernetes.Interface, nodeName string) error {
	err := client.DiscoveryV1().EndpointSlices(ServiceNamespace).Delete(ctx, ServiceName+"-"+nodeName, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("dns: removing endpointslice %s/%s-%s: %w", ServiceNamespace, ServiceName, nodeName, err)
	}
	return nil
}

func ensureSlice(ctx context.Context, client kubernetes.Interface, nodeName string, ip netip.Addr, port int32) error {
	at := discoveryv1.AddressTypeIPv4
	if ip.Is6() {
		at = discoveryv1.AddressTypeIPv6
	}
	name := ServiceName + "-" + nodeName
	want := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: ServiceNamespace,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: ServiceName,
				discoveryv1.LabelManagedBy:   ManagedBy,
			},
		},
		AddressType: at,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{ip.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
			NodeName:   ptr.To(nodeName),
		}},
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("dns"), Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(port)},
			{Name: ptr.To("dns-tcp"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(port)},
		},
	}
	// Owned by the server's Node: deleting the node deletes its endpoint.
	if node, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{}); err == nil {
		want.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
	}
	es := client.DiscoveryV1().EndpointSlices(ServiceNamespace)
	cur, err := es.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if _, err := es.Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("dns: creating endpointslice %s/%s: %w", ServiceNamespace, name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("dns: getting endpointslice %s/%s: %w", ServiceNamespace, name, err)
	}
	upd := cur.DeepCopy()
	if upd.Labels == nil {
		upd.Labels = map[string]string{}
	}
	maps.Copy(upd.Labels, want.Labels)
	upd.AddressType, upd.Endpoints, upd.Ports = want.AddressType, want.Endpoints, want.Ports
	if want.OwnerReferences != nil {
		upd.OwnerReferences = want.OwnerReferences
	}
	if apiequality.Semantic.DeepEqual(cur, upd) {
		return nil
	}
	if cur.AddressType != want.AddressType {
		// addressType is immutable: replace the slice.
		if err := es.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("dns: replacing endpointslice %s/%s: %w", ServiceNamespace, name, err)
		}
		if _, err := es.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("dns: creating endpointslice %s/%s: %w", ServiceNamespace, name, err)
		}
		return nil
	}
	if _, err := es.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("dns: updating endpointslice %s/%s: %w", ServiceNamespace, name, err)
	}
	return nil
}
