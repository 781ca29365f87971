package integration

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/app"
	"skiff/internal/simnodes"
)

// daemonPods maps node name to the running, not terminating pods of a
// DaemonSet there.
func daemonPods(t *testing.T, ts *testServer, app string) map[string][]corev1.Pod {
	t.Helper()
	pods, err := ts.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]corev1.Pod{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
		}
	}
	return out
}

// onePodEach says whether the DaemonSet runs exactly one running pod on
// each of nodes and none elsewhere (also not unscheduled).
func onePodEach(t *testing.T, ts *testServer, app string, nodes ...string) bool {
	byNode := daemonPods(t, ts, app)
	if len(byNode) != len(nodes) {
		return false
	}
	for _, n := range nodes {
		if len(byNode[n]) != 1 || byNode[n][0].Status.Phase != corev1.PodRunning {
			return false
		}
	}
	return true
}

func daemonSetOf(name, image string) *appsv1.DaemonSet {
	labels := map[string]string{"app": name}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
		},
	}
}

func TestDaemonSet(t *testing.T) {
	// The pod garbage collector removes pods of deleted nodes; make it quick.
	ts := startServer(t, func(c *app.ServerConfig) {
		c.PodGC.Period = time.Second
		c.PodGC.Quarantine = time.Second
	})
	sim := startSimNodes(t, ts, 3)
	ctx := context.Background()
	sets := ts.Client.AppsV1().DaemonSets("default")
	n0, n1, n2 := sim.NodeName(0), sim.NodeName(1), sim.NodeName(2)
	waitFor(t, "3 nodes", 30*time.Second, func() bool {
		nodes, err := ts.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		return err == nil && len(nodes.Items) == 3
	})

	if _, err := sets.Create(ctx, daemonSetOf("daemon", "img:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "one daemon pod on each of the 3 nodes", 60*time.Second, func() bool {
		return onePodEach(t, ts, "daemon", n0, n1, n2)
	})
	waitFor(t, "the daemonset status", 30*time.Second, func() bool {
		ds, err := sets.Get(ctx, "daemon", metav1.GetOptions{})
		s := ds.Status
		return err == nil && s.DesiredNumberScheduled == 3 && s.CurrentNumberScheduled == 3 && s.NumberReady == 3 &&
			s.NumberAvailable == 3 && s.UpdatedNumberScheduled == 3 && s.NumberMisscheduled == 0 && s.ObservedGeneration == ds.Generation
	})
	p := daemonPods(t, ts, "daemon")[n0][0]
	if a := p.Spec.Affinity; a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil ||
		len(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) != 1 ||
		len(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields) != 1 ||
		a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields[0].Values[0] != n0 {
		t.Errorf("pod %s affinity %+v, want metadata.name in [%s]", p.Name, p.Spec.Affinity, n0)
	}
	tolerates := map[string]bool{}
	for _, tol := range p.Spec.Tolerations {
		tolerates[tol.Key+"/"+string(tol.Effect)] = true
	}
	for _, k := range []string{"node.kubernetes.io/not-ready/NoExecute", "node.kubernetes.io/unreachable/NoExecute",
		"node.kubernetes.io/disk-pressure/NoSchedule", "node.kubernetes.io/memory-pressure/NoSchedule",
		"node.kubernetes.io/pid-pressure/NoSchedule", "node.kubernetes.io/unschedulable/NoSchedule"} {
		if !tolerates[k] {
			t.Errorf("pod %s lacks the toleration %s", p.Name, k)
		}
	}
	firstHash := p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	if firstHash == "" {
		t.Errorf("pod %s has no %s label", p.Name, appsv1.DefaultDaemonSetUniqueLabelKey)
	}

	// A fourth node gets a pod; deleting it loses the pod again.
	extraCtx, stopExtra := context.WithCancel(ctx)
	extra := simnodes.New(ts.Client, simnodes.Config{Count: 1, Prefix: "extra-node-", RenewInterval: time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	extraDone := make(chan error, 1)
	go func() { extraDone <- extra.Run(extraCtx) }()
	stopExtraNode := sync.OnceFunc(func() { stopExtra(); <-extraDone })
	defer stopExtraNode()
	n3 := extra.NodeName(0)
	waitFor(t, "a daemon pod on the fourth node", 60*time.Second, func() bool {
		return onePodEach(t, ts, "daemon", n0, n1, n2, n3)
	})
	stopExtraNode()
	if err := ts.Client.CoreV1().Nodes().Delete(ctx, n3, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pod of the deleted node to go", 60*time.Second, func() bool {
		ds, err := sets.Get(ctx, "daemon", metav1.GetOptions{})
		return onePodEach(t, ts, "daemon", n0, n1, n2) && len(daemonPods(t, ts, "daemon")[n3]) == 0 &&
			err == nil && ds.Status.DesiredNumberScheduled == 3 && ds.Status.CurrentNumberScheduled == 3
	})

	// A NoSchedule taint keeps a new DaemonSet without the toleration off
	// the node; the pod already there stays.
	node, err := ts.Client.CoreV1().Nodes().Get(ctx, n2, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: "dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule})
	if _, err := ts.Client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sets.Create(ctx, daemonSetOf("picky", "img:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new daemonset on the untainted nodes only", 60*time.Second, func() bool {
		ds, err := sets.Get(ctx, "picky", metav1.GetOptions{})
		return err == nil && ds.Status.DesiredNumberScheduled == 2 && ds.Status.NumberReady == 2 && onePodEach(t, ts, "picky", n0, n1)
	})
	if !onePodEach(t, ts, "daemon", n0, n1, n2) {
		t.Errorf("the taint evicted a running daemon pod: %v", daemonPods(t, ts, "daemon"))
	}
	if ds, err := sets.Get(ctx, "daemon", metav1.GetOptions{}); err != nil || ds.Status.NumberMisscheduled != 1 {
		t.Errorf("the pod on the tainted node is not counted misscheduled: %+v", ds.Status)
	}
	// Without the taint the new DaemonSet gets there too.
	if node, err = ts.Client.CoreV1().Nodes().Get(ctx, n2, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	node.Spec.Taints = nil
	if _, err := ts.Client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new daemonset on the untainted node", 60*time.Second, func() bool {
		return onePodEach(t, ts, "picky", n0, n1, n2)
	})

	// A template change rolls out: every node ends with a pod of the new
	// revision, recorded in a second ControllerRevision.
	ds, err := sets.Get(ctx, "daemon", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ds.Spec.Template.Spec.Containers[0].Image = "img:2"
	if _, err := sets.Update(ctx, ds, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rollout to finish", 90*time.Second, func() bool {
		ds, err := sets.Get(ctx, "daemon", metav1.GetOptions{})
		if err != nil || ds.Status.UpdatedNumberScheduled != 3 || ds.Status.NumberAvailable != 3 || ds.Status.ObservedGeneration != ds.Generation {
			return false
		}
		if !onePodEach(t, ts, "daemon", n0, n1, n2) {
			return false
		}
		for _, ps := range daemonPods(t, ts, "daemon") {
			if ps[0].Spec.Containers[0].Image != "img:2" || ps[0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == firstHash {
				return false
			}
		}
		return true
	})
	revs, err := ts.Client.AppsV1().ControllerRevisions("default").List(ctx, metav1.ListOptions{LabelSelector: "app=daemon"})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs.Items) != 2 {
		t.Errorf("%d controller revisions, want 2", len(revs.Items))
	}
}
