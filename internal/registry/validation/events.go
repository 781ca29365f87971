package validation

import (
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

// eventFields are the parts of an event the checks look at, with the names
// they carry in the API the client used (core/v1 and events.k8s.io/v1 name
// the same data differently).
type eventFields struct {
	namespace, regardingNamespace string
	eventTime                     metav1.MicroTime
	reportingController           string
	reportingInstance             string
	action, reason, note          string

	regardingPath, reportingPath, notePath *field.Path
}

// validateEventCommon holds the checks every event gets. Events without an
// eventTime come from old clients and only need a consistent namespace.
func validateEventCommon(e eventFields) field.ErrorList {
	var allErrs field.ErrorList
	nsPath := e.regardingPath.Child("namespace")
	if e.eventTime.IsZero() {
		// Events about cluster-scoped objects historically went to "default".
		if e.regardingNamespace == "" {
			if e.namespace != metav1.NamespaceNone && e.namespace != metav1.NamespaceDefault {
				allErrs = append(allErrs, field.Invalid(nsPath, e.regardingNamespace, "does not match event.namespace"))
			}
		} else if e.namespace != e.regardingNamespace {
			allErrs = append(allErrs, field.Invalid(nsPath, e.regardingNamespace, "does not match event.namespace"))
		}
	} else {
		if e.regardingNamespace == "" && e.namespace != metav1.NamespaceDefault && e.namespace != metav1.NamespaceSystem {
			allErrs = append(allErrs, field.Invalid(nsPath, e.regardingNamespace, "does not match event.namespace"))
		}
		if e.reportingController == "" {
			allErrs = append(allErrs, field.Required(e.reportingPath, ""))
		}
		allErrs = append(allErrs, validateQualifiedName(e.reportingController, e.reportingPath)...)
		allErrs = append(allErrs, requiredWithLimit(e.reportingInstance, reportingInstanceLengthLimit, field.NewPath("reportingInstance"))...)
		allErrs = append(allErrs, requiredWithLimit(e.action, actionLengthLimit, field.NewPath("action"))...)
		allErrs = append(allErrs, requiredWithLimit(e.reason, reasonLengthLimit, field.NewPath("reason"))...)
		if len(e.note) > noteLengthLimit {
			allErrs = append(allErrs, field.Invalid(e.notePath, "", fmt.Sprintf("can have at most %v characters", noteLengthLimit)))
		}
	}
	return allErrs
}

func requiredWithLimit(v string, limit int, p *field.Path) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	if len(v) > limit {
		return field.ErrorList{field.Invalid(p, "", fmt.Sprintf("can have at most %v characters", limit))}
	}
	return nil
}

func coreEventFields(ev *corev1.Event) eventFields {
	return eventFields{
		namespace: ev.Namespace, regardingNamespace: ev.InvolvedObject.Namespace, eventTime: ev.EventTime,
		reportingController: ev.ReportingController, reportingInstance: ev.ReportingInstance,
		action: ev.Action, reason: ev.Reason, note: ev.Message,
		regardingPath: field.NewPath("involvedObject"), reportingPath: field.NewPath("reportingComponent"), notePath: field.NewPath("message"),
	}
}

func validateCoreEvent(ev *corev1.Event) field.ErrorList {
	// core/v1 events keep the lenient legacy rules, names included.
	allErrs := validateMeta(ev, true, nameIsPathSegment)
	return append(allErrs, validateEventCommon(coreEventFields(ev))...)
}

func validateCoreEventUpdate(n, o *corev1.Event) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	return append(allErrs, validateEventCommon(coreEventFields(n))...)
}

func eventsV1Fields(ev *eventsv1.Event) eventFields {
	return eventFields{
		namespace: ev.Namespace, regardingNamespace: ev.Regarding.Namespace, eventTime: ev.EventTime,
		reportingController: ev.ReportingController, reportingInstance: ev.ReportingInstance,
		action: ev.Action, reason: ev.Reason, note: ev.Note,
		regardingPath: field.NewPath("regarding"), reportingPath: field.NewPath("reportingController"), notePath: field.NewPath("note"),
	}
}

// validateEventsV1Create applies the strict rules of the events.k8s.io API.
func validateEventsV1Create(ev *eventsv1.Event) field.ErrorList {
	allErrs := validateMeta(ev, true, nameIsDNSSubdomain)
	allErrs = append(allErrs, validateEventCommon(eventsV1Fields(ev))...)
	allErrs = append(allErrs, validateEventSeries(ev.Series)...)
	if ev.EventTime.IsZero() {
		allErrs = append(allErrs, field.Required(field.NewPath("eventTime"), ""))
	}
	if ev.Type != corev1.EventTypeNormal && ev.Type != corev1.EventTypeWarning {
		allErrs = append(allErrs, field.Invalid(field.NewPath("type"), "", fmt.Sprintf("has invalid value: %v", ev.Type)))
	}
	// The deprecated fields exist for core/v1 round-tripping only.
	if !ev.DeprecatedFirstTimestamp.IsZero() {
		allErrs = append(allErrs, field.Invalid(field.NewPath("deprecatedFirstTimestamp"), "", "needs to be unset"))
	}
	if !ev.DeprecatedLastTimestamp.IsZero() {
		allErrs = append(allErrs, field.Invalid(field.NewPath("deprecatedLastTimestamp"), "", "needs to be unset"))
	}
	if ev.DeprecatedCount != 0 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("deprecatedCount"), "", "needs to be unset"))
	}
	if ev.DeprecatedSource.Component != "" || ev.DeprecatedSource.Host != "" {
		allErrs = append(allErrs, field.Invalid(field.NewPath("deprecatedSource"), "", "needs to be unset"))
	}
	return allErrs
}

func validateEventSeries(s *eventsv1.EventSeries) field.ErrorList {
	if s == nil {
		return nil
	}
	var allErrs field.ErrorList
	if s.Count < 2 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("series", "count"), "", "should be at least 2"))
	}
	if s.LastObservedTime.IsZero() {
		allErrs = append(allErrs, field.Required(field.NewPath("series", "lastObservedTime"), ""))
	}
	return allErrs
}

// validateEventsV1Update: only the series may move on; what happened, to
// whom and who said so is fixed.
func validateEventsV1Update(n, o *eventsv1.Event) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	allErrs = append(allErrs, validateEventCommon(eventsV1Fields(n))...)
	if !reflect.DeepEqual(n.Series, o.Series) {
		allErrs = append(allErrs, validateEventSeries(n.Series)...)
	}
	immutable := []struct {
		name     string
		new, old interface{}
	}{
		{"regarding", n.Regarding, o.Regarding},
		{"related", n.Related, o.Related},
		{"reason", n.Reason, o.Reason},
		{"note", n.Note, o.Note},
		{"type", n.Type, o.Type},
		{"action", n.Action, o.Action},
		{"eventTime", n.EventTime, o.EventTime},
		{"reportingController", n.ReportingController, o.ReportingController},
		{"reportingInstance", n.ReportingInstance, o.ReportingInstance},
		{"deprecatedSource", n.DeprecatedSource, o.DeprecatedSource},
		{"deprecatedFirstTimestamp", n.DeprecatedFirstTimestamp, o.DeprecatedFirstTimestamp},
		{"deprecatedLastTimestamp", n.DeprecatedLastTimestamp, o.DeprecatedLastTimestamp},
		{"deprecatedCount", n.DeprecatedCount, o.DeprecatedCount},
	}
	for _, f := range immutable {
		allErrs = append(allErrs, validateImmutable(f.new, f.old, field.NewPath(f.name))...)
	}
	return allErrs
}
