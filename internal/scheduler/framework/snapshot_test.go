package framework

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNormalizedImageName(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                     "nginx:latest",
		"nginx:1.27":                "nginx:1.27",
		"registry:5000/app":         "registry:5000/app:latest",
		"registry:5000/app:v1":      "registry:5000/app:v1",
		"app@sha256:0123456789abcd": "app@sha256:0123456789abcd",
	} {
		if got := NormalizedImageName(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestNewSnapshot(t *testing.T) {
	anti := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "anti"}, Spec: v1.PodSpec{Affinity: &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{TopologyKey: "k"}}}}}}
	pref := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pref"}, Spec: v1.PodSpec{Affinity: &v1.Affinity{PodAffinity: &v1.PodAffinity{}}}}
	img := v1.ContainerImage{Names: []string{"a:1", "a@sha256:x"}, SizeBytes: 10}
	node := func(name string, images ...v1.ContainerImage) *v1.Node {
		return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: v1.NodeStatus{Images: images}}
	}
	s := NewSnapshot([]*NodeInfo{NewNodeInfo(node("n1", img), anti), NewNodeInfo(node("n2", img), pref), NewNodeInfo(node("n3"))}, nil)
	if len(s.HavePodsWithAffinity) != 2 || len(s.HavePodsWithRequiredAntiAffinity) != 1 || s.HavePodsWithRequiredAntiAffinity[0].Node.Name != "n1" {
		t.Fatalf("affinity lists: %d %d", len(s.HavePodsWithAffinity), len(s.HavePodsWithRequiredAntiAffinity))
	}
	if s.ImageNumNodes["a:1"] != 2 || s.ImageNumNodes["a@sha256:x"] != 2 {
		t.Fatalf("image counts %v", s.ImageNumNodes)
	}
}

type counter struct{ n int }

func (c *counter) Clone() StateData { d := *c; return &d }

func TestCycleStateClone(t *testing.T) {
	s := NewCycleState()
	s.Write("c", &counter{1})
	s.Write("plain", 5)
	c := s.Clone()
	v, _ := c.Read("c")
	v.(*counter).n = 9
	if v, _ := s.Read("c"); v.(*counter).n != 1 {
		t.Fatal("clone shares StateData")
	}
	if v, _ := c.Read("plain"); v != 5 {
		t.Fatalf("plain value %v", v)
	}
}
