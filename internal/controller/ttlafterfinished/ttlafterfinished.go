// Package ttlafterfinished owns the TTL-after-finished controller: it
// deletes a finished Job (with its pods, by background propagation) once
// spec.ttlSecondsAfterFinished has passed since the Job finished, waking
// up exactly when that happens.
package ttlafterfinished

import (
	"context"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/controller/controllerutil"
)

const workers = 5

// Controller deletes finished Jobs whose time to live has passed.
type Controller struct {
	client kubernetes.Interface
	jobs   batchlisters.JobLister
	synced cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
	log    *slog.Logger
	now    func() time.Time
}

// New returns a TTL-after-finished controller using the factory's Job
// informer.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	inf := factory.Batch().V1().Jobs()
	c := &Controller{
		client: client,
		jobs:   inf.Lister(),
		synced: inf.Informer().HasSynced,
		queue:  controllerutil.NewQueue("ttl_jobs_to_delete"),
		log:    log,
		now:    time.Now,
	}
	enqueue := func(obj any) {
		if j, ok := obj.(*batchv1.Job); ok && needsCleanup(j) {
			controllerutil.Enqueue(c.queue, j)
		}
	}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	return c
}

// Run deletes expired Jobs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !controllerutil.WaitForSync(ctx, c.synced) {
		return nil
	}
	controllerutil.RunWorkers(ctx, c.queue, workers, c.log, c.sync)
	return nil
}

// needsCleanup says whether a job has a TTL, has finished and is not
// already being deleted.
func needsCleanup(j *batchv1.Job) bool {
	_, ok := finishTime(j)
	return ok && j.Spec.TTLSecondsAfterFinished != nil && j.DeletionTimestamp == nil
}

// finishTime is when the job's Complete or Failed condition became true.
func finishTime(j *batchv1.Job) (time.Time, bool) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			if c.LastTransitionTime.IsZero() {
				// Without a time, count from now rather than never.
				return time.Time{}, true
			}
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}

// remaining is how long the job has still to live; ok is false when it
// is not due for cleanup at all.
func (c *Controller) remaining(j *batchv1.Job) (time.Duration, bool) {
	if !needsCleanup(j) {
		return 0, false
	}
	finished, _ := finishTime(j)
	now := c.now()
	if finished.IsZero() {
		finished = now
	}
	return finished.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second).Sub(now), true
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	j, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	left, ok := c.remaining(j)
	if !ok {
		return nil
	}
	if left > 0 {
		c.queue.AddAfter(key, left)
		return nil
	}
	// The TTL may have just been changed: decide on the server's copy.
	fresh, err := c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if left, ok = c.remaining(fresh); !ok {
		return nil
	}
	if left > 0 {
		c.queue.AddAfter(key, left)
		return nil
	}
	bg := metav1.DeletePropagationBackground
	err = c.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &bg,
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion},
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if apierrors.IsConflict(err) {
		// Changed meanwhile: its update event brings it back.
		return nil
	}
	if err == nil {
		c.log.Info("deleted job past its TTL", "job", key)
	}
	return err
}
