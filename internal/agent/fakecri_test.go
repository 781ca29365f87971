package agent

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	critest "k8s.io/cri-api/pkg/apis/testing"
)

// fakeCRI serves cri-api's in-memory fake runtime and image services over
// gRPC on a unix socket, so the agent talks to it exactly as to containerd.
type fakeCRI struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer
	rt  *critest.FakeRuntimeService
	img *critest.FakeImageService

	execMu sync.Mutex
	// execFn, when set, answers ExecSync (probes and hooks).
	execFn func(id string, cmd []string) ([]byte, int32, error)
	// stopped lists the names of the containers StopContainer was called
	// for, in order.
	stopped []string
}

var (
	_ runtimeapi.RuntimeServiceServer = (*fakeCRI)(nil)
	_ runtimeapi.ImageServiceServer   = (*fakeCRI)(nil)
)

// startFakeCRI serves a fake CRI until the test ends and returns its
// endpoint.
func startFakeCRI(t *testing.T) (*fakeCRI, string) {
	t.Helper()
	f := &fakeCRI{rt: critest.NewFakeRuntimeService(), img: critest.NewFakeImageService()}
	sock := filepath.Join(t.TempDir(), "cri.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, f)
	runtimeapi.RegisterImageServiceServer(srv, f)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return f, "unix://" + sock
}

func (f *fakeCRI) Version(ctx context.Context, r *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return f.rt.Version(ctx, r.Version)
}

func (f *fakeCRI) Status(ctx context.Context, r *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	return f.rt.Status(ctx, r.Verbose)
}

func (f *fakeCRI) RunPodSandbox(ctx context.Context, r *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	id, err := f.rt.RunPodSandbox(ctx, r.Config, r.RuntimeHandler)
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: id}, err
}

func (f *fakeCRI) StopPodSandbox(ctx context.Context, r *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	return &runtimeapi.StopPodSandboxResponse{}, f.rt.StopPodSandbox(ctx, r.PodSandboxId)
}

func (f *fakeCRI) RemovePodSandbox(ctx context.Context, r *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	return &runtimeapi.RemovePodSandboxResponse{}, f.rt.RemovePodSandbox(ctx, r.PodSandboxId)
}

func (f *fakeCRI) PodSandboxStatus(ctx context.Context, r *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	return f.rt.PodSandboxStatus(ctx, r.PodSandboxId, r.Verbose)
}

func (f *fakeCRI) ListPodSandbox(ctx context.Context, r *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	items, err := f.rt.ListPodSandbox(ctx, r.Filter)
	return &runtimeapi.ListPodSandboxResponse{Items: items}, err
}

func (f *fakeCRI) CreateContainer(ctx context.Context, r *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	id, err := f.rt.CreateContainer(ctx, r.PodSandboxId, r.Config, r.SandboxConfig)
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, err
}

func (f *fakeCRI) StartContainer(ctx context.Context, r *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	return &runtimeapi.StartContainerResponse{}, f.rt.StartContainer(ctx, r.ContainerId)
}

func (f *fakeCRI) StopContainer(ctx context.Context, r *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	f.rt.Lock()
	name := ""
	if c, ok := f.rt.Containers[r.ContainerId]; ok {
		name = c.Metadata.GetName()
	}
	f.rt.Unlock()
	f.execMu.Lock()
	f.stopped = append(f.stopped, name)
	f.execMu.Unlock()
	return &runtimeapi.StopContainerResponse{}, f.rt.StopContainer(ctx, r.ContainerId, r.Timeout)
}

func (f *fakeCRI) ListContainers(ctx context.Context, r *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	cs, err := f.rt.ListContainers(ctx, r.Filter)
	return &runtimeapi.ListContainersResponse{Containers: cs}, err
}

func (f *fakeCRI) ContainerStatus(ctx context.Context, r *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	return f.rt.ContainerStatus(ctx, r.ContainerId, r.Verbose)
}

func (f *fakeCRI) ImageStatus(ctx context.Context, r *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	return f.img.ImageStatus(ctx, r.Image, r.Verbose)
}

func (f *fakeCRI) PullImage(ctx context.Context, r *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	ref, err := f.img.PullImage(ctx, r.Image, r.Auth, r.SandboxConfig)
	return &runtimeapi.PullImageResponse{ImageRef: ref}, err
}

// exit marks a container exited with code, as if its process ended.
func (f *fakeCRI) exit(id string, code int32) {
	f.rt.Lock()
	defer f.rt.Unlock()
	if c, ok := f.rt.Containers[id]; ok {
		c.State = runtimeapi.ContainerState_CONTAINER_EXITED
		c.ExitCode = code
		c.FinishedAt = c.StartedAt + 1
	}
}

func (f *fakeCRI) ListImages(ctx context.Context, r *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	imgs, err := f.img.ListImages(ctx, r.Filter)
	return &runtimeapi.ListImagesResponse{Images: imgs}, err
}

func (f *fakeCRI) ExecSync(_ context.Context, r *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	f.execMu.Lock()
	fn := f.execFn
	f.execMu.Unlock()
	if fn == nil {
		return &runtimeapi.ExecSyncResponse{}, nil
	}
	out, code, err := fn(r.ContainerId, r.Cmd)
	return &runtimeapi.ExecSyncResponse{Stdout: out, ExitCode: code}, err
}

// setExec sets how ExecSync answers.
func (f *fakeCRI) setExec(fn func(id string, cmd []string) ([]byte, int32, error)) {
	f.execMu.Lock()
	defer f.execMu.Unlock()
	f.execFn = fn
}

// stoppedNames is what StopContainer was called for so far.
func (f *fakeCRI) stoppedNames() []string {
	f.execMu.Lock()
	defer f.execMu.Unlock()
	return append([]string(nil), f.stopped...)
}
