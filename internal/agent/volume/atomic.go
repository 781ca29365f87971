package volume

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File is one file of a projected volume (configMap, secret, downwardAPI,
// projected).
type File struct {
	Data []byte
	Mode os.FileMode
}

const (
	dataLink    = "..data"
	newDataLink = "..data_tmp"
)

// writeAtomic makes dir hold exactly files, the way upstream's kubelet
// lays projected volumes out so that a reader never sees a half-updated
// set: the files live in a hidden timestamped directory, "..data" points
// at it, and every visible name is a symlink through "..data". An update
// writes a new timestamped directory and swaps "..data" with one rename.
// It reports whether anything changed.
func writeAtomic(dir string, files map[string]File) (bool, error) {
	for name := range files {
		if err := validPath(name); err != nil {
			return false, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	old, _ := os.Readlink(filepath.Join(dir, dataLink))
	if old != "" && sameContent(filepath.Join(dir, old), files) {
		return false, nil
	}
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, err
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		return false, err
	}
	for name, f := range files {
		p := filepath.Join(ts, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return false, err
		}
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			return false, err
		}
		if err := os.Chmod(p, f.Mode); err != nil { // WriteFile's mode is masked by the umask
			return false, err
		}
	}
	tmp := filepath.Join(dir, newDataLink)
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		return false, err
	}
	// The visible names: one symlink per top-level entry, through ..data.
	top := map[string]bool{}
	for name := range files {
		top[strings.SplitN(name, "/", 2)[0]] = true
	}
	for t := range top {
		link := filepath.Join(dir, t)
		if target, err := os.Readlink(link); err == nil && target == filepath.Join(dataLink, t) {
			continue
		}
		_ = os.RemoveAll(link)
		if err := os.Symlink(filepath.Join(dataLink, t), link); err != nil {
			return false, err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == dataLink || name == filepath.Base(ts):
		case strings.HasPrefix(name, ".."):
			_ = os.RemoveAll(filepath.Join(dir, name)) // the previous timestamped dir
		case !top[name]:
			_ = os.Remove(filepath.Join(dir, name)) // a key that went away
		}
	}
	return true, nil
}

// sameContent says whether dir already holds exactly files.
func sameContent(dir string, files map[string]File) bool {
	var have []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		have = append(have, rel)
		return nil
	})
	if err != nil || len(have) != len(files) {
		return false
	}
	for _, rel := range have {
		f, ok := files[rel]
		if !ok {
			return false
		}
		st, err := os.Stat(filepath.Join(dir, rel))
		if err != nil || st.Mode().Perm() != f.Mode.Perm() {
			return false
		}
		data, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil || !bytes.Equal(data, f.Data) {
			return false
		}
	}
	return true
}

// validPath refuses the item paths upstream refuses: absolute, with "..",
// or starting with "..".
func validPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("invalid path: must not be empty")
	case filepath.IsAbs(p):
		return fmt.Errorf("invalid path %q: must be relative", p)
	case strings.HasPrefix(p, ".."):
		return fmt.Errorf("invalid path %q: must not start with '..'", p)
	case slices.Contains(strings.Split(p, "/"), ".."):
		return fmt.Errorf("invalid path %q: must not contain '..'", p)
	}
	return nil
}
