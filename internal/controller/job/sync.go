package job

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	podutil "k8s.io/kubectl/pkg/util/podutils"

	"skiff/internal/controller/controllerutil"
)

// Messages and reasons as upstream writes them.
const (
	msgBackoffLimit      = "Job has reached the specified backoff limit"
	msgDeadline          = "Job was active longer than specified deadline"
	msgMaxFailedIndexes  = "Job has exceeded the specified maximal number of failed indexes"
	msgFailedIndexes     = "Job has failed indexes"
	msgCompletions       = "Reached expected number of succeeded pods"
	reasonSuspended      = "JobSuspended"
	reasonResumed        = "JobResumed"
	eventCompleted       = "Completed"
	eventSuspended       = "Suspended"
	eventResumed         = "Resumed"
	maxUncountedPerWrite = 500
)

// sync reconciles one Job with its pods.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	job, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if job.Spec.ManagedBy != nil && *job.Spec.ManagedBy != managedBy {
		return nil
	}
	if !c.statusSeen(key, job) {
		// The update event of our own write queues the job again.
		return nil
	}
	// Read the expectations before listing pods, so a pod created after
	// the listing cannot be mistaken for one already seen.
	satisfied := c.exp.Satisfied(key)
	pods, err := c.jobPods(ctx, job)
	if err != nil {
		return err
	}
	if isFinished(job) || job.DeletionTimestamp != nil {
		// Nothing more to count: let every pod go.
		return c.removeFinalizers(ctx, job, withFinalizer(pods))
	}
	return c.reconcile(ctx, key, job, pods, satisfied)
}

// selector is the job's pod selector; a job created without one selects
// its pods by its uid label.
func selector(job *batchv1.Job) (labels.Selector, error) {
	if job.Spec.Selector == nil {
		return labels.SelectorFromSet(labels.Set{batchv1.ControllerUidLabel: string(job.UID)}), nil
	}
	return metav1.LabelSelectorAsSelector(job.Spec.Selector)
}

// jobPods lists the pods the job owns, adopting and releasing as needed.
func (c *Controller) jobPods(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := selector(job)
	if err != nil {
		return nil, err
	}
	all, err := c.pods.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	patch := controllerutil.PodPatcher(c.client)
	claimed, err := controllerutil.Claim(ctx, job, jobKind, sel, all, patch)
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

func isFinished(job *batchv1.Job) bool {
	return hasCondition(job.Status.Conditions, batchv1.JobComplete) || hasCondition(job.Status.Conditions, batchv1.JobFailed)
}

func hasCondition(conds []batchv1.JobCondition, t batchv1.JobConditionType) bool {
	return findCondition(conds, t) != nil
}

func findCondition(conds []batchv1.JobCondition, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range conds {
		if conds[i].Type == t && conds[i].Status == corev1.ConditionTrue {
			return &conds[i]
		}
	}
	return nil
}

// setCondition sets a condition, keeping the transition time when only
// the reason or message change; false when nothing changed.
func setCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, msg string, now time.Time) bool {
	ts := metav1.NewTime(now)
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status == status && c.Reason == reason && c.Message == msg {
			return false
		}
		if c.Status != status {
			c.LastTransitionTime = ts
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, msg, ts
		return true
	}
	st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: t, Status: status, Reason: reason, Message: msg, LastProbeTime: ts, LastTransitionTime: ts})
	return true
}

func withFinalizer(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if hasFinalizer(p) {
			out = append(out, p)
		}
	}
	return out
}

func isIndexed(job *batchv1.Job) bool {
	return job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
}

// onlyReplaceFailed says whether a terminating pod must reach the Failed
// phase before it is replaced and counted.
func onlyReplaceFailed(job *batchv1.Job) bool {
	return job.Spec.PodFailurePolicy != nil ||
		(job.Spec.PodReplacementPolicy != nil && *job.Spec.PodReplacementPolicy == batchv1.Failed)
}

// isPodFailed says whether a pod counts as failed: it is in the Failed
// phase, or it is being deleted before succeeding (an orphan that never
// gets to fail), once its grace period is over if only failed pods are
// replaced.
func isPodFailed(p *corev1.Pod, job *batchv1.Job, now time.Time) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	if p.DeletionTimestamp == nil || p.Status.Phase == corev1.PodSucceeded {
		return false
	}
	return !onlyReplaceFailed(job) || !p.DeletionTimestamp.After(now)
}

