package podsecurity

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"skiff/internal/apiserver/admission"
)

const restrictedPrivileged = `pods "p" is forbidden: violates PodSecurity "restricted:latest": ` +
	`privileged (container "c" must not set securityContext.privileged=true), ` +
	`allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
	`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
	`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
	`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`

func newPlugin(t *testing.T, labels map[string]string) *Plugin {
	t.Helper()
	p, err := New(func(_ context.Context, name string) (*corev1.Namespace, error) {
		if name != "ns" {
			return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, name)
		}
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func privilegedPod() *corev1.Pod {
	priv := true
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "img:1",
			SecurityContext: &corev1.SecurityContext{Privileged: &priv},
		}}},
	}
}

func restrictedPod() *corev1.Pod {
	no, yes := false, true
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "c", Image: "img:1",
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			}},
		},
	}
}

func podAttrs(op admission.Operation, pod, old *corev1.Pod) *admission.Attributes {
	a := &admission.Attributes{Operation: op, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Namespace: "ns", Name: pod.Name, Object: pod}
	if old != nil {
		a.OldObject = old
	}
	return a
}

func TestEnforce(t *testing.T) {
	p := newPlugin(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	a := podAttrs(admission.Create, privilegedPod(), nil)
	err := p.Validate(context.Background(), a)
	if !apierrors.IsForbidden(err) {
		t.Fatalf("want Forbidden, got %v", err)
	}
	if err.Error() != restrictedPrivileged {
		t.Errorf("message:\n got %s\nwant %s", err, restrictedPrivileged)
	}
	if code := err.(apierrors.APIStatus).Status().Code; code != http.StatusForbidden {
		t.Errorf("code %d", code)
	}
	if w := a.Warnings(); len(w) != 0 {
		t.Errorf("a refused request has no warnings, got %q", w)
	}
	if got := a.Annotations()["enforce-policy"]; got != "restricted:latest" {
		t.Errorf("enforce-policy annotation %q", got)
	}
	if err := p.Validate(context.Background(), podAttrs(admission.Create, restrictedPod(), nil)); err != nil {
		t.Errorf("a restricted pod is admitted: %v", err)
	}
}

func TestBaselineAllowsNonPrivileged(t *testing.T) {
	p := newPlugin(t, map[string]string{"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/enforce-version": "v1.30"})
	pod := privilegedPod()
	err := p.Validate(context.Background(), podAttrs(admission.Create, pod, nil))
	want := `pods "p" is forbidden: violates PodSecurity "baseline:v1.30": privileged (container "c" must not set securityContext.privileged=true)`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	pod.Spec.Containers[0].SecurityContext = nil
	a := podAttrs(admission.Create, pod, nil)
	if err := p.Validate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	// warn defaults to the enforce level: baseline has nothing to say.
	if w := a.Warnings(); len(w) != 0 {
		t.Errorf("warnings %q", w)
	}
}

func TestUnlabelledIsPrivileged(t *testing.T) {
	p := newPlugin(t, nil)
	a := podAttrs(admission.Create, privilegedPod(), nil)
	if err := p.Validate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if len(a.Warnings()) != 0 || len(a.Annotations()) != 0 {
		t.Errorf("warnings %q annotations %v", a.Warnings(), a.Annotations())
	}
}

func TestWarnAndAudit(t *testing.T) {
	p := newPlugin(t, map[string]string{"pod-security.kubernetes.io/warn": "baseline", "pod-security.kubernetes.io/audit": "restricted"})
	a := podAttrs(admission.Create, privilegedPod(), nil)
	if err := p.Validate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	want := `would violate PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)`
	if w := a.Warnings(); len(w) != 1 || w[0] != want {
		t.Errorf("warnings %q, want %q", w, want)
	}
	audit := a.Annotations()["audit-violations"]
	if !strings.HasPrefix(audit, `would violate PodSecurity "restricted:latest": privileged (`) {
		t.Errorf("audit-violations %q", audit)
	}
}

func TestTemplatesOnlyWarn(t *testing.T) {
	p := newPlugin(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	pod := privilegedPod()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns"},
		Spec:       appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: pod.Spec}},
	}
	a := &admission.Attributes{Operation: admission.Create, Resource: appsv1.SchemeGroupVersion.WithResource("deployments"), Namespace: "ns", Name: "d", Object: d}
	if err := p.Validate(context.Background(), a); err != nil {
		t.Fatalf("templates are not enforced: %v", err)
	}
	w := a.Warnings()
	if len(w) != 1 || !strings.HasPrefix(w[0], `would violate PodSecurity "restricted:latest": privileged (container "c" must not set securityContext.privileged=true), allowPrivilegeEscalation != false`) {
		t.Errorf("warnings %q", w)
	}
	// Subresources (scale, status) are not checked.
	a = &admission.Attributes{Operation: admission.Update, Resource: appsv1.SchemeGroupVersion.WithResource("deployments"), Subresource: "status", Namespace: "ns", Name: "d", Object: d, OldObject: d}
	if err := p.Validate(context.Background(), a); err != nil || len(a.Warnings()) != 0 {
		t.Errorf("status update: %v %q", err, a.Warnings())
	}
}

func TestUpdates(t *testing.T) {
	p := newPlugin(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	old := privilegedPod()
	// A label change cannot change the verdict: allowed.
	pod := old.DeepCopy()
	pod.Labels = map[string]string{"a": "b"}
	if err := p.Validate(context.Background(), podAttrs(admission.Update, pod, old)); err != nil {
		t.Errorf("insignificant update: %v", err)
	}
	// An image change is checked.
	pod.Spec.Containers[0].Image = "img:2"
	if err := p.Validate(context.Background(), podAttrs(admission.Update, pod, old)); !apierrors.IsForbidden(err) {
		t.Errorf("image update: want Forbidden, got %v", err)
	}
	// The status subresource is not.
	a := podAttrs(admission.Update, pod, old)
	a.Subresource = "status"
	if err := p.Validate(context.Background(), a); err != nil {
		t.Errorf("status update: %v", err)
	}
	// Deletes are not.
	if err := p.Validate(context.Background(), &admission.Attributes{Operation: admission.Delete, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Namespace: "ns", Name: "p", OldObject: old}); err != nil {
		t.Errorf("delete: %v", err)
	}
}

func TestNamespaceLabels(t *testing.T) {
	p := newPlugin(t, nil)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "strict"}}}
	a := &admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("namespaces"), Name: "x", Object: ns}
	err := p.Validate(context.Background(), a)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `Namespace "x" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict"`) {
		t.Errorf("got %v", err)
	}
	ns.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	if err := p.Validate(context.Background(), a); err != nil {
		t.Errorf("valid labels: %v", err)
	}
}

