// Package images writes container images without a registry: docker-archive
// tarballs (what `ctr images import` and `docker load` accept) built from
// files on this machine, among them skiff's own pause image and a busybox
// image for tests.
package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Names of the images skiff provides itself.
const (
	// PauseImage is the sandbox image the agent's containerd is configured with.
	PauseImage = "docker.io/skiff/pause:3.10"
	// BusyboxImage is a busybox-static shell image, for tests and debugging.
	BusyboxImage = "docker.io/skiff/busybox:1.36"
)

// File is one entry of an image layer.
type File struct {
	Path     string // absolute path inside the image
	Mode     os.FileMode
	Data     []byte // regular file content
	Linkname string // symlink target (Mode has os.ModeSymlink)
}

// Image is a single-layer image.
type Image struct {
	Ref        string // e.g. docker.io/skiff/pause:3.10
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	// Ports are exposed ports such as "8080/tcp".
	Ports []string
	Files []File
}

// WriteArchive writes img as a docker-archive tarball to w.
func WriteArchive(w io.Writer, img Image) error {
	layer, err := layerTar(img.Files)
	if err != nil {
		return err
	}
	layerSum := sha256.Sum256(layer)
	layerID := hex.EncodeToString(layerSum[:])
	env := img.Env
	hasPath := false
	for _, e := range env {
		hasPath = hasPath || strings.HasPrefix(e, "PATH=")
	}
	if !hasPath {
		env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	}
	cfg := map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"created":      time.Unix(0, 0).UTC().Format(time.RFC3339),
		"config": map[string]any{
			"Entrypoint": img.Entrypoint,
			"Cmd":        img.Cmd,
			"Env":        env,
			"WorkingDir": img.WorkingDir,
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + layerID}},
	}
	if len(img.Ports) > 0 {
		exposed := map[string]struct{}{}
		for _, p := range img.Ports {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			exposed[p] = struct{}{}
		}
		cfg["config"].(map[string]any)["ExposedPorts"] = exposed
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cfgSum := sha256.Sum256(cfgJSON)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   cfgName,
		"RepoTags": []string{img.Ref},
		"Layers":   []string{layerID + "/layer.tar"},
	}})
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	for _, f := range []struct {
		name string
		data []byte
	}{{cfgName, cfgJSON}, {layerID + "/layer.tar", layer}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// layerTar makes an uncompressed layer, creating parent directories.
func layerTar(files []File) ([]byte, error) {
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.Path); d != "/" && d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, f := range files {
		if f.Mode.IsDir() {
			delete(dirs, path.Clean(f.Path)) // written with its own mode below
		}
	}
	var dirList []string
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, d := range dirList {
		if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		name := strings.TrimPrefix(f.Path, "/")
		h := &tar.Header{Name: name, Mode: int64(f.Mode.Perm()), ModTime: epoch}
		switch {
		case f.Mode&os.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Linkname
		case f.Mode.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, name+"/"
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Pause is the sandbox image: a tiny static /pause that ignores SIGCHLD (so
// the kernel reaps orphans), exits 0 on SIGTERM or SIGINT and otherwise
// sleeps in pause(2).
func Pause() (Image, error) {
	bin, err := PauseBinary(runtime.GOARCH)
	if err != nil {
		return Image{}, err
	}
	return Image{
		Ref:        PauseImage,
		Entrypoint: []string{"/pause"},
		Files:      []File{{Path: "/pause", Mode: 0o755, Data: bin}},
	}, nil
}

// Busybox builds a shell image from a statically linked busybox binary
// (the busybox-static package's /bin/busybox), with a symlink per applet.
func Busybox(busyboxPath string) (Image, error) {
	data, err := os.ReadFile(busyboxPath)
	if err != nil {
		return Image{}, err
	}
	out, err := exec.Command(busyboxPath, "--list-full").Output()
	if err != nil {
		return Image{}, fmt.Errorf("listing busybox applets: %w", err)
	}
	files := []File{
		{Path: "/bin/busybox", Mode: 0o755, Data: data},
		{Path: "/tmp", Mode: os.ModeDir | 0o777},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")},
		{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnobody:x:65534:\n")},
	}
	for _, applet := range strings.Fields(string(out)) {
		p := "/" + strings.TrimPrefix(applet, "/")
		if p == "/bin/busybox" {
			continue
		}
		files = append(files, File{Path: p, Mode: os.ModeSymlink | 0o777, Linkname: "/bin/busybox"})
	}
	return Image{Ref: BusyboxImage, Cmd: []string{"sh"}, Files: files}, nil
}

// FilesFrom reads an image root: a directory's tree (paths relative to it
// become absolute in the image), or a single file, which goes to
// /<its name> (a static binary, say).
func FilesFrom(root string) ([]File, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		data, err := os.ReadFile(root)
		if err != nil {
			return nil, err
		}
		return []File{{Path: "/" + filepath.Base(root), Mode: st.Mode().Perm(), Data: data}}, nil
	}
	var files []File
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		f := File{Path: "/" + filepath.ToSlash(rel), Mode: info.Mode()}
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			if f.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		case info.IsDir():
		case info.Mode().IsRegular():
			if f.Data, err = os.ReadFile(p); err != nil {
				return err
			}
		default:
			return nil // devices, sockets: not image content
		}
		files = append(files, f)
		return nil
	})
	return files, err
}
