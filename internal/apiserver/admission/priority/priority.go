// Package priority is the Priority admission plugin: a new pod's
// spec.priorityClassName is resolved to spec.priority and
// spec.preemptionPolicy from its PriorityClass (the globalDefault class
// when it names none, priority 0 when there is none either), and at most
// one PriorityClass may be the global default.
package priority

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/apiserver/admission"
)

// DefaultPriorityWhenNoDefaultClassExists is a pod's priority without a
// class and without a default class.
const DefaultPriorityWhenNoDefaultClassExists = 0

// System classes, created at startup as upstream does.
const (
	SystemClusterCritical = "system-cluster-critical"
	SystemNodeCritical    = "system-node-critical"
	// SystemCriticalPriority is system-cluster-critical's value;
	// system-node-critical is 1000 more.
	SystemCriticalPriority int32 = 2000000000
)

// SystemPriorityClasses returns the built-in classes.
func SystemPriorityClasses() []*schedulingv1.PriorityClass {
	return []*schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: SystemClusterCritical}, Value: SystemCriticalPriority, Description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."},
		{ObjectMeta: metav1.ObjectMeta{Name: SystemNodeCritical}, Value: SystemCriticalPriority + 1000, Description: "Used for system critical pods that must not be moved from their current node."},
	}
}

// cacheTTL bounds how long the classes read are reused. Writes of classes
// through this server drop them at once; the TTL covers other servers.
const cacheTTL = time.Second

// Plugin resolves pod priorities.
type Plugin struct {
	list func(ctx context.Context) ([]*schedulingv1.PriorityClass, error)
	now  func() time.Time

	mu      sync.Mutex
	classes []*schedulingv1.PriorityClass
	expires time.Time
}

// New returns the plugin reading the classes with list.
func New(list func(ctx context.Context) ([]*schedulingv1.PriorityClass, error)) *Plugin {
	return &Plugin{list: list, now: time.Now}
}

// priorityClasses returns the classes, read at most once per cacheTTL so
// that pod creation doesn't cost a store read each.
func (p *Plugin) priorityClasses(ctx context.Context) ([]*schedulingv1.PriorityClass, error) {
	p.mu.Lock()
	if p.classes != nil && p.now().Before(p.expires) {
		defer p.mu.Unlock()
		return p.classes, nil
	}
	p.mu.Unlock()
	classes, err := p.list(ctx)
	if err != nil {
		return nil, err
	}
	if classes == nil {
		classes = []*schedulingv1.PriorityClass{}
	}
	p.mu.Lock()
	p.classes, p.expires = classes, p.now().Add(cacheTTL)
	p.mu.Unlock()
	return classes, nil
}

// forget drops the cached classes when a class is written.
func (p *Plugin) forget(a *admission.Attributes) {
	if a.Resource.Group == schedulingv1.GroupName && a.Resource.Resource == "priorityclasses" {
		p.mu.Lock()
		p.classes = nil
		p.mu.Unlock()
	}
}

var (
	_ admission.MutatingPlugin   = (*Plugin)(nil)
	_ admission.ValidatingPlugin = (*Plugin)(nil)
)

// Name is the plugin's upstream name.
func (*Plugin) Name() string { return "Priority" }

func isCore(a *admission.Attributes, resource string) bool {
	return a.Subresource == "" && a.Resource.Group == "" && a.Resource.Resource == resource
}

// Admit sets the priority of pods being created; an update keeps the
// priority the pod has.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	p.forget(a)
	if !isCore(a, "pods") {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	switch a.Operation {
	case admission.Update:
		if old, ok := a.OldObject.(*corev1.Pod); ok {
			if pod.Spec.Priority == nil {
				pod.Spec.Priority = old.Spec.Priority
			}
			if pod.Spec.PreemptionPolicy == nil {
				pod.Spec.PreemptionPolicy = old.Spec.PreemptionPolicy
			}
		}
		return nil
	case admission.Create:
	default:
		return nil
	}
	classes, err := p.priorityClasses(ctx)
	if err != nil {
		return err
	}
	var class *schedulingv1.PriorityClass
	if pod.Spec.PriorityClassName == "" {
		class = defaultClass(classes)
		if class != nil {
			pod.Spec.PriorityClassName = class.Name
		}
	} else {
		class = find(classes, pod.Spec.PriorityClassName)
		if class == nil {
			// The class may be newer than the cached list.
			p.mu.Lock()
			p.classes = nil
			p.mu.Unlock()
			if classes, err = p.priorityClasses(ctx); err != nil {
				return err
			}
			class = find(classes, pod.Spec.PriorityClassName)
		}
		if class == nil {
			return admission.NewForbidden(a, fmt.Errorf("no PriorityClass with name %v was found", pod.Spec.PriorityClassName))
		}
	}
	// Without any class a pod may preempt, as upstream.
	priority, lower := int32(DefaultPriorityWhenNoDefaultClassExists), corev1.PreemptLowerPriority
	policy := &lower
	if class != nil {
		priority, policy = class.Value, class.PreemptionPolicy
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != priority {
		return admission.NewForbidden(a, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, priority))
	}
	pod.Spec.Priority = &priority
	if policy != nil {
		if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != *policy {
			return admission.NewForbidden(a, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, *policy))
		}
		pp := *policy
		pod.Spec.PreemptionPolicy = &pp
	}
	return nil
}

func find(classes []*schedulingv1.PriorityClass, name string) *schedulingv1.PriorityClass {
	for _, c := range classes {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// defaultClass is the global default class; with several (created
// concurrently), the lowest value wins, as upstream.
func defaultClass(classes []*schedulingv1.PriorityClass) *schedulingv1.PriorityClass {
	var out *schedulingv1.PriorityClass
	for _, c := range classes {
		if c.GlobalDefault && (out == nil || c.Value < out.Value) {
			out = c
		}
	}
	return out
}

// Validate refuses a second global default PriorityClass.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	p.forget(a)
	if a.Subresource != "" || a.Resource.Group != schedulingv1.GroupName || a.Resource.Resource != "priorityclasses" ||
		(a.Operation != admission.Create && a.Operation != admission.Update) {
		return nil
	}
	pc, ok := a.Object.(*schedulingv1.PriorityClass)
	if !ok || !pc.GlobalDefault {
		return nil
	}
	classes, err := p.priorityClasses(ctx)
	if err != nil {
		return err
	}
	for _, c := range classes {
		if c.GlobalDefault && c.Name != pc.Name {
			return admission.NewForbidden(a, fmt.Errorf("PriorityClass %v is already marked as default. Only one default can exist", c.Name))
		}
	}
	return nil
}
