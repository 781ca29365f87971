package serviceaccount

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/apiserver/admission"
)

func TestAdmit(t *testing.T) {
	accounts := map[string]*corev1.ServiceAccount{
		"default":  {ObjectMeta: metav1.ObjectMeta{Name: "default"}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}},
		"no-mount": {ObjectMeta: metav1.ObjectMeta{Name: "no-mount"}, AutomountServiceAccountToken: ptr.To(false)},
	}
	p := New(func(_ context.Context, _, name string) (*corev1.ServiceAccount, error) { return accounts[name], nil })
	p.wait = 50 * time.Millisecond
	admit := func(pod *corev1.Pod) error {
		return p.Admit(context.Background(), &admission.Attributes{Operation: admission.Create, Namespace: "ns", Object: pod,
			Resource: podsGVR})
	}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "a"}, {Name: "b", VolumeMounts: []corev1.VolumeMount{{Name: "own", MountPath: MountPath}}},
	}}}
	if err := admit(pod); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.ServiceAccountName != "default" || len(pod.Spec.ImagePullSecrets) != 1 {
		t.Errorf("account %q pull secrets %v", pod.Spec.ServiceAccountName, pod.Spec.ImagePullSecrets)
	}
	if len(pod.Spec.Volumes) != 1 || !strings.HasPrefix(pod.Spec.Volumes[0].Name, volumePrefix) {
		t.Fatalf("volumes %+v", pod.Spec.Volumes)
	}
	if m := pod.Spec.Containers[0].VolumeMounts; len(m) != 1 || m[0].MountPath != MountPath || !m[0].ReadOnly {
		t.Errorf("container a mounts %+v", m)
	}
	if m := pod.Spec.Containers[1].VolumeMounts; len(m) != 1 || m[0].Name != "own" {
		t.Errorf("container b's own mount at the path was replaced: %+v", m)
	}

	opt := &corev1.Pod{Spec: corev1.PodSpec{ServiceAccountName: "no-mount", Containers: []corev1.Container{{Name: "a"}}}}
	if err := admit(opt); err != nil || len(opt.Spec.Volumes) != 0 {
		t.Errorf("account opting out: %v, volumes %+v", err, opt.Spec.Volumes)
	}
	// The pod's own setting wins over the account's.
	in := &corev1.Pod{Spec: corev1.PodSpec{ServiceAccountName: "no-mount", AutomountServiceAccountToken: ptr.To(true), Containers: []corev1.Container{{Name: "a"}}}}
	if err := admit(in); err != nil || len(in.Spec.Volumes) != 1 {
		t.Errorf("pod opting in: %v, volumes %+v", err, in.Spec.Volumes)
	}
	missing := &corev1.Pod{Spec: corev1.PodSpec{ServiceAccountName: "ghost", Containers: []corev1.Container{{Name: "a"}}}}
	if err := admit(missing); !apierrors.IsForbidden(err) {
		t.Errorf("unknown account: %v", err)
	}
	mirror := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "x"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}}
	if err := admit(mirror); err != nil || mirror.Spec.ServiceAccountName != "" {
		t.Errorf("mirror pod: %v, account %q", err, mirror.Spec.ServiceAccountName)
	}
}
