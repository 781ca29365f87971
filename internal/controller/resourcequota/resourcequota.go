// Package resourcequota owns the ResourceQuota controller: it keeps every
// quota's status.hard a copy of spec.hard and status.used the namespace's
// current use of those resources, counted by package quota. Quotas are
// recomputed when objects they count change, and all of them every five
// minutes.
package resourcequota

import (
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/controller/controllerutil"
	"skiff/internal/quota"
	"skiff/internal/registry"
)

// ResyncPeriod is how often every quota is recomputed regardless of events
// (upstream's --resource-quota-sync-period).
const ResyncPeriod = 5 * time.Minute

// monitored are watched from the start: the kinds quotas most often count.
var monitored = []schema.GroupVersionResource{
	quota.PodsGVR, quota.ServicesGVR, quota.ClaimsGVR,
	{Version: "v1", Resource: "configmaps"}, {Version: "v1", Resource: "secrets"},
	{Version: "v1", Resource: "replicationcontrollers"}, {Version: "v1", Resource: "resourcequotas"},
}

// Controller is the ResourceQuota controller.
type Controller struct {
	client  kubernetes.Interface
	factory informers.SharedInformerFactory
	log     *slog.Logger
	queue   workqueue.TypedRateLimitingInterface[string]
	quotas  corelisters.ResourceQuotaLister
	synced  []cache.InformerSynced
	now     func() time.Time

	mu       sync.Mutex
	ctx      context.Context // set by Run, to start informers added later
	monitors map[schema.GroupResource]*monitor
}

// monitor is the informer of one counted resource.
type monitor struct {
	gvr      schema.GroupVersionResource
	informer informers.GenericInformer
}

// New returns the ResourceQuota controller on factory's informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	qInf := factory.Core().V1().ResourceQuotas()
	c := &Controller{
		client: client, factory: factory, log: log, queue: controllerutil.NewQueue("resourcequota"),
		quotas: qInf.Lister(), synced: []cache.InformerSynced{qInf.Informer().HasSynced}, now: time.Now,
		monitors: map[schema.GroupResource]*monitor{},
	}
	_, _ = qInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { controllerutil.Enqueue(c.queue, obj) },
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.ResourceQuota), cur.(*corev1.ResourceQuota)
			// Our own status writes change neither spec nor status.hard.
			if !quota.Equal(n.Spec.Hard, n.Status.Hard) || !apiequality.Semantic.DeepEqual(o.Spec, n.Spec) {
				controllerutil.Enqueue(c.queue, cur)
			}
		},
	})
	for _, gvr := range monitored {
		if m, err := c.addMonitor(gvr); err == nil {
			c.synced = append(c.synced, m.informer.Informer().HasSynced)
		}
	}
	return c
}

// addMonitor watches a counted resource; objects changing there queue the
// quotas of their namespace.
func (c *Controller) addMonitor(gvr schema.GroupVersionResource) (*monitor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.monitors[gvr.GroupResource()]; ok {
		return m, nil
	}
	inf, err := c.factory.ForResource(gvr)
	if err != nil {
		return nil, err
	}
	m := &monitor{gvr: gvr, informer: inf}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.objectChanged,
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(runtime.Object)
			n, ok2 := cur.(runtime.Object)
			if !ok1 || !ok2 {
				return
			}
			now := c.now()
			// Only a change of what the object charges (a pod finishing, a
			// service changing type...) or of a pod's scope matters.
			if !quota.Equal(quota.Usage(gvr, o, now), quota.Usage(gvr, n, now)) || scopeChanged(o, n) {
				c.objectChanged(cur)
			}
		},
		DeleteFunc: c.objectChanged,
	})
	c.monitors[gvr.GroupResource()] = m
	if c.ctx != nil {
		c.factory.Start(c.ctx.Done())
	}
	return m, nil
}

