package nodeports

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"

	"skiff/internal/scheduler/framework"
)

func podWithPorts(ports ...v1.ContainerPort) *v1.Pod {
	return &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Ports: ports}}}}
}

func TestFilter(t *testing.T) {
	tcp := func(ip string, port int32) v1.ContainerPort {
		return v1.ContainerPort{ContainerPort: 80, HostIP: ip, HostPort: port, Protocol: v1.ProtocolTCP}
	}
	udp := v1.ContainerPort{ContainerPort: 53, HostPort: 8080, Protocol: v1.ProtocolUDP}
	tests := []struct {
		name     string
		existing []*v1.Pod
		pod      *v1.Pod
		wantOK   bool
	}{
		{name: "no host ports", existing: []*v1.Pod{podWithPorts(tcp("", 8080))}, pod: podWithPorts(v1.ContainerPort{ContainerPort: 8080}), wantOK: true},
		{name: "free port", existing: []*v1.Pod{podWithPorts(tcp("", 8080))}, pod: podWithPorts(tcp("", 8081)), wantOK: true},
		{name: "same port", existing: []*v1.Pod{podWithPorts(tcp("", 8080))}, pod: podWithPorts(tcp("", 8080))},
		{name: "protocol defaults to TCP", existing: []*v1.Pod{podWithPorts(tcp("", 8080))}, pod: podWithPorts(v1.ContainerPort{ContainerPort: 1, HostPort: 8080})},
		{name: "other protocol", existing: []*v1.Pod{podWithPorts(tcp("", 8080))}, pod: podWithPorts(udp), wantOK: true},
		{name: "different IPs", existing: []*v1.Pod{podWithPorts(tcp("10.0.0.1", 8080))}, pod: podWithPorts(tcp("10.0.0.2", 8080)), wantOK: true},
		{name: "wildcard against IP", existing: []*v1.Pod{podWithPorts(tcp("10.0.0.1", 8080))}, pod: podWithPorts(tcp("0.0.0.0", 8080))},
		{name: "IP against wildcard", existing: []*v1.Pod{podWithPorts(tcp("", 8080))}, pod: podWithPorts(tcp("10.0.0.1", 8080))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ni := framework.NewNodeInfo(&v1.Node{}, tt.existing...)
			st := (&Plugin{}).Filter(context.Background(), nil, tt.pod, ni)
			if st.IsSuccess() != tt.wantOK {
				t.Fatalf("Filter = %+v, want ok=%v", st, tt.wantOK)
			}
			if !tt.wantOK && st.Message() != ErrReason {
				t.Errorf("message = %q", st.Message())
			}
		})
	}
}
