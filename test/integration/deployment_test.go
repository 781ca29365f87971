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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubectl/pkg/util/podutils"
)

// workloadEnv is a server with three simulated nodes and a namespace.
type workloadEnv struct {
	t  *testing.T
	ts *testServer
	c  kubernetes.Interface
	ns string
}

func newWorkloadEnv(t *testing.T, ns string) *workloadEnv {
	ts := startServer(t)
	startSimNodes(t, ts, 3)
	waitFor(t, "3 ready nodes", 30*time.Second, func() bool {
		nodes, err := ts.Client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == 3
	})
	if _, err := ts.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return &workloadEnv{t: t, ts: ts, c: ts.Client, ns: ns}
}

// kubectl runs skiff kubectl in the namespace and returns its output.
func (e *workloadEnv) kubectl(args ...string) string {
	e.t.Helper()
	argv := append([]string{"kubectl", "--kubeconfig", e.ts.Kubeconfig, "-n", e.ns}, args...)
	out, err := exec.Command(skiffBin(e.t), argv...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// pods lists the pods of the namespace that are not being deleted and not
// finished.
func (e *workloadEnv) pods(selector string) []corev1.Pod {
	e.t.Helper()
	list, err := e.c.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

// readyPods says whether exactly n pods match selector, all ready.
func (e *workloadEnv) readyPods(selector string, n int) bool {
	pods := e.pods(selector)
	if len(pods) != n {
		return false
	}
	for i := range pods {
		if !podutils.IsPodReady(&pods[i]) {
			return false
		}
	}
	return true
}

// waitRolledOut waits for the Deployment to run n updated, available
// replicas and nothing else.
func (e *workloadEnv) waitRolledOut(name string, n int32) *appsv1.Deployment {
	e.t.Helper()
	var d *appsv1.Deployment
	waitFor(e.t, fmt.Sprintf("deployment %s rolled out with %d replicas", name, n), 60*time.Second, func() bool {
		var err error
		d, err = e.c.AppsV1().Deployments(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		s := d.Status
		return s.ObservedGeneration >= d.Generation && *d.Spec.Replicas == n && s.Replicas == n && s.UpdatedReplicas == n &&
			s.AvailableReplicas == n && s.ReadyReplicas == n && s.UnavailableReplicas == 0
	})
	return d
}

func (e *workloadEnv) hasEvent(name, reason string, msg *regexp.Regexp) bool {
	list, err := e.c.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return false
	}
	for _, ev := range list.Items {
		if ev.InvolvedObject.Name == name && ev.Reason == reason && msg.MatchString(ev.Message) {
			return true
		}
	}
	return false
}

// rolloutWatch follows every pod event of a namespace and records each
// state in which the bounds of a rolling update do not hold.
//
// Upstream's guarantees, which these checks follow: maxUnavailable bounds
// availability from below, and availability is judged by ready pods that
// are not being deleted (a terminating pod no longer serves; minReadySeconds
// is 0 here). maxSurge bounds from above the pods the ReplicaSets count:
// their spec.replicas and status.replicas, which leave out pods that are
// terminating. A pod being deleted is gone as far as the rollout is
// concerned, and upstream does not wait for it to finish before creating
// its replacement, so terminating pods are not counted against maxSurge.
type rolloutWatch struct {
	mu               sync.Mutex
	pods             map[types.UID]*corev1.Pod
	minAvail, maxUp  int
	active           bool
	seenMin, seenMax int
	violations       []string
	stop             chan struct{}
}

func watchRollout(t *testing.T, c kubernetes.Interface, ns string, minAvail, maxUp int) *rolloutWatch {
	w := &rolloutWatch{pods: map[types.UID]*corev1.Pod{}, minAvail: minAvail, maxUp: maxUp, seenMin: 1 << 30, stop: make(chan struct{})}
	f := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(ns))
	inf := f.Core().V1().Pods().Informer()
	set := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok {
			w.record(p.UID, p)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				w.record(p.UID, nil)
			}
		},
	})
	f.Start(w.stop)
	if !cache.WaitForCacheSync(w.stop, inf.HasSynced) {
		t.Fatal("pod informer did not sync")
	}
	w.mu.Lock()
	w.active = true
	w.mu.Unlock()
	t.Cleanup(func() { w.close() })
	return w
}

