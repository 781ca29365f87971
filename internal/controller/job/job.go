// Package job owns the Job controller: it runs a Job's pods until enough of
// them succeed (completions, parallelism, Indexed completion), gives up
// after too many failures or past the active deadline (backoffLimit,
// podFailurePolicy, activeDeadlineSeconds), and suspends and resumes Jobs.
//
// Every pod it creates carries the batch.kubernetes.io/job-tracking
// finalizer. A finished pod is first recorded in
// status.uncountedTerminatedPods, then its finalizer is removed, and only
// then is it moved into status.succeeded or status.failed, so that each pod
// counts exactly once even if it is deleted right after finishing.
package job

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/controller/controllerutil"
)

const (
	// component is the event source, as upstream names it.
	component = "job-controller"
	// managedBy is the spec.managedBy value of jobs this controller owns
	// (also a nil managedBy).
	managedBy = "kubernetes.io/job-controller"
	// legacy pod labels upstream still sets next to the batch.kubernetes.io ones.
	legacyControllerUIDLabel = "controller-uid"
	legacyJobNameLabel       = "job-name"
	// orphanPrefix marks queue keys of pods whose job is gone but which still
	// carry the tracking finalizer.
	orphanPrefix = "pod:"
	// Pod re-creation after failures waits 10 s, doubling per consecutive
	// failure, at most 6 min.
	podBackoffBase = 10 * time.Second
	podBackoffMax  = 6 * time.Minute
	workers        = 5
)

var jobKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller runs the pods of Jobs.
type Controller struct {
	client       kubernetes.Interface
	jobs         batchlisters.JobLister
	pods         corelisters.PodLister
	synced       []cache.InformerSynced
	queue        workqueue.TypedRateLimitingInterface[string]
	recorder     record.EventRecorder
	stopRecorder func()
	log          *slog.Logger
	exp          *controllerutil.Expectations
	now          func() time.Time

	mu sync.Mutex
	// backoff remembers, per job key, the failures since the last success.
	backoff map[string]backoffRecord
	// written is the resourceVersion of the last status this controller
	// wrote per job key, until the informer shows it: a sync on an older
	// copy would count pods whose finalizers are already gone as missing.
	written map[string]uint64
}

type backoffRecord struct {
	failures    int
	lastFailure time.Time
}

// New returns a Job controller using the factory's Job and Pod informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	jobInf := factory.Batch().V1().Jobs()
	podInf := factory.Core().V1().Pods()
	rec, stop := controllerutil.NewRecorder(client, component)
	c := &Controller{
		client:       client,
		jobs:         jobInf.Lister(),
		pods:         podInf.Lister(),
		synced:       []cache.InformerSynced{jobInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue:        controllerutil.NewQueue("job"),
		recorder:     rec,
		stopRecorder: stop,
		log:          log,
		exp:          controllerutil.NewExpectations(),
		now:          time.Now,
		backoff:      map[string]backoffRecord{},
		written:      map[string]uint64{},
	}
	_, _ = jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.jobChanged,
		UpdateFunc: func(_, obj any) { c.jobChanged(obj) },
		DeleteFunc: func(obj any) { controllerutil.Enqueue(c.queue, obj) },
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podAdded,
		UpdateFunc: c.podUpdated,
		DeleteFunc: c.podDeleted,
	})
	return c
}

// Run syncs Jobs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.stopRecorder()
	if !controllerutil.WaitForSync(ctx, c.synced...) {
		return nil
	}
	controllerutil.RunWorkers(ctx, c.queue, workers, c.log, c.syncKey)
	return nil
}

func (c *Controller) jobChanged(obj any) {
	if j, ok := obj.(*batchv1.Job); ok {
		c.observeStatus(j)
	}
	controllerutil.Enqueue(c.queue, obj)
}

// observeStatus clears the wait for our own status write once the
// informer has caught up with it.
func (c *Controller) observeStatus(j *batchv1.Job) {
	key, err := cache.MetaNamespaceKeyFunc(j)
	if err != nil {
		return
	}
	rv, err := strconv.ParseUint(j.ResourceVersion, 10, 64)
	if err != nil {
		return
	}
	c.mu.Lock()
	if w, ok := c.written[key]; ok && rv >= w {
		delete(c.written, key)
	}
	c.mu.Unlock()
}

// statusSeen says whether the cached job includes our last status write.
func (c *Controller) statusSeen(key string, j *batchv1.Job) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.written[key]
	if !ok {
		return true
	}
	rv, err := strconv.ParseUint(j.ResourceVersion, 10, 64)
	if err != nil || rv >= w {
		delete(c.written, key)
		return true
	}
	return false
}

