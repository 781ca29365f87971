package netpol

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/knftables"
)

// BenchmarkComputeRender: 5000 pods in 50 namespaces (100 on this node),
// each namespace with a deny-all, an allow-from-namespace-selector and an
// egress policy with a named port.
func BenchmarkComputeRender(b *testing.B) {
	in := inputs{nodeName: testNode, node: testNodeObj(), namespaces: map[string]map[string]string{}}
	for n := 0; n < 50; n++ {
		ns := fmt.Sprintf("ns%d", n)
		in.namespaces[ns] = map[string]string{"kubernetes.io/metadata.name": ns, "tier": fmt.Sprint(n % 5)}
		for i := 0; i < 100; i++ {
			node := "n2"
			if i < 2 {
				node = testNode
			}
			ip := fmt.Sprintf("10.42.%d.%d", n, i+2)
			in.pods = append(in.pods, mkPod(ns, fmt.Sprintf("p%d", i), ip, map[string]string{"app": fmt.Sprint(i % 10)},
				onNode(node), port("http", 8080, v1.ProtocolTCP)))
		}
		in.policies = append(in.policies,
			mkPol(ns, "deny", nil, types(networkingv1.PolicyTypeIngress)),
			mkPol(ns, "allow", nil, ingress(networkingv1.NetworkPolicyIngressRule{
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel("tier", "1"), PodSelector: sel("app", "3")}},
				Ports: []networkingv1.NetworkPolicyPort{tcp(8080)},
			})),
			mkPol(ns, "egress", map[string]string{"app": "1"}, types(networkingv1.PolicyTypeEgress), egress(networkingv1.NetworkPolicyEgressRule{
				To:    []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel(), PodSelector: sel("app", "2")}},
				Ports: []networkingv1.NetworkPolicyPort{proto(v1.ProtocolTCP, intstr.FromString("http"))},
			})))
	}
	nft := knftables.NewFake(knftables.IPv4Family, TableName)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := compute(in, nil)
		tx := nft.NewTransaction()
		render(tx, d)
		if i == 0 {
			b.ReportMetric(float64(tx.NumOperations()), "ops")
		}
	}
}
