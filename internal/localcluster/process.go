package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/client-go/tools/clientcmd"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"skiff/internal/mountinfo"
)

// args are the node's command line (after the binary).
func (c *Cluster) args(n Node) []string {
	common := []string{
		"--agent-data-dir", filepath.Join(n.Dir, "agent"),
		"--pod-logs-dir", filepath.Join(n.Dir, "pods"),
		"--node-name", n.Name,
	}
	if n.Server {
		a := append([]string{"server", "--data-dir", filepath.Join(n.Dir, "server"),
			"--advertise-address", n.IP, "--tls-san", n.IP,
			"--write-kubeconfig", filepath.Join(n.Dir, "server", "admin.yaml")}, common...)
		return append(a, c.cfg.ServerArgs...)
	}
	srv := c.Server()
	a := append([]string{"agent", "--server", "https://" + srv.IP + ":6443",
		"--token-file", filepath.Join(srv.Dir, "server", "token"), "--node-ip", n.IP}, common...)
	return append(a, c.cfg.AgentArgs...)
}

func pidPath(n Node) string { return filepath.Join(n.Dir, "pid") }

// pid is the node's skiff process, 0 when it is not running.
func (c *Cluster) pid(n Node) int {
	// A process this Cluster started is known without /proc: right after
	// the start it is still passing through nsenter's execve, when its
	// command line reads empty for a moment.
	c.mu.Lock()
	ch, ok := c.children[n.Name]
	c.mu.Unlock()
	if ok {
		select {
		case <-ch.exited:
			return 0
		default:
			return ch.pid
		}
	}
	data, err := os.ReadFile(pidPath(n))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0
	}
	// The PID may have been reused after a reboot: it is ours only if its
	// command line names this node.
	if !cmdlineNames(pid, n.Name) {
		return 0
	}
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if f := statFields(string(stat)); len(f) > 0 && f[0] == "Z" {
			return 0
		}
	}
	return pid
}

// cmdlineNames says whether the process's command line carries
// --node-name name. An empty command line (a process between execve's
// steps, or a kernel thread) is read again a few times.
func cmdlineNames(pid int, name string) bool {
	for range 5 {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			return false
		}
		if len(cmdline) > 0 {
			return strings.Contains(string(cmdline), "\x00--node-name\x00"+name+"\x00")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func (c *Cluster) running(n Node) bool { return c.pid(n) != 0 }

// StartNode starts the node's process in its namespace unless it runs.
func (c *Cluster) StartNode(n Node) error {
	if c.running(n) {
		return nil
	}
	if err := c.setupNode(n); err != nil {
		return err
	}
	logf, err := os.OpenFile(logPath(n), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	// nsenter enters the namespace and execs skiff in place: the PID is
	// skiff's. Only the network namespace: a fresh `ip netns exec` mount
	// namespace would hide the cgroup hierarchy runc needs.
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + n.Netns, c.cfg.Binary}, c.args(n)...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting node %s: %w", n.Name, err)
	}
	c.adopt(n, cmd)
	if err := os.WriteFile(pidPath(n), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(c.cfg.Out, "started %s (pid %d)\n", n.Name, cmd.Process.Pid)
	return nil
}

// adopt records a node process this Cluster started. It is reaped while
// this process lives, and adopted by init when it exits.
func (c *Cluster) adopt(n Node, cmd *exec.Cmd) {
	ch := child{pid: cmd.Process.Pid, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(ch.exited) }()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.children == nil {
		c.children = map[string]child{}
	}
	c.children[n.Name] = ch
}

// StopNode stops the node's process gracefully (SIGTERM, then SIGKILL
// after grace); its containers keep running, as after a kubelet restart.
func (c *Cluster) StopNode(n Node, grace time.Duration) error {
	pid := c.pid(n)
	if pid == 0 {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if waitGone([]int{pid}, grace) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if !waitGone([]int{pid}, 10*time.Second) {
		return fmt.Errorf("node %s (pid %d) did not exit", n.Name, pid)
	}
	return nil
}

// KillNode kills, with SIGKILL, everything the node runs: its skiff
// process, its containerd and every container — a machine that died.
func (c *Cluster) KillNode(n Node) error {
	pids := c.nodeProcesses(n)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if !waitGone(pids, 10*time.Second) {
		return fmt.Errorf("processes of node %s still running after SIGKILL", n.Name)
	}
	return nil
}

// nodeProcesses is the node's skiff process, every process in its
// network namespace, and all their descendants (containers live in their
// pods' namespaces, below the shims).
func (c *Cluster) nodeProcesses(n Node) []int {
	procs := listProcs()
	roots := map[int]bool{}
	if pid := c.pid(n); pid != 0 {
		roots[pid] = true
	}
	if st, err := os.Stat("/run/netns/" + n.Netns); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			want := fmt.Sprintf("net:[%d]", sys.Ino)
			for pid := range procs {
				if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && l == want {
					roots[pid] = true
				}
			}
		}
	}
	children := map[int][]int{}
	for pid, ppid := range procs {
		children[ppid] = append(children[ppid], pid)
	}
	var out []int
	seen := map[int]bool{}
	var walk func(int)
	walk = func(pid int) {
		if seen[pid] || pid == os.Getpid() {
			return
		}
		seen[pid] = true
		out = append(out, pid)
		for _, ch := range children[pid] {
			walk(ch)
		}
	}
	for pid := range roots {
		walk(pid)
	}
	sort.Ints(out)
	return out
}

// listProcs maps every live process to its parent.
func listProcs() map[int]int {
	out := map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		f := statFields(string(data))
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			out[pid] = ppid
		}
	}
	return out
}