func int32Val(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// reconcile counts finished pods, decides the job's fate, and creates or
// deletes pods to match the spec.
func (c *Controller) reconcile(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod, satisfied bool) error {
	now := c.now()
	old := job.Status
	st := job.Status.DeepCopy()
	if st.UncountedTerminatedPods == nil {
		st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	indexed := isIndexed(job)
	completions := int(int32Val(job.Spec.Completions, 0))
	parallelism := int(int32Val(job.Spec.Parallelism, 1))
	perIndex := job.Spec.BackoffLimitPerIndex

	byUID := map[types.UID]*corev1.Pod{}
	for _, p := range pods {
		byUID[p.UID] = p
	}
	// Settle: recorded pods whose finalizer is gone move into the counters.
	var uncSucc, uncFail []types.UID
	for _, uid := range st.UncountedTerminatedPods.Succeeded {
		if p := byUID[uid]; p != nil && hasFinalizer(p) {
			uncSucc = append(uncSucc, uid)
		} else {
			st.Succeeded++
		}
	}
	for _, uid := range st.UncountedTerminatedPods.Failed {
		if p := byUID[uid]; p != nil && hasFinalizer(p) {
			uncFail = append(uncFail, uid)
		} else {
			st.Failed++
		}
	}
	recorded := sets.New(uncSucc...).Insert(uncFail...)

	var completed, failedIdx intervals
	if indexed {
		completed = parseIntervals(st.CompletedIndexes, completions)
		if st.FailedIndexes != nil {
			failedIdx = parseIntervals(*st.FailedIndexes, completions)
		}
	}

	// Record newly finished pods; collect the pods whose finalizer can go.
	var release, active, terminating []*corev1.Pod
	var newFailed []*corev1.Pod
	newSucceeded := 0
	var failJobMsg string
	added := 0
	sort.SliceStable(pods, func(i, j int) bool { return finishTime(pods[i], now).Before(finishTime(pods[j], now)) })
	for _, p := range pods {
		switch {
		case controllerutil.IsPodActive(p):
			active = append(active, p)
			continue
		case p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed:
			terminating = append(terminating, p)
		}
		if !hasFinalizer(p) {
			continue
		}
		if recorded.Has(p.UID) {
			release = append(release, p)
			continue
		}
		if added >= maxUncountedPerWrite {
			continue
		}
		ix := -1
		if indexed {
			ix = podIndex(p)
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			release = append(release, p)
			if indexed {
				// Only the first success of a valid index counts.
				if ix < 0 || ix >= completions || completed.has(ix) {
					continue
				}
				completed = completed.add(ix)
			}
			uncSucc = append(uncSucc, p.UID)
			newSucceeded++
			added++
		case isPodFailed(p, job, now):
			release = append(release, p)
			action, msg := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p)
			if action != nil {
				switch *action {
				case batchv1.PodFailurePolicyActionIgnore:
					continue
				case batchv1.PodFailurePolicyActionFailJob:
					if failJobMsg == "" {
						failJobMsg = msg
					}
				case batchv1.PodFailurePolicyActionFailIndex:
					if indexed && ix >= 0 && ix < completions {
						failedIdx = failedIdx.add(ix)
					}
				}
			}
			if indexed && perIndex != nil && ix >= 0 && ix < completions && indexFailureCount(p)+1 > int(*perIndex) {
				failedIdx = failedIdx.add(ix)
			}
			uncFail = append(uncFail, p.UID)
			newFailed = append(newFailed, p)
			added++
		}
	}

	backoff := c.withTerminations(key, newSucceeded, newFailed, now)
	succeeded := int(st.Succeeded) + len(uncSucc)
	failed := int(st.Failed) + len(uncFail)
	suspended := job.Spec.Suspend != nil && *job.Spec.Suspend

	// Decide whether the job has failed or succeeded.
	failTarget := findCondition(st.Conditions, batchv1.JobFailureTarget)
	successTarget := findCondition(st.Conditions, batchv1.JobSuccessCriteriaMet)
	if failTarget == nil && successTarget == nil {
		reason, msg := "", ""
		switch {
		case failJobMsg != "":
			reason, msg = batchv1.JobReasonPodFailurePolicy, failJobMsg
		case perIndex == nil && failed > int(int32Val(job.Spec.BackoffLimit, 6)):
			reason, msg = batchv1.JobReasonBackoffLimitExceeded, msgBackoffLimit
		case indexed && job.Spec.MaxFailedIndexes != nil && failedIdx.total() > int(*job.Spec.MaxFailedIndexes):
			reason, msg = batchv1.JobReasonMaxFailedIndexesExceeded, msgMaxFailedIndexes
		case !suspended && findCondition(st.Conditions, batchv1.JobSuspended) == nil && pastDeadline(job, now):
			reason, msg = batchv1.JobReasonDeadlineExceeded, msgDeadline
		case indexed && failedIdx.total() > 0 && completed.total()+failedIdx.total() >= completions:
			reason, msg = batchv1.JobReasonFailedIndexes, msgFailedIndexes
		}
		if reason != "" {
			setCondition(st, batchv1.JobFailureTarget, corev1.ConditionTrue, reason, msg, now)
		} else if complete(job, indexed, completions, succeeded, completed, len(active)) {
			setCondition(st, batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonCompletionsReached, msgCompletions, now)
		}
		failTarget = findCondition(st.Conditions, batchv1.JobFailureTarget)
		successTarget = findCondition(st.Conditions, batchv1.JobSuccessCriteriaMet)
	}

	var requeue time.Duration
	var finalEvent func()
	switch {
	case failTarget != nil || successTarget != nil:
		// The outcome is decided: stop what still runs, then write the
		// final condition once every pod is accounted for.
		if len(active) > 0 {
			c.exp.Expect(key, 0, len(active))
		}
		deleted, err := c.deletePods(ctx, key, job, active)
		terminating = append(terminating, deleted...)
		active = nil
		if err != nil {
			return err
		}
		if len(terminating) == 0 && len(uncSucc) == 0 && len(uncFail) == 0 {
			if failTarget != nil {
				reason, msg := failTarget.Reason, failTarget.Message
				setCondition(st, batchv1.JobFailed, corev1.ConditionTrue, reason, msg, now)
				finalEvent = func() { c.recorder.Event(job, corev1.EventTypeWarning, reason, msg) }
			} else {
				setCondition(st, batchv1.JobComplete, corev1.ConditionTrue, successTarget.Reason, successTarget.Message, now)
				t := metav1.NewTime(now)
				st.CompletionTime = &t
				finalEvent = func() { c.recorder.Event(job, corev1.EventTypeNormal, eventCompleted, "Job completed") }
			}
		}
	case suspended:
		if setCondition(st, batchv1.JobSuspended, corev1.ConditionTrue, reasonSuspended, "Job suspended", now) {
			finalEvent = func() { c.recorder.Event(job, corev1.EventTypeNormal, eventSuspended, "Job suspended") }
		}
		if satisfied {
			if len(active) > 0 {
				c.exp.Expect(key, 0, len(active))
			}
			deleted, err := c.deletePods(ctx, key, job, active)
			terminating = append(terminating, deleted...)
			active = nil
			if err != nil {
				return err
			}
		}
	default:
		if findCondition(st.Conditions, batchv1.JobSuspended) != nil {
			setCondition(st, batchv1.JobSuspended, corev1.ConditionFalse, reasonResumed, "Job resumed", now)
			finalEvent = func() { c.recorder.Event(job, corev1.EventTypeNormal, eventResumed, "Job resumed") }
			// A resumed job starts its active deadline afresh.
			st.StartTime = nil
		}
		if st.StartTime == nil {
			t := metav1.NewTime(now)
			st.StartTime = &t
		}
		if job.Spec.ActiveDeadlineSeconds != nil {
			requeue = st.StartTime.Add(time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second).Sub(now)
		}
		if satisfied {
			var err error
			var wait time.Duration
			active, terminating, wait, err = c.managePods(ctx, key, job, backoff, active, terminating, succeeded, completed, failedIdx, pods, parallelism, completions, now)
			if wait > 0 && (requeue <= 0 || wait < requeue) {
				requeue = wait
			}
			if err != nil {
				return err
			}
		}
	}

	ready := int32(0)
	for _, p := range active {
		if podutil.IsPodReady(p) {
			ready++
		}
	}
	st.Active = int32(len(active))
	st.Ready = &ready
	nTerm := int32(len(terminating))
	st.Terminating = &nTerm
	st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: uncSucc, Failed: uncFail}
	if indexed {
		st.CompletedIndexes = completed.String()
		if perIndex != nil {
			s := failedIdx.String()
			st.FailedIndexes = &s
		}
	}
	if !equality.Semantic.DeepEqual(&old, st) {
		updated := job.DeepCopy()
		updated.Status = *st
		res, err := c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			// A newer Job (or its deletion) is on its way through the
			// informer and brings the key back. Nothing was recorded, so
			// no finalizer may go yet.
			return nil
		}
		if err != nil {
			return err
		}
		c.recordWritten(key, res)
		c.storeBackoff(key, backoff)
		if finalEvent != nil {
			finalEvent()
		}
	}
	// The pods are recorded in the job's status now; their finalizers can go.
	if err := c.removeFinalizers(ctx, job, release); err != nil {
		return err
	}
	if requeue > 0 {
		c.queue.AddAfter(key, requeue)
	}
	return nil
}

