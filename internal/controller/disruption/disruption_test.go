package disruption

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	c       *Controller
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	events  *record.FakeRecorder
}

func newEnv(t *testing.T) *env {
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.stop()
	rec := record.NewFakeRecorder(100)
	c.recorder = rec
	c.now = func() time.Time { return now }
	return &env{c: c, client: client, factory: factory, events: rec}
}

func (e *env) add(t *testing.T, objs ...any) {
	t.Helper()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Pod:
			err = e.factory.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *appsv1.ReplicaSet:
			err = e.factory.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(o)
		case *appsv1.Deployment:
			err = e.factory.Apps().V1().Deployments().Informer().GetIndexer().Add(o)
		case *appsv1.StatefulSet:
			err = e.factory.Apps().V1().StatefulSets().Informer().GetIndexer().Add(o)
		case *policyv1.PodDisruptionBudget:
			if err = e.factory.Policy().V1().PodDisruptionBudgets().Informer().GetIndexer().Add(o); err == nil {
				_, err = e.client.PolicyV1().PodDisruptionBudgets(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func (e *env) sync(t *testing.T, name string) *policyv1.PodDisruptionBudget {
	t.Helper()
	_ = e.c.sync(context.Background(), "ns/"+name)
	pdb, err := e.client.PolicyV1().PodDisruptionBudgets("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pdb
}

func (e *env) drainEvents() []string {
	var out []string
	for {
		select {
		case ev := <-e.events.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func pod(name string, ready bool, owner metav1.Object, kind string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "x"}}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: owner.GetName(), UID: owner.GetUID(), Controller: ptr.To(true)}}
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	return p
}

func budget(name string, minAvailable, maxUnavailable *intstr.IntOrString) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Generation: 1},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: minAvailable, MaxUnavailable: maxUnavailable,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}},
	}
}

// deploymentPods returns a Deployment of replicas, its ReplicaSet and n
// pods, ready ones first.
func deploymentPods(replicas int32, n, ready int) []any {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns", UID: "d-uid"}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas)}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "d-1", Namespace: "ns", UID: "rs-uid",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "d", UID: "d-uid", Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(99))}}
	out := []any{d, rs}
	for i := 0; i < n; i++ {
		out = append(out, pod("p"+string(rune('a'+i)), i < ready, rs, "ReplicaSet"))
	}
	return out
}

func TestStatus(t *testing.T) {
	for _, c := range []struct {
		name                                string
		min, max                            *intstr.IntOrString
		objs                                []any
		expected, desired, healthy, allowed int32
		reason                              string
	}{
		{"minAvailable int", ptr.To(intstr.FromInt32(2)), nil, deploymentPods(3, 3, 3), 3, 2, 3, 1, policyv1.SufficientPodsReason},
		{"minAvailable int, one unready", ptr.To(intstr.FromInt32(2)), nil, deploymentPods(3, 3, 2), 3, 2, 2, 0, policyv1.InsufficientPodsReason},
		{"maxUnavailable uses the deployment's scale", nil, ptr.To(intstr.FromInt32(1)), deploymentPods(5, 3, 3), 5, 4, 3, 0, policyv1.InsufficientPodsReason},
		{"minAvailable percent rounds up", ptr.To(intstr.FromString("50%")), nil, deploymentPods(3, 3, 3), 3, 2, 3, 1, policyv1.SufficientPodsReason},
		{"maxUnavailable percent", nil, ptr.To(intstr.FromString("40%")), deploymentPods(5, 5, 5), 5, 3, 5, 2, policyv1.SufficientPodsReason},
		{"no pods", ptr.To(intstr.FromInt32(1)), nil, nil, 0, 1, 0, 0, policyv1.InsufficientPodsReason},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.add(t, c.objs...)
			e.add(t, budget("b", c.min, c.max))
			got := e.sync(t, "b")
			s := got.Status
			if s.ExpectedPods != c.expected || s.DesiredHealthy != c.desired || s.CurrentHealthy != c.healthy || s.DisruptionsAllowed != c.allowed || s.ObservedGeneration != 1 {
				t.Fatalf("status %+v, want expected %d desired %d healthy %d allowed %d", s, c.expected, c.desired, c.healthy, c.allowed)
			}
			cond := apimeta.FindStatusCondition(s.Conditions, policyv1.DisruptionAllowedCondition)
			if cond == nil || cond.Reason != c.reason {
				t.Fatalf("condition %+v, want reason %s", cond, c.reason)
			}
		})
	}
}

