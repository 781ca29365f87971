package volumebinding

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"skiff/internal/scheduler/framework"
)

func claim(name, class, volume string) *v1.PersistentVolumeClaim {
	c := &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: v1.PersistentVolumeClaimSpec{VolumeName: volume}}
	if class != "" {
		c.Spec.StorageClassName = &class
	}
	return c
}

func podWith(claims ...string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}}
	for _, c := range claims {
		p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{Name: c, VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
	}
	return p
}

func setup(t *testing.T) (*Plugin, *fake.Clientset) {
	wffc, immediate := storagev1.VolumeBindingWaitForFirstConsumer, storagev1.VolumeBindingImmediate
	objs := []runtime.Object{
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "late"}, VolumeBindingMode: &wffc},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "now"}, VolumeBindingMode: &immediate},
		&v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-a"}, Spec: v1.PersistentVolumeSpec{NodeAffinity: &v1.VolumeNodeAffinity{
			Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{
				{Key: "zone", Operator: v1.NodeSelectorOpIn, Values: []string{"a"}}}}}}}}},
		claim("bound", "", "pv-a"), claim("waiting", "late", ""), claim("unbound", "now", ""), claim("dangling", "", "pv-gone"),
		claim("classless", "", ""),
	}
	c := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(c, 0)
	pl := &Plugin{Client: c, Claims: f.Core().V1().PersistentVolumeClaims().Lister(), Volumes: f.Core().V1().PersistentVolumes().Lister(),
		StorageClasses: f.Storage().V1().StorageClasses().Lister()}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	f.Start(stop)
	f.WaitForCacheSync(stop)
	return pl, c
}

func TestVolumeBinding(t *testing.T) {
	pl, c := setup(t)
	nodes := []*framework.NodeInfo{
		framework.NewNodeInfo(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "na", Labels: map[string]string{"zone": "a"}}}),
		framework.NewNodeInfo(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "nb", Labels: map[string]string{"zone": "b"}}}),
	}
	tests := []struct {
		name         string
		pod          *v1.Pod
		preFilter    string
		preFilterErr framework.Code
		want         map[string]string
	}{
		{"no claims", podWith(), "", framework.Skip, map[string]string{"na": "", "nb": ""}},
		{"missing claim", podWith("nope"), `persistentvolumeclaim "nope" not found`, framework.UnschedulableAndUnresolvable, nil},
		{"unbound immediate claim", podWith("unbound"), ErrReasonUnboundImmediatePVC, framework.UnschedulableAndUnresolvable, nil},
		{"bound to a missing volume", podWith("dangling"), "pvc default/dangling is bound to non-existent pv pv-gone", framework.UnschedulableAndUnresolvable, nil},
		{"bound volume with node affinity", podWith("bound"), "", framework.Success, map[string]string{"na": "", "nb": ErrReasonNodeConflict}},
		{"unbound claim without a class", podWith("classless"), "", framework.Success, map[string]string{"na": "", "nb": ""}},
		{"wait for first consumer", podWith("waiting", "bound"), "", framework.Success, map[string]string{"na": "", "nb": ErrReasonNodeConflict}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			state := framework.NewCycleState()
			st := pl.PreFilter(context.Background(), state, tc.pod, nodes)
			code := framework.Success
			if st != nil {
				code = st.Code
			}
			if code != tc.preFilterErr || st.Message() != tc.preFilter {
				t.Fatalf("PreFilter: %v %q, want %v %q", code, st.Message(), tc.preFilterErr, tc.preFilter)
			}
			if tc.want == nil {
				return
			}
			for _, ni := range nodes {
				if got := pl.Filter(context.Background(), state, tc.pod, ni).Message(); got != tc.want[ni.Node.Name] {
					t.Errorf("%s: %q, want %q", ni.Node.Name, got, tc.want[ni.Node.Name])
				}
			}
		})
	}

	// The chosen node is written on the waiting claim.
	state := framework.NewCycleState()
	p := podWith("waiting")
	pl.PreFilter(context.Background(), state, p, nodes)
	if st, _ := pl.Permit(context.Background(), state, p, "nb"); !st.IsSuccess() {
		t.Fatal(st.Message())
	}
	got, err := c.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), "waiting", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations[AnnSelectedNode] != "nb" {
		t.Fatalf("annotations %v", got.Annotations)
	}
}
