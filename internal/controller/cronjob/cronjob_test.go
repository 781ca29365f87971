package cronjob

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC)

type fixture struct {
	c        *Controller
	client   *fake.Clientset
	recorder *record.FakeRecorder
}

func newFixture(t *testing.T, now time.Time, cj *batchv1.CronJob, jobs ...*batchv1.Job) *fixture {
	t.Helper()
	objs := []runtime.Object{cj}
	for _, j := range jobs {
		objs = append(objs, j)
	}
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.stopRecorder()
	rec := record.NewFakeRecorder(100)
	c.recorder = rec
	c.now = func() time.Time { return now }
	if err := factory.Batch().V1().CronJobs().Informer().GetIndexer().Add(cj); err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if err := factory.Batch().V1().Jobs().Informer().GetIndexer().Add(j); err != nil {
			t.Fatal(err)
		}
	}
	client.ClearActions()
	return &fixture{c: c, client: client, recorder: rec}
}

func (f *fixture) sync(t *testing.T) {
	t.Helper()
	if err := f.c.sync(context.Background(), "ns/cj"); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) created() []*batchv1.Job {
	var out []*batchv1.Job
	for _, a := range f.client.Actions() {
		if c, ok := a.(k8stesting.CreateAction); ok && a.GetResource().Resource == "jobs" {
			out = append(out, c.GetObject().(*batchv1.Job))
		}
	}
	return out
}

func (f *fixture) deleted() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && a.GetResource().Resource == "jobs" {
			out = append(out, d.GetName())
		}
	}
	sort.Strings(out)
	return out
}

func (f *fixture) status(t *testing.T) *batchv1.CronJobStatus {
	t.Helper()
	var st *batchv1.CronJobStatus
	for _, a := range f.client.Actions() {
		if u, ok := a.(k8stesting.UpdateAction); ok && a.GetSubresource() == "status" {
			st = &u.GetObject().(*batchv1.CronJob).Status
		}
	}
	if st == nil {
		t.Fatal("no status written")
	}
	return st
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

func hasEvent(events []string, prefix string) bool {
	for _, e := range events {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

func newCronJob(schedule string) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "cj", Namespace: "ns", UID: "cj-uid", CreationTimestamp: metav1.NewTime(t0)},
		Spec: batchv1.CronJobSpec{
			Schedule: schedule, ConcurrencyPolicy: batchv1.AllowConcurrent, Suspend: ptr(false),
			SuccessfulJobsHistoryLimit: ptr(int32(3)), FailedJobsHistoryLimit: ptr(int32(1)),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "img"}}}}},
			},
		},
	}
}

// childJob is a job of cj scheduled at t, finished with cond if not empty.
func childJob(cj *batchv1.CronJob, t time.Time, cond batchv1.JobConditionType) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{
		Name: jobName(cj, t), Namespace: cj.Namespace, UID: types.UID(fmt.Sprintf("job-%d", t.Unix())),
		CreationTimestamp: metav1.NewTime(t),
		OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(cj, cronJobKind)},
	}, Status: batchv1.JobStatus{StartTime: &metav1.Time{Time: t}}}
	if cond != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue}}
		if cond == batchv1.JobComplete {
			j.Status.CompletionTime = &metav1.Time{Time: t.Add(10 * time.Second)}
		}
	}
	return j
}

func activeRef(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name, UID: j.UID}
}

