package framework

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestFitErrorMessage(t *testing.T) {
	taint := "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"
	tests := []struct {
		name     string
		all      int
		statuses map[string]*Status
		want     string
	}{
		{
			name: "taint and cpu",
			all:  3,
			statuses: map[string]*Status{
				"cp": NewStatus(UnschedulableAndUnresolvable, taint),
				"a":  NewStatus(Unschedulable, "Insufficient cpu"),
				"b":  NewStatus(Unschedulable, "Insufficient cpu"),
			},
			want: "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu.",
		},
		{
			name: "several reasons per node, sorted as strings",
			all:  4,
			statuses: map[string]*Status{
				"a": NewStatus(Unschedulable, "Too many pods", "Insufficient cpu", "Insufficient memory"),
				"b": NewStatus(Unschedulable, "Insufficient memory"),
				"c": NewStatus(UnschedulableAndUnresolvable, "node(s) didn't match Pod's node affinity/selector"),
				"d": NewStatus(UnschedulableAndUnresolvable, "node(s) were unschedulable"),
			},
			want: "0/4 nodes are available: 1 Insufficient cpu, 1 Too many pods, 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) were unschedulable, 2 Insufficient memory.",
		},
		{name: "no reasons", all: 2, statuses: map[string]*Status{}, want: "0/2 nodes are available:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := (&FitError{NumAllNodes: tt.all, NodeToStatus: tt.statuses}).Error()
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func container(req v1.ResourceList, ports ...v1.ContainerPort) v1.Container {
	return v1.Container{Name: "c", Resources: v1.ResourceRequirements{Requests: req}, Ports: ports}
}

func TestPodRequests(t *testing.T) {
	q := resource.MustParse
	always := v1.ContainerRestartPolicyAlways
	tests := []struct {
		name    string
		pod     v1.PodSpec
		cpu     int64
		mem     int64
		nzCPU   int64
		nzMem   int64
		gpu     int64
		hasPods bool
	}{
		{name: "empty", nzCPU: DefaultMilliCPURequest, nzMem: DefaultMemoryRequest,
			pod: v1.PodSpec{Containers: []v1.Container{container(nil)}}},
		{name: "sum of containers",
			pod: v1.PodSpec{Containers: []v1.Container{
				container(v1.ResourceList{v1.ResourceCPU: q("200m"), v1.ResourceMemory: q("1Gi")}),
				container(v1.ResourceList{v1.ResourceCPU: q("300m"), "example.com/gpu": q("2")}),
			}},
			cpu: 500, mem: 1 << 30, nzCPU: 500, nzMem: 1<<30 + DefaultMemoryRequest, gpu: 2},
		{name: "init container larger than the sum",
			pod: v1.PodSpec{
				InitContainers: []v1.Container{container(v1.ResourceList{v1.ResourceCPU: q("2")})},
				Containers:     []v1.Container{container(v1.ResourceList{v1.ResourceCPU: q("500m")}), container(v1.ResourceList{v1.ResourceCPU: q("500m")})},
			},
			cpu: 2000, nzCPU: 2000, nzMem: 2 * DefaultMemoryRequest},
		{name: "init container smaller than the sum, plus overhead",
			pod: v1.PodSpec{
				InitContainers: []v1.Container{container(v1.ResourceList{v1.ResourceCPU: q("300m")})},
				Containers:     []v1.Container{container(v1.ResourceList{v1.ResourceCPU: q("500m")})},
				Overhead:       v1.ResourceList{v1.ResourceCPU: q("100m"), v1.ResourceMemory: q("10Mi")},
			},
			cpu: 600, mem: 10 << 20, nzCPU: 600, nzMem: DefaultMemoryRequest + 10<<20},
		{name: "sidecar counts alongside regular containers",
			pod: v1.PodSpec{
				InitContainers: []v1.Container{{Name: "s", RestartPolicy: &always, Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: q("100m")}}}},
				Containers:     []v1.Container{container(v1.ResourceList{v1.ResourceCPU: q("500m")})},
			},
			cpu: 600, nzCPU: 600, nzMem: 2 * DefaultMemoryRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &v1.Pod{Spec: tt.pod}
			r := PodRequests(pod)
			if r.MilliCPU != tt.cpu || r.Memory != tt.mem || r.Scalar["example.com/gpu"] != tt.gpu {
				t.Errorf("PodRequests = cpu %d mem %d gpu %d, want %d %d %d", r.MilliCPU, r.Memory, r.Scalar["example.com/gpu"], tt.cpu, tt.mem, tt.gpu)
			}
			nz := PodNonZeroRequests(pod)
			if nz.MilliCPU != tt.nzCPU || nz.Memory != tt.nzMem {
				t.Errorf("PodNonZeroRequests = cpu %d mem %d, want %d %d", nz.MilliCPU, nz.Memory, tt.nzCPU, tt.nzMem)
			}
		})
	}
}

func TestIsScalarResourceName(t *testing.T) {
	for name, want := range map[v1.ResourceName]bool{
		"cpu": false, "memory": false, "pods": false, "ephemeral-storage": false,
		"example.com/gpu": true, "nvidia.com/gpu": true, "hugepages-2Mi": true,
		"attachable-volumes-aws-ebs": true, "kubernetes.io/batch": true, "requests.example.com/x": false,
	} {
		if got := IsScalarResourceName(name); got != want {
			t.Errorf("IsScalarResourceName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestNodeInfoAccounting(t *testing.T) {
	q := resource.MustParse
	node := &v1.Node{Status: v1.NodeStatus{Allocatable: v1.ResourceList{v1.ResourceCPU: q("2"), v1.ResourceMemory: q("4Gi"), v1.ResourcePods: q("110")}}}
	p1 := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{container(v1.ResourceList{v1.ResourceCPU: q("1")}, v1.ContainerPort{ContainerPort: 80, HostPort: 8080})}}}
	p2 := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{container(nil)}}}
	ni := NewNodeInfo(node, p1, p2)
	if ni.Allocatable.MilliCPU != 2000 || ni.Allocatable.AllowedPodNumber != 110 || ni.Allocatable.Memory != 4<<30 {
		t.Errorf("allocatable = %+v", ni.Allocatable)
	}
	if ni.Requested.MilliCPU != 1000 || ni.Requested.Memory != 0 {
		t.Errorf("requested = %+v", ni.Requested)
	}
	if ni.NonZeroRequested.MilliCPU != 1000+DefaultMilliCPURequest || ni.NonZeroRequested.Memory != 2*DefaultMemoryRequest {
		t.Errorf("non-zero requested = %+v", ni.NonZeroRequested)
	}
	if len(ni.UsedPorts) != 1 || ni.UsedPorts[0] != (HostPort{IP: "0.0.0.0", Protocol: v1.ProtocolTCP, Port: 8080}) {
		t.Errorf("used ports = %+v", ni.UsedPorts)
	}
}
