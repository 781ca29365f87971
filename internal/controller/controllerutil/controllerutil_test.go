package controllerutil

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func TestClaimAdoptsKeepsAndReleases(t *testing.T) {
	gvk := appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	owner := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "ns", UID: "owner-uid"}}
	other := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "ns", UID: "other-uid"}}
	pod := func(name string, app string, ctrl metav1.Object) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: k8stypes.UID("uid-" + name), Labels: map[string]string{"app": app}}}
		if ctrl != nil {
			p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(ctrl, gvk)}
		}
		return p
	}
	pods := []*corev1.Pod{
		pod("owned-match", "web", owner),
		pod("owned-nomatch", "db", owner),
		pod("orphan-match", "web", nil),
		pod("orphan-nomatch", "db", nil),
		pod("others", "web", other),
	}
	client := fake.NewClientset()
	for _, p := range pods {
		if _, err := client.CoreV1().Pods("ns").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sel := labels.SelectorFromSet(labels.Set{"app": "web"})
	got, err := Claim(context.Background(), owner, gvk, sel, pods, PodPatcher(client))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	if len(names) != 2 || names[0] != "owned-match" || names[1] != "orphan-match" {
		t.Fatalf("claimed %v, want [owned-match orphan-match]", names)
	}
	ctrlOf := func(name string) *metav1.OwnerReference {
		p, err := client.CoreV1().Pods("ns").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return metav1.GetControllerOf(p)
	}
	if r := ctrlOf("orphan-match"); r == nil || r.UID != "owner-uid" || r.Kind != "ReplicaSet" {
		t.Errorf("orphan not adopted: %+v", r)
	}
	if r := ctrlOf("owned-nomatch"); r != nil {
		t.Errorf("non-matching pod not released: %+v", r)
	}
	if r := ctrlOf("others"); r == nil || r.UID != "other-uid" {
		t.Errorf("another owner's pod was touched: %+v", r)
	}

	// An owner being deleted adopts nothing.
	now := metav1.Now()
	owner.DeletionTimestamp = &now
	got, err = Claim(context.Background(), owner, gvk, sel, []*corev1.Pod{pod("late-orphan", "web", nil)}, PodPatcher(client))
	if err != nil || len(got) != 0 {
		t.Fatalf("deleting owner claimed %d pods (err %v)", len(got), err)
	}
}

func TestExpectations(t *testing.T) {
	e := NewExpectations()
	if !e.Satisfied("a") {
		t.Fatal("no expectations must be satisfied")
	}
	e.Expect("a", 2, 1)
	e.Observed("a", true)
	if e.Satisfied("a") {
		t.Fatal("satisfied with one create and one delete outstanding")
	}
	e.Observed("a", true)
	e.Observed("a", false)
	if !e.Satisfied("a") {
		t.Fatal("not satisfied after everything was observed")
	}
	e.Expect("a", 1, 0)
	e.Forget("a")
	if !e.Satisfied("a") {
		t.Fatal("forgotten key must be satisfied")
	}
}

func TestPodFromTemplate(t *testing.T) {
	owner := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "ns", UID: "u"}}
	tmpl := &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
	p := PodFromTemplate(tmpl, owner, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), "")
	if p.GenerateName != "web-abc-" || p.Namespace != "ns" || p.Labels["app"] != "web" || len(p.Spec.Containers) != 1 {
		t.Fatalf("pod %+v", p.ObjectMeta)
	}
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.UID != "u" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Fatalf("owner ref %+v", ref)
	}
	p.Labels["app"] = "changed"
	if tmpl.Labels["app"] != "web" {
		t.Fatal("pod shares the template's labels")
	}
}
