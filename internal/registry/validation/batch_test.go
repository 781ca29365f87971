package validation

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestJobCreate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*batchv1.Job)
		want   []want
	}{
		{name: "valid", mutate: func(*batchv1.Job) {}},
		{name: "selector not generated yet", mutate: func(j *batchv1.Job) {
			j.Spec.Selector = nil
			j.Spec.Template.Labels = nil
		}},
		{name: "valid indexed", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
			j.Spec.Completions = ptrTo[int32](5)
			j.Spec.Parallelism = ptrTo[int32](2)
			j.Spec.BackoffLimitPerIndex = ptrTo[int32](1)
			j.Spec.MaxFailedIndexes = ptrTo[int32](2)
		}},
		{name: "name too long for the pod label", mutate: func(j *batchv1.Job) {
			j.Spec.Selector = nil
			j.Spec.Template.Labels = nil
			j.Name = strings.Repeat("a", 64)
		}, want: []want{invalid("metadata.name")}},
		{name: "manual selector required", mutate: func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptrTo(true)
			j.Spec.Selector = nil
		}, want: []want{required("spec.selector")}},
		{name: "selector mismatch", mutate: func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptrTo(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}
		}, want: []want{invalid("spec.template.metadata.labels")}},
		{name: "restartPolicy Always", mutate: func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, want: []want{notSupported("spec.template.spec.restartPolicy")}},
		{name: "negative counts", mutate: func(j *batchv1.Job) {
			j.Spec.Parallelism = ptrTo[int32](-1)
			j.Spec.Completions = ptrTo[int32](-1)
			j.Spec.BackoffLimit = ptrTo[int32](-1)
			j.Spec.ActiveDeadlineSeconds = ptrTo[int64](-1)
			j.Spec.TTLSecondsAfterFinished = ptrTo[int32](-1)
		}, want: []want{
			invalid("spec.parallelism"), invalid("spec.completions"), invalid("spec.backoffLimit"),
			invalid("spec.activeDeadlineSeconds"), invalid("spec.ttlSecondsAfterFinished"),
		}},
		{name: "completion mode", mutate: func(j *batchv1.Job) { j.Spec.CompletionMode = ptrTo(batchv1.CompletionMode("Sometimes")) },
			want: []want{notSupported("spec.completionMode")}},
		{name: "indexed needs completions", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}, want: []want{required("spec.completions")}},
		{name: "backoffLimitPerIndex needs indexed", mutate: func(j *batchv1.Job) {
			j.Spec.BackoffLimitPerIndex = ptrTo[int32](1)
		}, want: []want{invalid("spec.backoffLimitPerIndex")}},
		{name: "pod failure policy", mutate: func(j *batchv1.Job) {
			j.Spec.PodReplacementPolicy = ptrTo(batchv1.Failed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
				{Action: "Explode", OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{0}}},
				{Action: batchv1.PodFailurePolicyActionIgnore},
			}}
		}, want: []want{notSupported("spec.podFailurePolicy.rules[1].action"), invalid("spec.podFailurePolicy.rules[1].onExitCodes.values[0]"), invalid("spec.podFailurePolicy.rules[2]")}},
		{name: "pod template labels", mutate: func(j *batchv1.Job) {
			j.Spec.Template.Labels["bad key!"] = "x"
		}, want: []want{invalid("spec.template.metadata.labels")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := validJob()
			tc.mutate(j)
			expectErrs(t, ValidateCreate(j), tc.want...)
		})
	}
}

func TestJobUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(n, o *batchv1.Job)
		want   []want
	}{
		{name: "parallelism and suspend may change", mutate: func(n, _ *batchv1.Job) {
			n.Spec.Parallelism = ptrTo[int32](3)
			n.Spec.Suspend = ptrTo(true)
			n.Spec.ActiveDeadlineSeconds = ptrTo[int64](60)
		}},
		{name: "template immutable", mutate: func(n, _ *batchv1.Job) {
			n.Spec.Template.Spec.Containers[0].Image = "other"
		}, want: []want{invalid("spec.template")}},
		{name: "suspended job may move before it starts", mutate: func(n, o *batchv1.Job) {
			o.Spec.Suspend = ptrTo(true)
			n.Spec.Suspend = ptrTo(true)
			n.Spec.Template.Spec.NodeSelector = map[string]string{"pool": "batch"}
		}},
		{name: "selector immutable", mutate: func(n, _ *batchv1.Job) {
			n.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"job-name": "pi"}}
		}, want: []want{invalid("spec.selector")}},
		{name: "completions immutable", mutate: func(n, _ *batchv1.Job) { n.Spec.Completions = ptrTo[int32](3) }, want: []want{invalid("spec.completions")}},
		{name: "elastic indexed job", mutate: func(n, o *batchv1.Job) {
			for _, j := range []*batchv1.Job{n, o} {
				j.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
				j.Spec.Completions = ptrTo[int32](2)
				j.Spec.Parallelism = ptrTo[int32](2)
			}
			n.Spec.Completions = ptrTo[int32](4)
			n.Spec.Parallelism = ptrTo[int32](4)
		}},
		{name: "completion mode immutable", mutate: func(n, _ *batchv1.Job) {
			n.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
		}, want: []want{invalid("spec.completionMode")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, n := validJob(), validJob()
			tc.mutate(n, o)
			expectErrs(t, ValidateUpdate(n, o), tc.want...)
		})
	}
	o, n := validJob(), validJob()
	n.Status.Active = -1
	expectErrs(t, ValidateStatusUpdate(n, o), invalid("status.active"))
}

func TestCronJob(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*batchv1.CronJob)
		want   []want
	}{
		{name: "valid", mutate: func(*batchv1.CronJob) {}},
		{name: "valid descriptor and zone", mutate: func(c *batchv1.CronJob) {
			c.Spec.Schedule = "@hourly"
			c.Spec.TimeZone = ptrTo("Europe/Paris")
		}},
		{name: "schedule required", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "" }, want: []want{required("spec.schedule")}},
		{name: "schedule invalid", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "61 * * * *" }, want: []want{invalid("spec.schedule")}},
		{name: "schedule with TZ", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "TZ=UTC 0 * * * *" }, want: []want{invalid("spec.schedule")}},
		{name: "unknown zone", mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = ptrTo("Mars/Olympus") }, want: []want{invalid("spec.timeZone")}},
		{name: "local zone", mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = ptrTo("Local") }, want: []want{invalid("spec.timeZone")}},
		{name: "concurrency policy", mutate: func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = "Sometimes" }, want: []want{notSupported("spec.concurrencyPolicy")}},
		{name: "history limits", mutate: func(c *batchv1.CronJob) {
			c.Spec.SuccessfulJobsHistoryLimit = ptrTo[int32](-1)
			c.Spec.StartingDeadlineSeconds = ptrTo[int64](-1)
		}, want: []want{invalid("spec.successfulJobsHistoryLimit"), invalid("spec.startingDeadlineSeconds")}},
		{name: "job template", mutate: func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
			c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
			c.Spec.JobTemplate.Spec.Template.Spec.Containers = nil
		}, want: []want{
			invalid("spec.jobTemplate.spec.selector"), notSupported("spec.jobTemplate.spec.template.spec.restartPolicy"),
			required("spec.jobTemplate.spec.template.spec.containers"),
		}},
		{name: "name too long", mutate: func(c *batchv1.CronJob) { c.Name = strings.Repeat("a", 53) }, want: []want{invalid("metadata.name")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validCronJob()
			tc.mutate(c)
			expectErrs(t, ValidateCreate(c), tc.want...)
		})
	}
	o, n := validCronJob(), validCronJob()
	n.Spec.Schedule = "*/5 * * * *"
	expectErrs(t, ValidateUpdate(n, o))
	n.Spec.Schedule = "bogus"
	expectErrs(t, ValidateUpdate(n, o), invalid("spec.schedule"))
}

func TestCronSchedule(t *testing.T) {
	valid := []string{
		"* * * * *", "0 0 * * 0", "*/15 9-17 * * MON-FRI", "0 0 1 1 *", "0 0 1 jan *", "5/10 * * * *",
		"0,30 * * * ?", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly",
		"@every 1h30m", "CRON_TZ=UTC 0 * * * *", "59 23 31 12 6",
	}
	for _, s := range valid {
		if err := parseCronSchedule(s); err != nil {
			t.Errorf("%q: unexpected error %v", s, err)
		}
	}
	invalidSchedules := []string{
		"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *", "* * * 13 *",
		"* * * * 7", "5-1 * * * *", "*/0 * * * *", "1-2-3 * * * *", "1/2/3 * * * *", "a * * * *", "-1 * * * *",
		"@often", "@every forever", "TZ=Nowhere/City * * * * *", "TZ=UTC",
	}
	for _, s := range invalidSchedules {
		if err := parseCronSchedule(s); err == nil {
			t.Errorf("%q: expected an error", s)
		}
	}
}