func TestNamespaceLookupFails(t *testing.T) {
	p, err := New(func(context.Context, string) (*corev1.Namespace, error) { return nil, errors.New("boom") })
	if err != nil {
		t.Fatal(err)
	}
	err = p.Validate(context.Background(), podAttrs(admission.Create, privilegedPod(), nil))
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), `failed to lookup namespace "ns"`) {
		t.Errorf("got %v", err)
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestEnforceRaisedWarnsAboutPods(t *testing.T) {
	p := newPlugin(t, nil)
	ctrl := true
	owned := func(name, uid string) *corev1.Pod {
		pod := privilegedPod()
		pod.Name = name
		pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: types.UID(uid), Controller: &ctrl}}
		return pod
	}
	p.Pods = func(context.Context, string) ([]*corev1.Pod, error) {
		return []*corev1.Pod{owned("b", "1"), owned("a", "1"), owned("c", "1"), restrictedPod()}, nil
	}
	old := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}
	ns := old.DeepCopy()
	ns.Labels = map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}
	a := &admission.Attributes{Operation: admission.Update, Resource: corev1.SchemeGroupVersion.WithResource("namespaces"), Name: "ns", Object: ns, OldObject: old}
	if err := p.Validate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`existing pods in namespace "ns" violate the new PodSecurity enforce level "baseline:latest"`,
		`a (and 2 other pods): privileged`,
	}
	if got := a.Warnings(); !slices.Equal(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
	// Relaxing the level checks nothing.
	a = &admission.Attributes{Operation: admission.Update, Resource: corev1.SchemeGroupVersion.WithResource("namespaces"), Name: "ns", Object: old, OldObject: ns}
	if err := p.Validate(context.Background(), a); err != nil || len(a.Warnings()) != 0 {
		t.Errorf("relaxed: %v %q", err, a.Warnings())
	}
	// Unchanged invalid labels do not block other updates.
	bad := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "strict"}}}
	bad2 := bad.DeepCopy()
	bad2.Labels["x"] = "y"
	a = &admission.Attributes{Operation: admission.Update, Resource: corev1.SchemeGroupVersion.WithResource("namespaces"), Name: "ns", Object: bad2, OldObject: bad}
	if err := p.Validate(context.Background(), a); err != nil {
		t.Errorf("unchanged invalid labels: %v", err)
	}
	a.OldObject = old
	if err := p.Validate(context.Background(), a); !apierrors.IsInvalid(err) {
		t.Errorf("new invalid labels: %v", err)
	}
}
