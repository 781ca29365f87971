package statefulset

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"skiff/internal/controller/history"
)

type fixture struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
	set     *appsv1.StatefulSet
}

func testSet(replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "set-uid", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: "web",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
			}},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
		},
	}
}

func newFixture(t *testing.T, set *appsv1.StatefulSet) *fixture {
	client := fake.NewClientset(set)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(c.stopRecorder)
	f := &fixture{t: t, client: client, factory: factory, c: c, set: set}
	f.add(set)
	return f
}

// add puts obj in the informer caches only, as if watched.
func (f *fixture) add(obj runtime.Object) {
	var err error
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		err = f.factory.Apps().V1().StatefulSets().Informer().GetIndexer().Add(o)
	case *corev1.Pod:
		err = f.factory.Core().V1().Pods().Informer().GetIndexer().Update(o)
	case *appsv1.ControllerRevision:
		err = f.factory.Apps().V1().ControllerRevisions().Informer().GetIndexer().Add(o)
	case *corev1.PersistentVolumeClaim:
		err = f.factory.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(o)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

// sync runs one sync and returns the write actions it made, then feeds
// the pods, claims and revisions it created back into the caches.
func (f *fixture) sync() []k8stesting.Action {
	f.t.Helper()
	f.client.ClearActions()
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		f.t.Fatal(err)
	}
	var writes []k8stesting.Action
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "get" || a.GetVerb() == "list" || a.GetVerb() == "watch" || a.GetResource().Resource == "events" {
			continue
		}
		writes = append(writes, a)
		if ca, ok := a.(k8stesting.CreateAction); ok {
			obj := ca.GetObject().DeepCopyObject()
			if p, ok := obj.(*corev1.Pod); ok {
				p.UID = types.UID("uid-" + p.Name)
				p.Status.Phase = corev1.PodPending
			}
			f.add(obj)
		}
	}
	return writes
}

func describe(actions []k8stesting.Action) []string {
	var out []string
	for _, a := range actions {
		s := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		switch x := a.(type) {
		case k8stesting.CreateAction:
			if m, ok := x.GetObject().(metav1.Object); ok {
				s += " " + m.GetName()
			}
		case k8stesting.DeleteAction:
			s += " " + x.GetName()
		}
		out = append(out, s)
	}
	return out
}

// podsOf keeps the pod creates and deletes of actions.
func podsOf(actions []k8stesting.Action) []string {
	var out []string
	for _, s := range describe(actions) {
		if len(s) > 11 && (s[:11] == "create pods" || s[:11] == "delete pods") {
			out = append(out, s)
		}
	}
	return out
}

func (f *fixture) pod(name string) *corev1.Pod {
	obj, ok, _ := f.factory.Core().V1().Pods().Informer().GetIndexer().GetByKey("ns/" + name)
	if !ok {
		f.t.Fatalf("no pod %s", name)
	}
	return obj.(*corev1.Pod).DeepCopy()
}

func (f *fixture) setReady(name string) {
	p := f.pod(name)
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	f.add(p)
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: got %q, want %q", what, got, want)
		}
	}
}

func TestOrderedReadyCreatesOneAtATime(t *testing.T) {
	f := newFixture(t, testSet(3))
	got := describe(f.sync())
	// Revision, then the claim before its pod, then status.
	equal(t, "first sync", got, []string{"create controllerrevisions " + got[0][len("create controllerrevisions "):], "create persistentvolumeclaims data-web-0", "create pods web-0", "update statefulsets/status web"})
	p := f.pod("web-0")
	if p.Spec.Hostname != "web-0" || p.Spec.Subdomain != "web" || p.Labels[appsv1.StatefulSetPodNameLabel] != "web-0" ||
		p.Labels[appsv1.PodIndexLabel] != "0" || p.Labels[appsv1.StatefulSetRevisionLabel] == "" || p.Labels["app"] != "web" {
		t.Fatalf("identity of web-0: %+v %+v", p.Labels, p.Spec)
	}
	if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].PersistentVolumeClaim == nil || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-web-0" {
		t.Fatalf("volumes of web-0: %+v", p.Spec.Volumes)
	}
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != "set-uid" || ref.Kind != "StatefulSet" {
		t.Fatalf("owner of web-0: %+v", p.OwnerReferences)
	}
	// web-0 pending: nothing more.
	equal(t, "web-0 pending", podsOf(f.sync()), nil)
	f.setReady("web-0")
	equal(t, "web-0 ready", podsOf(f.sync()), []string{"create pods web-1"})
	f.setReady("web-1")
	equal(t, "web-1 ready", podsOf(f.sync()), []string{"create pods web-2"})
}

