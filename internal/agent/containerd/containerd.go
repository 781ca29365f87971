// Package containerd supervises the node's own containerd: it writes a
// config whose root, state, socket and CNI config dir live under the agent
// data dir (CRI plugin on, sandbox image = skiff's pause image), runs
// containerd as a child process, restarts it when it dies and stops it when
// the agent stops. Containers keep running across containerd restarts:
// their shims are separate processes.
package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Config says where containerd keeps its files and what it runs.
type Config struct {
	// Dir is the base directory: root/, state/, containerd.sock,
	// config.toml and containerd.log go under it.
	Dir string
	// Binary is the containerd executable (default: containerd on PATH).
	Binary string
	// SandboxImage is the CRI plugin's pause image.
	SandboxImage string
	// CNIBinDir holds CNI plugins (default /usr/lib/cni); CNIConfDir the
	// network config the agent writes.
	CNIBinDir, CNIConfDir string
	// SystemdCgroup makes runc use the systemd cgroup driver.
	SystemdCgroup bool
	Logger        *slog.Logger
}

// Supervisor runs containerd.
type Supervisor struct {
	cfg   Config
	ready chan struct{}
}

// New returns a supervisor for cfg; nothing runs before Run.
func New(cfg Config) *Supervisor {
	if cfg.Binary == "" {
		cfg.Binary = "containerd"
	}
	if cfg.CNIBinDir == "" {
		cfg.CNIBinDir = "/usr/lib/cni"
	}
	if cfg.CNIConfDir == "" {
		cfg.CNIConfDir = filepath.Join(cfg.Dir, "cni", "net.d")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Supervisor{cfg: cfg, ready: make(chan struct{})}
}

// Address is the gRPC (CRI) socket path.
func (s *Supervisor) Address() string { return filepath.Join(s.cfg.Dir, "containerd.sock") }

// Endpoint is Address as a CRI endpoint URL.
func (s *Supervisor) Endpoint() string { return "unix://" + s.Address() }

// Ready is closed once containerd first answers on its socket.
func (s *Supervisor) Ready() <-chan struct{} { return s.ready }

// ConfigTOML renders containerd's config (version 2, containerd 1.6+).
func (s *Supervisor) ConfigTOML() string {
	q := func(v string) string { return fmt.Sprintf("%q", v) }
	cri := `plugins."io.containerd.grpc.v1.cri"`
	lines := []string{
		"version = 2",
		"root = " + q(filepath.Join(s.cfg.Dir, "root")),
		"state = " + q(filepath.Join(s.cfg.Dir, "state")),
		"",
		"[grpc]",
		"  address = " + q(s.Address()),
		"",
		`[plugins."io.containerd.internal.v1.opt"]`,
		"  path = " + q(filepath.Join(s.cfg.Dir, "opt")),
		"",
		"[" + cri + "]",
		"  sandbox_image = " + q(s.cfg.SandboxImage),
		`  stream_server_address = "127.0.0.1"`,
		`  stream_server_port = "0"`,
		"  enable_selinux = false",
		// Never ask for an oom_score_adj below containerd's own: where
		// lowering it is refused (containers, some VMs) runc would fail
		// to start every sandbox (the CRI asks -998 for them).
		"  restrict_oom_score_adj = true",
		"[" + cri + ".containerd]",
		`  snapshotter = "overlayfs"`,
		`  default_runtime_name = "runc"`,
		"[" + cri + `.containerd.runtimes.runc]`,
		`  runtime_type = "io.containerd.runc.v2"`,
		"[" + cri + `.containerd.runtimes.runc.options]`,
		fmt.Sprintf("  SystemdCgroup = %t", s.cfg.SystemdCgroup),
		"[" + cri + ".cni]",
		"  bin_dir = " + q(s.cfg.CNIBinDir),
		"  conf_dir = " + q(s.cfg.CNIConfDir),
		"",
	}
	return strings.Join(lines, "\n")
}

// Run starts containerd and keeps it running until ctx ends, then stops it
// (SIGTERM, SIGKILL after 10 s). A containerd that exits is restarted with
// a back-off of up to 30 s.
func (s *Supervisor) Run(ctx context.Context) error {
	if _, err := exec.LookPath(s.cfg.Binary); err != nil {
		return fmt.Errorf("%w (install the containerd package, e.g. with hack/install-deps.sh, or give --container-runtime-endpoint, or run the server with --disable-agent)", err)
	}
	for _, d := range []string{s.cfg.Dir, s.cfg.CNIConfDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	cfgPath := filepath.Join(s.cfg.Dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(s.ConfigTOML()), 0o600); err != nil {
		return err
	}
	log := s.cfg.Logger
	backoff := time.Second
	readyOnce := false
	for {
		started := time.Now()
		err := s.runOnce(ctx, cfgPath, func() {
			if !readyOnce {
				readyOnce = true
				close(s.ready)
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		log.Error("containerd exited; restarting", "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (s *Supervisor) runOnce(ctx context.Context, cfgPath string, onReady func()) error {
	logFile, err := os.OpenFile(filepath.Join(s.cfg.Dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	// A stale socket from a killed containerd would make the readiness
	// check pass before the new one listens.
	_ = os.Remove(s.Address())
	cmd := exec.Command(s.cfg.Binary, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// containerd dies with the agent; the containers do not (their shims
	// are not its children in the process-group sense and keep running).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	// Pdeathsig fires when the forking OS thread exits, so that thread
	// stays locked to this goroutine while containerd runs.
	exited := make(chan error, 1)
	startErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			startErr <- err
			return
		}
		startErr <- nil
		exited <- cmd.Wait()
	}()
	if err := <-startErr; err != nil {
		return err
	}
	s.cfg.Logger.Info("containerd started", "pid", cmd.Process.Pid, "address", s.Address())
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	ready := false
	for {
		select {
		case err := <-exited:
			if err == nil {
				err = errors.New("exited with status 0")
			}
			return err
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				s.cfg.Logger.Debug("containerd exited", "err", err)
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				err := <-exited
				s.cfg.Logger.Debug("containerd killed", "err", err)
			}
			s.cfg.Logger.Info("containerd stopped", "pid", cmd.Process.Pid)
			return nil
		case <-tick.C:
			if ready {
				continue
			}
			if c, err := net.DialTimeout("unix", s.Address(), time.Second); err == nil {
				c.Close()
				ready = true
				onReady()
			}
		}
	}
}

// ImportImage loads a docker or OCI archive into the k8s.io namespace (the
// CRI plugin's) with the ctr CLI shipped with containerd.
func ImportImage(ctx context.Context, address, archive string) error {
	out, err := exec.CommandContext(ctx, "ctr", "--address", address, "-n", "k8s.io", "images", "import", archive).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import %s: %w: %s", archive, err, strings.TrimSpace(string(out)))
	}
	return nil
}
