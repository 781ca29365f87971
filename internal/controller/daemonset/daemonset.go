// Package daemonset owns the DaemonSet controller: it keeps one pod of a
// DaemonSet on every node the pod fits (nodeSelector, required node
// affinity, taints against tolerations), pinning each pod to its node with
// a required node affinity on metadata.name so that the scheduler binds
// it. It records the pod template's history in ControllerRevisions, rolls
// template changes out (RollingUpdate with maxUnavailable or maxSurge, or
// OnDelete), and reports how many nodes run an up-to-date, ready pod.
//
// Pods bound to nodes that no longer exist are left to the pod garbage
// collector, as upstream does.
package daemonset

import (
	"context"
	"log/slog"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/controller/controllerutil"
)

const (
	component = "daemonset-controller"
	workers   = 2
	// reasonFailedDaemonPod is upstream's event for a failed pod it kills.
	reasonFailedDaemonPod = "FailedDaemonPod"
)

var dsKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller runs the pods of DaemonSets.
type Controller struct {
	client       kubernetes.Interface
	sets         appslisters.DaemonSetLister
	pods         corelisters.PodLister
	nodes        corelisters.NodeLister
	revisions    appslisters.ControllerRevisionLister
	synced       []cache.InformerSynced
	queue        workqueue.TypedRateLimitingInterface[string]
	recorder     record.EventRecorder
	stopRecorder func()
	log          *slog.Logger
	exp          *controllerutil.Expectations
	now          func() time.Time
}

// New returns a DaemonSet controller using the factory's DaemonSet, Pod,
// Node and ControllerRevision informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	dsInf := factory.Apps().V1().DaemonSets()
	podInf := factory.Core().V1().Pods()
	nodeInf := factory.Core().V1().Nodes()
	revInf := factory.Apps().V1().ControllerRevisions()
	rec, stop := controllerutil.NewRecorder(client, component)
	c := &Controller{
		client:    client,
		sets:      dsInf.Lister(),
		pods:      podInf.Lister(),
		nodes:     nodeInf.Lister(),
		revisions: revInf.Lister(),
		synced: []cache.InformerSynced{dsInf.Informer().HasSynced, podInf.Informer().HasSynced,
			nodeInf.Informer().HasSynced, revInf.Informer().HasSynced},
		queue:        controllerutil.NewQueue("daemonset"),
		recorder:     rec,
		stopRecorder: stop,
		log:          log,
		exp:          controllerutil.NewExpectations(),
		now:          time.Now,
	}
	_, _ = dsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllerutil.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { controllerutil.Enqueue(c.queue, obj) },
		DeleteFunc: func(obj any) { controllerutil.Enqueue(c.queue, obj) },
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podAdded,
		UpdateFunc: c.podUpdated,
		DeleteFunc: c.podDeleted,
	})
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueAll() },
		UpdateFunc: func(oldObj, obj any) {
			o, ok1 := oldObj.(*corev1.Node)
			n, ok2 := obj.(*corev1.Node)
			if ok1 && ok2 && nodeChanged(o, n) {
				c.enqueueAll()
			}
		},
		DeleteFunc: func(any) { c.enqueueAll() },
	})
	return c
}

// Run syncs DaemonSets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.stopRecorder()
	if !controllerutil.WaitForSync(ctx, c.synced...) {
		return nil
	}
	controllerutil.RunWorkers(ctx, c.queue, workers, c.log, c.sync)
	return nil
}

// nodeChanged says whether a node update can change where daemons run.
func nodeChanged(o, n *corev1.Node) bool {
	if !reflect.DeepEqual(o.Labels, n.Labels) || !reflect.DeepEqual(o.Spec.Taints, n.Spec.Taints) || o.Spec.Unschedulable != n.Spec.Unschedulable {
		return true
	}
	status := func(nd *corev1.Node) map[corev1.NodeConditionType]corev1.ConditionStatus {
		m := map[corev1.NodeConditionType]corev1.ConditionStatus{}
		for _, c := range nd.Status.Conditions {
			m[c.Type] = c.Status
		}
		return m
	}
	return !reflect.DeepEqual(status(o), status(n))
}

func (c *Controller) enqueueAll() {
	sets, err := c.sets.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range sets {
		controllerutil.Enqueue(c.queue, ds)
	}
}

// ownerKey is the key of the DaemonSet controlling p, if any.
func ownerKey(p *corev1.Pod) string {
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.Kind != dsKind.Kind || ref.APIVersion != dsKind.GroupVersion().String() {
		return ""
	}
	return p.Namespace + "/" + ref.Name
}

// enqueueMatching queues the DaemonSets that could adopt an orphan pod.
func (c *Controller) enqueueMatching(p *corev1.Pod) {
	sets, err := c.sets.DaemonSets(p.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range sets {
		if sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(p.Labels)) {
			controllerutil.Enqueue(c.queue, ds)
		}
	}
}

func (c *Controller) podAdded(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if key := ownerKey(p); key != "" {
		c.exp.Observed(key, true)
		c.queue.Add(key)
		return
	}
	c.enqueueMatching(p)
}

func (c *Controller) podUpdated(oldObj, obj any) {
	o, ok1 := oldObj.(*corev1.Pod)
	p, ok2 := obj.(*corev1.Pod)
	if !ok1 || !ok2 || o.ResourceVersion == p.ResourceVersion {
		return
	}
	key := ownerKey(p)
	if key != "" && p.DeletionTimestamp != nil && o.DeletionTimestamp == nil {
		c.exp.Observed(key, false)
	}
	if oldKey := ownerKey(o); oldKey != "" && oldKey != key {
		c.queue.Add(oldKey)
	}
	if key != "" {
		c.queue.Add(key)
		return
	}
	c.enqueueMatching(p)
}

func (c *Controller) podDeleted(obj any) {
	p, ok := controllerutil.Untombstone(obj).(*corev1.Pod)
	if !ok {
		return
	}
	key := ownerKey(p)
	if key == "" {
		return
	}
	if p.DeletionTimestamp == nil {
		c.exp.Observed(key, false)
	}
	c.queue.Add(key)
}
