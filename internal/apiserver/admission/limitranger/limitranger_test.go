package limitranger

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver/admission"
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func plugin(items ...corev1.LimitRangeItem) *Plugin {
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "ns"}, Spec: corev1.LimitRangeSpec{Limits: items}}
	return New(func(_ context.Context, gvr schema.GroupVersionResource, ns string) ([]runtime.Object, error) {
		if gvr.Resource != "limitranges" || ns != "ns" {
			return nil, nil
		}
		return []runtime.Object{lr}, nil
	})
}

func podAttrs(pod *corev1.Pod) *admission.Attributes {
	return &admission.Attributes{Operation: admission.Create, Namespace: "ns", Name: pod.Name,
		Resource: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, Object: pod}
}

func pod(res ...corev1.ResourceRequirements) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	for i, r := range res {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: []string{"a", "b", "c"}[i], Resources: r})
	}
	return p
}

func TestDefaults(t *testing.T) {
	p := plugin(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
		Default: rl("cpu", "500m", "memory", "256Mi"), DefaultRequest: rl("cpu", "100m", "memory", "128Mi")})
	pd := pod(corev1.ResourceRequirements{}, corev1.ResourceRequirements{Requests: rl("cpu", "50m"), Limits: rl("cpu", "60m")})
	if err := p.Admit(context.Background(), podAttrs(pd)); err != nil {
		t.Fatal(err)
	}
	a, b := pd.Spec.Containers[0].Resources, pd.Spec.Containers[1].Resources
	if a.Requests.Cpu().String() != "100m" || a.Limits.Memory().String() != "256Mi" {
		t.Errorf("container a: %+v", a)
	}
	if b.Requests.Cpu().String() != "50m" || b.Limits.Cpu().String() != "60m" || b.Requests.Memory().String() != "128Mi" {
		t.Errorf("container b kept its own values and got the rest: %+v", b)
	}
	want := "LimitRanger plugin set: cpu, memory request for container a; cpu, memory limit for container a; memory request for container b; memory limit for container b"
	if got := pd.Annotations[AnnotationKey]; got != want {
		t.Errorf("annotation %q, want %q", got, want)
	}
}

func TestConstraints(t *testing.T) {
	tests := []struct {
		name string
		item corev1.LimitRangeItem
		res  corev1.ResourceRequirements
		want string
	}{
		{"within", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: rl("cpu", "100m"), Max: rl("cpu", "1")},
			corev1.ResourceRequirements{Requests: rl("cpu", "200m"), Limits: rl("cpu", "500m")}, ""},
		{"below min", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: rl("cpu", "100m")},
			corev1.ResourceRequirements{Requests: rl("cpu", "50m")},
			`pods "p" is forbidden: minimum cpu usage per Container is 100m, but request is 50m`},
		{"no limit under max", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("memory", "1Gi")},
			corev1.ResourceRequirements{Requests: rl("memory", "10Mi")},
			`pods "p" is forbidden: maximum memory usage per Container is 1Gi.  No limit is specified`},
		{"two at once", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("cpu", "1", "memory", "1Gi")},
			corev1.ResourceRequirements{Limits: rl("cpu", "2", "memory", "2Gi")},
			`pods "p" is forbidden: [maximum cpu usage per Container is 1, but limit is 2, maximum memory usage per Container is 1Gi, but limit is 2Gi]`},
		{"ratio", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: rl("cpu", "2")},
			corev1.ResourceRequirements{Requests: rl("cpu", "100m"), Limits: rl("cpu", "500m")},
			`pods "p" is forbidden: cpu max limit to request ratio per Container is 2, but provided ratio is 5.000000`},
		{"pod max", corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: rl("cpu", "1")},
			corev1.ResourceRequirements{Requests: rl("cpu", "600m"), Limits: rl("cpu", "600m")},
			`pods "p" is forbidden: maximum cpu usage per Pod is 1, but limit is 1200m`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pd := pod(tc.res)
			if tc.item.Type == corev1.LimitTypePod {
				pd = pod(tc.res, tc.res)
			}
			err := plugin(tc.item).Validate(context.Background(), podAttrs(pd))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestClaims(t *testing.T) {
	p := plugin(corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim, Min: rl("storage", "1Gi"), Max: rl("storage", "10Gi")})
	claim := func(size string) *admission.Attributes {
		return &admission.Attributes{Operation: admission.Create, Namespace: "ns", Name: "c",
			Resource: schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"},
			Object:   &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", size)}}}}
	}
	if err := p.Validate(context.Background(), claim("5Gi")); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(context.Background(), claim("20Gi")); err == nil || err.Error() != `persistentvolumeclaims "c" is forbidden: maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi` {
		t.Fatalf("big claim: %v", err)
	}
}