func TestCreatesJobAtScheduledTime(t *testing.T) {
	cj := newCronJob("* * * * *")
	now := t0.Add(40 * time.Second) // 12:01:10
	f := newFixture(t, now, cj)
	f.sync(t)
	created := f.created()
	if len(created) != 1 {
		t.Fatalf("created %d jobs, want 1", len(created))
	}
	sched := time.Date(2026, 1, 1, 12, 1, 0, 0, time.UTC)
	j := created[0]
	if want := fmt.Sprintf("cj-%d", sched.Unix()/60); j.Name != want {
		t.Errorf("name %q, want %q", j.Name, want)
	}
	if got := j.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != sched.In(time.Local).Format(time.RFC3339) {
		t.Errorf("scheduled timestamp annotation %q", got)
	}
	if j.Labels["app"] != "x" || metav1.GetControllerOf(j) == nil || metav1.GetControllerOf(j).UID != "cj-uid" {
		t.Errorf("labels %v, owner %v", j.Labels, j.OwnerReferences)
	}
	st := f.status(t)
	if len(st.Active) != 1 || st.Active[0].Name != j.Name || st.LastScheduleTime == nil || !st.LastScheduleTime.Time.Equal(sched) {
		t.Errorf("status %+v", st)
	}
	if ev := f.events(); !hasEvent(ev, "Normal SuccessfulCreate Created job "+j.Name) {
		t.Errorf("events %v", ev)
	}

	// Before the next minute, nothing more happens.
	cj.Status = *st
	f = newFixture(t, now.Add(30*time.Second), cj, childJob(cj, sched, ""))
	f.sync(t)
	if n := len(f.created()); n != 0 {
		t.Errorf("created %d jobs before the next scheduled time", n)
	}
}

// recordingQueue notes the delays asked of AddAfter.
type recordingQueue struct {
	workqueue.TypedRateLimitingInterface[string]
	after []time.Duration
}

func (q *recordingQueue) AddAfter(_ string, d time.Duration) { q.after = append(q.after, d) }

func TestRequeueAtNextScheduledTime(t *testing.T) {
	cj := newCronJob("*/5 * * * *")
	now := t0.Add(10 * time.Second) // 12:00:40
	f := newFixture(t, now, cj)
	q := &recordingQueue{TypedRateLimitingInterface: f.c.queue}
	f.c.queue = q
	f.sync(t)
	if n := len(f.created()); n != 0 {
		t.Fatalf("created %d jobs", n)
	}
	// 12:05:00 is 4m20s away; the key comes back just after it.
	if want := 4*time.Minute + 20*time.Second + nextScheduleDelta; len(q.after) != 1 || q.after[0] != want {
		t.Errorf("requeued after %v, want [%v]", q.after, want)
	}
}

func TestConcurrencyPolicy(t *testing.T) {
	sched := time.Date(2026, 1, 1, 12, 1, 0, 0, time.UTC)
	prev := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		policy      batchv1.ConcurrencyPolicy
		wantCreated int
		wantDeleted []string
		wantEvent   string
	}{
		{batchv1.AllowConcurrent, 1, nil, "Normal SuccessfulCreate"},
		{batchv1.ForbidConcurrent, 0, nil, "Normal JobAlreadyActive Not starting job because prior execution is running and concurrency policy is Forbid"},
		{batchv1.ReplaceConcurrent, 1, []string{jobName(newCronJob(""), prev)}, "Normal SuccessfulDelete Deleted job " + jobName(newCronJob(""), prev)},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			cj := newCronJob("* * * * *")
			cj.CreationTimestamp = metav1.NewTime(prev.Add(-time.Second))
			cj.Spec.ConcurrencyPolicy = tc.policy
			running := childJob(cj, prev, "")
			cj.Status.Active = []corev1.ObjectReference{activeRef(running)}
			cj.Status.LastScheduleTime = &metav1.Time{Time: prev}
			f := newFixture(t, sched.Add(5*time.Second), cj, running)
			f.sync(t)
			if n := len(f.created()); n != tc.wantCreated {
				t.Errorf("created %d jobs, want %d", n, tc.wantCreated)
			}
			if got := f.deleted(); fmt.Sprint(got) != fmt.Sprint(tc.wantDeleted) {
				t.Errorf("deleted %v, want %v", got, tc.wantDeleted)
			}
			if ev := f.events(); !hasEvent(ev, tc.wantEvent) {
				t.Errorf("events %v lack %q", ev, tc.wantEvent)
			}
		})
	}
}

