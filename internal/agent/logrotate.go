package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// rotateLogs rotates the logs of running containers that outgrew
// ContainerLogMaxSize, as upstream's kubelet does: the file is renamed with
// a timestamp suffix, the runtime reopens the log path, and only the newest
// ContainerLogMaxFiles files (the live one included) are kept.
func (a *Agent) rotateLogs(ctx context.Context) {
	resp, err := a.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
	}})
	if err != nil {
		return
	}
	for _, c := range resp.Containers {
		st, err := a.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
		if err != nil || st.Status.GetLogPath() == "" {
			continue
		}
		reopen := func() error {
			_, err := a.rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: c.Id})
			return err
		}
		if err := rotateLog(st.Status.LogPath, a.cfg.ContainerLogMaxSize, a.cfg.ContainerLogMaxFiles, time.Now(), reopen); err != nil {
			a.log.Warn("rotating a container log", "container", c.Id, "path", st.Status.LogPath, "err", err)
		}
	}
}

// rotateLog rotates path when it is larger than maxSize and prunes the
// rotated files beyond maxFiles-1.
func rotateLog(path string, maxSize int64, maxFiles int, now time.Time, reopen func() error) error {
	st, err := os.Stat(path)
	if err != nil || st.Size() <= maxSize {
		return nil
	}
	rotated := path + "." + now.UTC().Format("20060102-150405.000000000")
	if err := os.Rename(path, rotated); err != nil {
		return err
	}
	if err := reopen(); err != nil {
		// The runtime still writes to the renamed file: put it back.
		if rerr := os.Rename(rotated, path); rerr != nil {
			return fmt.Errorf("reopening the log: %v; and putting it back: %w", err, rerr)
		}
		return fmt.Errorf("reopening the log: %w", err)
	}
	old, err := filepath.Glob(path + ".*")
	if err != nil {
		return err
	}
	sort.Strings(old) // timestamps sort in time order
	for len(old) > max(maxFiles-1, 0) {
		if err := os.Remove(old[0]); err != nil && !os.IsNotExist(err) {
			return err
		}
		old = old[1:]
	}
	return nil
}
