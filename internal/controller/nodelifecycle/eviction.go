package nodelifecycle

import (
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"skiff/internal/controller/controllerutil"
)

// TaintEviction deletes pods from nodes with NoExecute taints: at once if
// the pod does not tolerate one of them, after the shortest
// tolerationSeconds of the tolerations it uses otherwise.
type TaintEviction struct {
	client   kubernetes.Interface
	log      *slog.Logger
	nodes    corelisters.NodeLister
	pods     cache.SharedIndexInformer
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string] // pod keys
	recorder record.EventRecorder
	now      func() time.Time

	mu        sync.Mutex
	firstSeen map[string]time.Time // node/taint key -> when seen, for taints without timeAdded
}

// NewTaintEviction returns the taint eviction controller on factory's
// informers.
func NewTaintEviction(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *TaintEviction {
	nodeInf := factory.Core().V1().Nodes()
	podInf := factory.Core().V1().Pods().Informer()
	if err := controllerutil.IndexPodsByNode(podInf); err != nil {
		log.Warn("indexing pods by node", "err", err)
	}
	c := &TaintEviction{
		client: client, log: log, nodes: nodeInf.Lister(), pods: podInf,
		synced:    []cache.InformerSynced{nodeInf.Informer().HasSynced, podInf.HasSynced},
		queue:     controllerutil.NewQueue("taint_eviction_controller"),
		recorder:  &record.FakeRecorder{},
		now:       time.Now,
		firstSeen: map[string]time.Time{},
	}
	onNode := func(obj any) {
		n, ok := obj.(*corev1.Node)
		if !ok || len(noExecute(n)) == 0 {
			return
		}
		for _, p := range controllerutil.PodsOnNode(c.pods, n.Name) {
			controllerutil.Enqueue(c.queue, p)
		}
	}
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onNode,
		UpdateFunc: func(o, n any) {
			if !equalTaints(noExecute(o.(*corev1.Node)), noExecute(n.(*corev1.Node))) {
				onNode(n)
			}
		},
	})
	onPod := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			controllerutil.Enqueue(c.queue, p)
		}
	}
	_, _ = podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onPod, UpdateFunc: func(_, n any) { onPod(n) },
	})
	return c
}

// Run evicts until ctx ends.
func (c *TaintEviction) Run(ctx context.Context) error {
	rec, stop := controllerutil.NewRecorder(c.client, "taint-eviction-controller")
	defer stop()
	c.recorder = rec
	if !controllerutil.WaitForSync(ctx, c.synced...) {
		return nil
	}
	controllerutil.RunWorkers(ctx, c.queue, 4, c.log, c.sync)
	return nil
}

func noExecute(n *corev1.Node) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

func equalTaints(a, b []corev1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].MatchTaint(&b[i]) {
			return false
		}
	}
	return true
}

func (c *TaintEviction) sync(ctx context.Context, key string) error {
	obj, exists, err := c.pods.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return err
	}
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil || pod.Spec.NodeName == "" {
		return nil
	}
	node, err := c.nodes.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	taints := noExecute(node)
	if len(taints) == 0 {
		return nil
	}
	due, ok := c.evictionTime(node.Name, pod.Spec.Tolerations, taints)
	if !ok {
		return nil // tolerated for ever
	}
	if wait := due.Sub(c.now()); wait > 0 {
		c.queue.AddAfter(key, wait)
		return nil
	}
	return c.evict(ctx, pod)
}

// evictionTime is when pod must leave a node with taints; ok is false
// when it tolerates all of them for ever.
func (c *TaintEviction) evictionTime(node string, tols []corev1.Toleration, taints []corev1.Taint) (time.Time, bool) {
	now := c.now()
	var due time.Time
	found := false
	for i := range taints {
		t := &taints[i]
		start := c.startOf(node, t)
		tolerated := false
		var least *int64
		for j := range tols {
			if !tols[j].ToleratesTaint(klog.Background(), t, false) {
				continue
			}
			tolerated = true
			if s := tols[j].TolerationSeconds; s != nil && (least == nil || *s < *least) {
				least = s
			}
		}
		if !tolerated {
			return now, true
		}
		if least == nil {
			continue
		}
		d := start.Add(time.Duration(max(*least, 0)) * time.Second)
		if !found || d.Before(due) {
			due, found = d, true
		}
	}
	return due, found
}

// startOf is when a taint was added: its timeAdded, or when this
// controller first saw it.
func (c *TaintEviction) startOf(node string, t *corev1.Taint) time.Time {
	if t.TimeAdded != nil {
		return t.TimeAdded.Time
	}
	k := node + "/" + t.Key + "=" + t.Value
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.firstSeen[k]; ok {
		return s
	}
	s := c.now()
	c.firstSeen[k] = s
	return s
}

// evict marks the pod with the DisruptionTarget condition, as upstream
// does, and deletes it.
func (c *TaintEviction) evict(ctx context.Context, pod *corev1.Pod) error {
	c.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", pod.Namespace, pod.Name)
	upd := pod.DeepCopy()
	cond := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "DeletionByTaintManager",
		Message: "Taint manager: deleting due to NoExecute taint", LastTransitionTime: metav1.NewTime(c.now())}
	replaced := false
	for i := range upd.Status.Conditions {
		if upd.Status.Conditions[i].Type == corev1.DisruptionTarget {
			upd.Status.Conditions[i], replaced = cond, true
		}
	}
	if !replaced {
		upd.Status.Conditions = append(upd.Status.Conditions, cond)
	}
	if _, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err == nil {
		c.log.Info("evicted pod from tainted node", "pod", pod.Namespace+"/"+pod.Name, "node", pod.Spec.NodeName)
	}
	return err
}