func TestParallelCreatesAll(t *testing.T) {
	set := testSet(3)
	set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	f := newFixture(t, set)
	equal(t, "parallel", podsOf(f.sync()), []string{"create pods web-0", "create pods web-1", "create pods web-2"})
}

// running builds the fixture of a set whose pods 0..n-1 run and are ready
// at the set's current template.
func running(t *testing.T, set *appsv1.StatefulSet, n int) *fixture {
	f := newFixture(t, set)
	for i := 0; i < n; i++ {
		f.sync()
		f.setReady(podName(set, i))
	}
	f.sync()
	return f
}

func TestScaleDownHighestFirst(t *testing.T) {
	f := running(t, testSet(3), 3)
	one := int32(1)
	f.set.Spec.Replicas = &one
	f.add(f.set)
	equal(t, "scale down", podsOf(f.sync()), []string{"delete pods web-2"})
	// Until web-2 is seen going, nothing else happens.
	equal(t, "waiting for cache", podsOf(f.sync()), nil)
	p := f.pod("web-2")
	now := metav1.Now()
	p.DeletionTimestamp = &now
	f.add(p)
	equal(t, "web-2 terminating", podsOf(f.sync()), nil)
	if err := f.factory.Core().V1().Pods().Informer().GetIndexer().Delete(p); err != nil {
		t.Fatal(err)
	}
	equal(t, "web-2 gone", podsOf(f.sync()), []string{"delete pods web-1"})
}

func TestFailedPodIsReplaced(t *testing.T) {
	f := running(t, testSet(2), 2)
	p := f.pod("web-0")
	p.Status.Phase = corev1.PodFailed
	f.add(p)
	equal(t, "failed", podsOf(f.sync()), []string{"delete pods web-0"})
}

func TestRollingUpdateFromHighest(t *testing.T) {
	f := running(t, testSet(3), 3)
	// The revision the pods run is now in the cache.
	f.set.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	f.set.Generation = 2
	f.add(f.set)
	equal(t, "rollout", podsOf(f.sync()), []string{"delete pods web-2"})
}

func TestOnDeleteLeavesPods(t *testing.T) {
	set := testSet(2)
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	f := running(t, set, 2)
	f.set.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	f.add(f.set)
	equal(t, "on delete", podsOf(f.sync()), nil)
}

func TestRevisionPatchRoundTrips(t *testing.T) {
	set := testSet(1)
	rev, err := newRevision(set, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]map[string]map[string]any
	if err := json.Unmarshal(rev.Data.Raw, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["spec"]["template"]["$patch"] != "replace" || len(raw) != 1 || len(raw["spec"]) != 1 {
		t.Fatalf("revision data %s", rev.Data.Raw)
	}
	tmpl, err := history.TemplateOf(rev)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Spec.Containers[0].Image != "nginx:1" || tmpl.Labels["app"] != "web" {
		t.Fatalf("template back: %+v", tmpl)
	}
	if rev.Revision != 3 || rev.Labels[revisionHashLabel] == "" || rev.Name != "web-"+rev.Labels[revisionHashLabel] || rev.Labels["app"] != "web" {
		t.Fatalf("revision meta: %s %v %d", rev.Name, rev.Labels, rev.Revision)
	}
	other := set.DeepCopy()
	other.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	rev2, _ := newRevision(other, 4, nil)
	if rev2.Name == rev.Name {
		t.Fatal("different templates got the same revision name")
	}
	var cc int32 = 1
	if rev3, _ := newRevision(set, 3, &cc); rev3.Name == rev.Name {
		t.Fatal("collision count did not change the name")
	}
}

func TestClaimOwners(t *testing.T) {
	del, ret := appsv1.DeletePersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", UID: "pod-uid"}}
	for _, tc := range []struct {
		name                   string
		whenDeleted, whenScale appsv1.PersistentVolumeClaimRetentionPolicyType
		scaledDown             bool
		want                   []string
	}{
		{"retain", ret, ret, false, nil},
		{"retain scaled", ret, ret, true, nil},
		{"delete with set", del, ret, false, []string{"set-uid"}},
		{"delete with set, scaled", del, ret, true, []string{"set-uid"}},
		{"delete when scaled, in range", ret, del, false, nil},
		{"delete when scaled", ret, del, true, []string{"pod-uid"}},
		{"both, in range", del, del, false, []string{"set-uid"}},
		{"both, scaled", del, del, true, []string{"pod-uid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := testSet(1)
			set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: tc.whenDeleted, WhenScaled: tc.whenScale}
			// Start from the opposite state to see both adds and removes.
			start := []metav1.OwnerReference{{Name: "web", UID: "set-uid"}, {Name: "web-1", UID: "pod-uid"}}
			for _, from := range [][]metav1.OwnerReference{nil, start} {
				refs, _ := claimOwners(from, set, pod, tc.scaledDown)
				var got []string
				for _, r := range refs {
					got = append(got, string(r.UID))
				}
				sort.Strings(got)
				equal(t, "owners", got, tc.want)
			}
		})
	}
}

