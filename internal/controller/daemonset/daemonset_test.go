package daemonset

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"skiff/internal/controller/history"

	"skiff/internal/controller/controllertest"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func newDS() *appsv1.DaemonSet {
	l := map[string]string{"app": "d"}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns", UID: "ds-uid", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr(intstr.FromInt32(1)), MaxSurge: ptr(intstr.FromInt32(0))}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func node(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
}

func TestPlacement(t *testing.T) {
	ds := newDS()
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	ssd := map[string]string{"disk": "ssd"}
	for _, tc := range []struct {
		name               string
		node               *corev1.Node
		run, continueToRun bool
	}{
		{"fits", node("a", ssd), true, true},
		{"node selector", node("b", nil), false, false},
		{"NoSchedule taint", node("c", ssd, corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoSchedule}), false, true},
		{"NoExecute taint", node("d", ssd, corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoExecute}), false, false},
		{"not ready is tolerated", node("e", ssd, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}), true, true},
		{"unschedulable is tolerated", node("f", ssd, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}), true, true},
		{"network unavailable is not", node("g", ssd, corev1.Taint{Key: corev1.TaintNodeNetworkUnavailable, Effect: corev1.TaintEffectNoSchedule}), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run, cont := placement(ds, tc.node)
			if run != tc.run || cont != tc.continueToRun {
				t.Errorf("placement = %v, %v; want %v, %v", run, cont, tc.run, tc.continueToRun)
			}
		})
	}
	// hostNetwork daemons tolerate a missing network.
	ds.Spec.Template.Spec.HostNetwork = true
	if run, _ := placement(ds, node("g", ssd, corev1.Taint{Key: corev1.TaintNodeNetworkUnavailable, Effect: corev1.TaintEffectNoSchedule})); !run {
		t.Errorf("a hostNetwork daemon does not tolerate network-unavailable")
	}
	// Required node affinity counts too.
	ds = newDS()
	ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"z1"}}}}}}}}
	if run, _ := placement(ds, node("h", map[string]string{"zone": "z2"})); run {
		t.Errorf("runs against its node affinity")
	}
	if run, _ := placement(ds, node("i", map[string]string{"zone": "z1"})); !run {
		t.Errorf("does not run where its node affinity allows")
	}
}

func TestPinToNode(t *testing.T) {
	a := pinToNode(nil, "n1")
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Key != "metadata.name" || terms[0].MatchFields[0].Values[0] != "n1" {
		t.Fatalf("terms %+v", terms)
	}
	// Existing terms keep their expressions; an old name requirement is replaced.
	a = pinToNode(&corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpExists}},
			MatchFields:      []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"old"}}},
		}}}}}, "n2")
	terms = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Values[0] != "n2" {
		t.Fatalf("terms %+v", terms)
	}
	p := newPod(newDS(), "n2", "h1")
	if n, err := targetNode(p); err != nil || n != "n2" {
		t.Errorf("targetNode = %q, %v", n, err)
	}
	if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != "h1" || p.Labels["pod-template-generation"] != "1" {
		t.Errorf("labels %v", p.Labels)
	}
}

type fixture struct {
	c      *Controller
	client *fake.Clientset
}

func newFixture(t *testing.T, ds *appsv1.DaemonSet, nodes []*corev1.Node, pods ...*corev1.Pod) *fixture {
	t.Helper()
	objs := []runtime.Object{ds}
	for _, n := range nodes {
		objs = append(objs, n)
	}
	for _, p := range pods {
		objs = append(objs, p)
	}
	client := fake.NewClientset(objs...)
	controllertest.GenerateNames(client)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.stopRecorder()
	c.recorder = record.NewFakeRecorder(100)
	c.now = func() time.Time { return t0 }
	if err := factory.Apps().V1().DaemonSets().Informer().GetIndexer().Add(ds); err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes {
		if err := factory.Core().V1().Nodes().Informer().GetIndexer().Add(nd); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pods {
		if err := factory.Core().V1().Pods().Informer().GetIndexer().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	client.ClearActions()
	return &fixture{c: c, client: client}
}

func (f *fixture) sync(t *testing.T) {
	t.Helper()
	if err := f.c.sync(context.Background(), "ns/d"); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) createdOn() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if c, ok := a.(k8stesting.CreateAction); ok && a.GetResource().Resource == "pods" {
			n, _ := targetNode(c.GetObject().(*corev1.Pod))
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func (f *fixture) deleted() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && a.GetResource().Resource == "pods" {
			out = append(out, d.GetName())
		}
	}
	sort.Strings(out)
	return out
}

func (f *fixture) status(t *testing.T) appsv1.DaemonSetStatus {
	t.Helper()
	var st *appsv1.DaemonSetStatus
	for _, a := range f.client.Actions() {
		if u, ok := a.(k8stesting.UpdateAction); ok && a.GetSubresource() == "status" {
			st = &u.GetObject().(*appsv1.DaemonSet).Status
		}
	}
	if st == nil {
		t.Fatal("no status written")
	}
	return *st
}

// daemonPod is a running, ready pod of ds on node with the given hash.
func daemonPod(ds *appsv1.DaemonSet, name, node, hash string, ready bool) *corev1.Pod {
	p := newPod(ds, node, hash)
	p.Name, p.UID = name, types.UID(name)
	p.Spec.NodeName = node
	p.CreationTimestamp = metav1.NewTime(t0.Add(-time.Hour))
	p.Status.Phase = corev1.PodRunning
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))}}
	return p
}

