package printers

import (
	"fmt"
	"strings"
	"time"

	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	networkingv1 "k8s.io/api/networking/v1"
	networkingv1beta1 "k8s.io/api/networking/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
)

func init() {
	register(schema.GroupKind{Group: "networking.k8s.io", Kind: "Ingress"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
		column("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
		column("Address", "string", "Address is a list containing ingress points for the load-balancer"),
		column("Ports", "string", "Ports of TLS configurations that open"),
		ageColumn,
	}, ingressRow)

	register(schema.GroupKind{Group: "networking.k8s.io", Kind: "IngressClass"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Controller", "string", "Controller that is responsible for handling this class"),
		column("Parameters", "string", "A reference to a resource with additional parameters"),
		ageColumn,
	}, ingressClassRow)

	register(schema.GroupKind{Group: "networking.k8s.io", Kind: "NetworkPolicy"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Pod-Selector", "string", extensionsv1beta1.NetworkPolicySpec{}.SwaggerDoc()["podSelector"]),
		ageColumn,
	}, func(np *networkingv1.NetworkPolicy, now time.Time) ([]interface{}, error) {
		return []interface{}{np.Name, metav1.FormatLabelSelector(&np.Spec.PodSelector), since(np.CreationTimestamp, now)}, nil
	})

	register(schema.GroupKind{Group: "networking.k8s.io", Kind: "ServiceCIDR"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("CIDRs", "string", networkingv1beta1.ServiceCIDRSpec{}.SwaggerDoc()["cidrs"]),
		ageColumn,
	}, func(sc *networkingv1.ServiceCIDR, now time.Time) ([]interface{}, error) {
		return []interface{}{sc.Name, strings.Join(sc.Spec.CIDRs, ","), since(sc.CreationTimestamp, now)}, nil
	})

	// Upstream's IPAddress table has no AGE column.
	register(schema.GroupKind{Group: "networking.k8s.io", Kind: "IPAddress"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("ParentRef", "string", networkingv1beta1.IPAddressSpec{}.SwaggerDoc()["parentRef"]),
	}, ipAddressRow)
}

func ingressRow(ing *networkingv1.Ingress, now time.Time) ([]interface{}, error) {
	class := "<none>"
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	addresses := sets.New[string]()
	for _, lb := range ing.Status.LoadBalancer.Ingress {
		if lb.IP != "" {
			addresses.Insert(lb.IP)
		} else if lb.Hostname != "" {
			addresses.Insert(lb.Hostname)
		}
	}
	ports := "80"
	if len(ing.Spec.TLS) != 0 {
		ports = "80, 443"
	}
	return []interface{}{
		ing.Name, class, ingressHosts(ing.Spec.Rules), strings.Join(sets.List(addresses), ","), ports,
		since(ing.CreationTimestamp, now),
	}, nil
}

// ingressHosts lists the first three hosts. Like upstream, once a fourth
// host would be listed the rest is summarised as a count of all remaining
// rules, host or not; rules without any host read "*".
func ingressHosts(rules []networkingv1.IngressRule) string {
	const max = 3
	var hosts []string
	more := false
	for _, r := range rules {
		if len(hosts) == max {
			more = true
			break
		}
		if r.Host != "" {
			hosts = append(hosts, r.Host)
		}
	}
	if len(hosts) == 0 {
		return "*"
	}
	joined := strings.Join(hosts, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", joined, len(rules)-max)
	}
	return joined
}

func ingressClassRow(ic *networkingv1.IngressClass, now time.Time) ([]interface{}, error) {
	params := "<none>"
	if p := ic.Spec.Parameters; p != nil {
		params = p.Kind
		if p.APIGroup != nil {
			params += "." + *p.APIGroup
		}
		params += "/" + p.Name
	}
	return []interface{}{ic.Name, ic.Spec.Controller, params, since(ic.CreationTimestamp, now)}, nil
}

func ipAddressRow(ip *networkingv1.IPAddress, _ time.Time) ([]interface{}, error) {
	parent := "<none>"
	if ref := ip.Spec.ParentRef; ref != nil {
		parent = strings.ToLower(schema.GroupResource{Group: ref.Group, Resource: ref.Resource}.String())
		if ref.Namespace != "" {
			parent += "/" + ref.Namespace
		}
		parent += "/" + ref.Name
	}
	return []interface{}{ip.Name, parent}, nil
}