func (c *Controller) recordWritten(key string, j *batchv1.Job) {
	rv, err := strconv.ParseUint(j.ResourceVersion, 10, 64)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.written[key] = rv
	c.mu.Unlock()
}

// jobKeyOf returns the key of the job controlling pod, if any.
func jobKeyOf(p *corev1.Pod) (string, *metav1.OwnerReference) {
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.Kind != jobKind.Kind || !strings.HasPrefix(ref.APIVersion, batchv1.GroupName+"/") {
		return "", nil
	}
	return p.Namespace + "/" + ref.Name, ref
}

func (c *Controller) podAdded(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	key, _ := jobKeyOf(p)
	if key != "" {
		c.exp.Observed(key, true)
	}
	c.enqueueForPod(p)
}

func (c *Controller) podUpdated(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	p, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 || old.ResourceVersion == p.ResourceVersion {
		return
	}
	if p.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		if key, _ := jobKeyOf(p); key != "" {
			c.exp.Observed(key, false)
		}
	}
	// A pod moved to another controller (or released) concerns the old one too.
	if oldKey, _ := jobKeyOf(old); oldKey != "" {
		if newKey, _ := jobKeyOf(p); newKey != oldKey {
			c.queue.Add(oldKey)
		}
	}
	c.enqueueForPod(p)
}

func (c *Controller) podDeleted(obj any) {
	p, ok := controllerutil.Untombstone(obj).(*corev1.Pod)
	if !ok {
		return
	}
	key, _ := jobKeyOf(p)
	if key == "" {
		return
	}
	// A pod we deleted was already observed when it got its deletion
	// timestamp.
	if p.DeletionTimestamp == nil {
		c.exp.Observed(key, false)
	}
	c.queue.Add(key)
}

// enqueueForPod queues the pod's job, or the pod itself when it carries
// the tracking finalizer but has no job to release it.
func (c *Controller) enqueueForPod(p *corev1.Pod) {
	key, ref := jobKeyOf(p)
	if key != "" {
		if j, err := c.jobs.Jobs(p.Namespace).Get(ref.Name); err == nil && j.UID == ref.UID {
			c.queue.Add(key)
			return
		}
	}
	if hasFinalizer(p) {
		c.queue.Add(orphanPrefix + p.Namespace + "/" + p.Name)
	}
	if key != "" {
		c.queue.Add(key)
	}
}

func (c *Controller) syncKey(ctx context.Context, key string) error {
	if podKey, ok := strings.CutPrefix(key, orphanPrefix); ok {
		return c.releaseOrphan(ctx, podKey)
	}
	return c.sync(ctx, key)
}

func hasFinalizer(p *corev1.Pod) bool {
	for _, f := range p.Finalizers {
		if f == batchv1.JobTrackingFinalizer {
			return true
		}
	}
	return false
}

// backoffRemaining is how long a job with the given failure streak must
// still wait before creating pods again.
func backoffRemaining(rec backoffRecord, now time.Time) time.Duration {
	if rec.failures == 0 {
		return 0
	}
	d := podBackoffBase
	for i := 1; i < rec.failures && d < podBackoffMax; i++ {
		d *= 2
	}
	if d > podBackoffMax {
		d = podBackoffMax
	}
	return rec.lastFailure.Add(d).Sub(now)
}

// withTerminations is the job's backoff record updated with newly counted
// pods: a success clears the failure streak, failures extend it.
func (c *Controller) withTerminations(key string, succeeded int, failed []*corev1.Pod, now time.Time) backoffRecord {
	c.mu.Lock()
	rec := c.backoff[key]
	c.mu.Unlock()
	if succeeded > 0 {
		rec = backoffRecord{}
	}
	for _, p := range failed {
		rec.failures++
		if t := finishTime(p, now); t.After(rec.lastFailure) {
			rec.lastFailure = t
		}
	}
	return rec
}

// storeBackoff keeps the record once the terminations it includes are
// recorded in the job's status.
func (c *Controller) storeBackoff(key string, rec backoffRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rec.failures == 0 {
		delete(c.backoff, key)
	} else {
		c.backoff[key] = rec
	}
}

// finishTime is when a failed pod's last container ended, else when it
// became not ready, else now.
func finishTime(p *corev1.Pod, now time.Time) time.Time {
	var t time.Time
	for _, s := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if s.State.Terminated != nil && s.State.Terminated.FinishedAt.After(t) {
			t = s.State.Terminated.FinishedAt.Time
		}
	}
	if t.IsZero() {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionFalse {
				t = cond.LastTransitionTime.Time
			}
		}
	}
	if t.IsZero() || t.After(now) {
		return now
	}
	return t
}

func (c *Controller) forget(key string) {
	c.exp.Forget(key)
	c.mu.Lock()
	delete(c.backoff, key)
	delete(c.written, key)
	c.mu.Unlock()
}
