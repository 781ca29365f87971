package replicaset

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/controller/controllertest"
)

func TestSlowStartBatch(t *testing.T) {
	for _, tc := range []struct {
		name           string
		count, failAt  int
		wantOK, wantFn int
	}{
		{name: "all succeed", count: 10, failAt: -1, wantOK: 10, wantFn: 10},
		{name: "first fails", count: 10, failAt: 0, wantOK: 0, wantFn: 1},
		// Batches 1, 2, 4: the failure in the third batch stops before
		// the fourth.
		{name: "fails in third batch", count: 10, failAt: 4, wantOK: 6, wantFn: 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			ok, err := slowStartBatch(tc.count, 1, func() error {
				n := calls.Add(1) - 1
				if tc.failAt >= 0 && int(n) >= tc.failAt && int(n) < tc.failAt+1 {
					return errors.New("boom")
				}
				return nil
			})
			if ok != tc.wantOK || int(calls.Load()) != tc.wantFn || (err != nil) != (tc.failAt >= 0) {
				t.Fatalf("got %d ok, %d calls, err %v; want %d ok, %d calls", ok, calls.Load(), err, tc.wantOK, tc.wantFn)
			}
		})
	}
}

func pod(name string, mod func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: metav1.NewTime(time.Unix(1000, 0))},
		Spec:   corev1.PodSpec{NodeName: "n1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(time.Unix(2000, 0))}}}}
	if mod != nil {
		mod(p)
	}
	return p
}

func TestPodsToDeleteRanking(t *testing.T) {
	notReady := func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }
	for _, tc := range []struct {
		name string
		a, b *corev1.Pod // a goes first
	}{
		{"unscheduled first", pod("a", func(p *corev1.Pod) { p.Spec.NodeName = "" }), pod("b", nil)},
		{"pending first", pod("a", func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }), pod("b", nil)},
		{"not ready first", pod("a", notReady), pod("b", nil)},
		{"lower deletion cost first", pod("a", func(p *corev1.Pod) {
			p.Annotations = map[string]string{podDeletionCostAnnotation: "-5"}
		}), pod("b", nil)},
		{"ready more recently first", pod("a", func(p *corev1.Pod) { p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(time.Unix(3000, 0)) }), pod("b", nil)},
		{"more restarts first", pod("a", func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: 3}} }), pod("b", nil)},
		{"newer first", pod("a", func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(time.Unix(1500, 0)) }), pod("b", nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, order := range [][]*corev1.Pod{{tc.a, tc.b}, {tc.b, tc.a}} {
				got := podsToDelete(order, nil, 1)
				if got[0].Name != "a" {
					t.Fatalf("deleted %s first, want a", got[0].Name)
				}
			}
		})
	}
	// Pods doubled up on a node go before a lone one.
	a, b := pod("a", nil), pod("b", func(p *corev1.Pod) { p.Spec.NodeName = "n2" })
	other := pod("other", nil)
	if got := podsToDelete([]*corev1.Pod{b, a}, []*corev1.Pod{a, b, other}, 1); got[0].Name != "a" {
		t.Fatalf("deleted %s, want the doubled-up a", got[0].Name)
	}
}

