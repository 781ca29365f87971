package validation

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	maxParallelismForIndexedJob = 100000
	maxIndexedCompletionsLimit  = 100000
	maxPodFailurePolicyRules    = 20
	maxExitCodeValues           = 255
	maxManagedByLength          = 63
	// A CronJob's jobs are named <cronjob>-<11 digit timestamp>, and job names
	// end up in a 63 character label.
	maxCronJobNameLength = 52
)

var (
	completionModes      = []batchv1.CompletionMode{batchv1.IndexedCompletion, batchv1.NonIndexedCompletion}
	podReplacementPolicy = []batchv1.PodReplacementPolicy{batchv1.Failed, batchv1.TerminatingOrFailed}
	concurrencyPolicies  = []batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}
	validTimeZoneChars   = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)
)

func isIndexed(spec *batchv1.JobSpec) bool {
	return spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
}

// validateJobCreate checks a new Job.
//
// When manualSelector is not set, upstream generates the selector and the
// matching pod labels from the uid during validation. If the server has not
// done that yet, the missing selector is accepted here; a selector that is
// present must still select the template.
func validateJobCreate(job *batchv1.Job) field.ErrorList {
	allErrs := validateMeta(job, true, nameIsDNSSubdomain)
	// The name becomes the job-name label of every pod. Once the server has
	// generated that label the template check reports it; before, we do.
	if _, generated := job.Spec.Template.Labels[batchv1.JobNameLabel]; !generated && job.Name != "" {
		for _, msg := range validation.IsValidLabelValue(job.Name) {
			allErrs = append(allErrs, field.Invalid(metadataPath.Child("name"), job.Name, msg))
		}
	}
	return append(allErrs, validateJobSpecWithSelector(&job.Spec, specPath)...)
}

func validateJobSpecWithSelector(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateJobSpec(spec, fldPath)
	manual := spec.ManualSelector != nil && *spec.ManualSelector
	if spec.Selector == nil {
		if manual {
			allErrs = append(allErrs, field.Required(fldPath.Child("selector"), ""))
		}
		return allErrs
	}
	allErrs = append(allErrs, validateLabelSelector(spec.Selector, fldPath.Child("selector"))...)
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil {
		allErrs = append(allErrs, validateSelectorMatchesTemplate(sel, spec.Template.Labels, fldPath.Child("template", "metadata"))...)
	}
	return allErrs
}

