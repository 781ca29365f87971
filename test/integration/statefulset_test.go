package integration

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/kubectl/pkg/util/podutils"
)

// podLog records, in watch order, every state of every pod of a
// namespace.
type podLog struct {
	mu     sync.Mutex
	events []podState
}

type podState struct {
	name        string
	uid         types.UID
	ready       bool
	terminating bool
	gone        bool
}

func watchPods(t *testing.T, e *workloadEnv) *podLog {
	l := &podLog{}
	stop := make(chan struct{})
	f := informers.NewSharedInformerFactoryWithOptions(e.c, 0, informers.WithNamespace(e.ns))
	inf := f.Core().V1().Pods().Informer()
	rec := func(obj any, gone bool) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.events = append(l.events, podState{name: p.Name, uid: p.UID, ready: p.Status.Phase == corev1.PodRunning && podutils.IsPodReady(p),
			terminating: p.DeletionTimestamp != nil, gone: gone})
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { rec(obj, false) },
		UpdateFunc: func(_, obj any) { rec(obj, false) },
		DeleteFunc: func(obj any) { rec(obj, true) },
	})
	f.Start(stop)
	t.Cleanup(func() { close(stop) })
	if !cache.WaitForCacheSync(stop, inf.HasSynced) {
		t.Fatal("pod informer did not sync")
	}
	return l
}

// mark returns the current length of the log, to look at what follows.
func (l *podLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// first returns the index of the first state from index from on that
// satisfies cond, or -1.
func (l *podLog) first(from int, cond func(podState) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := from; i < len(l.events); i++ {
		if cond(l.events[i]) {
			return i
		}
	}
	return -1
}

func webStatefulSet(replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: "web",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "nginx", Image: "nginx:1.27",
					VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
				}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

// waitStatefulSet waits for the set to run n ready pods named web-0..n-1,
// all at its update revision, and a status saying so.
func (e *workloadEnv) waitStatefulSet(n int) *appsv1.StatefulSet {
	e.t.Helper()
	var s *appsv1.StatefulSet
	waitFor(e.t, fmt.Sprintf("statefulset web with %d ready pods", n), 60*time.Second, func() bool {
		var err error
		s, err = e.c.AppsV1().StatefulSets(e.ns).Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			return false
		}
		st := s.Status
		if st.ObservedGeneration < s.Generation || st.Replicas != int32(n) || st.ReadyReplicas != int32(n) ||
			st.UpdatedReplicas != int32(n) || st.CurrentReplicas != int32(n) || st.CurrentRevision != st.UpdateRevision {
			return false
		}
		pods := e.pods("app=web")
		if len(pods) != n {
			return false
		}
		for i := range pods {
			if !podutils.IsPodReady(&pods[i]) || pods[i].Labels[appsv1.StatefulSetRevisionLabel] != st.UpdateRevision {
				return false
			}
		}
		return true
	})
	return s
}