func TestManage(t *testing.T) {
	ds := newDS()
	nodes := []*corev1.Node{
		node("a", nil), node("b", nil),
		node("tainted", nil, corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoExecute}),
		node("c", nil),
	}
	hash := history.Hash(mustPatch(t, ds), nil)
	f := newFixture(t, ds, nodes,
		daemonPod(ds, "on-b-1", "b", hash, true), daemonPod(ds, "on-b-2", "b", hash, true),
		daemonPod(ds, "on-tainted", "tainted", hash, true))
	f.sync(t)
	if got := f.createdOn(); fmt.Sprint(got) != "[a c]" {
		t.Errorf("created on %v, want [a c]", got)
	}
	// The newer duplicate on b and the pod on the NoExecute-tainted node go.
	if got := f.deleted(); len(got) != 2 || got[1] != "on-tainted" {
		t.Errorf("deleted %v", got)
	}
	st := f.status(t)
	if st.DesiredNumberScheduled != 3 || st.CurrentNumberScheduled != 1 || st.NumberMisscheduled != 1 || st.NumberReady != 1 || st.UpdatedNumberScheduled != 1 || st.ObservedGeneration != 1 {
		t.Errorf("status %+v", st)
	}
	revs, _ := f.client.AppsV1().ControllerRevisions("ns").List(context.Background(), metav1.ListOptions{})
	if len(revs.Items) != 1 || revs.Items[0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != hash || revs.Items[0].Revision != 1 {
		t.Errorf("revisions %+v", revs.Items)
	}
}

func mustPatch(t *testing.T, ds *appsv1.DaemonSet) []byte {
	t.Helper()
	data, err := history.TemplatePatch(ds)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRollingUpdate(t *testing.T) {
	nodes := []*corev1.Node{node("a", nil), node("b", nil), node("c", nil), node("d", nil)}
	for _, tc := range []struct {
		name          string
		maxUnav       intstr.IntOrString
		maxSurge      intstr.IntOrString
		notReady      string // node whose old pod is not ready
		wantDeleted   int
		wantCreatedOn string
	}{
		{"one at a time", intstr.FromInt32(1), intstr.FromInt32(0), "", 1, "[]"},
		{"half", intstr.FromString("50%"), intstr.FromInt32(0), "", 2, "[]"},
		{"unavailable old pods go first and free", intstr.FromInt32(1), intstr.FromInt32(0), "b", 2, "[]"},
		{"surge", intstr.FromInt32(0), intstr.FromInt32(2), "", 0, "[a b]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := newDS()
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &tc.maxUnav, MaxSurge: &tc.maxSurge}
			var pods []*corev1.Pod
			for _, n := range nodes {
				pods = append(pods, daemonPod(ds, "old-"+n.Name, n.Name, "oldhash", n.Name != tc.notReady))
			}
			f := newFixture(t, ds, nodes, pods...)
			f.sync(t)
			if got := f.deleted(); len(got) != tc.wantDeleted {
				t.Errorf("deleted %v, want %d pods", got, tc.wantDeleted)
			} else if tc.notReady != "" && !slices.Contains(got, "old-"+tc.notReady) {
				t.Errorf("deleted %v, want the unavailable old-%s among them", got, tc.notReady)
			}
			if got := fmt.Sprint(f.createdOn()); got != tc.wantCreatedOn {
				t.Errorf("created on %v, want %v", got, tc.wantCreatedOn)
			}
		})
	}

	// With surge, an old pod goes once the new pod on its node is available.
	ds := newDS()
	ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr(intstr.FromInt32(0)), MaxSurge: ptr(intstr.FromInt32(1))}
	hash := history.Hash(mustPatch(t, ds), nil)
	f := newFixture(t, ds, nodes[:1], daemonPod(ds, "old", "a", "oldhash", true), daemonPod(ds, "new", "a", hash, true))
	f.sync(t)
	if got := f.deleted(); fmt.Sprint(got) != "[old]" {
		t.Errorf("deleted %v, want [old]", got)
	}

	// OnDelete leaves old pods alone.
	ds = newDS()
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	f = newFixture(t, ds, nodes[:2], daemonPod(ds, "old-a", "a", "oldhash", true), daemonPod(ds, "old-b", "b", "oldhash", true))
	f.sync(t)
	if got := f.deleted(); len(got) != 0 {
		t.Errorf("OnDelete deleted %v", got)
	}
}