// validateJobSpec holds the checks shared by Jobs and CronJob job templates.
func validateJobSpec(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	allErrs = append(allErrs, validateNonnegativePtr(spec.Parallelism, fldPath.Child("parallelism"))...)
	allErrs = append(allErrs, validateNonnegativePtr(spec.Completions, fldPath.Child("completions"))...)
	allErrs = append(allErrs, validateNonnegativePtr(spec.ActiveDeadlineSeconds, fldPath.Child("activeDeadlineSeconds"))...)
	allErrs = append(allErrs, validateNonnegativePtr(spec.BackoffLimit, fldPath.Child("backoffLimit"))...)
	allErrs = append(allErrs, validateNonnegativePtr(spec.TTLSecondsAfterFinished, fldPath.Child("ttlSecondsAfterFinished"))...)
	allErrs = append(allErrs, validateNonnegativePtr(spec.BackoffLimitPerIndex, fldPath.Child("backoffLimitPerIndex"))...)
	allErrs = append(allErrs, validateNonnegativePtr(spec.MaxFailedIndexes, fldPath.Child("maxFailedIndexes"))...)

	if spec.CompletionMode != nil {
		allErrs = append(allErrs, enumCheckNotSupported(*spec.CompletionMode, completionModes, fldPath.Child("completionMode"))...)
	}
	if isIndexed(spec) {
		if spec.Completions == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
		}
		if spec.Parallelism != nil && *spec.Parallelism > maxParallelismForIndexedJob {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("parallelism"), *spec.Parallelism,
				fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, batchv1.IndexedCompletion)))
		}
		if spec.Completions != nil && spec.BackoffLimitPerIndex != nil && *spec.Completions > maxIndexedCompletionsLimit {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("completions"), *spec.Completions,
				fmt.Sprintf("must be less than or equal to %d when backoffLimitPerIndex is specified", maxIndexedCompletionsLimit)))
		}
		if spec.Completions != nil && spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > *spec.Completions {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "must be less than or equal to completions"))
		}
	} else if spec.BackoffLimitPerIndex != nil {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("backoffLimitPerIndex"), *spec.BackoffLimitPerIndex, "requires indexed completion mode"))
	}
	if spec.MaxFailedIndexes != nil && spec.BackoffLimitPerIndex == nil {
		allErrs = append(allErrs, field.Required(fldPath.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
	}
	if spec.PodReplacementPolicy != nil {
		allErrs = append(allErrs, enumCheckNotSupported(*spec.PodReplacementPolicy, podReplacementPolicy, fldPath.Child("podReplacementPolicy"))...)
		if spec.PodFailurePolicy != nil && *spec.PodReplacementPolicy != batchv1.Failed {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("podReplacementPolicy"), *spec.PodReplacementPolicy, []batchv1.PodReplacementPolicy{batchv1.Failed}))
		}
	}
	if spec.PodFailurePolicy != nil {
		allErrs = append(allErrs, validatePodFailurePolicy(spec, fldPath)...)
	}
	if spec.SuccessPolicy != nil {
		allErrs = append(allErrs, validateSuccessPolicy(spec, fldPath.Child("successPolicy"))...)
	}
	if spec.ManagedBy != nil {
		p := fldPath.Child("managedBy")
		allErrs = append(allErrs, validation.IsDomainPrefixedPath(p, *spec.ManagedBy)...)
		if len(*spec.ManagedBy) > maxManagedByLength {
			allErrs = append(allErrs, field.TooLong(p, "", maxManagedByLength))
		}
	}

	tmplPath := fldPath.Child("template")
	allErrs = append(allErrs, validatePodTemplateSpec(&spec.Template, tmplPath, podOpts{})...)
	// A job's pods must be allowed to finish.
	if rp := spec.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever {
		allErrs = append(allErrs, field.NotSupported(tmplPath.Child("spec", "restartPolicy"), rp, []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	}
	return allErrs
}

func validatePodFailurePolicy(spec *batchv1.JobSpec, jobPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	fldPath := jobPath.Child("podFailurePolicy")
	// Failure rules look at individual pod failures, which OnFailure hides.
	if spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		allErrs = append(allErrs, field.Invalid(jobPath.Child("template", "spec", "restartPolicy"), spec.Template.Spec.RestartPolicy,
			fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
	}
	rules := spec.PodFailurePolicy.Rules
	rulesPath := fldPath.Child("rules")
	if len(rules) > maxPodFailurePolicyRules {
		return append(allErrs, field.TooMany(rulesPath, len(rules), maxPodFailurePolicyRules))
	}
	containers := map[string]bool{}
	for _, c := range spec.Template.Spec.Containers {
		containers[c.Name] = true
	}
	for _, c := range spec.Template.Spec.InitContainers {
		containers[c.Name] = true
	}
	actions := []batchv1.PodFailurePolicyAction{batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex,
		batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore}
	for i, r := range rules {
		p := rulesPath.Index(i)
		allErrs = append(allErrs, enumCheckNotSupported(r.Action, actions, p.Child("action"))...)
		if r.Action == batchv1.PodFailurePolicyActionFailIndex && spec.BackoffLimitPerIndex == nil {
			allErrs = append(allErrs, field.Invalid(p.Child("action"), r.Action, "requires the backoffLimitPerIndex to be set"))
		}
		switch {
		case r.OnExitCodes != nil && len(r.OnPodConditions) > 0:
			allErrs = append(allErrs, field.Invalid(p, field.OmitValueType{}, "specifying both OnExitCodes and OnPodConditions is not supported"))
		case r.OnExitCodes == nil && len(r.OnPodConditions) == 0:
			allErrs = append(allErrs, field.Invalid(p, field.OmitValueType{}, "specifying one of OnExitCodes and OnPodConditions is required"))
		}
		if ec := r.OnExitCodes; ec != nil {
			ep := p.Child("onExitCodes")
			if ec.ContainerName != nil && !containers[*ec.ContainerName] {
				allErrs = append(allErrs, field.Invalid(ep.Child("containerName"), *ec.ContainerName, "must be one of the container or initContainer names in the pod template"))
			}
			allErrs = append(allErrs, enumCheckNotSupported(ec.Operator, []batchv1.PodFailurePolicyOnExitCodesOperator{batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn}, ep.Child("operator"))...)
			vp := ep.Child("values")
			if len(ec.Values) == 0 {
				allErrs = append(allErrs, field.Invalid(vp, ec.Values, "at least one value is required"))
			}
			if len(ec.Values) > maxExitCodeValues {
				allErrs = append(allErrs, field.TooMany(vp, len(ec.Values), maxExitCodeValues))
			}
			seen := map[int32]bool{}
			for j, v := range ec.Values {
				if seen[v] {
					allErrs = append(allErrs, field.Duplicate(vp.Index(j), v))
				}
				seen[v] = true
				if ec.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && v == 0 {
					allErrs = append(allErrs, field.Invalid(vp.Index(j), v, "must not be 0 for the In operator"))
				}
				if j > 0 && ec.Values[j-1] > v {
					allErrs = append(allErrs, field.Invalid(vp.Index(j), v, "must be ordered"))
				}
			}
		}
		for j, pc := range r.OnPodConditions {
			cp := p.Child("onPodConditions").Index(j)
			allErrs = append(allErrs, enumCheckNotSupported(pc.Status, []corev1.ConditionStatus{corev1.ConditionFalse, corev1.ConditionTrue, corev1.ConditionUnknown}, cp.Child("status"))...)
			allErrs = append(allErrs, validateQualifiedName(string(pc.Type), cp.Child("type"))...)
		}
	}
	return allErrs
}

var succeededIndexesRegexp = regexp.MustCompile(`^(\d+(-\d+)?)(,\d+(-\d+)?)*$`)

func validateSuccessPolicy(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	rulesPath := fldPath.Child("rules")
	if !isIndexed(spec) {
		allErrs = append(allErrs, field.Invalid(fldPath, field.OmitValueType{}, "requires indexed completion mode"))
	}
	if len(spec.SuccessPolicy.Rules) == 0 {
		allErrs = append(allErrs, field.Required(rulesPath, "at least one rule must be specified when the successPolicy is specified"))
	}
	if len(spec.SuccessPolicy.Rules) > maxPodFailurePolicyRules {
		allErrs = append(allErrs, field.TooMany(rulesPath, len(spec.SuccessPolicy.Rules), maxPodFailurePolicyRules))
	}
	for i, r := range spec.SuccessPolicy.Rules {
		p := rulesPath.Index(i)
		if r.SucceededIndexes == nil && r.SucceededCount == nil {
			allErrs = append(allErrs, field.Required(p, "at least one of succeededCount or succeededIndexes must be specified"))
		}
		if r.SucceededIndexes != nil && !succeededIndexesRegexp.MatchString(*r.SucceededIndexes) {
			allErrs = append(allErrs, field.Invalid(p.Child("succeededIndexes"), *r.SucceededIndexes, "error parsing succeededIndexes"))
		}
		if r.SucceededCount != nil {
			if *r.SucceededCount < 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("succeededCount"), *r.SucceededCount, "must be greater than or equal to 0"))
			}
			if spec.Completions != nil && *r.SucceededCount > *spec.Completions {
				allErrs = append(allErrs, field.Invalid(p.Child("succeededCount"), *r.SucceededCount, fmt.Sprintf("must be less than or equal to %d (the number of specified completions)", *spec.Completions)))
			}
		}
	}
	return allErrs
}

