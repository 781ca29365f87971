package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/agent/images"
	"skiff/internal/mountinfo"
)

// criExec runs cmd in a pod's running container straight through the CRI
// (not through the API), so these checks do not depend on kubectl exec.
func (n *node) criExec(t *testing.T, pod, container string, cmd ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := n.runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State:         &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
		LabelSelector: map[string]string{"io.kubernetes.pod.name": pod, "io.kubernetes.container.name": container},
	}})
	if err != nil {
		return "", err
	}
	if len(resp.Containers) == 0 {
		return "", errNotRunning
	}
	out, err := n.runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: resp.Containers[0].Id, Cmd: cmd, Timeout: 20})
	if err != nil {
		return "", err
	}
	if out.ExitCode != 0 {
		return string(out.Stdout), &exitError{code: out.ExitCode, stderr: string(out.Stderr)}
	}
	return string(out.Stdout), nil
}

type exitError struct {
	code   int32
	stderr string
}

func (e *exitError) Error() string { return fmt.Sprintf("exit code %d: %s", e.code, e.stderr) }

var errNotRunning = &exitError{code: -1, stderr: "container not running"}

// TestVolumesAndEnv is Done-when 4 of the node agent: a ConfigMap volume
// follows an edit inside the running pod within a minute; an emptyDir
// written by one container is read by the other; a Secret as an env var
// reaches the process; the downward API gives the pod name and the cpu
// limit (as env and as files).
func TestVolumesAndEnv(t *testing.T) {
	requireHost(t)
	n := startNode(t, false)
	n.waitReady(t)
	ctx := context.Background()
	core := n.client.CoreV1()
	if _, err := core.ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"greeting": "hello", "mode": "fast"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds"}, Data: map[string][]byte{"password": []byte("s3cret")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	shared := []corev1.VolumeMount{{Name: "shared", MountPath: "/shared"}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "vols", Namespace: "default", Labels: map[string]string{"app": "vols"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Volumes: []corev1.Volume{
				{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
				{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
				{Name: "podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
					{Path: "cpu_limit", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "writer", Resource: "limits.cpu", Divisor: resource.MustParse("1m")}},
				}}}},
			},
			Containers: []corev1.Container{
				{
					Name: "writer", Image: images.BusyboxImage,
					Command: []string{"sh", "-c", "echo from-writer > /shared/note; sleep 3600"},
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
					}},
					Env: []corev1.EnvVar{
						{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
						{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
						{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
						{Name: "CPU_LIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "writer", Resource: "limits.cpu", Divisor: resource.MustParse("1m")}}},
						{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "greeting"}}},
						{Name: "MESSAGE", Value: "$(GREETING) from $(POD_NAME)"},
					},
					EnvFrom:      []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
					VolumeMounts: append([]corev1.VolumeMount{{Name: "podinfo", MountPath: "/etc/podinfo"}, {Name: "sec", MountPath: "/etc/creds"}}, shared...),
				},
				{
					Name: "reader", Image: images.BusyboxImage, Command: []string{"sh", "-c", "sleep 3600"},
					VolumeMounts: append([]corev1.VolumeMount{{Name: "cfg", MountPath: "/etc/settings"}}, shared...),
				},
			},
		},
	}
	if _, err := core.Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod vols Running", 2*time.Minute, func() bool {
		p, err := core.Pods("default").Get(ctx, "vols", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != ""
	})
	p, _ := core.Pods("default").Get(ctx, "vols", metav1.GetOptions{})

	var out string
	waitFor(t, "the reader sees the writer's file in the emptyDir", 30*time.Second, func() bool {
		out, _ = n.criExec(t, "vols", "reader", "cat", "/shared/note")
		return strings.TrimSpace(out) == "from-writer"
	})
	env, err := n.criExec(t, "vols", "writer", "env")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"PASSWORD=s3cret", "POD_NAME=vols", "POD_IP=" + p.Status.PodIP, "CPU_LIMIT=500", "GREETING=hello",
		"MESSAGE=hello from vols", "CFG_mode=fast", "KUBERNETES_SERVICE_HOST=", "KUBERNETES_SERVICE_PORT=",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %q:\n%s", want, env)
		}
	}
	if out, err := n.criExec(t, "vols", "writer", "cat", "/etc/podinfo/cpu_limit", "/etc/creds/password"); err != nil || out != "500s3cret" {
		t.Errorf("downwardAPI cpu_limit + secret file = %q, %v", out, err)
	}
	if out, err := n.criExec(t, "vols", "writer", "cat", "/etc/podinfo/labels"); err != nil || out != `app="vols"` {
		t.Errorf("downwardAPI labels = %q, %v", out, err)
	}
	if out, err := n.criExec(t, "vols", "writer", "cat", "/etc/hosts"); err != nil || !strings.Contains(out, p.Status.PodIP+"\tvols") {
		t.Errorf("/etc/hosts = %q, %v", out, err)
	}
	if _, err := n.criExec(t, "vols", "reader", "sh", "-c", "echo x > /etc/settings/greeting"); err == nil {
		t.Error("a configMap volume is writable")
	}

	// The service account's token, CA and namespace, and the token works
	// against the API as the pod's service account.
	token, err := n.criExec(t, "vols", "reader", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/token")
	if err != nil || token == "" {
		t.Fatalf("service account token: %q, %v", token, err)
	}
	if out, err := n.criExec(t, "vols", "reader", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err != nil || out != "default" {
		t.Errorf("service account namespace file = %q, %v", out, err)
	}
	if out, err := n.criExec(t, "vols", "reader", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"); err != nil || !strings.Contains(out, "BEGIN CERTIFICATE") {
		t.Errorf("service account ca.crt = %q, %v", out, err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", filepath.Join(n.dir, "kubeconfig.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	asPod := rest.AnonymousClientConfig(rc)
	asPod.BearerToken = token
	podClient, err := kubernetes.NewForConfig(asPod)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := podClient.CoreV1().Pods("default").Get(ctx, "vols", metav1.GetOptions{}); err != nil {
		t.Errorf("the pod's token does not authenticate: %v", err)
	}

	// kubectl edit, as a user would (the editor rewrites the value).
	edit := exec.Command(skiffBin(t), "kubectl", "--kubeconfig", filepath.Join(n.dir, "kubeconfig.yaml"), "edit", "configmap", "settings")
	edit.Env = append(os.Environ(), "KUBE_EDITOR=sed -i s/greeting:.hello/greeting:\\ bonjour/")
	if out, err := edit.CombinedOutput(); err != nil {
		t.Fatalf("kubectl edit: %v\n%s", err, out)
	}
	edited := time.Now()
	waitFor(t, "the edit inside the running pod", 70*time.Second, func() bool {
		out, _ = n.criExec(t, "vols", "reader", "cat", "/etc/settings/greeting")
		return out == "bonjour"
	})
	t.Logf("configMap edit visible in the pod after %s", time.Since(edited).Round(100*time.Millisecond))

	// A termination message written to terminationMessagePath reaches the
	// container's status.
	bye := busyboxPod("says-bye", corev1.RestartPolicyNever, "echo -n bye > /dev/termination-log; exit 3")
	if _, err := core.Pods("default").Create(ctx, bye, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the termination message in the status", time.Minute, func() bool {
		p, err := core.Pods("default").Get(ctx, "says-bye", metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 {
			return false
		}
		term := p.Status.ContainerStatuses[0].State.Terminated
		return term != nil && term.ExitCode == 3 && term.Message == "bye"
	})

	// Deleting the pod unmounts and removes its volumes.
	uid := p.UID
	if err := core.Pods("default").Delete(ctx, "vols", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod vols gone", time.Minute, func() bool {
		_, err := core.Pods("default").Get(ctx, "vols", metav1.GetOptions{})
		return err != nil
	})
	if mps, _ := mountinfo.Under(filepath.Join(n.dir, "agent", "pods", string(uid))); len(mps) > 0 {
		t.Errorf("mounts left after the pod was deleted: %v", mps)
	}
}
