package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fakeRuntime answers the CRI calls the log handler makes.
type fakeRuntime struct {
	runtimeapi.RuntimeServiceClient
	containers []*runtimeapi.Container
	logs       map[string]string // container ID -> log path
}

func (f *fakeRuntime) ListContainers(_ context.Context, req *runtimeapi.ListContainersRequest, _ ...grpc.CallOption) (*runtimeapi.ListContainersResponse, error) {
	var out []*runtimeapi.Container
	for _, c := range f.containers {
		match := true
		for k, v := range req.GetFilter().GetLabelSelector() {
			if c.Labels[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, c)
		}
	}
	return &runtimeapi.ListContainersResponse{Containers: out}, nil
}

func (f *fakeRuntime) ContainerStatus(_ context.Context, req *runtimeapi.ContainerStatusRequest, _ ...grpc.CallOption) (*runtimeapi.ContainerStatusResponse, error) {
	for _, c := range f.containers {
		if c.Id == req.ContainerId {
			return &runtimeapi.ContainerStatusResponse{Status: &runtimeapi.ContainerStatus{Id: c.Id, State: c.State, LogPath: f.logs[c.Id]}}, nil
		}
	}
	return nil, apierrors.NewNotFound(corev1.Resource("container"), req.ContainerId)
}

func TestServeLogs(t *testing.T) {
	dir := t.TempDir()
	rt := &fakeRuntime{logs: map[string]string{}}
	for i, id := range []string{"c0", "c1"} {
		state := runtimeapi.ContainerState_CONTAINER_EXITED
		if id == "c1" {
			state = runtimeapi.ContainerState_CONTAINER_RUNNING
		}
		rt.containers = append(rt.containers, &runtimeapi.Container{Id: id, State: state,
			Metadata: &runtimeapi.ContainerMetadata{Name: "c", Attempt: uint32(i)},
			Labels:   map[string]string{labelPodUID: "uid1", labelContainerName: "c"}})
		p := filepath.Join(dir, id+".log")
		rt.logs[id] = p
		if err := writeFile(p, "2026-01-02T10:00:00Z stdout F from "+id+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	pods := map[string]*corev1.Pod{
		"p": {ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid1"}},
		"withstatus": {ObjectMeta: metav1.ObjectMeta{Name: "withstatus", Namespace: "default", UID: "uid1"},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
				Name: "c", ContainerID: "containerd://c1", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: "containerd://c0"}},
			}}}},
		"fresh": {ObjectMeta: metav1.ObjectMeta{Name: "fresh", Namespace: "default", UID: "uid2"}},
	}
	s := New(Config{Runtime: rt, Logger: slog.New(slog.DiscardHandler), Pod: func(ns, name string) (*corev1.Pod, error) {
		if p, ok := pods[name]; ok && ns == "default" {
			return p, nil
		}
		return nil, apierrors.NewNotFound(corev1.Resource("pods"), name)
	}})
	client := &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{Subject: pkix.Name{CommonName: KubeletClientCN}}}}}
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/containerLogs/default/p/c", 200, "from c1\n"},
		{"/containerLogs/default/p/c?previous=true", 200, "from c0\n"},
		{"/containerLogs/default/withstatus/c?timestamps=true", 200, "2026-01-02T10:00:00Z from c1\n"},
		{"/containerLogs/default/withstatus/c?previous=1", 200, "from c0\n"},
		{"/containerLogs/default/fresh/c", 400, `container "c" in pod "fresh" is waiting to start: ContainerCreating`},
		{"/containerLogs/default/fresh/c?previous=true", 400, `previous terminated container "c" in pod "fresh" not found`},
		{"/containerLogs/default/nope/c", 404, `pods "nope" not found`},
		{"/containerLogs/default/p/c?tailLines=x", 400, `invalid tailLines "x"`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			req.TLS = client
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("%d %q, want %d %q", rec.Code, rec.Body.String(), tc.code, tc.body)
			}
		})
	}
}

func TestStatusContainerID(t *testing.T) {
	term := func(id string) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: id}}
	}
	waiting := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
	for _, tc := range []struct {
		name     string
		st       corev1.ContainerStatus
		previous bool
		want     string
	}{
		{"running", corev1.ContainerStatus{Name: "c", ContainerID: "containerd://a", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}, false, "a"},
		{"previous", corev1.ContainerStatus{Name: "c", ContainerID: "containerd://b", LastTerminationState: term("containerd://a")}, true, "a"},
		{"crash loop shows the last instance", corev1.ContainerStatus{Name: "c", State: waiting, LastTerminationState: term("containerd://a")}, false, "a"},
		{"waiting without a past", corev1.ContainerStatus{Name: "c", State: waiting}, false, ""},
		{"no previous", corev1.ContainerStatus{Name: "c", ContainerID: "containerd://b"}, true, ""},
		{"other container", corev1.ContainerStatus{Name: "d", ContainerID: "containerd://b", State: term("containerd://b")}, false, ""},
	} {
		pod := &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{tc.st}}}
		if got := statusContainerID(pod, "c", tc.previous); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