func validateJobUpdate(n, o *batchv1.Job) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	allErrs = append(allErrs, validateJobSpecWithSelector(&n.Spec, specPath)...)
	allErrs = append(allErrs, validateJobSpecUpdate(&n.Spec, &o.Spec, o, specPath)...)
	return allErrs
}

// validateJobSpecUpdate: a running job keeps its shape. Indexed jobs may be
// scaled by changing completions and parallelism together.
func validateJobSpecUpdate(n, o *batchv1.JobSpec, oldJob *batchv1.Job, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if !equality.Semantic.DeepEqual(n.Completions, o.Completions) {
		elastic := isIndexed(n) && n.Completions != nil && n.Parallelism != nil && *n.Completions == *n.Parallelism
		if !elastic {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("completions"), n.Completions, fieldImmutableMsg))
		}
	}
	allErrs = append(allErrs, validateImmutable(n.Selector, o.Selector, fldPath.Child("selector"))...)
	allErrs = append(allErrs, validateImmutable(n.CompletionMode, o.CompletionMode, fldPath.Child("completionMode"))...)
	allErrs = append(allErrs, validateImmutable(n.PodFailurePolicy, o.PodFailurePolicy, fldPath.Child("podFailurePolicy"))...)
	allErrs = append(allErrs, validateImmutable(n.BackoffLimitPerIndex, o.BackoffLimitPerIndex, fldPath.Child("backoffLimitPerIndex"))...)
	allErrs = append(allErrs, validateImmutable(n.SuccessPolicy, o.SuccessPolicy, fldPath.Child("successPolicy"))...)
	allErrs = append(allErrs, validateImmutable(n.ManagedBy, o.ManagedBy, fldPath.Child("managedBy"))...)

	// A suspended job that never started may still be re-targeted: its
	// scheduling directives can change before any pod exists.
	newTmpl, oldTmpl := n.Template.DeepCopy(), o.Template.DeepCopy()
	neverStarted := o.Suspend != nil && *o.Suspend && oldJob.Status.StartTime == nil
	if neverStarted {
		newTmpl.Labels, newTmpl.Annotations = oldTmpl.Labels, oldTmpl.Annotations
		newTmpl.Spec.NodeSelector = oldTmpl.Spec.NodeSelector
		newTmpl.Spec.Tolerations = oldTmpl.Spec.Tolerations
		newTmpl.Spec.Affinity = oldTmpl.Spec.Affinity
		newTmpl.Spec.SchedulingGates = oldTmpl.Spec.SchedulingGates
	}
	if !equality.Semantic.DeepEqual(newTmpl, oldTmpl) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("template"), field.OmitValueType{}, fieldImmutableMsg))
	}
	return allErrs
}