// statFields are the fields of /proc/PID/stat after the command name
// (which may hold spaces): state, ppid, ...
func statFields(stat string) []string {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(stat[i+1:])
}

// waitGone waits until none of pids is alive (zombies count as gone).
func waitGone(pids []int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		alive := false
		for _, pid := range pids {
			data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			if f := statFields(string(data)); len(f) > 0 && f[0] != "Z" {
				alive = true
				break
			}
		}
		if !alive {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Down stops the cluster and removes everything it made on the host:
// pods, processes, mounts, namespaces, links, the bridge and the host
// table; with keepState the state dir stays and Up resumes the cluster.
func Down(ctx context.Context, cfg Config, keepState bool) error {
	c, err := Open(cfg)
	if err != nil {
		return err
	}
	if !c.Exists {
		return fmt.Errorf("no cluster in %s (nothing to stop)", c.cfg.Dir)
	}
	var errs []error
	// Freeze the node processes so that no agent re-creates what is
	// removed below; their containerd keeps serving.
	for _, n := range c.Nodes {
		if pid := c.pid(n); pid != 0 {
			_ = syscall.Kill(pid, syscall.SIGSTOP)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, n := range c.Nodes {
		wg.Add(1)
		go func(n Node) {
			defer wg.Done()
			if err := c.removePods(ctx, n); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("node %s: removing pods: %w", n.Name, err))
				mu.Unlock()
			}
		}(n)
	}
	wg.Wait()
	for _, n := range c.Nodes {
		pids := c.nodeProcesses(n)
		if pid := c.pid(n); pid != 0 {
			// A graceful end lets etcd and containerd close their files.
			_ = syscall.Kill(pid, syscall.SIGTERM)
			_ = syscall.Kill(pid, syscall.SIGCONT)
			waitGone([]int{pid}, 30*time.Second)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if !waitGone(pids, 10*time.Second) {
			errs = append(errs, fmt.Errorf("node %s: processes still running", n.Name))
		}
		errs = append(errs, mountinfo.UnmountUnder(n.Dir), c.teardownNode(n))
		_ = os.Remove(pidPath(n))
		fmt.Fprintf(c.cfg.Out, "stopped %s\n", n.Name)
	}
	errs = append(errs, c.teardownHost())
	if p := c.cfg.WriteKubeconfig; p != "" && pointsTo(p, c.Server().IP) {
		_ = os.Remove(p)
		_ = os.Remove(filepath.Dir(p)) // only if Up made it and it is empty now
	}
	if !keepState {
		if err := os.RemoveAll(c.cfg.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removePods stops and removes every pod sandbox of the node's
// containerd, so that its containers end and their network namespaces and
// mounts go. A node that was killed has no containerd running: one is
// started on the node's config for the cleanup (it is stopped with the
// node's other processes).
func (c *Cluster) removePods(ctx context.Context, n Node) error {
	dir := filepath.Join(n.Dir, "agent", "containerd")
	conf := filepath.Join(dir, "config.toml")
	if _, err := os.Stat(conf); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+filepath.Join(dir, "containerd.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	list := func() (*runtimeapi.ListPodSandboxResponse, error) {
		lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
		defer lcancel()
		return rt.ListPodSandbox(lctx, &runtimeapi.ListPodSandboxRequest{})
	}
	resp, err := list()
	if err != nil {
		// Its pods' network links were in the node's namespace: it must
		// exist for their removal (Down deletes it after).
		if !netnsExists(n.Netns) {
			if err := ip("netns", "add", n.Netns); err != nil {
				return err
			}
		}
		cmd := exec.Command("nsenter", "--net=/run/netns/"+n.Netns, "containerd", "--config", conf)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		var logBuf strings.Builder
		cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting containerd for the cleanup: %w", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		defer func() { _ = cmd.Process.Kill(); <-exited }()
		for resp == nil {
			if resp, err = list(); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("containerd for the cleanup: %w", err)
			case <-exited:
				return fmt.Errorf("containerd for the cleanup exited: %s", tailString(logBuf.String(), 5))
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	var errs []error
	for _, sb := range resp.Items {
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// tailString is the last lines of s.
func tailString(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// pointsTo says whether the kubeconfig at path is this cluster's (its
// server is the server node's address), so Down removes no other.
func pointsTo(path, serverIP string) bool {
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return false
	}
	for _, cl := range cfg.Clusters {
		if cl.Server == "https://"+net.JoinHostPort(serverIP, "6443") {
			return true
		}
	}
	return false
}
