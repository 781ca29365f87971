package history

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRevisionOfATemplate(t *testing.T) {
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u", Annotations: map[string]string{"a": "b"}},
		Spec: appsv1.StatefulSetSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
		}},
	}
	data, err := TemplatePatch(set)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"$patch":"replace"`) || !strings.HasPrefix(string(data), `{"spec":{"template":`) {
		t.Fatalf("patch %s", data)
	}
	rev := New(set, appsv1.SchemeGroupVersion.WithKind("StatefulSet"), set.Spec.Template.Labels, "controller.kubernetes.io/hash", data, 3, nil)
	if rev.Revision != 3 || rev.Labels["app"] != "web" || rev.Name != "web-"+rev.Labels["controller.kubernetes.io/hash"] ||
		rev.Annotations["a"] != "b" || !metav1.IsControlledBy(rev, set) {
		t.Fatalf("revision %+v", rev.ObjectMeta)
	}
	tmpl, err := TemplateOf(rev)
	if err != nil || tmpl.Spec.Containers[0].Image != "img:1" {
		t.Fatalf("template back: %+v %v", tmpl, err)
	}
	one := int32(1)
	if Hash(data, nil) == Hash(data, &one) {
		t.Error("a collision count must change the hash")
	}
	if n := Name(strings.Repeat("x", 300), "h"); len(n) != 225 {
		t.Errorf("name of %d characters", len(n))
	}
	revs := []*appsv1.ControllerRevision{{Revision: 3}, {Revision: 1}, {Revision: 2}}
	Sort(revs)
	if revs[0].Revision != 1 || revs[2].Revision != 3 {
		t.Error("not sorted by revision")
	}
}