func filterPods(pods []*corev1.Pod, keep func(*corev1.Pod) bool) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// pastDeadline says whether the job has been active for longer than its
// activeDeadlineSeconds.
func pastDeadline(job *batchv1.Job, now time.Time) bool {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil {
		return false
	}
	return !now.Before(job.Status.StartTime.Add(time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second))
}

// complete says whether enough pods have succeeded: every index of an
// Indexed job; completions pods otherwise; without completions (a work
// queue), one success once no pod is still running.
func complete(job *batchv1.Job, indexed bool, completions, succeeded int, completed intervals, active int) bool {
	switch {
	case indexed:
		return completed.total() >= completions
	case job.Spec.Completions != nil:
		return succeeded >= completions
	default:
		return succeeded > 0 && active == 0
	}
}

// managePods creates and deletes pods so that the right number run. It
// returns the active and terminating pods after its changes and how long
// to wait before pods may be created again.
func (c *Controller) managePods(ctx context.Context, key string, job *batchv1.Job, backoff backoffRecord, active, terminating []*corev1.Pod, succeeded int,
	completed, failedIdx intervals, all []*corev1.Pod, parallelism, completions int, now time.Time) ([]*corev1.Pod, []*corev1.Pod, time.Duration, error) {
	var toDelete []*corev1.Pod
	var toCreate []int // indexes, or -1 per non-indexed pod
	busy := len(active)
	if onlyReplaceFailed(job) {
		// Pods still terminating are not replaced until they have failed.
		busy += len(terminating)
	}
	if isIndexed(job) {
		want := completions - completed.total() - failedIdx.total()
		if want > parallelism {
			want = parallelism
		}
		if want < 0 {
			want = 0
		}
		byIndex := map[int][]*corev1.Pod{}
		for _, p := range active {
			ix := podIndex(p)
			if ix < 0 || ix >= completions || completed.has(ix) || failedIdx.has(ix) {
				toDelete = append(toDelete, p)
				continue
			}
			byIndex[ix] = append(byIndex[ix], p)
		}
		if onlyReplaceFailed(job) {
			for _, p := range terminating {
				if ix := podIndex(p); ix >= 0 {
					byIndex[ix] = append(byIndex[ix], nil)
				}
			}
		}
		running := 0
		for _, ps := range byIndex {
			// Keep one pod per index: the oldest, ready one.
			var live []*corev1.Pod
			for _, p := range ps {
				if p != nil {
					live = append(live, p)
				}
			}
			sortForDeletion(live)
			if len(live) > 1 {
				toDelete = append(toDelete, live[:len(live)-1]...)
			}
			running++
		}
		busy = running
		for ix := 0; ix < completions && busy+len(toCreate) < want; ix++ {
			if completed.has(ix) || failedIdx.has(ix) || byIndex[ix] != nil {
				continue
			}
			toCreate = append(toCreate, ix)
		}
		if busy > want {
			// Parallelism went down: stop the highest indexes.
			var extra []*corev1.Pod
			for _, ps := range byIndex {
				for _, p := range ps {
					if p != nil && !containsPod(toDelete, p) {
						extra = append(extra, p)
					}
				}
			}
			sort.Slice(extra, func(i, j int) bool { return podIndex(extra[i]) > podIndex(extra[j]) })
			n := busy - want
			if n > len(extra) {
				n = len(extra)
			}
			toDelete = append(toDelete, extra[:n]...)
		}
	} else {
		want := parallelism
		if job.Spec.Completions != nil {
			if rest := completions - succeeded; rest < want {
				want = rest
			}
		} else if succeeded > 0 {
			// A work queue job that had a success starts no new pods.
			want = len(active)
		}
		if want < 0 {
			want = 0
		}
		if len(active) > want {
			cand := append([]*corev1.Pod(nil), active...)
			sortForDeletion(cand)
			toDelete = cand[:len(active)-want]
		} else {
			for i := busy; i < want; i++ {
				toCreate = append(toCreate, -1)
			}
		}
	}

	var wait time.Duration
	if len(toCreate) > 0 {
		if wait = backoffRemaining(backoff, now); wait > 0 {
			toCreate = nil
		}
	}
	if len(toCreate)+len(toDelete) > 0 {
		c.exp.Expect(key, len(toCreate), len(toDelete))
	}
	deleted, delErr := c.deletePods(ctx, key, job, toDelete)
	active = filterPods(active, func(p *corev1.Pod) bool { return !containsPod(deleted, p) })
	terminating = append(terminating, deleted...)
	if delErr != nil {
		for range toCreate {
			c.exp.Observed(key, true)
		}
		return active, terminating, wait, delErr
	}
	created, err := c.createPods(ctx, key, job, toCreate, all)
	active = append(active, created...)
	return active, terminating, wait, err
}