func (w *rolloutWatch) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
}

// record applies one event and checks the state it leads to.
func (w *rolloutWatch) record(uid types.UID, p *corev1.Pod) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p == nil {
		delete(w.pods, uid)
	} else {
		w.pods[uid] = p
	}
	if !w.active {
		return
	}
	available, counted := 0, 0
	for _, p := range w.pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		counted++
		if podutils.IsPodReady(p) {
			available++
		}
	}
	w.seenMin, w.seenMax = min(w.seenMin, available), max(w.seenMax, counted)
	if available < w.minAvail {
		w.violations = append(w.violations, fmt.Sprintf("only %d available pods (min %d)", available, w.minAvail))
	}
	if counted > w.maxUp {
		w.violations = append(w.violations, fmt.Sprintf("%d pods (max %d)", counted, w.maxUp))
	}
}

func (w *rolloutWatch) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("during the rollouts: at least %d available pods, at most %d pods", w.seenMin, w.seenMax)
	if len(w.violations) > 0 {
		t.Errorf("rolling update bounds violated %d times, first: %v", len(w.violations), w.violations[:min(5, len(w.violations))])
	}
}

func webDeployment(replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
		},
	}
}

// imagesOf returns the distinct images of the pods matching selector.
func (e *workloadEnv) imagesOf(selector string) map[string]int {
	out := map[string]int{}
	for _, p := range e.pods(selector) {
		out[p.Spec.Containers[0].Image]++
	}
	return out
}

