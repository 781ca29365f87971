package agent

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Upstream's default hard eviction thresholds, which also decide the
// node's pressure conditions: memory.available<100Mi,
// nodefs.available<10%, nodefs.inodesFree<5%; for PIDs, fewer than 5% of
// kernel.pid_max left.
const (
	memoryAvailableMin = 100 << 20
	diskAvailableMin   = 0.10
	inodesFreeMin      = 0.05
	pidsAvailableMin   = 0.05
)

// usage is what the pressure conditions are judged on.
type usage struct {
	memAvailable            int64
	diskAvail, diskTotal    uint64
	inodesFree, inodesTotal uint64
	tasks, pidMax           int64
}

// pressure is the node's memory, disk and PID pressure.
type pressure struct{ memory, disk, pid bool }

func (u usage) pressure() pressure {
	var p pressure
	p.memory = u.memAvailable >= 0 && u.memAvailable < memoryAvailableMin
	if u.diskTotal > 0 {
		p.disk = float64(u.diskAvail) < diskAvailableMin*float64(u.diskTotal)
	}
	if u.inodesTotal > 0 {
		p.disk = p.disk || float64(u.inodesFree) < inodesFreeMin*float64(u.inodesTotal)
	}
	if u.pidMax > 0 {
		p.pid = float64(u.pidMax-u.tasks) < pidsAvailableMin*float64(u.pidMax)
	}
	return p
}

// measureUsage reads the machine's memory, the file system of dir (where
// the agent keeps containerd's images and the pods' files) and the number
// of tasks; what cannot be read counts as no pressure.
func measureUsage(dir string) usage {
	u := usage{memAvailable: -1}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemAvailable:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					u.memAvailable = kb << 10
				}
			}
		}
	}
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) == nil {
		u.diskAvail, u.diskTotal = st.Bavail*uint64(st.Bsize), st.Blocks*uint64(st.Bsize)
		u.inodesFree, u.inodesTotal = st.Ffree, st.Files
	}
	// /proc/loadavg's fourth field is runnable/total scheduling entities.
	if f := strings.Fields(readTrim("/proc/loadavg")); len(f) >= 4 {
		if _, total, ok := strings.Cut(f[3], "/"); ok {
			u.tasks, _ = strconv.ParseInt(total, 10, 64)
		}
	}
	u.pidMax, _ = strconv.ParseInt(readTrim("/proc/sys/kernel/pid_max"), 10, 64)
	return u
}