func TestRCConversionRoundTrip(t *testing.T) {
	two := int32(2)
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: "ns", UID: "u", Generation: 3},
		Spec: corev1.ReplicationControllerSpec{Replicas: &two, MinReadySeconds: 5, Selector: map[string]string{"a": "b"},
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}}}},
		Status: corev1.ReplicationControllerStatus{Replicas: 1, ReadyReplicas: 1, ObservedGeneration: 2,
			Conditions: []corev1.ReplicationControllerCondition{{Type: corev1.ReplicationControllerReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate"}}},
	}
	rs := rcToRS(rc)
	if rs.Spec.Selector.MatchLabels["a"] != "b" || *rs.Spec.Replicas != 2 || rs.Status.Conditions[0].Type != appsv1.ReplicaSetReplicaFailure {
		t.Fatalf("rs view %+v", rs)
	}
	back := rsToRC(rs)
	if back.Name != "rc" || back.Spec.Selector["a"] != "b" || back.Spec.Template.Labels["a"] != "b" || back.Status.Conditions[0].Reason != "FailedCreate" || back.Status.ObservedGeneration != 2 {
		t.Fatalf("round trip %+v", back)
	}
}

// fixture runs a controller's sync against a fake clientset whose
// informers were filled with objs.
type fixture struct {
	t      *testing.T
	client *fake.Clientset
	c      *Controller
}

func newFixture(t *testing.T, rc bool, objs ...runtime.Object) *fixture {
	client := fake.NewClientset(objs...)
	controllertest.GenerateNames(client)
	factory := informers.NewSharedInformerFactory(client, 0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var c *Controller
	if rc {
		c = NewReplicationController(client, factory, log)
	} else {
		c = New(client, factory, log)
	}
	t.Cleanup(c.stopRecorder)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return &fixture{t: t, client: client, c: c}
}

func (f *fixture) actions(verb, resource string) []k8stesting.Action {
	var out []k8stesting.Action
	for _, a := range f.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource {
			out = append(out, a)
		}
	}
	return out
}

func replicaSet(n int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "rs-uid", Generation: 1},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}},
		},
	}
}

func TestSyncCreatesOnceAndReportsStatus(t *testing.T) {
	f := newFixture(t, false, replicaSet(3))
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	creates := f.actions("create", "pods")
	if len(creates) != 3 {
		t.Fatalf("%d pods created, want 3", len(creates))
	}
	p := creates[0].(k8stesting.CreateAction).GetObject().(*corev1.Pod)
	if p.GenerateName != "web-" || metav1.GetControllerOf(p).UID != "rs-uid" {
		t.Fatalf("pod %+v", p.ObjectMeta)
	}
	// The creates are not observed yet: another sync must not add more.
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.actions("create", "pods")); n != 3 {
		t.Fatalf("%d pods created after a second sync, want still 3", n)
	}
	updates := f.actions("update", "replicasets")
	if len(updates) == 0 {
		t.Fatal("no status update")
	}
	st := updates[len(updates)-1].(k8stesting.UpdateAction).GetObject().(*appsv1.ReplicaSet).Status
	if st.ObservedGeneration != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestSyncCreateFailureSetsReplicaFailure(t *testing.T) {
	f := newFixture(t, false, replicaSet(4))
	f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("exceeded quota"))
	})
	if err := f.c.sync(context.Background(), "ns/web"); err == nil {
		t.Fatal("sync succeeded though creates fail")
	}
	// Slow start: the first failure stops the burst.
	if n := len(f.actions("create", "pods")); n != 1 {
		t.Fatalf("%d create attempts, want 1", n)
	}
	// The failed create counts as observed: the next sync may try again.
	if !f.c.exp.Satisfied("ns/web") {
		t.Fatal("expectations still wait for a pod that was never created")
	}
	updates := f.actions("update", "replicasets")
	st := updates[len(updates)-1].(k8stesting.UpdateAction).GetObject().(*appsv1.ReplicaSet).Status
	if len(st.Conditions) != 1 || st.Conditions[0].Type != appsv1.ReplicaSetReplicaFailure || st.Conditions[0].Reason != "FailedCreate" {
		t.Fatalf("conditions %+v", st.Conditions)
	}
}

