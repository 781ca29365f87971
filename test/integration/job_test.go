package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"skiff/internal/simnodes"
)

// startSimNodes runs count simulated nodes until the test ends.
func startSimNodes(t *testing.T, ts *testServer, count int) *simnodes.Sim {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sim := simnodes.New(ts.Client, simnodes.Config{Count: count, RenewInterval: time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return sim
}

// jobOf returns a Job whose pods exit with code after runFor on a
// simulated node.
func jobOf(name string, completions, parallelism, backoffLimit int32, code int, runFor string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Completions: &completions, Parallelism: &parallelism, BackoffLimit: &backoffLimit,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
					simnodes.AnnotationExitCode: fmt.Sprint(code), simnodes.AnnotationRunFor: runFor}},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
		},
	}
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == t && j.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

func TestJob(t *testing.T) {
	ts := startServer(t)
	startSimNodes(t, ts, 3)
	ctx := context.Background()
	jobs := ts.Client.BatchV1().Jobs("default")

	t.Run("CompletionsAndParallelism", func(t *testing.T) {
		// Watch the job's pods from the start and track how many run at once.
		w, err := ts.Client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=five"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		var mu sync.Mutex
		maxActive := 0
		seen := map[string]bool{}
		go func() {
			active := map[string]bool{}
			for ev := range w.ResultChan() {
				p, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				running := ev.Type != watch.Deleted && p.DeletionTimestamp == nil &&
					p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
				mu.Lock()
				seen[p.Name] = true
				if running {
					active[p.Name] = true
				} else {
					delete(active, p.Name)
				}
				maxActive = max(maxActive, len(active))
				mu.Unlock()
			}
		}()
		if _, err := jobs.Create(ctx, jobOf("five", 5, 2, 6, 0, "500ms"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var j *batchv1.Job
		waitFor(t, "job five to complete", 60*time.Second, func() bool {
			j, err = jobs.Get(ctx, "five", metav1.GetOptions{})
			return err == nil && jobCondition(j, batchv1.JobComplete) != nil
		})
		if j.Status.Succeeded != 5 || j.Status.Failed != 0 || j.Status.Active != 0 || j.Status.CompletionTime == nil || j.Status.StartTime == nil {
			t.Errorf("status = %+v, want 5 succeeded, none active or failed, start and completion times", j.Status)
		}
		if jobCondition(j, batchv1.JobSuccessCriteriaMet) == nil {
			t.Errorf("conditions %+v lack SuccessCriteriaMet", j.Status.Conditions)
		}
		if u := j.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
			t.Errorf("uncounted pods left: %+v", u)
		}
		waitFor(t, "tracking finalizers removed", 30*time.Second, func() bool {
			pods, err := ts.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=five"})
			if err != nil {
				return false
			}
			for _, p := range pods.Items {
				if len(p.Finalizers) > 0 {
					return false
				}
			}
			return len(pods.Items) == 5
		})
		mu.Lock()
		defer mu.Unlock()
		if maxActive > 2 {
			t.Errorf("%d pods ran at once, parallelism is 2", maxActive)
		}
		if len(seen) != 5 {
			t.Errorf("%d pods were created, want 5", len(seen))
		}
	})

	t.Run("BackoffLimit", func(t *testing.T) {
		// backoffLimit 1: the second failure ends the job (after one 10 s
		// back-off between the two pods).
		if _, err := jobs.Create(ctx, jobOf("failing", 1, 1, 1, 3, "0s"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var j *batchv1.Job
		var err error
		waitFor(t, "job failing to fail", 60*time.Second, func() bool {
			j, err = jobs.Get(ctx, "failing", metav1.GetOptions{})
			return err == nil && jobCondition(j, batchv1.JobFailed) != nil
		})
		c := jobCondition(j, batchv1.JobFailed)
		if c.Reason != batchv1.JobReasonBackoffLimitExceeded || c.Message != "Job has reached the specified backoff limit" {
			t.Errorf("Failed condition = %+v", c)
		}
		if j.Status.Failed != 2 || j.Status.Succeeded != 0 || j.Status.Active != 0 || j.Status.CompletionTime != nil {
			t.Errorf("status = %+v, want 2 failed", j.Status)
		}
		if jobCondition(j, batchv1.JobFailureTarget) == nil {
			t.Errorf("conditions %+v lack FailureTarget", j.Status.Conditions)
		}
		waitFor(t, "a BackoffLimitExceeded event", 30*time.Second, func() bool {
			evs, err := ts.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=failing"})
			if err != nil {
				return false
			}
			for _, e := range evs.Items {
				if e.Reason == batchv1.JobReasonBackoffLimitExceeded && e.Type == corev1.EventTypeWarning && e.Source.Component == "job-controller" {
					return true
				}
			}
			return false
		})
	})

	t.Run("PodFailurePolicy", func(t *testing.T) {
		j := jobOf("policy", 1, 1, 6, 42, "0s")
		j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			Action:      batchv1.PodFailurePolicyActionFailJob,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}},
		}}}
		if _, err := jobs.Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var err error
		waitFor(t, "the job to fail by its pod failure policy", 30*time.Second, func() bool {
			j, err = jobs.Get(ctx, "policy", metav1.GetOptions{})
			return err == nil && jobCondition(j, batchv1.JobFailed) != nil
		})
		if c := jobCondition(j, batchv1.JobFailed); c.Reason != batchv1.JobReasonPodFailurePolicy ||
			!strings.Contains(c.Message, "failed with exit code 42 matching FailJob rule at index 0") || j.Status.Failed != 1 {
			t.Errorf("condition %+v, failed %d", c, j.Status.Failed)
		}
	})

	t.Run("Suspend", func(t *testing.T) {
		j := jobOf("suspended", 2, 2, 6, 0, "0s")
		suspend := true
		j.Spec.Suspend = &suspend
		if _, err := jobs.Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var err error
		waitFor(t, "the Suspended condition", 30*time.Second, func() bool {
			j, err = jobs.Get(ctx, "suspended", metav1.GetOptions{})
			return err == nil && jobCondition(j, batchv1.JobSuspended) != nil
		})
		pods, err := ts.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=suspended"})
		if err != nil || len(pods.Items) != 0 || j.Status.StartTime != nil {
			t.Fatalf("a suspended job started: %d pods, startTime %v (%v)", len(pods.Items), j.Status.StartTime, err)
		}
		suspend = false
		j.Spec.Suspend = &suspend
		if _, err := jobs.Update(ctx, j, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the resumed job to complete", 60*time.Second, func() bool {
			j, err = jobs.Get(ctx, "suspended", metav1.GetOptions{})
			return err == nil && jobCondition(j, batchv1.JobComplete) != nil
		})
		if j.Status.Succeeded != 2 {
			t.Errorf("succeeded %d, want 2", j.Status.Succeeded)
		}
	})

	t.Run("DeletedPodCountsOnce", func(t *testing.T) {
		// A pod deleted while running is held by the tracking finalizer
		// until the job has counted it as failed, exactly once.
		if _, err := jobs.Create(ctx, jobOf("deleted", 1, 1, 6, 0, "1h"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var pod corev1.Pod
		waitFor(t, "the pod to run", 30*time.Second, func() bool {
			pods, err := ts.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=deleted"})
			if err != nil || len(pods.Items) != 1 || pods.Items[0].Status.Phase != corev1.PodRunning {
				return false
			}
			pod = pods.Items[0]
			return len(pod.Finalizers) == 1 && pod.Finalizers[0] == batchv1.JobTrackingFinalizer
		})
		if err := ts.Client.CoreV1().Pods("default").Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the deleted pod counted and gone", 30*time.Second, func() bool {
			j, err := jobs.Get(ctx, "deleted", metav1.GetOptions{})
			_, perr := ts.Client.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
			return err == nil && j.Status.Failed == 1 && j.Status.UncountedTerminatedPods != nil &&
				len(j.Status.UncountedTerminatedPods.Failed) == 0 && apierrors.IsNotFound(perr)
		})
		// The replacement comes after the 10 s back-off; the count stays.
		waitFor(t, "a replacement pod", 30*time.Second, func() bool {
			pods, err := ts.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=deleted"})
			return err == nil && len(pods.Items) == 1 && pods.Items[0].Name != pod.Name
		})
		if j, err := jobs.Get(ctx, "deleted", metav1.GetOptions{}); err != nil || j.Status.Failed != 1 {
			t.Errorf("failed count changed: %+v (%v)", j.Status, err)
		}
		bg := metav1.DeletePropagationBackground
		if err := jobs.Delete(ctx, "deleted", metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the job's pods released and gone", 30*time.Second, func() bool {
			pods, err := ts.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=deleted"})
			return err == nil && len(pods.Items) == 0
		})
	})

	t.Run("Indexed", func(t *testing.T) {
		j := jobOf("indexed", 3, 3, 6, 0, "200ms")
		mode := batchv1.IndexedCompletion
		j.Spec.CompletionMode = &mode
		if _, err := jobs.Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var err error
		waitFor(t, "indexed job to complete", 60*time.Second, func() bool {
			j, err = jobs.Get(ctx, "indexed", metav1.GetOptions{})
			return err == nil && jobCondition(j, batchv1.JobComplete) != nil
		})
		if j.Status.CompletedIndexes != "0-2" || j.Status.Succeeded != 3 {
			t.Errorf("completedIndexes %q, succeeded %d; want 0-2, 3", j.Status.CompletedIndexes, j.Status.Succeeded)
		}
		pods, err := ts.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=indexed"})
		if err != nil {
			t.Fatal(err)
		}
		indexes := map[string]bool{}
		for _, p := range pods.Items {
			ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
			indexes[ix] = true
			if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix {
				t.Errorf("pod %s: index label %q, annotation %q", p.Name, p.Labels[batchv1.JobCompletionIndexAnnotation], ix)
			}
			if p.Spec.Hostname != "indexed-"+ix {
				t.Errorf("pod %s: hostname %q", p.Name, p.Spec.Hostname)
			}
			found := false
			for _, e := range p.Spec.Containers[0].Env {
				if e.Name == "JOB_COMPLETION_INDEX" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil &&
					e.ValueFrom.FieldRef.FieldPath == "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
					found = true
				}
			}
			if !found {
				t.Errorf("pod %s: no JOB_COMPLETION_INDEX env var: %+v", p.Name, p.Spec.Containers[0].Env)
			}
		}
		if len(indexes) != 3 || !indexes["0"] || !indexes["1"] || !indexes["2"] {
			t.Errorf("pod indexes %v, want 0, 1 and 2", indexes)
		}
	})
}

