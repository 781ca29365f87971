package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"skiff/internal/agent/volume"
)

func TestContainerEnv(t *testing.T) {
	client := fake.NewClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns"}, Data: map[string]string{"k": "v", "1bad": "x", "MODE": "m"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Data: map[string][]byte{"pw": []byte("hunter2")}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "my-db", Namespace: "ns"}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.9", Ports: []corev1.ServicePort{{Port: 5432, Protocol: corev1.ProtocolTCP}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "elsewhere"}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.7", Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}},
	)
	a := New(client, Config{NodeName: "n1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rec := record.NewFakeRecorder(10)
	a.recorder = rec
	factory := informers.NewSharedInformerFactory(client, 0)
	a.services = factory.Core().V1().Services().Lister()
	factory.Core().V1().Services().Informer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name:    "c",
		EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
		Env: []corev1.EnvVar{
			{Name: "MODE", Value: "overridden"},
			{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "pw"}}},
			{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "DB", Value: "$(MY_DB_SERVICE_HOST):$(MY_DB_SERVICE_PORT) $(k)"},
			{Name: "OPT", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "x", Optional: ptr.To(true)}}},
		},
	}}}}
	kvs, lookup, err := a.containerEnv(ctx, pod, &pod.Spec.Containers[0], volume.PodInfo{PodIPs: []string{"10.42.0.3"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range kvs {
		got[kv.Key] = string(kv.Value)
	}
	want := map[string]string{
		"k": "v", "MODE": "overridden", "PW": "hunter2", "IP": "10.42.0.3", "DB": "10.43.0.9:5432 v",
		"KUBERNETES_SERVICE_HOST": "10.43.0.1", "KUBERNETES_SERVICE_PORT": "443", "KUBERNETES_SERVICE_PORT_HTTPS": "443",
		"KUBERNETES_PORT": "tcp://10.43.0.1:443", "KUBERNETES_PORT_443_TCP_ADDR": "10.43.0.1",
		"MY_DB_SERVICE_HOST": "10.43.0.9", "MY_DB_PORT_5432_TCP": "tcp://10.43.0.9:5432",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, k := range []string{"1bad", "OPT", "OTHER_SERVICE_HOST"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s should not be set", k)
		}
	}
	if v, ok := lookup("PW"); !ok || v != "hunter2" {
		t.Errorf("lookup(PW) = %q %v", v, ok)
	}
	select {
	case ev := <-rec.Events:
		if !strings.Contains(ev, "InvalidEnvironmentVariableNames") || !strings.Contains(ev, "1bad") {
			t.Errorf("event %q", ev)
		}
	default:
		t.Error("no event for the invalid envFrom key")
	}

	// A missing non-optional reference is a config error with upstream's words.
	pod.Spec.Containers[0].Env = append(pod.Spec.Containers[0].Env, corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "nope"}}})
	_, _, err = a.containerEnv(ctx, pod, &pod.Spec.Containers[0], volume.PodInfo{})
	if err == nil || err.Error() != "couldn't find key nope in Secret ns/s" || !errors.As(err, new(configError)) {
		t.Errorf("missing key: %v", err)
	}
}
