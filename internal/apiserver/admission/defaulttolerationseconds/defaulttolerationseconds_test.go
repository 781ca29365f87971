package defaulttolerationseconds

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver/admission"
)

func TestAdmit(t *testing.T) {
	sixty := int64(60)
	tests := []struct {
		name string
		tols []corev1.Toleration
		want map[string]int64 // key -> seconds of the NoExecute toleration
	}{
		{"none", nil, map[string]int64{corev1.TaintNodeNotReady: 300, corev1.TaintNodeUnreachable: 300}},
		{"own unreachable kept", []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &sixty}},
			map[string]int64{corev1.TaintNodeNotReady: 300, corev1.TaintNodeUnreachable: 60}},
		{"tolerate everything", []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, map[string]int64{}},
		{"NoSchedule does not count", []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			map[string]int64{corev1.TaintNodeNotReady: 300, corev1.TaintNodeUnreachable: 300}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tc.tols}}
			a := &admission.Attributes{Operation: admission.Create, Resource: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, Object: pod}
			if err := New(0, 0).Admit(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			for _, tol := range pod.Spec.Tolerations {
				if tol.Effect == corev1.TaintEffectNoExecute && tol.TolerationSeconds != nil {
					got[tol.Key] = *tol.TolerationSeconds
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("tolerations %+v, want %v", pod.Spec.Tolerations, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: %d seconds, want %d", k, got[k], v)
				}
			}
		})
	}
	// Updates and other resources are left alone.
	pod := &corev1.Pod{}
	a := &admission.Attributes{Operation: admission.Update, Resource: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, Object: pod}
	_ = New(0, 0).Admit(context.Background(), a)
	if len(pod.Spec.Tolerations) != 0 {
		t.Error("an update got tolerations")
	}
}
