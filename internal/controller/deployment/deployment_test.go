package deployment

import (
	"context"
	"io"
	"log/slog"
	"strings"
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
)

func TestFenceposts(t *testing.T) {
	for _, tc := range []struct {
		replicas               int32
		surge, unavail         intstr.IntOrString
		wantSurge, wantUnavail int32
	}{
		{4, intstr.FromString("25%"), intstr.FromString("25%"), 1, 1},
		{3, intstr.FromString("25%"), intstr.FromString("25%"), 1, 0},
		{10, intstr.FromString("25%"), intstr.FromString("25%"), 3, 2},
		{1, intstr.FromInt32(0), intstr.FromString("10%"), 0, 1}, // both 0: one may be unavailable
		{5, intstr.FromInt32(2), intstr.FromInt32(7), 2, 5},      // unavailable capped at replicas
	} {
		d := deploymentOf(tc.replicas, "img:1")
		d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &tc.surge, MaxUnavailable: &tc.unavail}
		if s, u := maxSurge(d), maxUnavailable(d); s != tc.wantSurge || u != tc.wantUnavail {
			t.Errorf("replicas %d surge %s unavailable %s: got %d/%d, want %d/%d", tc.replicas, tc.surge.String(), tc.unavail.String(), s, u, tc.wantSurge, tc.wantUnavail)
		}
	}
	d := deploymentOf(4, "img:1")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if maxSurge(d) != 0 || maxUnavailable(d) != 0 {
		t.Error("Recreate has no surge or unavailability budget")
	}
}

func TestComputeHash(t *testing.T) {
	a := deploymentOf(1, "img:1").Spec.Template
	b := deploymentOf(1, "img:2").Spec.Template
	ha, hb := computeHash(&a, nil), computeHash(&b, nil)
	if ha == hb || ha != computeHash(a.DeepCopy(), nil) {
		t.Fatalf("hashes %s %s", ha, hb)
	}
	one := int32(1)
	if computeHash(&a, &one) == ha {
		t.Fatal("the collision count does not change the hash")
	}
	for _, r := range ha {
		if strings.ContainsRune("aeiou0123", r) {
			t.Fatalf("hash %s is not safe-encoded", ha)
		}
	}
}

func TestSetNewReplicaSetAnnotations(t *testing.T) {
	d := deploymentOf(3, "img:1")
	d.Annotations = map[string]string{"team": "x", corev1.LastAppliedConfigAnnotation: "{}", revisionAnnotation: "9"}
	rs := &appsv1.ReplicaSet{}
	if !setNewReplicaSetAnnotations(d, rs, "1", false) {
		t.Fatal("no change reported")
	}
	want := map[string]string{"team": "x", revisionAnnotation: "1", desiredReplicasAnnotation: "3", maxReplicasAnnotation: "4"}
	for k, v := range want {
		if rs.Annotations[k] != v {
			t.Errorf("%s=%q, want %q", k, rs.Annotations[k], v)
		}
	}
	if _, ok := rs.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
		t.Error("last-applied configuration copied")
	}
	// Same revision again: nothing to do.
	if setNewReplicaSetAnnotations(d, rs, "1", true) {
		t.Error("change reported for an up-to-date replica set")
	}
	// Reused by a rollback: the next revision, the old ones kept.
	setNewReplicaSetAnnotations(d, rs, "3", true)
	setNewReplicaSetAnnotations(d, rs, "5", true)
	if rs.Annotations[revisionAnnotation] != "5" || rs.Annotations[revisionHistoryAnnotation] != "1,3" {
		t.Errorf("annotations %v", rs.Annotations)
	}
}

func deploymentOf(replicas int32, image string) *appsv1.Deployment {
	quarter := intstr.FromString("25%")
	ten, deadline := int32(10), int32(600)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "d-uid", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &quarter, MaxUnavailable: &quarter}},
			RevisionHistoryLimit:    &ten,
			ProgressDeadlineSeconds: &deadline,
		},
	}
}

// rsFor returns a ReplicaSet of d for the template with image.
func rsFor(d *appsv1.Deployment, image, rev string, size, available int32, created time.Time) *appsv1.ReplicaSet {
	tmpl := d.Spec.Template.DeepCopy()
	tmpl.Spec.Containers[0].Image = image
	hash := computeHash(tmpl, nil)
	tmpl.Labels = withLabel(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: d.Namespace, UID: types.UID("uid-" + hash), Labels: tmpl.Labels,
			CreationTimestamp: metav1.NewTime(created),
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)},
			Annotations:       map[string]string{revisionAnnotation: rev},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &size,
			Selector: selectorWithLabel(d.Spec.Selector, appsv1.DefaultDeploymentUniqueLabelKey, hash),
			Template: *tmpl,
		},
		Status: appsv1.ReplicaSetStatus{Replicas: size, ReadyReplicas: available, AvailableReplicas: available},
	}
}