func TestDeploymentRollout(t *testing.T) {
	e := newWorkloadEnv(t, "rollout")
	ctx := context.Background()
	if _, err := e.c.AppsV1().Deployments(e.ns).Create(ctx, webDeployment(3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := e.waitRolledOut("web", 3)
	if d.Annotations["deployment.kubernetes.io/revision"] != "1" {
		t.Errorf("deployment revision annotation %q, want 1", d.Annotations["deployment.kubernetes.io/revision"])
	}
	for _, want := range []struct {
		t      appsv1.DeploymentConditionType
		reason string
	}{{appsv1.DeploymentAvailable, "MinimumReplicasAvailable"}, {appsv1.DeploymentProgressing, "NewReplicaSetAvailable"}} {
		found := false
		for _, c := range d.Status.Conditions {
			found = found || (c.Type == want.t && c.Status == corev1.ConditionTrue && c.Reason == want.reason)
		}
		if !found {
			t.Errorf("no %s=True condition with reason %s: %+v", want.t, want.reason, d.Status.Conditions)
		}
	}
	rss, err := e.c.AppsV1().ReplicaSets(e.ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(rss.Items) != 1 {
		t.Fatalf("want 1 replica set, got %v (%v)", rss, err)
	}
	rs1 := rss.Items[0]
	hash := rs1.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	if hash == "" || rs1.Name != "web-"+hash || rs1.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash ||
		rs1.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash {
		t.Errorf("replica set %s: labels %v selector %v", rs1.Name, rs1.Labels, rs1.Spec.Selector)
	}
	if a := rs1.Annotations; a["deployment.kubernetes.io/revision"] != "1" || a["deployment.kubernetes.io/desired-replicas"] != "3" || a["deployment.kubernetes.io/max-replicas"] != "4" {
		t.Errorf("replica set annotations %v", a)
	}
	waitFor(t, "ScalingReplicaSet event", 20*time.Second, func() bool {
		return e.hasEvent("web", "ScalingReplicaSet", regexp.MustCompile(`^Scaled up replica set `+rs1.Name+` to 3$`))
	})
	waitFor(t, "SuccessfulCreate event", 20*time.Second, func() bool {
		return e.hasEvent(rs1.Name, "SuccessfulCreate", regexp.MustCompile(`^Created pod: `+rs1.Name+`-[a-z0-9]{5}$`))
	})

	e.kubectl("scale", "deployment/web", "--replicas=4")
	e.waitRolledOut("web", 4)

	// 4 replicas, 25% each way: maxSurge rounds up to 1, maxUnavailable
	// down to 1.
	w := watchRollout(t, e.c, e.ns, 3, 5)
	e.kubectl("set", "image", "deployment/web", "c=img:2")
	e.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
	e.waitRolledOut("web", 4)
	waitFor(t, "4 pods of img:2", 30*time.Second, func() bool {
		imgs := e.imagesOf("app=web")
		return len(imgs) == 1 && imgs["img:2"] == 4
	})
	waitFor(t, "Scaled down event", 20*time.Second, func() bool {
		return e.hasEvent("web", "ScalingReplicaSet", regexp.MustCompile(`^Scaled down replica set `+rs1.Name+` to \d from \d$`))
	})

	hist := e.kubectl("rollout", "history", "deployment/web")
	if !regexp.MustCompile(`(?m)^1\s`).MatchString(hist) || !regexp.MustCompile(`(?m)^2\s`).MatchString(hist) {
		t.Errorf("rollout history lacks revisions 1 and 2:\n%s", hist)
	}

	e.kubectl("rollout", "undo", "deployment/web")
	e.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
	e.waitRolledOut("web", 4)
	waitFor(t, "4 pods of img:1 again", 30*time.Second, func() bool {
		imgs := e.imagesOf("app=web")
		return len(imgs) == 1 && imgs["img:1"] == 4
	})
	// The first ReplicaSet was reused and took the next revision.
	rs, err := e.c.AppsV1().ReplicaSets(e.ns).Get(ctx, rs1.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rs.Annotations["deployment.kubernetes.io/revision"] != "3" || rs.Annotations["deployment.kubernetes.io/revision-history"] != "1" || *rs.Spec.Replicas != 4 {
		t.Errorf("reused replica set: replicas %d, annotations %v", *rs.Spec.Replicas, rs.Annotations)
	}
	hist = e.kubectl("rollout", "history", "deployment/web")
	if !regexp.MustCompile(`(?m)^2\s`).MatchString(hist) || !regexp.MustCompile(`(?m)^3\s`).MatchString(hist) {
		t.Errorf("rollout history after undo lacks revisions 2 and 3:\n%s", hist)
	}

	before := map[types.UID]bool{}
	for _, p := range e.pods("app=web") {
		before[p.UID] = true
	}
	e.kubectl("rollout", "restart", "deployment/web")
	e.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
	e.waitRolledOut("web", 4)
	waitFor(t, "4 new pods after the restart", 30*time.Second, func() bool {
		pods := e.pods("app=web")
		if len(pods) != 4 {
			return false
		}
		for _, p := range pods {
			if before[p.UID] || !podutils.IsPodReady(&p) {
				return false
			}
		}
		return true
	})
	w.check(t)

	// Pause: a template change rolls nothing out, scaling still works.
	e.kubectl("rollout", "pause", "deployment/web")
	e.kubectl("set", "image", "deployment/web", "c=img:3")
	e.kubectl("scale", "deployment/web", "--replicas=2")
	waitFor(t, "the paused deployment scaled to 2 without rolling out", 30*time.Second, func() bool {
		d, err := e.c.AppsV1().Deployments(e.ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil || d.Status.ObservedGeneration < d.Generation {
			return false
		}
		var paused bool
		for _, c := range d.Status.Conditions {
			paused = paused || (c.Type == appsv1.DeploymentProgressing && c.Reason == "DeploymentPaused")
		}
		imgs := e.imagesOf("app=web")
		return paused && len(imgs) == 1 && imgs["img:1"] == 2 && d.Status.Replicas == 2
	})
	e.kubectl("rollout", "resume", "deployment/web")
	e.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
	waitFor(t, "2 pods of img:3 after resuming", 30*time.Second, func() bool {
		imgs := e.imagesOf("app=web")
		return len(imgs) == 1 && imgs["img:3"] == 2
	})
}

func TestDeploymentRecreate(t *testing.T) {
	e := newWorkloadEnv(t, "recreate")
	ctx := context.Background()
	d := webDeployment(3)
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if _, err := e.c.AppsV1().Deployments(e.ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitRolledOut("web", 3)
	// Recreate never runs old and new pods together.
	w := watchRollout(t, e.c, e.ns, 0, 3)
	var mixed bool
	var mu sync.Mutex
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			list, err := e.c.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			imgs := map[string]bool{}
			for _, p := range list.Items {
				imgs[p.Spec.Containers[0].Image] = true
			}
			if len(imgs) > 1 {
				mu.Lock()
				mixed = true
				mu.Unlock()
			}
		}
	}()
	e.kubectl("set", "image", "deployment/web", "c=img:2")
	e.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
	waitFor(t, "3 pods of img:2", 30*time.Second, func() bool {
		imgs := e.imagesOf("app=web")
		return len(imgs) == 1 && imgs["img:2"] == 3
	})
	w.check(t)
	mu.Lock()
	defer mu.Unlock()
	if mixed {
		t.Error("old and new pods existed at the same time")
	}
}

func TestDeploymentDeleteRemovesReplicaSetsAndPods(t *testing.T) {
	e := newWorkloadEnv(t, "cascade")
	ctx := context.Background()
	if _, err := e.c.AppsV1().Deployments(e.ns).Create(ctx, webDeployment(2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitRolledOut("web", 2)

	// A deleted pod is replaced.
	victim := e.pods("app=web")[0]
	if err := e.c.CoreV1().Pods(e.ns).Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted pod replaced", 30*time.Second, func() bool {
		pods := e.pods("app=web")
		for _, p := range pods {
			if p.UID == victim.UID {
				return false
			}
		}
		return e.readyPods("app=web", 2)
	})

	e.kubectl("delete", "deployment", "web")
	waitFor(t, "replica sets and pods gone", 60*time.Second, func() bool {
		rss, err := e.c.AppsV1().ReplicaSets(e.ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(rss.Items) != 0 {
			return false
		}
		pods, err := e.c.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0
	})
}

func TestReplicaSetAdoptsReplacesAndScales(t *testing.T) {
	e := newWorkloadEnv(t, "rs")
	ctx := context.Background()
	// An orphan matching the selector is adopted rather than duplicated.
	orphan := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Labels: map[string]string{"app": "db"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}}
	if _, err := e.c.CoreV1().Pods(e.ns).Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	three := int32(3)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &three,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
		},
	}
	created, err := e.c.AppsV1().ReplicaSets(e.ns).Create(ctx, rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 ready replicas", 30*time.Second, func() bool {
		cur, err := e.c.AppsV1().ReplicaSets(e.ns).Get(ctx, "db", metav1.GetOptions{})
		return err == nil && cur.Status.ReadyReplicas == 3 && cur.Status.AvailableReplicas == 3 &&
			cur.Status.FullyLabeledReplicas == 3 && cur.Status.ObservedGeneration == cur.Generation && e.readyPods("app=db", 3)
	})
	p, err := e.c.CoreV1().Pods(e.ns).Get(ctx, "orphan", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != created.UID {
		t.Errorf("orphan not adopted: %+v", p.OwnerReferences)
	}
	for _, p := range e.pods("app=db") {
		if p.Name != "orphan" && !strings.HasPrefix(p.Name, "db-") {
			t.Errorf("pod %s not named after its replica set", p.Name)
		}
	}

	// A deleted pod is replaced.
	if err := e.c.CoreV1().Pods(e.ns).Delete(ctx, "orphan", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted pod replaced", 30*time.Second, func() bool {
		_, err := e.c.CoreV1().Pods(e.ns).Get(ctx, "orphan", metav1.GetOptions{})
		return apierrors.IsNotFound(err) && e.readyPods("app=db", 3)
	})

	// A pod whose labels stop matching is released and replaced.
	released := e.pods("app=db")[0].Name
	if _, err := e.c.CoreV1().Pods(e.ns).Patch(ctx, released, types.MergePatchType, []byte(`{"metadata":{"labels":{"app":"other"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relabelled pod released and replaced", 30*time.Second, func() bool {
		p, err := e.c.CoreV1().Pods(e.ns).Get(ctx, released, metav1.GetOptions{})
		return err == nil && metav1.GetControllerOf(p) == nil && e.readyPods("app=db", 3)
	})

	e.kubectl("scale", "rs/db", "--replicas=1")
	waitFor(t, "scaled down to 1", 30*time.Second, func() bool {
		cur, err := e.c.AppsV1().ReplicaSets(e.ns).Get(ctx, "db", metav1.GetOptions{})
		return err == nil && cur.Status.Replicas == 1 && e.readyPods("app=db", 1)
	})
	waitFor(t, "SuccessfulDelete event", 20*time.Second, func() bool {
		return e.hasEvent("db", "SuccessfulDelete", regexp.MustCompile(`^Deleted pod: db-[a-z0-9]{5}$`))
	})

	// Creates refused by a quota show in a ReplicaFailure condition and
	// FailedCreate events, until the ReplicaSet fits again.
	if _, err := e.c.CoreV1().ResourceQuotas(e.ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "pods"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The released pod and the one of db count: room for one more pod of
	// the two wanted.
	e.kubectl("scale", "rs/db", "--replicas=3")
	failure := func() *appsv1.ReplicaSetCondition {
		cur, err := e.c.AppsV1().ReplicaSets(e.ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return nil
		}
		for _, c := range cur.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure {
				return &c
			}
		}
		return nil
	}
	waitFor(t, "ReplicaFailure condition", 30*time.Second, func() bool {
		c := failure()
		return c != nil && c.Status == corev1.ConditionTrue && c.Reason == "FailedCreate" && strings.Contains(c.Message, "exceeded quota")
	})
	waitFor(t, "FailedCreate event", 20*time.Second, func() bool {
		return e.hasEvent("db", "FailedCreate", regexp.MustCompile(`^Error creating: pods "db-[a-z0-9]{5}" is forbidden: exceeded quota: pods`))
	})
	e.kubectl("scale", "rs/db", "--replicas=2")
	waitFor(t, "ReplicaFailure condition cleared", 30*time.Second, func() bool {
		return failure() == nil && e.readyPods("app=db", 2)
	})
}

func TestReplicationController(t *testing.T) {
	e := newWorkloadEnv(t, "rc")
	ctx := context.Background()
	three := int32(3)
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy"},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: &three,
			Selector: map[string]string{"app": "legacy"},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "legacy"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
		},
	}
	created, err := e.c.CoreV1().ReplicationControllers(e.ns).Create(ctx, rc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 ready replicas", 30*time.Second, func() bool {
		cur, err := e.c.CoreV1().ReplicationControllers(e.ns).Get(ctx, "legacy", metav1.GetOptions{})
		return err == nil && cur.Status.Replicas == 3 && cur.Status.ReadyReplicas == 3 && cur.Status.AvailableReplicas == 3 &&
			cur.Status.ObservedGeneration == cur.Generation && e.readyPods("app=legacy", 3)
	})
	for _, p := range e.pods("app=legacy") {
		ref := metav1.GetControllerOf(&p)
		if ref == nil || ref.Kind != "ReplicationController" || ref.APIVersion != "v1" || ref.UID != created.UID || !strings.HasPrefix(p.Name, "legacy-") {
			t.Errorf("pod %s: owner %+v", p.Name, ref)
		}
	}
	waitFor(t, "SuccessfulCreate event from the replication controller", 20*time.Second, func() bool {
		list, err := e.c.CoreV1().Events(e.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, ev := range list.Items {
			if ev.InvolvedObject.Kind == "ReplicationController" && ev.Reason == "SuccessfulCreate" && ev.Source.Component == "replication-controller" {
				return true
			}
		}
		return false
	})

	e.kubectl("scale", "rc/legacy", "--replicas=1")
	waitFor(t, "scaled down to 1", 30*time.Second, func() bool {
		cur, err := e.c.CoreV1().ReplicationControllers(e.ns).Get(ctx, "legacy", metav1.GetOptions{})
		return err == nil && cur.Status.Replicas == 1 && cur.Status.ObservedGeneration == cur.Generation && e.readyPods("app=legacy", 1)
	})
}
