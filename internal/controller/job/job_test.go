package job

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"skiff/internal/controller/controllertest"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	c        *Controller
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
}

func newFixture(t *testing.T, job *batchv1.Job, pods ...*corev1.Pod) *fixture {
	t.Helper()
	client := fake.NewClientset(job)
	controllertest.GenerateNames(client)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.stopRecorder()
	rec := record.NewFakeRecorder(100)
	c.recorder = rec
	c.now = func() time.Time { return t0 }
	if err := factory.Batch().V1().Jobs().Informer().GetIndexer().Add(job); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if err := factory.Core().V1().Pods().Informer().GetIndexer().Add(p); err != nil {
			t.Fatal(err)
		}
		if _, err := client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	client.ClearActions()
	return &fixture{c: c, client: client, factory: factory, recorder: rec}
}

func (f *fixture) sync(t *testing.T) {
	t.Helper()
	if err := f.c.sync(context.Background(), "ns/j"); err != nil {
		t.Fatal(err)
	}
}

// status is the last status the controller wrote.
func (f *fixture) status(t *testing.T) *batchv1.JobStatus {
	t.Helper()
	var st *batchv1.JobStatus
	for _, a := range f.client.Actions() {
		if u, ok := a.(k8stesting.UpdateAction); ok && a.GetSubresource() == "status" {
			st = &u.GetObject().(*batchv1.Job).Status
		}
	}
	if st == nil {
		t.Fatal("no status written")
	}
	return st
}

func (f *fixture) created() []*corev1.Pod {
	var out []*corev1.Pod
	for _, a := range f.client.Actions() {
		if c, ok := a.(k8stesting.CreateAction); ok && a.GetResource().Resource == "pods" {
			out = append(out, c.GetObject().(*corev1.Pod))
		}
	}
	return out
}

func (f *fixture) count(verb, resource, sub string) int {
	n := 0
	for _, a := range f.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource && a.GetSubresource() == sub {
			n++
		}
	}
	return n
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func ptr[T any](v T) *T { return &v }

func newJob(completions, parallelism int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "ns", UID: "job-uid"},
		Spec: batchv1.JobSpec{
			Completions: ptr(completions), Parallelism: ptr(parallelism), BackoffLimit: ptr(int32(6)),
			CompletionMode: ptr(batchv1.NonIndexedCompletion), Suspend: ptr(false),
			PodReplacementPolicy: ptr(batchv1.TerminatingOrFailed),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "c", Image: "img"}}}},
		},
		Status: batchv1.JobStatus{StartTime: &metav1.Time{Time: t0.Add(-time.Minute)}},
	}
}

func newPod(job *batchv1.Job, name string, phase corev1.PodPhase, finalizer bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: job.Namespace, UID: types.UID(name + "-uid"),
		Labels:            map[string]string{batchv1.ControllerUidLabel: string(job.UID)},
		CreationTimestamp: metav1.NewTime(t0.Add(-time.Minute)),
		OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(job, jobKind)},
	}, Status: corev1.PodStatus{Phase: phase}}
	if finalizer {
		p.Finalizers = []string{batchv1.JobTrackingFinalizer}
	}
	if phase == corev1.PodFailed {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 1, FinishedAt: metav1.NewTime(t0.Add(-time.Second))}}}}
	}
	return p
}

func condition(st *batchv1.JobStatus, t batchv1.JobConditionType) *batchv1.JobCondition {
	return findCondition(st.Conditions, t)
}

func TestCreatesPodsUpToParallelism(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		completions, parallelism int32
		succeeded                int32
		active                   int
		want                     int
	}{
		{"parallelism bounds", 5, 2, 0, 0, 2},
		{"remaining completions bound", 5, 4, 3, 0, 2},
		{"active pods count", 5, 2, 0, 1, 1},
		{"nothing left", 2, 2, 2, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := newJob(tc.completions, tc.parallelism)
			job.Status.Succeeded = tc.succeeded
			var pods []*corev1.Pod
			for i := 0; i < tc.active; i++ {
				pods = append(pods, newPod(job, "active-"+string(rune('a'+i)), corev1.PodRunning, true))
			}
			f := newFixture(t, job, pods...)
			f.sync(t)
			created := f.created()
			if len(created) != tc.want {
				t.Fatalf("created %d pods, want %d", len(created), tc.want)
			}
			for _, p := range created {
				if p.Labels[batchv1.ControllerUidLabel] != "job-uid" || p.Labels[batchv1.JobNameLabel] != "j" ||
					p.Labels["controller-uid"] != "job-uid" || p.Labels["job-name"] != "j" {
					t.Errorf("labels %v", p.Labels)
				}
				if len(p.Finalizers) != 1 || p.Finalizers[0] != batchv1.JobTrackingFinalizer {
					t.Errorf("finalizers %v", p.Finalizers)
				}
				if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != "job-uid" {
					t.Errorf("controller ref %v", ref)
				}
			}
			if tc.want > 0 {
				if st := f.status(t); st.Active != int32(tc.active+tc.want) {
					t.Errorf("status.active %d, want %d", st.Active, tc.active+tc.want)
				}
			}
		})
	}
}

