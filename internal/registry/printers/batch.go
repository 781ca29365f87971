package printers

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	batchv1beta1 "k8s.io/api/batch/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
)

func init() {
	jobSelector := batchv1.JobSpec{}.SwaggerDoc()["selector"]
	register(schema.GroupKind{Group: "batch", Kind: "Job"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Status", "string", "Status of the job."),
		column("Completions", "string", batchv1.JobStatus{}.SwaggerDoc()["succeeded"]),
		column("Duration", "string", "Time required to complete the job."),
		ageColumn,
		wideColumn("Containers", "string", containersDescription),
		wideColumn("Images", "string", imagesDescription),
		wideColumn("Selector", "string", jobSelector),
	}, jobRow)

	cronSpec := batchv1beta1.CronJobSpec{}.SwaggerDoc()
	cronStatus := batchv1beta1.CronJobStatus{}.SwaggerDoc()
	register(schema.GroupKind{Group: "batch", Kind: "CronJob"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Schedule", "string", cronSpec["schedule"]),
		column("Timezone", "string", cronSpec["timeZone"]),
		column("Suspend", "boolean", cronSpec["suspend"]),
		column("Active", "integer", cronStatus["active"]),
		column("Last Schedule", "string", cronStatus["lastScheduleTime"]),
		ageColumn,
		wideColumn("Containers", "string", containersDescription),
		wideColumn("Images", "string", imagesDescription),
		wideColumn("Selector", "string", jobSelector),
	}, cronJobRow)
}

func jobRow(j *batchv1.Job, now time.Time) ([]interface{}, error) {
	// Without completions a job finishes after one success; with parallelism
	// above one, that is one of several pods.
	var completions string
	switch parallelism := deref(j.Spec.Parallelism); {
	case j.Spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	case parallelism > 1:
		completions = fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, parallelism)
	default:
		completions = fmt.Sprintf("%d/1", j.Status.Succeeded)
	}

	var took string
	switch {
	case j.Status.StartTime == nil:
	case j.Status.CompletionTime == nil:
		took = duration.HumanDuration(now.Sub(j.Status.StartTime.Time))
	default:
		took = duration.HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
	}

	names, images := containerCells(j.Spec.Template.Spec.Containers)
	return []interface{}{
		j.Name, jobStatus(j), completions, took, since(j.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(j.Spec.Selector),
	}, nil
}

// jobStatus picks the first that applies: Complete, Failed, Terminating,
// Suspended, FailureTarget, else Running.
func jobStatus(j *batchv1.Job) string {
	switch {
	case jobCondition(j, batchv1.JobComplete):
		return "Complete"
	case jobCondition(j, batchv1.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case jobCondition(j, batchv1.JobSuspended):
		return "Suspended"
	case jobCondition(j, batchv1.JobFailureTarget):
		return "FailureTarget"
	default:
		return "Running"
	}
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func cronJobRow(cj *batchv1.CronJob, now time.Time) ([]interface{}, error) {
	lastSchedule := "<none>"
	if cj.Status.LastScheduleTime != nil {
		lastSchedule = since(*cj.Status.LastScheduleTime, now)
	}
	timeZone := "<none>"
	if cj.Spec.TimeZone != nil {
		timeZone = *cj.Spec.TimeZone
	}
	job := cj.Spec.JobTemplate.Spec
	names, images := containerCells(job.Template.Spec.Containers)
	return []interface{}{
		cj.Name, cj.Spec.Schedule, timeZone, boolPtr(cj.Spec.Suspend), int64(len(cj.Status.Active)), lastSchedule,
		since(cj.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(job.Selector),
	}, nil
}
