// Package cronjob owns the CronJob controller: it creates a Job for every
// time a CronJob's schedule fires (in spec.timeZone, else the server's
// local time), follows the concurrency policy and the starting deadline,
// keeps status.active, lastScheduleTime and lastSuccessfulTime, and deletes
// finished Jobs beyond the history limits. It wakes up exactly at the next
// scheduled time instead of polling.
package cronjob

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/controller/controllerutil"
)

const (
	component = "cronjob-controller"
	workers   = 5
	// maxMissed is how many missed start times are tolerated silently.
	maxMissed = 100
	// nextScheduleDelta is added to the wake-up so that the schedule has
	// surely fired when the sync runs.
	nextScheduleDelta = 100 * time.Millisecond
)

// Event reasons as upstream spells them.
const (
	reasonSawCompletedJob     = "SawCompletedJob"
	reasonMissSchedule        = "MissSchedule"
	reasonJobAlreadyActive    = "JobAlreadyActive"
	reasonTooManyMissedTimes  = "TooManyMissedTimes"
	reasonUnparseableSchedule = "UnparseableSchedule"
	reasonUnknownTimeZone     = "UnknownTimeZone"
	reasonMissingJob          = "MissingJob"
	reasonUnexpectedJob       = "UnexpectedJob"
)

var (
	cronJobKind = batchv1.SchemeGroupVersion.WithKind("CronJob")
	jobKind     = batchv1.SchemeGroupVersion.WithKind("Job")
)

// Controller creates the Jobs of CronJobs.
type Controller struct {
	client       kubernetes.Interface
	cronJobs     batchlisters.CronJobLister
	jobs         batchlisters.JobLister
	synced       []cache.InformerSynced
	queue        workqueue.TypedRateLimitingInterface[string]
	recorder     record.EventRecorder
	stopRecorder func()
	log          *slog.Logger
	now          func() time.Time
}

// New returns a CronJob controller using the factory's CronJob and Job
// informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	cjInf := factory.Batch().V1().CronJobs()
	jobInf := factory.Batch().V1().Jobs()
	rec, stop := controllerutil.NewRecorder(client, component)
	c := &Controller{
		client:       client,
		cronJobs:     cjInf.Lister(),
		jobs:         jobInf.Lister(),
		synced:       []cache.InformerSynced{cjInf.Informer().HasSynced, jobInf.Informer().HasSynced},
		queue:        controllerutil.NewQueue("cronjob"),
		recorder:     rec,
		stopRecorder: stop,
		log:          log,
		now:          time.Now,
	}
	_, _ = cjInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllerutil.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { controllerutil.Enqueue(c.queue, obj) },
		DeleteFunc: func(obj any) { controllerutil.Enqueue(c.queue, obj) },
	})
	_, _ = jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.jobChanged,
		UpdateFunc: func(oldObj, obj any) {
			c.jobChanged(obj)
			if o, ok := oldObj.(*batchv1.Job); ok {
				if n, ok := obj.(*batchv1.Job); ok && !sameController(o, n) {
					c.jobChanged(oldObj)
				}
			}
		},
		DeleteFunc: c.jobChanged,
	})
	return c
}

// Run syncs CronJobs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.stopRecorder()
	if !controllerutil.WaitForSync(ctx, c.synced...) {
		return nil
	}
	controllerutil.RunWorkers(ctx, c.queue, workers, c.log, c.sync)
	return nil
}

func sameController(a, b *batchv1.Job) bool {
	ra, rb := metav1.GetControllerOf(a), metav1.GetControllerOf(b)
	return (ra == nil) == (rb == nil) && (ra == nil || ra.UID == rb.UID)
}

// jobChanged queues the CronJob controlling a Job.
func (c *Controller) jobChanged(obj any) {
	obj = controllerutil.Untombstone(obj)
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(j); ref != nil && ref.Kind == cronJobKind.Kind {
		c.queue.Add(j.Namespace + "/" + ref.Name)
	}
}

// sync reconciles one CronJob with its Jobs and its schedule.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.cronJobs.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	all, err := c.jobs.Jobs(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var jobs []*batchv1.Job
	for _, j := range all {
		if ref := metav1.GetControllerOf(j); ref != nil && ref.UID == cached.UID {
			jobs = append(jobs, j)
		}
	}
	cj := cached.DeepCopy()
	for _, j := range jobs {
		if _, finished := isFinished(j); !finished && !inActive(cj, j.UID) {
			// Our own status write may not have reached the informer yet.
			fresh, err := c.client.BatchV1().CronJobs(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cj = fresh
			break
		}
	}
	now := c.now()
	changed, err := c.trackJobs(ctx, cj, jobs)
	if err != nil {
		return err
	}
	requeue, created, err := c.schedule(ctx, cj, now)
	if err != nil {
		return err
	}
	if changed || created {
		if _, err := c.client.BatchV1().CronJobs(ns).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	c.cleanupHistory(ctx, cj, jobs)
	if requeue > 0 {
		c.queue.AddAfter(key, requeue)
	}
	return nil
}

// isFinished returns the finishing condition type of a job, if any.
func isFinished(j *batchv1.Job) (batchv1.JobConditionType, bool) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type, true
		}
	}
	return "", false
}