func TestJobTTLAfterFinished(t *testing.T) {
	ts := startServer(t)
	startSimNodes(t, ts, 1)
	ctx := context.Background()
	jobs := ts.Client.BatchV1().Jobs("default")
	// Watch from the start: the job may be gone soon after it completes.
	w, err := jobs.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=short-lived"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	var completedAt, deletedAt time.Time
	go func() {
		for ev := range w.ResultChan() {
			j, ok := ev.Object.(*batchv1.Job)
			if !ok {
				continue
			}
			mu.Lock()
			if c := jobCondition(j, batchv1.JobComplete); c != nil && completedAt.IsZero() {
				completedAt = c.LastTransitionTime.Time
			}
			if ev.Type == watch.Deleted {
				deletedAt = time.Now()
			}
			mu.Unlock()
		}
	}()
	j := jobOf("short-lived", 1, 1, 6, 0, "0s")
	ttl := int32(2)
	j.Spec.TTLSecondsAfterFinished = &ttl
	if _, err := jobs.Create(ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the job to complete and be deleted after its TTL", 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return !completedAt.IsZero() && !deletedAt.IsZero()
	})
	mu.Lock()
	if d := deletedAt.Sub(completedAt); d < 2*time.Second {
		t.Errorf("deleted %v after completion, TTL is 2s", d)
	}
	mu.Unlock()
	// Background propagation: the garbage collector removes its pod.
	waitFor(t, "the job's pod to be deleted", 60*time.Second, func() bool {
		pods, err := ts.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=short-lived"})
		return err == nil && len(pods.Items) == 0
	})
}