func TestIndexedPod(t *testing.T) {
	job := newJob(3, 3)
	job.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
	done := newPod(job, "done", corev1.PodSucceeded, false)
	done.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: "1"}
	job.Status.CompletedIndexes = "1"
	job.Status.Succeeded = 1
	f := newFixture(t, job, done)
	f.sync(t)
	created := f.created()
	if len(created) != 2 {
		t.Fatalf("created %d pods, want 2 (indexes 0 and 2)", len(created))
	}
	got := map[string]bool{}
	for _, p := range created {
		ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		got[ix] = true
		if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix || p.Spec.Hostname != "j-"+ix || !strings.HasPrefix(p.GenerateName, "j-"+ix+"-") {
			t.Errorf("pod for index %s: labels %v hostname %q generateName %q", ix, p.Labels, p.Spec.Hostname, p.GenerateName)
		}
		env := p.Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("env %+v", env)
		}
	}
	if !got["0"] || !got["2"] {
		t.Errorf("indexes %v, want 0 and 2", got)
	}
}

// A finished pod is recorded as uncounted before its finalizer goes, and
// counted once the finalizer is gone.
func TestFinishedPodTracking(t *testing.T) {
	job := newJob(1, 1)
	pod := newPod(job, "p", corev1.PodSucceeded, true)
	f := newFixture(t, job, pod)
	f.sync(t)
	st := f.status(t)
	if len(st.UncountedTerminatedPods.Succeeded) != 1 || st.Succeeded != 0 {
		t.Fatalf("status %+v: want the pod uncounted", st)
	}
	if condition(st, batchv1.JobSuccessCriteriaMet) == nil || condition(st, batchv1.JobComplete) != nil {
		t.Fatalf("conditions %+v: want SuccessCriteriaMet only", st.Conditions)
	}
	acts := f.client.Actions()
	if len(acts) == 0 || acts[len(acts)-1].GetVerb() != "patch" {
		t.Fatalf("last action %v, want the finalizer patch after the status write", acts)
	}
	if got, _ := f.client.CoreV1().Pods("ns").Get(context.Background(), "p", metav1.GetOptions{}); len(got.Finalizers) != 0 {
		t.Fatalf("finalizers %v left", got.Finalizers)
	}

	// Next round: the pod lost its finalizer; it is counted and the job completes.
	job2 := job.DeepCopy()
	job2.Status = *st
	pod2 := pod.DeepCopy()
	pod2.Finalizers = nil
	f = newFixture(t, job2, pod2)
	f.sync(t)
	st = f.status(t)
	if st.Succeeded != 1 || len(st.UncountedTerminatedPods.Succeeded) != 0 {
		t.Fatalf("status %+v: want 1 succeeded", st)
	}
	c := condition(st, batchv1.JobComplete)
	if c == nil || st.CompletionTime == nil || c.Reason != batchv1.JobReasonCompletionsReached {
		t.Fatalf("conditions %+v, completionTime %v", st.Conditions, st.CompletionTime)
	}
	if ev := f.events(); len(ev) != 1 || ev[0] != "Normal Completed Job completed" {
		t.Errorf("events %v", ev)
	}
	if len(f.created()) != 0 {
		t.Errorf("created pods for a completed job")
	}
}