func inActive(cj *batchv1.CronJob, uid types.UID) bool {
	for _, r := range cj.Status.Active {
		if r.UID == uid {
			return true
		}
	}
	return false
}

func removeActive(cj *batchv1.CronJob, uid types.UID) {
	var keep []corev1.ObjectReference
	for _, r := range cj.Status.Active {
		if r.UID != uid {
			keep = append(keep, r)
		}
	}
	cj.Status.Active = keep
}

// trackJobs brings status.active and lastSuccessfulTime up to date with
// the Jobs: finished ones leave the active list, vanished ones too.
func (c *Controller) trackJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) (bool, error) {
	changed := false
	present := map[types.UID]bool{}
	for _, j := range jobs {
		present[j.UID] = true
		cond, finished := isFinished(j)
		switch {
		case !finished && !inActive(cj, j.UID):
			// Created by us just before a crash or a stale status, or by
			// someone who wants it adopted: it runs under this CronJob anyway.
			c.recorder.Eventf(cj, corev1.EventTypeWarning, reasonUnexpectedJob, "Saw a job that the controller did not create or forgot: %s", j.Name)
		case finished && inActive(cj, j.UID):
			removeActive(cj, j.UID)
			changed = true
			c.recorder.Eventf(cj, corev1.EventTypeNormal, reasonSawCompletedJob, "Saw completed job: %s, condition: %v", j.Name, cond)
		}
		if cond == batchv1.JobComplete && j.Status.CompletionTime != nil {
			if last := cj.Status.LastSuccessfulTime; last == nil || j.Status.CompletionTime.After(last.Time) {
				t := *j.Status.CompletionTime
				cj.Status.LastSuccessfulTime = &t
				changed = true
			}
		}
	}
	for _, r := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
		if present[r.UID] {
			continue
		}
		// The informer may lag behind a job just created: ask the server.
		_, err := c.client.BatchV1().Jobs(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			c.recorder.Eventf(cj, corev1.EventTypeNormal, reasonMissingJob, "Active job went missing: %v", r.Name)
			removeActive(cj, r.UID)
			changed = true
		case err != nil:
			return changed, err
		}
	}
	return changed, nil
}

// parseSchedule reads the schedule in the CronJob's time zone.
func parseSchedule(cj *batchv1.CronJob) (cron.Schedule, error) {
	sched, err := cron.ParseStandard(cj.Spec.Schedule)
	if err != nil {
		return nil, err
	}
	if cj.Spec.TimeZone != nil {
		loc, err := time.LoadLocation(*cj.Spec.TimeZone)
		if err != nil {
			return nil, err
		}
		if s, ok := sched.(*cron.SpecSchedule); ok {
			s.Location = loc
		}
	}
	return sched, nil
}

// schedule starts the Job of the most recent unmet scheduled time, if the
// policies allow, and returns when to look again.
func (c *Controller) schedule(ctx context.Context, cj *batchv1.CronJob, now time.Time) (time.Duration, bool, error) {
	if cj.DeletionTimestamp != nil {
		return 0, false, nil
	}
	if tz := cj.Spec.TimeZone; tz != nil {
		if _, err := time.LoadLocation(*tz); err != nil {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, reasonUnknownTimeZone, "invalid timeZone: %q: %s", *tz, err)
			return 0, false, nil
		}
	}
	sched, err := parseSchedule(cj)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, reasonUnparseableSchedule, "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return 0, false, nil
	}
	next := sched.Next(now).Sub(now) + nextScheduleDelta
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return 0, false, nil
	}
	scheduled, missed := mostRecent(cj, sched, now)
	if missed > maxMissed {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, reasonTooManyMissedTimes,
			"too many missed start times: %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", missed)
	}
	if scheduled.IsZero() {
		return next, false, nil
	}
	if sds := cj.Spec.StartingDeadlineSeconds; sds != nil && scheduled.Add(time.Duration(*sds)*time.Second).Before(now) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, reasonMissSchedule, "Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
		return next, false, nil
	}
	name := jobName(cj, scheduled)
	if last := cj.Status.LastScheduleTime; last != nil && last.Time.Equal(scheduled) {
		return next, false, nil // already started
	}
	for _, r := range cj.Status.Active {
		if r.Name == name {
			return next, false, nil
		}
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			c.recorder.Eventf(cj, corev1.EventTypeNormal, reasonJobAlreadyActive, "Not starting job because prior execution is running and concurrency policy is Forbid")
			return next, false, nil
		}
	case batchv1.ReplaceConcurrent:
		for _, r := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
			if err := c.deleteJob(ctx, cj, r.Namespace, r.Name); err != nil {
				return 0, false, err
			}
			removeActive(cj, r.UID)
		}
	}
	job, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, newJob(cj, name, scheduled), metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		// Created before, but the status write got lost: take it up again.
		existing, gerr := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, name, metav1.GetOptions{})
		if gerr != nil {
			return 0, false, gerr
		}
		if ref := metav1.GetControllerOf(existing); ref == nil || ref.UID != cj.UID {
			return next, false, nil
		}
		job = existing
	case err != nil:
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, controllerutil.FailedCreate, "Error creating job: %v", err)
		}
		return 0, false, err
	default:
		c.recorder.Eventf(cj, corev1.EventTypeNormal, controllerutil.SuccessfulCreate, "Created job %v", job.Name)
	}
	if _, finished := isFinished(job); !finished && !inActive(cj, job.UID) {
		cj.Status.Active = append(cj.Status.Active, corev1.ObjectReference{
			Kind: jobKind.Kind, APIVersion: jobKind.GroupVersion().String(),
			Namespace: job.Namespace, Name: job.Name, UID: job.UID, ResourceVersion: job.ResourceVersion,
		})
	}
	t := metav1.NewTime(scheduled)
	cj.Status.LastScheduleTime = &t
	return next, true, nil
}