func TestSyncDeletesSurplus(t *testing.T) {
	ref := *metav1.NewControllerRef(replicaSet(1), appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))
	owned := func(name string, mod func(*corev1.Pod)) *corev1.Pod {
		return pod(name, func(p *corev1.Pod) {
			p.Labels = map[string]string{"app": "web"}
			p.OwnerReferences = []metav1.OwnerReference{ref}
			if mod != nil {
				mod(p)
			}
		})
	}
	f := newFixture(t, false, replicaSet(1),
		owned("ready-old", nil),
		owned("pending", func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending; p.Status.Conditions = nil }),
		owned("ready-new", func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(time.Unix(1500, 0)) }))
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	deleted := map[string]bool{}
	for _, a := range f.actions("delete", "pods") {
		deleted[a.(k8stesting.DeleteAction).GetName()] = true
	}
	if len(deleted) != 2 || !deleted["pending"] || !deleted["ready-new"] {
		t.Fatalf("deleted %v, want pending and ready-new", deleted)
	}
}

func TestReplicationControllerSync(t *testing.T) {
	two := int32(2)
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: "ns", UID: "rc-uid", Generation: 1},
		Spec: corev1.ReplicationControllerSpec{Replicas: &two, Selector: map[string]string{"app": "legacy"},
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "legacy"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}},
	}
	f := newFixture(t, true, rc)
	if err := f.c.sync(context.Background(), "ns/legacy"); err != nil {
		t.Fatal(err)
	}
	creates := f.actions("create", "pods")
	if len(creates) != 2 {
		t.Fatalf("%d pods created, want 2", len(creates))
	}
	ref := metav1.GetControllerOf(creates[0].(k8stesting.CreateAction).GetObject().(*corev1.Pod))
	if ref.Kind != "ReplicationController" || ref.APIVersion != "v1" || ref.UID != "rc-uid" {
		t.Fatalf("owner %+v", ref)
	}
	if len(f.actions("update", "replicationcontrollers")) == 0 {
		t.Fatal("no status update of the replication controller")
	}
}

func TestDeleteObservedOncePerPod(t *testing.T) {
	f := newFixture(t, false, replicaSet(1))
	ref := *metav1.NewControllerRef(replicaSet(1), appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))
	mk := func(name string) *corev1.Pod {
		return pod(name, func(p *corev1.Pod) {
			p.UID = types.UID(name)
			p.OwnerReferences = []metav1.OwnerReference{ref}
		})
	}
	a, b := mk("a"), mk("b")
	f.c.exp.Expect("ns/web", 0, 2)
	going := a.DeepCopy()
	now := metav1.Now()
	going.DeletionTimestamp = &now
	going.ResourceVersion = "2"
	f.c.updatePod(a, going)
	f.c.deletePod(going)
	if f.c.exp.Satisfied("ns/web") {
		t.Fatal("one pod going and gone counted as two deletes")
	}
	f.c.deletePod(cache.DeletedFinalStateUnknown{Key: "ns/b", Obj: b})
	if !f.c.exp.Satisfied("ns/web") {
		t.Fatal("both deletes observed but expectations not satisfied")
	}
}

func TestStatusCountsTerminatingAndAvailable(t *testing.T) {
	rs := replicaSet(3)
	rs.UID = "rs-uid"
	rs.Spec.MinReadySeconds = 10
	sel, _ := selectorOf(rs)
	ref := *metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))
	now := metav1.Now()
	readyFor := func(d time.Duration) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Labels = map[string]string{"app": "web"}
			p.OwnerReferences = []metav1.OwnerReference{ref}
			p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(now.Add(-d))
		}
	}
	active := []*corev1.Pod{pod("long", readyFor(time.Minute)), pod("recent", readyFor(time.Second))}
	gone := pod("gone", func(p *corev1.Pod) {
		readyFor(time.Minute)(p)
		p.DeletionTimestamp = &now
	})
	n := terminating(rs, sel, append(active, gone))
	st := calculateStatus(rs, active, &n, nil, now)
	if st.Replicas != 2 || st.ReadyReplicas != 2 || st.AvailableReplicas != 1 || st.FullyLabeledReplicas != 2 || *st.TerminatingReplicas != 1 {
		t.Fatalf("status %+v", st)
	}
}
