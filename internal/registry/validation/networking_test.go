package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validIngress() *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: objMeta("default", "web"),
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptrTo("nginx"),
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{"*.example.com"}, SecretName: "example-tls"}},
			Rules: []networkingv1.IngressRule{{
				Host: "www.example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &prefix,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Name: "http"}}},
				}}}},
			}},
		},
	}
}

func TestIngress(t *testing.T) {
	path := func(i *networkingv1.Ingress) *networkingv1.HTTPIngressPath { return &i.Spec.Rules[0].HTTP.Paths[0] }
	const p0 = "spec.rules[0].http.paths[0]"
	cases := []struct {
		name   string
		mutate func(*networkingv1.Ingress)
		want   []want
	}{
		{name: "valid", mutate: func(*networkingv1.Ingress) {}},
		{name: "valid default backend only", mutate: func(i *networkingv1.Ingress) {
			i.Spec.Rules = nil
			i.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}
		}},
		{name: "nothing routed", mutate: func(i *networkingv1.Ingress) { i.Spec.Rules = nil }, want: []want{invalid("spec")}},
		{name: "hosts", mutate: func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].Host = "10.0.0.1"
			i.Spec.Rules = append(i.Spec.Rules, networkingv1.IngressRule{Host: "*.*.example.com"}, networkingv1.IngressRule{Host: "Bad_Host"})
		}, want: []want{invalid("spec.rules[0].host"), invalid("spec.rules[1].host"), invalid("spec.rules[2].host")}},
		{name: "pathType required", mutate: func(i *networkingv1.Ingress) { path(i).PathType = nil }, want: []want{required(p0 + ".pathType")}},
		{name: "prefix path must be absolute", mutate: func(i *networkingv1.Ingress) { path(i).Path = "api" }, want: []want{invalid(p0 + ".path")}},
		{name: "exact path with dot segment", mutate: func(i *networkingv1.Ingress) {
			exact := networkingv1.PathTypeExact
			path(i).PathType = &exact
			path(i).Path = "/a/../b"
		}, want: []want{invalid(p0 + ".path")}},
		{name: "implementation specific may be empty", mutate: func(i *networkingv1.Ingress) {
			is := networkingv1.PathTypeImplementationSpecific
			path(i).PathType = &is
			path(i).Path = ""
		}},
		{name: "unknown path type", mutate: func(i *networkingv1.Ingress) {
			bad := networkingv1.PathType("Regex")
			path(i).PathType = &bad
		}, want: []want{notSupported(p0 + ".pathType")}},
		{name: "no paths", mutate: func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths = nil }, want: []want{required("spec.rules[0].http.paths")}},
		{name: "backend service name and port", mutate: func(i *networkingv1.Ingress) {
			path(i).Backend.Service = &networkingv1.IngressServiceBackend{Name: "", Port: networkingv1.ServiceBackendPort{}}
		}, want: []want{required(p0 + ".backend.service.name"), required(p0 + ".backend")}},
		{name: "backend port name and number", mutate: func(i *networkingv1.Ingress) {
			path(i).Backend.Service.Port = networkingv1.ServiceBackendPort{Name: "http", Number: 80}
		}, want: []want{invalid(p0 + ".backend")}},
		{name: "backend port number range", mutate: func(i *networkingv1.Ingress) {
			path(i).Backend.Service.Port = networkingv1.ServiceBackendPort{Number: 65536}
		}, want: []want{invalid(p0 + ".backend.service.port.number")}},
		{name: "no backend", mutate: func(i *networkingv1.Ingress) { path(i).Backend = networkingv1.IngressBackend{} }, want: []want{invalid(p0 + ".backend")}},
		{name: "resource backend", mutate: func(i *networkingv1.Ingress) {
			path(i).Backend = networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{APIGroup: ptrTo("storage.example.com"), Kind: "Bucket"}}
		}, want: []want{required(p0 + ".backend.resource.name")}},
		{name: "tls secret and class names", mutate: func(i *networkingv1.Ingress) {
			i.Spec.TLS[0].SecretName = "Bad_Secret"
			i.Spec.IngressClassName = ptrTo("Nginx")
		}, want: []want{invalid("spec.tls[0].secretName"), invalid("spec.ingressClassName")}},
		{name: "class annotation mismatch", mutate: func(i *networkingv1.Ingress) {
			i.Annotations = map[string]string{"kubernetes.io/ingress.class": "traefik"}
		}, want: []want{invalid("metadata.annotations[kubernetes.io/ingress.class]")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			i := validIngress()
			tc.mutate(i)
			expectErrs(t, ValidateCreate(i), tc.want...)
		})
	}

	o, n := validIngress(), validIngress()
	n.Spec.Rules[0].Host = "api.example.com"
	expectErrs(t, ValidateUpdate(n, o))
	n.Spec.Rules[0].HTTP.Paths[0].Path = "relative"
	expectErrs(t, ValidateUpdate(n, o), invalid(p0+".path"))

	n = validIngress()
	n.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "203.0.113.1"}, {IP: "x"}}
	expectErrs(t, ValidateStatusUpdate(n, o), invalid("status.loadBalancer.ingress[1].ip"))
}