// mostRecent returns the latest scheduled time in (earliest, now], zero if
// none, and how many there were. earliest is the last scheduled time (or
// the creation), moved up to the starting deadline.
func mostRecent(cj *batchv1.CronJob, sched cron.Schedule, now time.Time) (time.Time, int) {
	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if sds := cj.Spec.StartingDeadlineSeconds; sds != nil {
		if d := now.Add(-time.Duration(*sds) * time.Second); d.After(earliest) {
			earliest = d
		}
	}
	if earliest.After(now) {
		return time.Time{}, 0
	}
	var first, last time.Time
	count := 0
	for t := sched.Next(earliest); !t.After(now); t = sched.Next(t) {
		if count == 0 {
			first = t
		}
		last = t
		count++
		if count > maxMissed {
			break
		}
	}
	if count <= maxMissed {
		return last, count
	}
	// Too many to walk: estimate the count from the first interval.
	if interval := sched.Next(first).Sub(first); interval > 0 {
		count = int(now.Sub(first)/interval) + 1
	}
	// Too many to walk: find the latest by stepping back from now.
	for back := time.Minute; ; back *= 2 {
		start := now.Add(-back)
		if !start.After(earliest) {
			start = earliest
		}
		if t := sched.Next(start); !t.After(now) {
			for ; !t.After(now); t = sched.Next(t) {
				last = t
			}
			return last, count
		}
	}
}

// jobName is the name of the Job for a scheduled time: the CronJob's name
// and the time in minutes since the epoch, so that each time has one Job.
func jobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}

// newJob builds the Job of a scheduled time from the CronJob's template.
func newJob(cj *batchv1.CronJob, name string, scheduled time.Time) *batchv1.Job {
	tmpl := cj.Spec.JobTemplate.DeepCopy()
	annotations := tmpl.Annotations
	if annotations == nil {
		annotations = map[string]string{}
	}
	loc := time.Local
	if cj.Spec.TimeZone != nil {
		if l, err := time.LoadLocation(*cj.Spec.TimeZone); err == nil {
			loc = l
		}
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       cj.Namespace,
			Labels:          tmpl.Labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, cronJobKind)},
		},
		Spec: tmpl.Spec,
	}
}

func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, ns, name string) error {
	bg := metav1.DeletePropagationBackground
	err := c.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, controllerutil.FailedDelete, "Deleted job: %v", err)
		return err
	}
	c.recorder.Eventf(cj, corev1.EventTypeNormal, controllerutil.SuccessfulDelete, "Deleted job %v", name)
	return nil
}

// cleanupHistory deletes the oldest finished Jobs beyond the history
// limits. Failures are left for the next sync.
func (c *Controller) cleanupHistory(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) {
	if cj.DeletionTimestamp != nil {
		return
	}
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		if j.DeletionTimestamp != nil {
			continue
		}
		switch cond, _ := isFinished(j); cond {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	for _, h := range []struct {
		jobs  []*batchv1.Job
		limit *int32
	}{{succeeded, cj.Spec.SuccessfulJobsHistoryLimit}, {failed, cj.Spec.FailedJobsHistoryLimit}} {
		if h.limit == nil || len(h.jobs) <= int(*h.limit) {
			continue
		}
		sort.Slice(h.jobs, func(a, b int) bool { return startTime(h.jobs[a]).Before(startTime(h.jobs[b])) })
		for _, j := range h.jobs[:len(h.jobs)-int(*h.limit)] {
			if err := c.deleteJob(ctx, cj, j.Namespace, j.Name); err != nil {
				c.log.Warn("deleting old job", "job", j.Namespace+"/"+j.Name, "err", err)
			}
		}
	}
}

// startTime orders jobs for history cleanup: by start, else creation.
func startTime(j *batchv1.Job) time.Time {
	if j.Status.StartTime != nil {
		return j.Status.StartTime.Time
	}
	return j.CreationTimestamp.Time
}