type fixture struct {
	client   *fake.Clientset
	c        *Controller
	recorder *record.FakeRecorder
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.stopRecorder()
	rec := record.NewFakeRecorder(100)
	c.recorder, c.stopRecorder = rec, func() {}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return &fixture{client: client, c: c, recorder: rec}
}

// sizes returns the spec.replicas the ReplicaSets were updated to.
func (f *fixture) sizes() map[string]int32 {
	out := map[string]int32{}
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "replicasets" {
			rs := a.(k8stesting.UpdateAction).GetObject().(*appsv1.ReplicaSet)
			out[rs.Name] = *rs.Spec.Replicas
		}
	}
	return out
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestRolloutCreatesNewReplicaSetWithinSurge(t *testing.T) {
	d := deploymentOf(4, "img:2")
	old := rsFor(d, "img:1", "1", 4, 4, time.Unix(1000, 0))
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 4, ReadyReplicas: 4, AvailableReplicas: 4}
	f := newFixture(t, d, old)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	var created *appsv1.ReplicaSet
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "replicasets" {
			created = a.(k8stesting.CreateAction).GetObject().(*appsv1.ReplicaSet)
		}
	}
	if created == nil {
		t.Fatal("no new replica set")
	}
	hash := computeHash(&d.Spec.Template, nil)
	if created.Name != "web-"+hash || *created.Spec.Replicas != 1 || created.Annotations[revisionAnnotation] != "2" ||
		created.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash {
		t.Fatalf("new replica set %s: replicas %d annotations %v", created.Name, *created.Spec.Replicas, created.Annotations)
	}
	evs := f.events()
	if len(evs) == 0 || evs[0] != "Normal ScalingReplicaSet Scaled up replica set web-"+hash+" to 1" {
		t.Fatalf("events %q", evs)
	}
	st := lastStatus(t, f)
	if c := getCondition(st, appsv1.DeploymentProgressing); c == nil || c.Reason != newReplicaSetReason {
		t.Fatalf("progressing condition %+v", c)
	}
}

func lastStatus(t *testing.T, f *fixture) appsv1.DeploymentStatus {
	t.Helper()
	var st *appsv1.DeploymentStatus
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "deployments" && a.GetSubresource() == "status" {
			st = &a.(k8stesting.UpdateAction).GetObject().(*appsv1.Deployment).Status
		}
	}
	if st == nil {
		t.Fatal("no status update")
	}
	return *st
}

func TestRolloutScalesOldDownWithinMaxUnavailable(t *testing.T) {
	d := deploymentOf(4, "img:2")
	old := rsFor(d, "img:1", "1", 4, 4, time.Unix(1000, 0))
	newRS := rsFor(d, "img:2", "2", 1, 0, time.Unix(2000, 0))
	for _, rs := range []*appsv1.ReplicaSet{old, newRS} {
		setReplicasAnnotations(rs, 4, 5)
	}
	f := newFixture(t, d, old, newRS)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	// 5 pods wanted of 4+1; 4 available, at least 3 must stay: one old
	// replica goes.
	if got := f.sizes(); len(got) != 1 || got[old.Name] != 3 {
		t.Fatalf("updates %v, want %s to 3", got, old.Name)
	}
	evs := f.events()
	if len(evs) != 1 || evs[0] != "Normal ScalingReplicaSet Scaled down replica set "+old.Name+" to 3 from 4" {
		t.Fatalf("events %q", evs)
	}
}

func TestRolloutWaitsForOldPodsToGo(t *testing.T) {
	d := deploymentOf(4, "img:2")
	// Scaled down to 3, but the ReplicaSet controller has not removed the
	// fourth pod yet: no surge left for the new ReplicaSet.
	old := rsFor(d, "img:1", "1", 3, 4, time.Unix(1000, 0))
	old.Status.Replicas = 4
	newRS := rsFor(d, "img:2", "2", 1, 1, time.Unix(2000, 0))
	for _, rs := range []*appsv1.ReplicaSet{old, newRS} {
		setReplicasAnnotations(rs, 4, 5)
	}
	f := newFixture(t, d, old, newRS)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	// Scaling old further down is judged on 3 available old pods, not 4:
	// available 3+1, minimum 3, so one more may go.
	if got := f.sizes(); len(got) != 1 || got[old.Name] != 2 {
		t.Fatalf("updates %v, want only %s to 2", got, old.Name)
	}
}