func TestBackoffLimitExceeded(t *testing.T) {
	job := newJob(1, 1)
	job.Spec.BackoffLimit = ptr(int32(1))
	job.Status.Failed = 1
	f := newFixture(t, job, newPod(job, "p", corev1.PodFailed, true))
	f.sync(t)
	st := f.status(t)
	c := condition(st, batchv1.JobFailureTarget)
	if c == nil || c.Reason != batchv1.JobReasonBackoffLimitExceeded || c.Message != msgBackoffLimit {
		t.Fatalf("conditions %+v", st.Conditions)
	}
	if len(f.created()) != 0 {
		t.Errorf("created a pod for a failing job")
	}
	// Once the failed pod is counted, the job has Failed.
	job.Status = *st
	f = newFixture(t, job)
	f.sync(t)
	st = f.status(t)
	if c := condition(st, batchv1.JobFailed); c == nil || c.Reason != batchv1.JobReasonBackoffLimitExceeded || st.Failed != 2 {
		t.Fatalf("status %+v", st)
	}
	if ev := f.events(); len(ev) != 1 || ev[0] != "Warning BackoffLimitExceeded "+msgBackoffLimit {
		t.Errorf("events %v", ev)
	}
}

func TestPodBackoff(t *testing.T) {
	job := newJob(1, 1)
	f := newFixture(t, job, newPod(job, "p", corev1.PodFailed, true))
	f.sync(t)
	if n := len(f.created()); n != 0 {
		t.Fatalf("created %d pods during back-off", n)
	}
	if st := f.status(t); len(st.UncountedTerminatedPods.Failed) != 1 {
		t.Fatalf("status %+v", st)
	}
	// 10 s after the failure the pod is replaced.
	job.Status = *f.status(t)
	f2 := newFixture(t, job)
	f2.c.backoff = f.c.backoff
	f2.c.now = func() time.Time { return t0.Add(8 * time.Second) }
	f2.sync(t)
	if n := len(f2.created()); n != 0 {
		t.Fatalf("created %d pods 9 s after the failure (back-off 10 s)", n)
	}
	f2.c.now = func() time.Time { return t0.Add(10 * time.Second) }
	f2.sync(t)
	if n := len(f2.created()); n != 1 {
		t.Fatalf("created %d pods after back-off, want 1", n)
	}

	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{{1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {6, 320 * time.Second}, {7, 6 * time.Minute}, {30, 6 * time.Minute}} {
		if got := backoffRemaining(backoffRecord{failures: tc.failures, lastFailure: t0}, t0); got != tc.want {
			t.Errorf("backoff after %d failures = %v, want %v", tc.failures, got, tc.want)
		}
	}
}

func TestPodFailurePolicy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		action   batchv1.PodFailurePolicyAction
		failJob  bool
		uncounts int
	}{
		{"FailJob", batchv1.PodFailurePolicyActionFailJob, true, 1},
		{"Ignore", batchv1.PodFailurePolicyActionIgnore, false, 0},
		{"Count", batchv1.PodFailurePolicyActionCount, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := newJob(1, 1)
			job.Spec.PodReplacementPolicy = ptr(batchv1.Failed)
			job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				{Action: batchv1.PodFailurePolicyActionCount, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
				{Action: tc.action, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{2, 3}}},
			}}
			f := newFixture(t, job, newPod(job, "p", corev1.PodFailed, true))
			f.sync(t)
			st := f.status(t)
			c := condition(st, batchv1.JobFailureTarget)
			if tc.failJob != (c != nil) {
				t.Fatalf("conditions %+v", st.Conditions)
			}
			if c != nil && (c.Reason != batchv1.JobReasonPodFailurePolicy ||
				c.Message != "Container c for pod ns/p failed with exit code 1 matching FailJob rule at index 1") {
				t.Errorf("condition %+v", c)
			}
			if n := len(st.UncountedTerminatedPods.Failed); n != tc.uncounts {
				t.Errorf("%d uncounted failures, want %d", n, tc.uncounts)
			}
		})
	}
}

func TestActiveDeadline(t *testing.T) {
	job := newJob(1, 1)
	job.Spec.ActiveDeadlineSeconds = ptr(int64(30))
	f := newFixture(t, job, newPod(job, "p", corev1.PodRunning, true))
	f.sync(t)
	st := f.status(t)
	if c := condition(st, batchv1.JobFailureTarget); c == nil || c.Reason != batchv1.JobReasonDeadlineExceeded || c.Message != msgDeadline {
		t.Fatalf("conditions %+v", st.Conditions)
	}
	if f.count("delete", "pods", "") != 1 {
		t.Errorf("the running pod was not deleted")
	}
}