func TestHistoryLimits(t *testing.T) {
	cj := newCronJob("0 0 1 1 *")
	cj.CreationTimestamp = metav1.NewTime(t0.Add(-time.Hour))
	base := t0.Add(-time.Hour)
	var jobs []*batchv1.Job
	for i := 0; i < 5; i++ {
		jobs = append(jobs, childJob(cj, base.Add(time.Duration(i)*time.Minute), batchv1.JobComplete))
	}
	for i := 10; i < 13; i++ {
		jobs = append(jobs, childJob(cj, base.Add(time.Duration(i)*time.Minute), batchv1.JobFailed))
	}
	// One finished job still listed as active: it leaves the list.
	cj.Status.Active = []corev1.ObjectReference{activeRef(jobs[4])}
	f := newFixture(t, t0, cj, jobs...)
	f.sync(t)
	want := []string{jobs[0].Name, jobs[1].Name, jobs[5].Name, jobs[6].Name}
	sort.Strings(want)
	if got := f.deleted(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("deleted %v, want %v (2 oldest successful, 2 oldest failed)", got, want)
	}
	st := f.status(t)
	if len(st.Active) != 0 || st.LastSuccessfulTime == nil || !st.LastSuccessfulTime.Time.Equal(jobs[4].Status.CompletionTime.Time) {
		t.Errorf("status %+v", st)
	}
	if ev := f.events(); !hasEvent(ev, "Normal SawCompletedJob Saw completed job: "+jobs[4].Name+", condition: Complete") {
		t.Errorf("events %v", ev)
	}
}

func TestTooManyMissedTimes(t *testing.T) {
	cj := newCronJob("* * * * *")
	now := t0.Add(200 * time.Minute)
	f := newFixture(t, now, cj)
	f.sync(t)
	if ev := f.events(); !hasEvent(ev, "Warning TooManyMissedTimes too many missed start times: 200.") {
		t.Errorf("events %v", ev)
	}
	created := f.created()
	want := jobName(cj, now.Truncate(time.Minute))
	if len(created) != 1 || created[0].Name != want {
		t.Errorf("created %v, want only %s (the most recent time)", created, want)
	}

	// A starting deadline bounds the look-back: no warning.
	cj.Spec.StartingDeadlineSeconds = ptr(int64(120))
	f = newFixture(t, now, cj)
	f.sync(t)
	if ev := f.events(); hasEvent(ev, "Warning TooManyMissedTimes") {
		t.Errorf("events %v", ev)
	}
	if len(f.created()) != 1 {
		t.Errorf("created %d jobs", len(f.created()))
	}
}

func TestTimeZone(t *testing.T) {
	cj := newCronJob("0 9 * * *")
	cj.Spec.TimeZone = ptr("Asia/Tokyo")
	cj.CreationTimestamp = metav1.NewTime(time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC))
	// 09:00 in Tokyo is 00:00 UTC.
	f := newFixture(t, time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC), cj)
	f.sync(t)
	created := f.created()
	if len(created) != 1 {
		t.Fatalf("created %d jobs", len(created))
	}
	if got := created[0].Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != "2026-01-01T09:00:00+09:00" {
		t.Errorf("scheduled timestamp %q", got)
	}
}

func TestSuspendedAndUnparseable(t *testing.T) {
	cj := newCronJob("* * * * *")
	cj.Spec.Suspend = ptr(true)
	f := newFixture(t, t0.Add(5*time.Minute), cj)
	f.sync(t)
	if len(f.created()) != 0 {
		t.Errorf("a suspended cronjob created a job")
	}
	cj = newCronJob("not a schedule")
	f = newFixture(t, t0.Add(5*time.Minute), cj)
	f.sync(t)
	if ev := f.events(); len(f.created()) != 0 || !hasEvent(ev, "Warning UnparseableSchedule") {
		t.Errorf("created %d, events %v", len(f.created()), ev)
	}
}
