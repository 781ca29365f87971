package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Runtime is the part of the CRI the agent uses: the generated gRPC
// clients of runtime.v1, so that any CRI runtime (containerd, CRI-O) or an
// in-memory fake server can sit behind it.
type Runtime struct {
	runtimeapi.RuntimeServiceClient
	runtimeapi.ImageServiceClient
	conn *grpc.ClientConn
}

// DialRuntime connects to a CRI endpoint such as
// unix:///run/containerd/containerd.sock (a bare path means unix://).
func DialRuntime(endpoint string) (*Runtime, error) {
	if !strings.Contains(endpoint, "://") {
		endpoint = "unix://" + endpoint
	}
	conn, err := grpc.NewClient(endpoint,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
	if err != nil {
		return nil, fmt.Errorf("CRI endpoint %s: %w", endpoint, err)
	}
	return &Runtime{
		RuntimeServiceClient: runtimeapi.NewRuntimeServiceClient(conn),
		ImageServiceClient:   runtimeapi.NewImageServiceClient(conn),
		conn:                 conn,
	}, nil
}

// Close closes the connection.
func (r *Runtime) Close() error { return r.conn.Close() }

// waitVersion calls Version until the runtime answers or ctx ends.
func (r *Runtime) waitVersion(ctx context.Context) (*runtimeapi.VersionResponse, error) {
	var lastErr error
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := r.Version(cctx, &runtimeapi.VersionRequest{})
		cancel()
		if err == nil {
			return v, nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("container runtime not answering: %w", lastErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
