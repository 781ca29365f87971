package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestServiceCreate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*corev1.Service)
		want   []want
	}{
		{name: "valid", mutate: func(*corev1.Service) {}},
		{name: "valid before allocation", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil
		}},
		{name: "valid clusterIP without clusterIPs", mutate: func(s *corev1.Service) { s.Spec.ClusterIPs = nil }},
		{name: "valid headless without ports", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
			s.Spec.Ports = nil
		}},
		{name: "valid NodePort", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.Ports[0].NodePort = 30080
		}},
		{name: "valid LoadBalancer local", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			s.Spec.AllocateLoadBalancerNodePorts = ptrTo(true)
			s.Spec.HealthCheckNodePort = 31000
			s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"}
		}},
		{name: "valid ExternalName", mutate: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com.", SessionAffinity: corev1.ServiceAffinityNone}
		}},
		{name: "valid dual stack", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIPs = []string{"10.96.0.10", "fd00::10"}
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
			s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyPreferDualStack)
		}},
		{name: "ports required", mutate: func(s *corev1.Service) { s.Spec.Ports = nil }, want: []want{required("spec.ports")}},
		{name: "port fields", mutate: func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{
				{Name: "a", Port: 0, Protocol: "ICMP", TargetPort: intstr.FromInt32(80)},
				{Port: 81, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("Bad_Name")},
				{Name: "a", Port: 82, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(70000)},
			}
		}, want: []want{
			invalid("spec.ports[0].port"), notSupported("spec.ports[0].protocol"),
			required("spec.ports[1].name"), invalid("spec.ports[1].targetPort"),
			duplicate("spec.ports[2].name"), invalid("spec.ports[2].targetPort"),
		}},
		{name: "duplicate port", mutate: func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "again", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(80)})
		}, want: []want{duplicate("spec.ports[1]")}},
		{name: "nodePort on ClusterIP", mutate: func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30000 }, want: []want{forbidden("spec.ports[0].nodePort")}},
		{name: "nodePort out of range", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.Ports[0].NodePort = 70000
		}, want: []want{invalid("spec.ports[0].nodePort")}},
		{name: "bad type", mutate: func(s *corev1.Service) { s.Spec.Type = "Ingress" }, want: []want{notSupported("spec.type")}},
		{name: "bad clusterIP", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.300", []string{"10.96.0.300"}
		}, want: []want{invalid("spec.clusterIPs[0]")}},
		{name: "clusterIPs mismatch", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIPs = []string{"10.96.0.11"}
		}, want: []want{invalid("spec.clusterIPs")}},
		{name: "headless NodePort", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		}, want: []want{invalid("spec.clusterIPs[0]")}},
		{name: "ExternalName without name", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
		}, want: []want{required("spec.externalName"), forbidden("spec.clusterIPs"), forbidden("spec.ipFamilies"), forbidden("spec.ipFamilyPolicy")}},
		{name: "session affinity", mutate: func(s *corev1.Service) { s.Spec.SessionAffinity = "Sticky" }, want: []want{notSupported("spec.sessionAffinity")}},
		{name: "client IP affinity needs config", mutate: func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		}, want: []want{required("spec.sessionAffinityConfig")}},
		{name: "ip families", mutate: func(s *corev1.Service) {
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
		}, want: []want{invalid("spec.clusterIPs[0]")}},
		{name: "same family twice", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIPs = []string{"10.96.0.10", "10.96.0.11"}
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv4Protocol}
		}, want: []want{invalid("spec.clusterIPs"), duplicate("spec.ipFamilies[1]")}},
		{name: "source ranges on ClusterIP", mutate: func(s *corev1.Service) {
			s.Spec.LoadBalancerSourceRanges = []string{"not-a-cidr"}
		}, want: []want{forbidden("spec.loadBalancerSourceRanges"), invalid("spec.loadBalancerSourceRanges[0]")}},
		{name: "traffic policies", mutate: func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			s.Spec.InternalTrafficPolicy = nil
			s.Spec.HealthCheckNodePort = 30001
		}, want: []want{invalid("spec.externalTrafficPolicy"), required("spec.internalTrafficPolicy"), invalid("spec.healthCheckNodePort")}},
		{name: "external IP", mutate: func(s *corev1.Service) {
			s.Spec.ExternalIPs = []string{"127.0.0.1"}
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}, want: []want{invalid("spec.externalIPs[0]")}},
		{name: "name must be a DNS label", mutate: func(s *corev1.Service) { s.Name = "web.frontend" }, want: []want{invalid("metadata.name")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validService()
			tc.mutate(s)
			expectErrs(t, ValidateCreate(s), tc.want...)
		})
	}
}

func TestServiceUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(n, o *corev1.Service)
		want   []want
	}{
		{name: "ports and selector may change", mutate: func(n, _ *corev1.Service) {
			n.Spec.Ports[0].Port = 8080
			n.Spec.Selector = map[string]string{"app": "web2"}
		}},
		{name: "clusterIP change", mutate: func(n, _ *corev1.Service) {
			n.Spec.ClusterIP, n.Spec.ClusterIPs = "10.96.0.11", []string{"10.96.0.11"}
		}, want: []want{invalid("spec.clusterIPs[0]")}},
		{name: "clusterIP dropped", mutate: func(n, _ *corev1.Service) {
			n.Spec.ClusterIP, n.Spec.ClusterIPs = "", nil
		}, want: []want{invalid("spec.clusterIPs[0]")}},
		{name: "upgrade to dual stack", mutate: func(n, _ *corev1.Service) {
			n.Spec.ClusterIPs = []string{"10.96.0.10", "fd00::10"}
			n.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
			n.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyPreferDualStack)
		}},
		{name: "downgrade needs SingleStack", mutate: func(n, o *corev1.Service) {
			o.Spec.ClusterIPs = []string{"10.96.0.10", "fd00::10"}
			o.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
			n.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyPreferDualStack)
		}, want: []want{invalid("spec.ipFamilyPolicy")}},
		{name: "switch to ExternalName", mutate: func(n, _ *corev1.Service) {
			n.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com", SessionAffinity: corev1.ServiceAffinityNone}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, n := validService(), validService()
			tc.mutate(n, o)
			expectErrs(t, ValidateUpdate(n, o), tc.want...)
		})
	}
}

func TestServiceStatusUpdate(t *testing.T) {
	o, n := validService(), validService()
	n.Spec.Type = corev1.ServiceTypeLoadBalancer
	n.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.9"}, {Hostname: "1.2.3.4"}, {IP: "nope"}}
	expectErrs(t, ValidateStatusUpdate(n, o), invalid("status.loadBalancer.ingress[1].hostname"), invalid("status.loadBalancer.ingress[2].ip"))
	n.Spec.Type = corev1.ServiceTypeClusterIP
	expectErrs(t, ValidateStatusUpdate(n, o), forbidden("status.loadBalancer.ingress"))
}

func TestEndpoints(t *testing.T) {
	ep := &corev1.Endpoints{
		ObjectMeta: objMeta("default", "web"),
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.244.0.5", NodeName: ptrTo("node-1")}},
			Ports:     []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}},
		}},
	}
	expectErrs(t, ValidateCreate(ep))

	bad := ep.DeepCopy()
	bad.Subsets = append(bad.Subsets, corev1.EndpointSubset{
		NotReadyAddresses: []corev1.EndpointAddress{{IP: "127.0.0.1"}, {IP: "x"}},
		Ports:             []corev1.EndpointPort{{Port: 1, Protocol: corev1.ProtocolTCP}, {Name: "b", Port: 0, Protocol: "X"}},
	}, corev1.EndpointSubset{})
	expectErrs(t, ValidateCreate(bad),
		invalid("subsets[1].notReadyAddresses[0].ip"), invalid("subsets[1].notReadyAddresses[1].ip"),
		required("subsets[1].ports[0].name"), invalid("subsets[1].ports[1].port"), notSupported("subsets[1].ports[1].protocol"),
		required("subsets[2]"))
	expectErrs(t, ValidateUpdate(bad, ep), invalid("subsets[1].notReadyAddresses[0].ip"), invalid("subsets[1].notReadyAddresses[1].ip"),
		required("subsets[1].ports[0].name"), invalid("subsets[1].ports[1].port"), notSupported("subsets[1].ports[1].protocol"),
		required("subsets[2]"))
}

func TestEndpointSlice(t *testing.T) {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  objMeta("default", "web-abc12"),
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{"10.244.0.5"},
			Conditions: discoveryv1.EndpointConditions{Ready: ptrTo(true)},
			NodeName:   ptrTo("node-1"),
			Zone:       ptrTo("zone-a"),
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptrTo("http"), Protocol: ptrTo(corev1.ProtocolTCP), Port: ptrTo[int32](8080)}},
	}
	expectErrs(t, ValidateCreate(es))

	bad := es.DeepCopy()
	bad.AddressType = "IPv5"
	expectErrs(t, ValidateCreate(bad), notSupported("addressType"))

	bad = es.DeepCopy()
	bad.Endpoints = append(bad.Endpoints, discoveryv1.Endpoint{}, discoveryv1.Endpoint{Addresses: []string{"fd00::1", "0.0.0.0"}})
	bad.Ports = append(bad.Ports, discoveryv1.EndpointPort{Name: ptrTo("http"), Protocol: ptrTo(corev1.Protocol("ICMP"))})
	expectErrs(t, ValidateCreate(bad),
		required("endpoints[1].addresses"), invalid("endpoints[2].addresses[0]"), invalid("endpoints[2].addresses[1]"),
		duplicate("ports[1].name"), notSupported("ports[1].protocol"))

	huge := es.DeepCopy()
	for len(huge.Endpoints) <= maxEndpointSliceEndpoints {
		huge.Endpoints = append(huge.Endpoints, es.Endpoints[0])
	}
	expectErrs(t, ValidateCreate(huge), tooMany("endpoints"))

	n := es.DeepCopy()
	n.AddressType = discoveryv1.AddressTypeIPv6
	n.Endpoints[0].Addresses = []string{"fd00::5"}
	expectErrs(t, ValidateUpdate(n, es), invalid("addressType"))
}