func containsPod(ps []*corev1.Pod, p *corev1.Pod) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// sortForDeletion orders pods so that the cheapest to lose come first:
// unscheduled, then not ready, then the newest.
func sortForDeletion(ps []*corev1.Pod) {
	rank := func(p *corev1.Pod) int {
		switch {
		case p.Spec.NodeName == "":
			return 0
		case !podutil.IsPodReady(p):
			return 1
		}
		return 2
	}
	sort.SliceStable(ps, func(i, j int) bool {
		if ri, rj := rank(ps[i]), rank(ps[j]); ri != rj {
			return ri < rj
		}
		return ps[j].CreationTimestamp.Before(&ps[i].CreationTimestamp)
	})
}

// deletePods deletes pods, returning those now being deleted. The caller
// has raised the expectations.
func (c *Controller) deletePods(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	if len(pods) == 0 {
		return nil, nil
	}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		deleted []*corev1.Pod
		errs    []error
	)
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			mu.Lock()
			defer mu.Unlock()
			if err != nil && !apierrors.IsNotFound(err) {
				c.exp.Observed(key, false)
				c.recorder.Eventf(job, corev1.EventTypeWarning, controllerutil.FailedDelete, "Error deleting: %v", err)
				errs = append(errs, err)
				return
			}
			if err != nil {
				c.exp.Observed(key, false)
			}
			deleted = append(deleted, p)
			c.recorder.Eventf(job, corev1.EventTypeNormal, controllerutil.SuccessfulDelete, "Deleted pod: %v", p.Name)
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return deleted, errs[0]
	}
	return deleted, nil
}

