package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestPullAuths(t *testing.T) {
	cfgJSON := `{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnNlY3JldA=="},"registry.example.com:5000":{"username":"u","password":"p"},"registry.example.com:5000/team":{"username":"team","password":"tp"}}}`
	client := fake.NewClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "ns"}, Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(cfgJSON)}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "old", Namespace: "ns"}, Type: corev1.SecretTypeDockercfg,
			Data: map[string][]byte{corev1.DockerConfigKey: []byte(`{"quay.io":{"username":"q","password":"qp"}}`)}},
	)
	a := New(client, Config{NodeName: "n1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}, {Name: "old"}, {Name: "missing"}}}}
	cases := map[string][]string{
		"busybox:1.36":                          {"hub"},
		"docker.io/library/busybox:1.36":        {"hub"},
		"registry.example.com:5000/team/app:1":  {"team", "u"},
		"registry.example.com:5000/other/app:1": {"u"},
		"quay.io/org/img:2":                     {"q"},
		"registry.example.com/team/app:1":       nil, // another port is another registry
		"ghcr.io/org/img:1":                     nil,
	}
	for image, want := range cases {
		auths := a.pullAuths(context.Background(), pod, image)
		var got []string
		for _, au := range auths {
			got = append(got, au.Username)
		}
		if len(got) != len(want) {
			t.Errorf("%s: users %v, want %v", image, got, want)
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: users %v, want %v", image, got, want)
			}
		}
	}
	if au := a.pullAuths(context.Background(), pod, "busybox:1")[0]; au.Password != "secret" {
		t.Errorf("auth field not decoded: %+v", au)
	}
}