func validateJobStatus(st *batchv1.JobStatus, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	allErrs = append(allErrs, validateNonnegative(int64(st.Active), fldPath.Child("active"))...)
	allErrs = append(allErrs, validateNonnegative(int64(st.Succeeded), fldPath.Child("succeeded"))...)
	allErrs = append(allErrs, validateNonnegative(int64(st.Failed), fldPath.Child("failed"))...)
	allErrs = append(allErrs, validateNonnegativePtr(st.Ready, fldPath.Child("ready"))...)
	allErrs = append(allErrs, validateNonnegativePtr(st.Terminating, fldPath.Child("terminating"))...)
	if st.UncountedTerminatedPods != nil {
		seen := map[string]bool{}
		for _, list := range []struct {
			name string
			uids []string
		}{{"succeeded", uidStrings(st.UncountedTerminatedPods.Succeeded)}, {"failed", uidStrings(st.UncountedTerminatedPods.Failed)}} {
			for i, uid := range list.uids {
				p := fldPath.Child("uncountedTerminatedPods", list.name).Index(i)
				if uid == "" {
					allErrs = append(allErrs, field.Invalid(p, uid, "must not be empty"))
				} else if seen[uid] {
					allErrs = append(allErrs, field.Duplicate(p, uid))
				}
				seen[uid] = true
			}
		}
	}
	return allErrs
}

