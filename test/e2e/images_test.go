package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"skiff/internal/agent/containerd"
	"skiff/internal/agent/images"
)

// echoImage is the test HTTP server of test/images/echo.
const echoImage = "docker.io/skiff/echo:1"

// importEchoImage builds test/images/echo as a static binary, packages it
// as echoImage and imports it into n's containerd.
func importEchoImage(t *testing.T, n *node) {
	t.Helper()
	importImage(t, filepath.Join(n.dir, "agent", "containerd", "containerd.sock"), echoArchive(t, echoImage))
}

// echoArchive builds test/images/echo as a static binary and packages it
// as an image archive named ref.
func echoArchive(t *testing.T, ref string) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "..", "images", "echo")
	dir := t.TempDir()
	bin := filepath.Join(dir, "echo")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the echo server: %v\n%s", err, out)
	}
	files, err := images.FilesFrom(bin)
	if err != nil {
		t.Fatal(err)
	}
	img := images.Image{Ref: ref, Entrypoint: []string{"/echo"}, Ports: []string{"9876/tcp"}, Files: files}
	var buf bytes.Buffer
	if err := images.WriteArchive(&buf, img); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "echo.tar")
	if err := os.WriteFile(archive, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return archive
}

// importImage imports an image archive into the containerd at sock.
func importImage(t *testing.T, sock, archive string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := containerd.ImportImage(ctx, sock, archive); err != nil {
		t.Fatal(err)
	}
}
