package priority

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver/admission"
)

func class(name string, value int32, def bool, policy corev1.PreemptionPolicy) *schedulingv1.PriorityClass {
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value, GlobalDefault: def}
	if policy != "" {
		pc.PreemptionPolicy = &policy
	}
	return pc
}

func lister(classes ...*schedulingv1.PriorityClass) func(context.Context) ([]*schedulingv1.PriorityClass, error) {
	return func(context.Context) ([]*schedulingv1.PriorityClass, error) { return classes, nil }
}

func podAttrs(op admission.Operation, pod, old *corev1.Pod) *admission.Attributes {
	a := &admission.Attributes{Operation: op, Resource: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, Name: pod.Name, Object: pod}
	if old != nil {
		a.OldObject = old
	}
	return a
}

func TestAdmit(t *testing.T) {
	i32 := func(v int32) *int32 { return &v }
	never := corev1.PreemptNever
	high := class("high", 1000, false, corev1.PreemptLowerPriority)
	polite := class("polite", 500, false, corev1.PreemptNever)
	def := class("default-class", 7, true, "")
	tests := []struct {
		name      string
		classes   []*schedulingv1.PriorityClass
		className string
		priority  *int32
		policy    *corev1.PreemptionPolicy
		wantErr   string
		wantPrio  int32
		wantClass string
		wantPol   *corev1.PreemptionPolicy
	}{
		{name: "named class", classes: []*schedulingv1.PriorityClass{high}, className: "high", wantPrio: 1000, wantClass: "high", wantPol: high.PreemptionPolicy},
		{name: "class policy", classes: []*schedulingv1.PriorityClass{polite}, className: "polite", wantPrio: 500, wantClass: "polite", wantPol: &never},
		{name: "global default", classes: []*schedulingv1.PriorityClass{high, def}, wantPrio: 7, wantClass: "default-class"},
		{name: "no class, no default", classes: []*schedulingv1.PriorityClass{high}, wantPrio: 0, wantPol: high.PreemptionPolicy},
		{name: "unknown class", classes: []*schedulingv1.PriorityClass{high}, className: "nope",
			wantErr: `pods "p" is forbidden: no PriorityClass with name nope was found`},
		{name: "own priority matching", classes: []*schedulingv1.PriorityClass{high}, className: "high", priority: i32(1000), wantPrio: 1000, wantClass: "high", wantPol: high.PreemptionPolicy},
		{name: "own priority differing", classes: []*schedulingv1.PriorityClass{high}, className: "high", priority: i32(5),
			wantErr: `pods "p" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name`},
		{name: "own policy differing", classes: []*schedulingv1.PriorityClass{high}, className: "high", policy: &never,
			wantErr: `pods "p" is forbidden: the string value of PreemptionPolicy (Never) must not be provided in pod spec; priority admission controller computed PreemptLowerPriority from the given PriorityClass name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{PriorityClassName: tc.className, Priority: tc.priority, PreemptionPolicy: tc.policy}}
			err := New(lister(tc.classes...)).Admit(context.Background(), podAttrs(admission.Create, pod, nil))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pod.Spec.Priority == nil || *pod.Spec.Priority != tc.wantPrio || pod.Spec.PriorityClassName != tc.wantClass {
				t.Fatalf("priority %v class %q, want %d %q", pod.Spec.Priority, pod.Spec.PriorityClassName, tc.wantPrio, tc.wantClass)
			}
			if (tc.wantPol == nil) != (pod.Spec.PreemptionPolicy == nil) || (tc.wantPol != nil && *tc.wantPol != *pod.Spec.PreemptionPolicy) {
				t.Fatalf("preemptionPolicy %v, want %v", pod.Spec.PreemptionPolicy, tc.wantPol)
			}
		})
	}
}

func TestAdmitUpdateKeepsPriority(t *testing.T) {
	prio := int32(42)
	old := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Priority: &prio}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	if err := New(lister()).Admit(context.Background(), podAttrs(admission.Update, pod, old)); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.Priority == nil || *pod.Spec.Priority != 42 {
		t.Fatalf("priority %v", pod.Spec.Priority)
	}
}

func TestValidateSingleDefault(t *testing.T) {
	p := New(lister(class("first", 1, true, "")))
	attrs := func(pc *schedulingv1.PriorityClass) *admission.Attributes {
		return &admission.Attributes{Operation: admission.Create, Name: pc.Name, Object: runtime.Object(pc),
			Resource: schedulingv1.SchemeGroupVersion.WithResource("priorityclasses")}
	}
	err := p.Validate(context.Background(), attrs(class("second", 2, true, "")))
	want := `priorityclasses.scheduling.k8s.io "second" is forbidden: PriorityClass first is already marked as default. Only one default can exist`
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	if err := p.Validate(context.Background(), attrs(class("third", 3, false, ""))); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(context.Background(), attrs(class("first", 1, true, ""))); err != nil {
		t.Fatal(err)
	}
}

func TestClassCache(t *testing.T) {
	reads := 0
	classes := []*schedulingv1.PriorityClass{class("high", 1000, false, "")}
	p := New(func(context.Context) ([]*schedulingv1.PriorityClass, error) { reads++; return classes, nil })
	admit := func(name string) error {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{PriorityClassName: name}}
		return p.Admit(context.Background(), podAttrs(admission.Create, pod, nil))
	}
	for i := 0; i < 3; i++ {
		if err := admit("high"); err != nil {
			t.Fatal(err)
		}
	}
	if reads != 1 {
		t.Fatalf("%d reads for 3 pods, want 1", reads)
	}
	// A class created through this server is seen at once.
	classes = append(classes, class("new", 5, false, ""))
	if err := p.Validate(context.Background(), &admission.Attributes{Operation: admission.Create, Name: "new",
		Object: classes[1], Resource: schedulingv1.SchemeGroupVersion.WithResource("priorityclasses")}); err != nil {
		t.Fatal(err)
	}
	if err := admit("new"); err != nil {
		t.Fatalf("new class not seen: %v", err)
	}
	// One written through another server is looked up before refusing.
	classes = append(classes, class("elsewhere", 6, false, ""))
	if err := admit("elsewhere"); err != nil {
		t.Fatalf("class of another server not seen: %v", err)
	}
}