func TestEvents(t *testing.T) {
	e := newEnv(t)
	e.add(t, budget("b", ptr.To(intstr.FromInt32(1)), nil))
	e.sync(t, "b")
	if evs := e.drainEvents(); len(evs) != 1 || evs[0] != "Normal NoPods No matching pods found" {
		t.Fatalf("events %q", evs)
	}

	// A pod without a controller cannot be scaled: warned, not counted.
	e = newEnv(t)
	e.add(t, pod("lone", true, nil, ""), budget("b", nil, ptr.To(intstr.FromInt32(1))))
	got := e.sync(t, "b")
	if evs := e.drainEvents(); len(evs) != 1 || !strings.HasPrefix(evs[0], "Warning UnmanagedPods Pods selected by this PodDisruptionBudget") {
		t.Fatalf("events %q", evs)
	}
	if got.Status.ExpectedPods != 0 || got.Status.DisruptionsAllowed != 0 {
		t.Fatalf("status %+v", got.Status)
	}

	// A controller that cannot be found fails safe.
	e = newEnv(t)
	missing := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "gone", UID: types.UID("gone")}}
	e.add(t, pod("orphan", true, missing, "ReplicaSet"), budget("b", nil, ptr.To(intstr.FromInt32(1))))
	got = e.sync(t, "b")
	evs := e.drainEvents()
	if len(evs) != 1 || evs[0] != `Warning CalculateExpectedPodCountFailed Failed to calculate the number of expected pods: found no controllers for pod "orphan"` {
		t.Fatalf("events %q", evs)
	}
	cond := apimeta.FindStatusCondition(got.Status.Conditions, policyv1.DisruptionAllowedCondition)
	if cond == nil || cond.Reason != policyv1.SyncFailedReason || cond.Status != metav1.ConditionFalse || got.Status.DisruptionsAllowed != 0 {
		t.Fatalf("fail-safe status %+v", got.Status)
	}
}

func TestDisruptedPods(t *testing.T) {
	e := newEnv(t)
	objs := deploymentPods(3, 3, 3)
	e.add(t, objs...)
	b := budget("b", ptr.To(intstr.FromInt32(1)), nil)
	b.Status.DisruptedPods = map[string]metav1.Time{
		"pa":   metav1.NewTime(now.Add(-30 * time.Second)), // recent: kept, not healthy
		"pb":   metav1.NewTime(now.Add(-3 * time.Minute)),  // never deleted: dropped
		"gone": metav1.NewTime(now.Add(-10 * time.Second)), // pod gone: dropped
	}
	e.add(t, b)
	got := e.sync(t, "b")
	if _, ok := got.Status.DisruptedPods["pa"]; !ok || len(got.Status.DisruptedPods) != 1 {
		t.Fatalf("disruptedPods %v", got.Status.DisruptedPods)
	}
	if got.Status.CurrentHealthy != 2 || got.Status.DisruptionsAllowed != 1 {
		t.Fatalf("status %+v", got.Status)
	}
	if evs := e.drainEvents(); len(evs) != 1 || evs[0] != "Warning NotDeleted Pod was expected by PDB ns/b to be deleted but it wasn't" {
		t.Fatalf("events %q", evs)
	}

	// A pod being deleted no longer counts, and its entry is forgotten.
	e = newEnv(t)
	objs = deploymentPods(3, 3, 3)
	ts := metav1.NewTime(now)
	objs[2].(*corev1.Pod).DeletionTimestamp = &ts
	e.add(t, objs...)
	b = budget("b", ptr.To(intstr.FromInt32(1)), nil)
	b.Status.DisruptedPods = map[string]metav1.Time{"pa": metav1.NewTime(now.Add(-time.Second))}
	e.add(t, b)
	got = e.sync(t, "b")
	if len(got.Status.DisruptedPods) != 0 || got.Status.CurrentHealthy != 2 {
		t.Fatalf("status %+v", got.Status)
	}
}

func TestBudgetsForPod(t *testing.T) {
	e := newEnv(t)
	all := budget("all", ptr.To(intstr.FromInt32(1)), nil)
	all.Spec.Selector = &metav1.LabelSelector{}
	none := budget("none", ptr.To(intstr.FromInt32(1)), nil)
	none.Spec.Selector = nil
	other := budget("other", ptr.To(intstr.FromInt32(1)), nil)
	other.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "y"}}
	e.add(t, all, none, other, budget("x", ptr.To(intstr.FromInt32(1)), nil))
	var names []string
	for _, b := range e.c.budgetsFor(pod("p", true, nil, "")) {
		names = append(names, b.Name)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "all,x" {
		t.Fatalf("budgets for pod: %v", names)
	}
}

func TestStaleDisruptionTarget(t *testing.T) {
	e := newEnv(t)
	p := pod("p", true, nil, "")
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: "EvictionByEvictionAPI", LastTransitionTime: metav1.NewTime(now.Add(-StalePodDisruptionTimeout - time.Second))})
	created, err := e.client.CoreV1().Pods("ns").Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.add(t, created)
	if err := e.c.syncStalePod(context.Background(), "ns/p"); err != nil {
		t.Fatal(err)
	}
	got, err := e.client.CoreV1().Pods("ns").Get(context.Background(), "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status != corev1.ConditionFalse {
			t.Fatalf("stale DisruptionTarget kept: %+v", c)
		}
	}
	// A recent condition is left alone until it is stale.
	if has, wait := staleDisruption(p, now.Add(-time.Minute)); !has || wait != time.Minute-time.Second {
		t.Fatalf("staleDisruption: %v %v", has, wait)
	}
}