func TestOrdinalOf(t *testing.T) {
	set := testSet(1)
	for name, want := range map[string]int{"web-0": 0, "web-12": 12, "web-x": -1, "other-1": -1, "web-01": -1, "web": -1, "web-web-1": -1} {
		if got := ordinalOf(set, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}); got != want {
			t.Errorf("ordinalOf(%s) = %d, want %d", name, got, want)
		}
	}
}

func TestMaxUnavailableReplacesSeveral(t *testing.T) {
	set := testSet(4)
	two := intstr.FromInt32(2)
	zero := int32(0)
	set.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: &zero, MaxUnavailable: &two}
	f := running(t, set, 4)
	f.set.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	f.add(f.set)
	equal(t, "rollout", podsOf(f.sync()), []string{"delete pods web-3", "delete pods web-2"})
}

func TestPartitionKeepsLowerOrdinals(t *testing.T) {
	set := testSet(3)
	two := int32(2)
	set.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: &two}
	f := running(t, set, 3)
	f.set.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	f.add(f.set)
	equal(t, "rollout", podsOf(f.sync()), []string{"delete pods web-2"})
	if err := f.factory.Core().V1().Pods().Informer().GetIndexer().Delete(f.pod("web-2")); err != nil {
		t.Fatal(err)
	}
	equal(t, "recreate above partition", podsOf(f.sync()), []string{"create pods web-2"})
	if f.pod("web-2").Labels[appsv1.StatefulSetRevisionLabel] == f.pod("web-1").Labels[appsv1.StatefulSetRevisionLabel] {
		t.Fatal("web-2 was re-created at the old revision")
	}
	f.setReady("web-2")
	// web-0 and web-1 are below the partition: never replaced.
	equal(t, "below partition", podsOf(f.sync()), nil)
}

func TestWaitsForOwnCreatesInCache(t *testing.T) {
	f := newFixture(t, testSet(2))
	equal(t, "first", podsOf(f.sync()), []string{"create pods web-0"})
	p := f.pod("web-0")
	if err := f.factory.Core().V1().Pods().Informer().GetIndexer().Delete(p); err != nil {
		t.Fatal(err)
	}
	// The cache lags: no second create of web-0.
	equal(t, "stale cache", podsOf(f.sync()), nil)
	// Its event arrives (here: already gone again): the set acts again.
	f.c.podChanged(p, true)
	equal(t, "after event", podsOf(f.sync()), []string{"create pods web-0"})
}

func TestStatusCompletesRollout(t *testing.T) {
	set := testSet(2)
	cur := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-a"}}
	upd := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-b"}}
	pod := func(name, rev string, ready bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{appsv1.StatefulSetRevisionLabel: rev}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		if ready {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}
		return p
	}
	st := computeStatus(set, []*corev1.Pod{pod("web-0", "web-a", true), pod("web-1", "web-b", false)}, cur, upd, 0, time.Now())
	if st.Replicas != 2 || st.ReadyReplicas != 1 || st.CurrentReplicas != 1 || st.UpdatedReplicas != 1 || st.CurrentRevision != "web-a" || st.UpdateRevision != "web-b" || st.ObservedGeneration != 1 {
		t.Fatalf("mid rollout: %+v", st)
	}
	st = computeStatus(set, []*corev1.Pod{pod("web-0", "web-b", true), pod("web-1", "web-b", true)}, cur, upd, 0, time.Now())
	if st.CurrentRevision != "web-b" || st.CurrentReplicas != 2 || st.UpdatedReplicas != 2 || st.AvailableReplicas != 2 {
		t.Fatalf("rolled out: %+v", st)
	}
}