// createPods creates one pod per entry of indexes (-1 for a pod without
// index) in batches that double while they succeed. The caller has raised
// the expectations.
func (c *Controller) createPods(ctx context.Context, key string, job *batchv1.Job, indexes []int, all []*corev1.Pod) ([]*corev1.Pod, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	var created []*corev1.Pod
	var mu sync.Mutex
	batch := 1
	for start := 0; start < len(indexes); start, batch = start+batch, batch*2 {
		end := min(start+batch, len(indexes))
		var wg sync.WaitGroup
		var firstErr error
		for _, ix := range indexes[start:end] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := c.client.CoreV1().Pods(job.Namespace).Create(ctx, c.newPod(job, ix, all), metav1.CreateOptions{})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					c.exp.Observed(key, true)
					if firstErr == nil {
						firstErr = err
					}
					if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
						c.recorder.Eventf(job, corev1.EventTypeWarning, controllerutil.FailedCreate, "Error creating: %v", err)
					}
					return
				}
				created = append(created, p)
				c.recorder.Eventf(job, corev1.EventTypeNormal, controllerutil.SuccessfulCreate, "Created pod: %v", p.Name)
			}()
		}
		wg.Wait()
		if firstErr != nil {
			// The creates never issued will not be observed.
			for range indexes[end:] {
				c.exp.Observed(key, true)
			}
			return created, firstErr
		}
	}
	return created, nil
}