func uidStrings[T ~string](in []T) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = string(v)
	}
	return out
}

// CronJob

func validateCronJob(cj *batchv1.CronJob) field.ErrorList {
	allErrs := validateMeta(cj, true, nameIsDNSSubdomain)
	if len(cj.Name) > maxCronJobNameLength {
		allErrs = append(allErrs, field.Invalid(metadataPath.Child("name"), cj.Name, fmt.Sprintf("must be no more than %d characters", maxCronJobNameLength)))
	}
	return append(allErrs, validateCronJobSpec(&cj.Spec, specPath)...)
}

func validateCronJobSpec(spec *batchv1.CronJobSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	schedPath := fldPath.Child("schedule")
	if spec.Schedule == "" {
		allErrs = append(allErrs, field.Required(schedPath, ""))
	} else {
		if err := parseCronSchedule(spec.Schedule); err != nil {
			allErrs = append(allErrs, field.Invalid(schedPath, spec.Schedule, err.Error()))
		}
		// Two sources of truth for the zone would disagree sooner or later.
		if strings.Contains(spec.Schedule, "TZ") {
			if spec.TimeZone != nil {
				allErrs = append(allErrs, field.Invalid(schedPath, spec.Schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
			} else {
				allErrs = append(allErrs, field.Invalid(schedPath, spec.Schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
			}
		}
	}
	allErrs = append(allErrs, validateTimeZone(spec.TimeZone, fldPath.Child("timeZone"))...)
	allErrs = append(allErrs, validateNonnegativePtr(spec.StartingDeadlineSeconds, fldPath.Child("startingDeadlineSeconds"))...)
	allErrs = append(allErrs, enumCheck(spec.ConcurrencyPolicy, concurrencyPolicies, fldPath.Child("concurrencyPolicy"))...)
	allErrs = append(allErrs, validateNonnegativePtr(spec.SuccessfulJobsHistoryLimit, fldPath.Child("successfulJobsHistoryLimit"))...)
	allErrs = append(allErrs, validateNonnegativePtr(spec.FailedJobsHistoryLimit, fldPath.Child("failedJobsHistoryLimit"))...)

	jtPath := fldPath.Child("jobTemplate")
	allErrs = append(allErrs, validateTemplateMeta(&spec.JobTemplate.ObjectMeta, jtPath.Child("metadata"))...)
	js := &spec.JobTemplate.Spec
	allErrs = append(allErrs, validateJobSpec(js, jtPath.Child("spec"))...)
	// Each job gets a selector generated from its own uid.
	if js.Selector != nil {
		allErrs = append(allErrs, field.Invalid(jtPath.Child("spec", "selector"), js.Selector, "`selector` will be auto-generated"))
	}
	if js.ManualSelector != nil && *js.ManualSelector {
		allErrs = append(allErrs, field.NotSupported(jtPath.Child("spec", "manualSelector"), *js.ManualSelector, []string{"nil", "false"}))
	}
	return allErrs
}

func validateTimeZone(tz *string, fldPath *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return field.ErrorList{field.Invalid(fldPath, *tz, "timeZone must be nil or non-empty string")}
	}
	for _, part := range strings.Split(*tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !validTimeZoneChars.MatchString(part) {
			return field.ErrorList{field.Invalid(fldPath, *tz, fmt.Sprintf("unknown time zone %s", *tz))}
		}
	}
	if strings.EqualFold(*tz, "Local") {
		return field.ErrorList{field.Invalid(fldPath, *tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")}
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		return field.ErrorList{field.Invalid(fldPath, *tz, err.Error())}
	}
	return nil
}

func validateCronJobUpdate(n, o *batchv1.CronJob) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	return append(allErrs, validateCronJobSpec(&n.Spec, specPath)...)
}