func TestSuspend(t *testing.T) {
	job := newJob(2, 2)
	job.Spec.Suspend = ptr(true)
	f := newFixture(t, job, newPod(job, "a", corev1.PodRunning, true), newPod(job, "b", corev1.PodRunning, true))
	f.sync(t)
	st := f.status(t)
	if c := condition(st, batchv1.JobSuspended); c == nil || c.Reason != "JobSuspended" || st.Active != 0 {
		t.Fatalf("status %+v", st)
	}
	if n := f.count("delete", "pods", ""); n != 2 || len(f.created()) != 0 {
		t.Errorf("deleted %d pods, created %d", n, len(f.created()))
	}

	// Resuming resets the start time and runs pods again.
	job.Spec.Suspend = ptr(false)
	job.Status = *st
	f = newFixture(t, job)
	f.sync(t)
	st = f.status(t)
	for _, c := range st.Conditions {
		if c.Type == batchv1.JobSuspended && (c.Status != corev1.ConditionFalse || c.Reason != "JobResumed") {
			t.Errorf("condition %+v", c)
		}
	}
	if !st.StartTime.Time.Equal(t0) || len(f.created()) != 2 {
		t.Errorf("startTime %v, created %d", st.StartTime, len(f.created()))
	}
}

// A pod deleted before it finished, still held by the finalizer, counts
// as failed exactly once.
func TestDeletedPodCountsOnce(t *testing.T) {
	job := newJob(1, 1)
	p := newPod(job, "p", corev1.PodRunning, true)
	p.DeletionTimestamp = &metav1.Time{Time: t0}
	f := newFixture(t, job, p)
	f.sync(t)
	st := f.status(t)
	if len(st.UncountedTerminatedPods.Failed) != 1 || st.Terminating == nil || *st.Terminating != 1 {
		t.Fatalf("status %+v", st)
	}
	// Same pod seen again before its finalizer is gone: not counted twice.
	job.Status = *st
	f = newFixture(t, job, p)
	f.sync(t)
	if f.count("update", "jobs", "status") > 0 {
		if st := f.status(t); st.Failed != 0 || len(st.UncountedTerminatedPods.Failed) != 1 {
			t.Errorf("status %+v: the pod counted twice", st)
		}
	}
}

func TestIntervals(t *testing.T) {
	for _, tc := range []struct {
		add  []int
		want string
	}{
		{nil, ""},
		{[]int{0, 1, 2, 4}, "0-2,4"},
		{[]int{5, 3, 4}, "3-5"},
		{[]int{1, 2}, "1,2"},
		{[]int{7, 0, 9, 8}, "0,7-9"},
	} {
		var iv intervals
		for _, ix := range tc.add {
			iv = iv.add(ix)
		}
		if got := iv.String(); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.add, got, tc.want)
		}
		if back := parseIntervals(tc.want, 100).String(); back != tc.want {
			t.Errorf("round trip of %q: %q", tc.want, back)
		}
	}
	if got := parseIntervals("0-5,8", 4).String(); got != "0-3" {
		t.Errorf("limit: %q", got)
	}
}

// A pod whose job is gone loses its tracking finalizer.
func TestReleaseOrphan(t *testing.T) {
	job := newJob(1, 1)
	p := newPod(job, "p", corev1.PodRunning, true)
	f := newFixture(t, job, p)
	// The job is still there: the pod is left alone.
	if err := f.c.syncKey(context.Background(), orphanPrefix+"ns/p"); err != nil {
		t.Fatal(err)
	}
	if n := f.count("patch", "pods", ""); n != 0 {
		t.Fatalf("patched a pod whose job exists")
	}
	if err := f.factory.Batch().V1().Jobs().Informer().GetIndexer().Delete(job); err != nil {
		t.Fatal(err)
	}
	if err := f.c.syncKey(context.Background(), orphanPrefix+"ns/p"); err != nil {
		t.Fatal(err)
	}
	got, err := f.client.CoreV1().Pods("ns").Get(context.Background(), "p", metav1.GetOptions{})
	if err != nil || len(got.Finalizers) != 0 {
		t.Errorf("finalizers %v (%v)", got.Finalizers, err)
	}
}