func scopeChanged(old, cur runtime.Object) bool {
	o, ok1 := old.(*corev1.Pod)
	n, ok2 := cur.(*corev1.Pod)
	if !ok1 || !ok2 {
		return false
	}
	ad := func(p *corev1.Pod) int64 {
		if p.Spec.ActiveDeadlineSeconds == nil {
			return -1
		}
		return *p.Spec.ActiveDeadlineSeconds
	}
	return ad(o) != ad(n)
}

// objectChanged queues the quotas of the object's namespace.
func (c *Controller) objectChanged(obj any) {
	obj = controllerutil.Untombstone(obj)
	m, ok := obj.(metav1.Object)
	if !ok || m.GetNamespace() == "" {
		return
	}
	qs, err := c.quotas.ResourceQuotas(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range qs {
		controllerutil.Enqueue(c.queue, q)
	}
}

// Run syncs quotas until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	if !controllerutil.WaitForSync(ctx, c.synced...) {
		return nil
	}
	go c.resync(ctx)
	controllerutil.RunWorkers(ctx, c.queue, 2, c.log, c.sync)
	return nil
}

// resync queues every quota each ResyncPeriod.
func (c *Controller) resync(ctx context.Context) {
	t := time.NewTicker(ResyncPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		qs, err := c.quotas.List(labels.Everything())
		if err != nil {
			continue
		}
		for _, q := range qs {
			controllerutil.Enqueue(c.queue, q)
		}
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	q, err := c.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	used, pending, err := c.usage(q)
	if err != nil {
		return err
	}
	if pending {
		// A resource seen for the first time is still listing.
		c.queue.AddAfter(key, time.Second)
	}
	hard := q.Spec.Hard.DeepCopy()
	if quota.Equal(q.Status.Hard, hard) && quota.Equal(q.Status.Used, used) {
		return nil
	}
	out := q.DeepCopy()
	out.Status = corev1.ResourceQuotaStatus{Hard: hard, Used: used}
	_, err = c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, out, metav1.UpdateOptions{})
	return err
}

// usage is the namespace's use of every resource the quota's hard names;
// pending is true when some counted resource has not listed yet (its use
// is then left as it was).
func (c *Controller) usage(q *corev1.ResourceQuota) (corev1.ResourceList, bool, error) {
	byResource := map[schema.GroupResource]corev1.ResourceList{}
	for name, v := range q.Spec.Hard {
		gr, ok := quota.ResourceOf(name)
		if !ok {
			continue
		}
		if byResource[gr] == nil {
			byResource[gr] = corev1.ResourceList{}
		}
		byResource[gr][name] = v
	}
	now := c.now()
	used := corev1.ResourceList{}
	pending := false
	for gr, hard := range byResource {
		gvr, ok := servedVersion(gr)
		var m *monitor
		if ok {
			var err error
			if m, err = c.addMonitor(gvr); err != nil {
				ok = false
			}
		}
		if !ok {
			// Nothing serves it: nothing uses it.
			for name := range hard {
				used[name] = zero()
			}
			continue
		}
		if !m.informer.Informer().HasSynced() {
			pending = true
			for name := range hard {
				if v, ok := q.Status.Used[name]; ok {
					used[name] = v
				} else {
					used[name] = zero()
				}
			}
			continue
		}
		objs, err := m.informer.Lister().ByNamespace(q.Namespace).List(labels.Everything())
		if err != nil {
			return nil, false, err
		}
		for name, v := range quota.Used(q, hard, gvr, objs, now) {
			used[name] = v
		}
	}
	// Names no object charges are still reported, at zero, as upstream.
	for name := range q.Spec.Hard {
		if _, ok := used[name]; !ok {
			used[name] = zero()
		}
	}
	return used, pending, nil
}

// servedVersion finds the version a group/resource is served in.
func servedVersion(gr schema.GroupResource) (schema.GroupVersionResource, bool) {
	for _, r := range registry.All() {
		if r.Group == gr.Group && r.Name == gr.Resource {
			return r.GVR(), true
		}
	}
	return schema.GroupVersionResource{}, false
}

func zero() resource.Quantity { return *resource.NewQuantity(0, resource.DecimalSI) }