func TestProportionalScaling(t *testing.T) {
	d := deploymentOf(15, "img:2")
	old := rsFor(d, "img:1", "1", 8, 8, time.Unix(1000, 0))
	newRS := rsFor(d, "img:2", "2", 5, 5, time.Unix(2000, 0))
	// Sized while the Deployment wanted 10 (13 with surge).
	for _, rs := range []*appsv1.ReplicaSet{old, newRS} {
		setReplicasAnnotations(rs, 10, 13)
	}
	f := newFixture(t, d, old, newRS)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	// 15+4 allowed, 13 there: 6 more, split 8:5 (rounded) as 4 and 2.
	if got := f.sizes(); got[old.Name] != 12 || got[newRS.Name] != 7 {
		t.Fatalf("sizes %v, want %s=12 %s=7", got, old.Name, newRS.Name)
	}
}

func TestPausedDeploymentScalesButDoesNotRollOut(t *testing.T) {
	d := deploymentOf(6, "img:2")
	d.Spec.Paused = true
	old := rsFor(d, "img:1", "1", 3, 3, time.Unix(1000, 0))
	setReplicasAnnotations(old, 3, 4)
	f := newFixture(t, d, old)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "create" {
			t.Fatalf("paused deployment created a %s", a.GetResource().Resource)
		}
	}
	if got := f.sizes(); got[old.Name] != 6 {
		t.Fatalf("sizes %v, want %s=6", got, old.Name)
	}
	if c := getCondition(lastStatus(t, f), appsv1.DeploymentProgressing); c == nil || c.Reason != pausedDeployReason || c.Status != corev1.ConditionUnknown {
		t.Fatalf("progressing condition %+v", c)
	}
}

func TestProgressDeadlineExceeded(t *testing.T) {
	d := deploymentOf(2, "img:2")
	old := rsFor(d, "img:1", "1", 1, 1, time.Unix(1000, 0))
	newRS := rsFor(d, "img:2", "2", 2, 0, time.Unix(2000, 0))
	for _, rs := range []*appsv1.ReplicaSet{old, newRS} {
		setReplicasAnnotations(rs, 2, 3)
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1}
	stale := time.Now().Add(-time.Hour)
	d.Status.Conditions = []appsv1.DeploymentCondition{newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, replicaSetUpdatedReason, "", stale)}
	f := newFixture(t, d, old, newRS)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	c := getCondition(lastStatus(t, f), appsv1.DeploymentProgressing)
	if c == nil || c.Reason != timedOutReason || c.Status != corev1.ConditionFalse || c.Message != `ReplicaSet "`+newRS.Name+`" has timed out progressing.` {
		t.Fatalf("progressing condition %+v", c)
	}
}

func TestCompleteRolloutCleansUpHistory(t *testing.T) {
	d := deploymentOf(2, "img:3")
	one := int32(1)
	d.Spec.RevisionHistoryLimit = &one
	r1 := rsFor(d, "img:1", "1", 0, 0, time.Unix(1000, 0))
	r2 := rsFor(d, "img:2", "2", 0, 0, time.Unix(2000, 0))
	r3 := rsFor(d, "img:3", "3", 2, 2, time.Unix(3000, 0))
	for _, rs := range []*appsv1.ReplicaSet{r1, r2, r3} {
		setReplicasAnnotations(rs, 2, 3)
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
	f := newFixture(t, d, r1, r2, r3)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "delete" {
			deleted = append(deleted, a.(k8stesting.DeleteAction).GetName())
		}
	}
	if len(deleted) != 1 || deleted[0] != r1.Name {
		t.Fatalf("deleted %v, want only %s", deleted, r1.Name)
	}
	st := lastStatus(t, f)
	if c := getCondition(st, appsv1.DeploymentProgressing); c == nil || c.Reason != newRSAvailableReason {
		t.Fatalf("progressing %+v", c)
	}
	if c := getCondition(st, appsv1.DeploymentAvailable); c == nil || c.Reason != minimumReplicasAvailable || c.Status != corev1.ConditionTrue {
		t.Fatalf("available %+v", c)
	}
}

func TestRecreateScalesOldToZeroFirst(t *testing.T) {
	d := deploymentOf(3, "img:2")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	old := rsFor(d, "img:1", "1", 3, 3, time.Unix(1000, 0))
	setReplicasAnnotations(old, 3, 3)
	f := newFixture(t, d, old)
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "create" {
			t.Fatal("new replica set created while old pods run")
		}
	}
	if got := f.sizes(); got[old.Name] != 0 {
		t.Fatalf("sizes %v", got)
	}
}
