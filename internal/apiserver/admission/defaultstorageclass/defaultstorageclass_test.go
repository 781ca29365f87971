package defaultstorageclass

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver/admission"
)

func TestAdmit(t *testing.T) {
	now := time.Now()
	class := func(name string, age time.Duration, def bool) *storagev1.StorageClass {
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(now.Add(-age))}}
		if def {
			sc.Annotations = map[string]string{IsDefaultAnnotation: "true"}
		}
		return sc
	}
	p := New(func(context.Context, schema.GroupVersionResource, string) ([]runtime.Object, error) {
		return []runtime.Object{class("old-default", time.Hour, true), class("new-default", time.Minute, true), class("plain", 0, false)}, nil
	})
	empty := ""
	mine := "plain"
	for _, tc := range []struct {
		name string
		set  *string
		want string
	}{{"no class gets the newest default", nil, "new-default"}, {"explicit empty stays empty", &empty, ""}, {"a named class stays", &mine, "plain"}} {
		t.Run(tc.name, func(t *testing.T) {
			pvc := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: tc.set}}
			a := &admission.Attributes{Operation: admission.Create, Namespace: "ns",
				Resource: schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}, Object: pvc}
			if err := p.Admit(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != tc.want {
				t.Fatalf("class %v, want %q", pvc.Spec.StorageClassName, tc.want)
			}
		})
	}
}
