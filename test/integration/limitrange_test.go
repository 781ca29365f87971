package integration

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A LimitRange gives containers their defaults and refuses what is out of
// bounds; a claim without a class gets the default StorageClass.
func TestLimitRangeAndDefaultStorageClass(t *testing.T) {
	ts := startServer(t)
	c := ts.Client
	ctx := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "limited"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	q := resource.MustParse
	if _, err := c.CoreV1().LimitRanges("limited").Create(ctx, &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "limits"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("256Mi")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("128Mi")},
			Max:            corev1.ResourceList{corev1.ResourceCPU: q("1")},
		}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) (string, error) {
		out, err := exec.Command(skiffBin(t), append([]string{"kubectl", "--kubeconfig", ts.Kubeconfig, "-n", "limited"}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := kubectl("run", "defaulted", "--image=img:1"); err != nil {
		t.Fatalf("kubectl run: %v\n%s", err, out)
	}
	p, err := c.CoreV1().Pods("limited").Get(ctx, "defaulted", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Spec.Containers[0].Resources
	if r.Requests.Cpu().String() != "100m" || r.Limits.Memory().String() != "256Mi" || !strings.HasPrefix(p.Annotations["kubernetes.io/limit-ranger"], "LimitRanger plugin set: ") {
		t.Fatalf("defaults not applied: %+v %v", r, p.Annotations)
	}
	out, err := kubectl("run", "greedy", "--image=img:1", "--overrides", `{"spec":{"containers":[{"name":"greedy","image":"img:1","resources":{"limits":{"cpu":"2"}}}]}}`)
	want := `Error from server (Forbidden): pods "greedy" is forbidden: maximum cpu usage per Container is 1, but limit is 2`
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("over the max: err %v, output %q, want %q", err, out, want)
	}

	if _, err := c.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: "local", Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		Provisioner: "skiff.io/local",
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc, err := c.CoreV1().PersistentVolumeClaims("limited").Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: q("1Gi")}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != "local" {
		t.Fatalf("claim's class %v, want the default \"local\"", pvc.Spec.StorageClassName)
	}
}
