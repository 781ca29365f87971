// Package mountinfo reads this process's mount table
// (/proc/self/mountinfo) to find and undo the mounts below a directory:
// pod volumes, container root filesystems, a node's whole data dir.
package mountinfo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
)

// Under lists the mount points at or below dir, deepest first (the order
// they can be unmounted in), each once.
func Under(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return under(f, dir)
}

func under(r io.Reader, dir string) ([]string, error) {
	dir = strings.TrimSuffix(dir, "/")
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescape(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(out), sc.Err()
}

// IsMountPoint says whether dir itself is a mount point.
func IsMountPoint(dir string) (bool, error) {
	mps, err := Under(dir)
	if err != nil {
		return false, err
	}
	return slices.Contains(mps, strings.TrimSuffix(dir, "/")), nil
}

// UnmountUnder lazily unmounts everything strictly below dir, deepest
// first; a mount that is already gone is no error.
func UnmountUnder(dir string) error {
	mps, err := Under(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, mp := range mps {
		if mp == strings.TrimSuffix(dir, "/") {
			continue
		}
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", mp, err))
		}
	}
	return errors.Join(errs...)
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