func (e *workloadEnv) updateStatefulSet(name string, mutate func(*appsv1.StatefulSet)) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := e.c.AppsV1().StatefulSets(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(s)
		_, err = e.c.AppsV1().StatefulSets(e.ns).Update(context.Background(), s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *workloadEnv) claimExists(name string) bool {
	_, err := e.c.CoreV1().PersistentVolumeClaims(e.ns).Get(context.Background(), name, metav1.GetOptions{})
	return err == nil
}

func TestStatefulSetOrderedWithClaimsAndRollout(t *testing.T) {
	e := newWorkloadEnv(t, "sts")
	ctx := context.Background()
	log := watchPods(t, e)

	if _, err := e.c.AppsV1().StatefulSets(e.ns).Create(ctx, webStatefulSet(3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s := e.waitStatefulSet(3)

	// Each pod was created only after the one before it was ready.
	for n := 1; n < 3; n++ {
		prev, cur := fmt.Sprintf("web-%d", n-1), fmt.Sprintf("web-%d", n)
		readyAt := log.first(0, func(p podState) bool { return p.name == prev && p.ready })
		createdAt := log.first(0, func(p podState) bool { return p.name == cur })
		if readyAt < 0 || createdAt < readyAt {
			t.Fatalf("%s first seen at %d, before %s was ready (%d)", cur, createdAt, prev, readyAt)
		}
	}
	for n := 0; n < 3; n++ {
		name := fmt.Sprintf("web-%d", n)
		p, err := e.c.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.Hostname != name || p.Spec.Subdomain != "web" || p.Labels[appsv1.StatefulSetPodNameLabel] != name ||
			p.Labels[appsv1.PodIndexLabel] != fmt.Sprint(n) || !metav1.IsControlledBy(p, s) {
			t.Fatalf("pod %s identity: hostname %q subdomain %q labels %v owners %v", name, p.Spec.Hostname, p.Spec.Subdomain, p.Labels, p.OwnerReferences)
		}
		if got := claimOf(p, "data"); got != "data-"+name {
			t.Fatalf("pod %s uses claim %q for data", name, got)
		}
		pvc, err := e.c.CoreV1().PersistentVolumeClaims(e.ns).Get(ctx, "data-"+name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pvc.Labels["app"] != "web" {
			t.Fatalf("claim %s labels %v", pvc.Name, pvc.Labels)
		}
	}
	waitFor(t, "create events", 10*time.Second, func() bool {
		return e.hasEvent("web", "SuccessfulCreate", regexp.MustCompile(`^create Pod web-0 in StatefulSet web successful$`)) &&
			e.hasEvent("web", "SuccessfulCreate", regexp.MustCompile(`^create Claim data-web-2 Pod web-2 in StatefulSet web success$`))
	})

	// A deleted pod comes back under its name, with its claim.
	old, err := e.c.CoreV1().Pods(e.ns).Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.c.CoreV1().Pods(e.ns).Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web-1 re-created and ready", 30*time.Second, func() bool {
		p, err := e.c.CoreV1().Pods(e.ns).Get(ctx, "web-1", metav1.GetOptions{})
		return err == nil && p.UID != old.UID && p.DeletionTimestamp == nil && podutils.IsPodReady(p) && claimOf(p, "data") == "data-web-1"
	})
	e.waitStatefulSet(3)

	// Scale down removes the highest ordinal first, one at a time; the
	// claims stay.
	from := log.mark()
	e.updateStatefulSet("web", func(s *appsv1.StatefulSet) { one := int32(1); s.Spec.Replicas = &one })
	e.waitStatefulSet(1)
	web2Gone := log.first(from, func(p podState) bool { return p.name == "web-2" && p.gone })
	web1Going := log.first(from, func(p podState) bool { return p.name == "web-1" && (p.terminating || p.gone) })
	if web2Gone < 0 || web1Going < web2Gone {
		t.Fatalf("scale down: web-2 gone at %d, web-1 going at %d", web2Gone, web1Going)
	}
	for _, c := range []string{"data-web-0", "data-web-1", "data-web-2"} {
		if !e.claimExists(c) {
			t.Fatalf("claim %s was not retained", c)
		}
	}
	waitFor(t, "delete event", 10*time.Second, func() bool {
		return e.hasEvent("web", "SuccessfulDelete", regexp.MustCompile(`^delete Pod web-2 in StatefulSet web successful$`))
	})

	// Back to 3, on the retained claims.
	e.updateStatefulSet("web", func(s *appsv1.StatefulSet) { three := int32(3); s.Spec.Replicas = &three })
	first := e.waitStatefulSet(3)

	// A template change rolls from the highest ordinal down.
	from = log.mark()
	e.updateStatefulSet("web", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "nginx:1.28" })
	out, err := exec.Command(skiffBin(t), "kubectl", "--kubeconfig", e.ts.Kubeconfig, "-n", e.ns,
		"rollout", "status", "statefulset/web", "--timeout=60s").CombinedOutput()
	if err != nil {
		t.Fatalf("rollout status: %v\n%s", err, out)
	}
	second := e.waitStatefulSet(3)
	if second.Status.UpdateRevision == first.Status.UpdateRevision {
		t.Fatalf("update revision did not change: %s", second.Status.UpdateRevision)
	}
	prev := -1
	for _, name := range []string{"web-2", "web-1", "web-0"} {
		at := log.first(from, func(p podState) bool { return p.name == name && (p.terminating || p.gone) })
		if at < 0 || at < prev {
			t.Fatalf("rollout: %s going at %d, after the previous at %d", name, at, prev)
		}
		prev = at
	}
	for _, p := range e.pods("app=web") {
		if p.Spec.Containers[0].Image != "nginx:1.28" {
			t.Fatalf("pod %s still runs %s", p.Name, p.Spec.Containers[0].Image)
		}
	}
	hist := e.kubectl("rollout", "history", "statefulset/web")
	t.Logf("rollout status:\n%s\nrollout history:\n%s", out, hist)
	if revs := regexp.MustCompile(`(?m)^\d+\s`).FindAllString(hist, -1); len(revs) != 2 {
		t.Fatalf("rollout history lists %d revisions, want 2:\n%s", len(revs), hist)
	}
	revs, err := e.c.AppsV1().ControllerRevisions(e.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs.Items) != 2 {
		t.Fatalf("%d controller revisions, want 2", len(revs.Items))
	}
	for _, r := range revs.Items {
		if !metav1.IsControlledBy(&r, second) || !strings.HasPrefix(r.Name, "web-") || !strings.Contains(string(r.Data.Raw), `"$patch":"replace"`) {
			t.Fatalf("revision %s: owners %v data %s", r.Name, r.OwnerReferences, r.Data.Raw)
		}
	}

	// kubectl rollout undo patches the first revision's template back; it
	// becomes revision 3 and the pods roll back to it.
	e.kubectl("rollout", "undo", "statefulset/web")
	out, err = exec.Command(skiffBin(t), "kubectl", "--kubeconfig", e.ts.Kubeconfig, "-n", e.ns,
		"rollout", "status", "statefulset/web", "--timeout=60s").CombinedOutput()
	if err != nil {
		t.Fatalf("rollout status after undo: %v\n%s", err, out)
	}
	third := e.waitStatefulSet(3)
	if third.Status.UpdateRevision != first.Status.UpdateRevision {
		t.Fatalf("undo: update revision %s, want the first one %s", third.Status.UpdateRevision, first.Status.UpdateRevision)
	}
	for _, p := range e.pods("app=web") {
		if p.Spec.Containers[0].Image != "nginx:1.27" {
			t.Fatalf("after undo pod %s runs %s", p.Name, p.Spec.Containers[0].Image)
		}
	}
	hist = e.kubectl("rollout", "history", "statefulset/web")
	if revs := regexp.MustCompile(`(?m)^(\d+)\s`).FindAllStringSubmatch(hist, -1); len(revs) != 2 || revs[0][1] != "2" || revs[1][1] != "3" {
		t.Fatalf("rollout history after undo, want revisions 2 and 3:\n%s", hist)
	}
	// The stored patch is byte for byte what kubectl computes for the set.
	if out := e.kubectl("rollout", "undo", "statefulset/web", "--to-revision=3"); !strings.Contains(out, "skipped rollback") {
		t.Fatalf("undo to the current revision: %s", out)
	}
}

func TestStatefulSetParallelClaimRetentionDelete(t *testing.T) {
	e := newWorkloadEnv(t, "sts-delete")
	ctx := context.Background()
	set := webStatefulSet(3)
	set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
	}
	if _, err := e.c.AppsV1().StatefulSets(e.ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s := e.waitStatefulSet(3)
	for _, c := range []string{"data-web-0", "data-web-1", "data-web-2"} {
		pvc, err := e.c.CoreV1().PersistentVolumeClaims(e.ns).Get(ctx, c, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		owned := false
		for _, r := range pvc.OwnerReferences {
			owned = owned || r.UID == s.UID
		}
		if !owned {
			t.Fatalf("claim %s not owned by the set: %v", c, pvc.OwnerReferences)
		}
	}

	// whenScaled: Delete — the claims of removed pods go with them.
	e.updateStatefulSet("web", func(s *appsv1.StatefulSet) { one := int32(1); s.Spec.Replicas = &one })
	e.waitStatefulSet(1)
	waitFor(t, "claims of scaled-down pods deleted", 30*time.Second, func() bool {
		return !e.claimExists("data-web-1") && !e.claimExists("data-web-2") && e.claimExists("data-web-0")
	})

	// whenDeleted: Delete — the rest go with the set.
	if err := e.c.AppsV1().StatefulSets(e.ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "claims deleted with the set", 30*time.Second, func() bool { return !e.claimExists("data-web-0") })
}

// claimOf returns the claim behind the volume named vol of p.
func claimOf(p *corev1.Pod, vol string) string {
	for _, v := range p.Spec.Volumes {
		if v.Name == vol && v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ClaimName
		}
	}
	return ""
}