// newPod builds a pod of the job: the template with the job's labels, the
// tracking finalizer and, for an Indexed job, its completion index.
func (c *Controller) newPod(job *batchv1.Job, ix int, all []*corev1.Pod) *corev1.Pod {
	prefix := job.Name + "-"
	if ix >= 0 {
		prefix = fmt.Sprintf("%s-%d-", job.Name, ix)
	}
	p := controllerutil.PodFromTemplate(&job.Spec.Template, job, jobKind, prefix)
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	// Jobs created without a generated selector still get the labels the
	// API server would have put on the template.
	for k, v := range map[string]string{
		batchv1.ControllerUidLabel: string(job.UID), legacyControllerUIDLabel: string(job.UID),
		batchv1.JobNameLabel: job.Name, legacyJobNameLabel: job.Name,
	} {
		if _, ok := p.Labels[k]; !ok {
			p.Labels[k] = v
		}
	}
	p.Finalizers = append(p.Finalizers, batchv1.JobTrackingFinalizer)
	if ix < 0 {
		return p
	}
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	s := strconv.Itoa(ix)
	p.Annotations[batchv1.JobCompletionIndexAnnotation] = s
	p.Labels[batchv1.JobCompletionIndexAnnotation] = s
	if job.Spec.BackoffLimitPerIndex != nil {
		p.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(indexFailures(all, ix))
	}
	if p.Spec.Hostname == "" {
		p.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, ix)
	}
	env := corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
		FieldPath: fmt.Sprintf("metadata.annotations['%s']", batchv1.JobCompletionIndexAnnotation)}}}
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			if !hasEnv(cs[i].Env, env.Name) {
				cs[i].Env = append(cs[i].Env, env)
			}
		}
	}
	return p
}

// indexFailures is how many pods of index ix have failed so far, going by
// the count the newest failed one carries.
func indexFailures(all []*corev1.Pod, ix int) int {
	n := 0
	for _, p := range all {
		if p.Status.Phase == corev1.PodFailed && podIndex(p) == ix {
			n = max(n, indexFailureCount(p)+1)
		}
	}
	return n
}

func hasEnv(env []corev1.EnvVar, name string) bool {
	for _, e := range env {
		if e.Name == name {
			return true
		}
	}
	return false
}

// removeFinalizers takes the tracking finalizer off pods.
func (c *Controller) removeFinalizers(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, p := range pods {
		if !hasFinalizer(p) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.removeFinalizer(ctx, p); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("removing tracking finalizers of job %s/%s: %w", job.Namespace, job.Name, errs[0])
	}
	return nil
}

func (c *Controller) removeFinalizer(ctx context.Context, p *corev1.Pod) error {
	patch := fmt.Sprintf(`{"metadata":{"$deleteFromPrimitiveList/finalizers":[%q],"uid":%q}}`, batchv1.JobTrackingFinalizer, p.UID)
	err := controllerutil.PodPatcher(c.client)(ctx, p.Namespace, p.Name, []byte(patch))
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// releaseOrphan removes the tracking finalizer of a pod whose job is gone.
func (c *Controller) releaseOrphan(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	p, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || !hasFinalizer(p) {
		return err
	}
	if _, ref := jobKeyOf(p); ref != nil {
		if j, err := c.jobs.Jobs(ns).Get(ref.Name); err == nil && j.UID == ref.UID {
			return nil // the job counts it
		}
	}
	return c.removeFinalizer(ctx, p)
}