func TestIngressClass(t *testing.T) {
	ic := &networkingv1.IngressClass{ObjectMeta: objMeta("", "nginx"), Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}}
	expectErrs(t, ValidateCreate(ic))

	bad := ic.DeepCopy()
	bad.Spec.Controller = ""
	expectErrs(t, ValidateCreate(bad), required("spec.controller"))

	bad = ic.DeepCopy()
	bad.Spec.Parameters = &networkingv1.IngressClassParametersReference{Kind: "Config", Name: "cfg", Scope: ptrTo("Namespace")}
	expectErrs(t, ValidateCreate(bad), required("spec.parameters.namespace"))

	n := ic.DeepCopy()
	n.Spec.Controller = "example.com/other"
	expectErrs(t, ValidateUpdate(n, ic), invalid("spec.controller"))
}

func TestNetworkPolicy(t *testing.T) {
	tcp := corev1.ProtocolTCP
	port := intstr.FromInt32(5432)
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: objMeta("default", "db"),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port, EndPort: ptrTo[int32](5440)}},
				From: []networkingv1.NetworkPolicyPeer{
					{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, NamespaceSelector: &metav1.LabelSelector{}},
					{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}},
				},
			}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	}
	expectErrs(t, ValidateCreate(np))

	bad := np.DeepCopy()
	sctp := corev1.Protocol("QUIC")
	named := intstr.FromString("postgres")
	bad.Spec.Ingress[0].Ports = []networkingv1.NetworkPolicyPort{
		{Protocol: &sctp},
		{Port: &port, EndPort: ptrTo[int32](5000)},
		{Port: &named, EndPort: ptrTo[int32](6000)},
	}
	bad.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{
		{},
		{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"192.168.0.0/16"}}, PodSelector: &metav1.LabelSelector{}},
		{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/33"}},
	}
	bad.Spec.PolicyTypes = []networkingv1.PolicyType{"Sideways"}
	expectErrs(t, ValidateCreate(bad),
		notSupported("spec.ingress[0].ports[0].protocol"), invalid("spec.ingress[0].ports[1].endPort"), invalid("spec.ingress[0].ports[2].endPort"),
		required("spec.ingress[0].from[0]"), invalid("spec.ingress[0].from[1].ipBlock.except[0]"), forbidden("spec.ingress[0].from[1]"),
		invalid("spec.ingress[0].from[2].ipBlock.cidr"), notSupported("spec.policyTypes[0]"))

	n := np.DeepCopy()
	n.Spec.Ingress[0].From[1].IPBlock.CIDR = "172.16.0.0/12"
	n.Spec.Ingress[0].From[1].IPBlock.Except = nil
	expectErrs(t, ValidateUpdate(n, np))
}