// TestCronJob checks that an every-minute CronJob starts its first Job at
// the next minute boundary (at most a minute of waiting) and follows it to
// completion. Concurrency and history limits are unit-tested with a fake
// clock.
func TestCronJob(t *testing.T) {
	ts := startServer(t)
	startSimNodes(t, ts, 1)
	ctx := context.Background()
	tmpl := jobOf("", 1, 1, 6, 0, "0s")
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "every-minute"},
		Spec: batchv1.CronJobSpec{
			Schedule:    "* * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: tmpl.Spec},
		},
	}
	created, err := ts.Client.BatchV1().CronJobs("default").Create(ctx, cj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	next := created.CreationTimestamp.Time.Truncate(time.Minute).Add(time.Minute)
	wantName := fmt.Sprintf("every-minute-%d", next.Unix()/60)
	var job *batchv1.Job
	waitFor(t, "the first job at the next minute", 90*time.Second, func() bool {
		job, err = ts.Client.BatchV1().Jobs("default").Get(ctx, wantName, metav1.GetOptions{})
		return err == nil
	})
	if time.Since(next) < 0 {
		t.Errorf("job created before its scheduled time %v", next)
	}
	if ref := metav1.GetControllerOf(job); ref == nil || ref.UID != created.UID || ref.Kind != "CronJob" {
		t.Errorf("owner %v", job.OwnerReferences)
	}
	if ts, err := time.Parse(time.RFC3339, job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]); err != nil || !ts.Equal(next) {
		t.Errorf("scheduled timestamp %q, want %v", job.Annotations[batchv1.CronJobScheduledTimestampAnnotation], next)
	}
	waitFor(t, "the cronjob to see its job succeed", 60*time.Second, func() bool {
		c, err := ts.Client.BatchV1().CronJobs("default").Get(ctx, "every-minute", metav1.GetOptions{})
		return err == nil && c.Status.LastScheduleTime != nil && c.Status.LastScheduleTime.Time.Equal(next) &&
			c.Status.LastSuccessfulTime != nil && len(c.Status.Active) == 0
	})
	waitFor(t, "a SuccessfulCreate event", 30*time.Second, func() bool {
		evs, err := ts.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=every-minute"})
		if err != nil {
			return false
		}
		for _, e := range evs.Items {
			if e.Reason == "SuccessfulCreate" && e.Message == "Created job "+wantName && e.Source.Component == "cronjob-controller" {
				return true
			}
		}
		return false
	})
}
