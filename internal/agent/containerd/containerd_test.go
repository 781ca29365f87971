package containerd

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigTOML(t *testing.T) {
	s := New(Config{Dir: "/d/containerd", SandboxImage: "docker.io/skiff/pause:3.10", CNIConfDir: "/d/cni/net.d"})
	got := s.ConfigTOML()
	for _, want := range []string{
		`root = "/d/containerd/root"`,
		`state = "/d/containerd/state"`,
		`address = "/d/containerd/containerd.sock"`,
		`sandbox_image = "docker.io/skiff/pause:3.10"`,
		`bin_dir = "/usr/lib/cni"`,
		`conf_dir = "/d/cni/net.d"`,
		`SystemdCgroup = false`,
		`restrict_oom_score_adj = true`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %s:\n%s", want, got)
		}
	}
	if s.Endpoint() != "unix:///d/containerd/containerd.sock" {
		t.Errorf("endpoint %s", s.Endpoint())
	}
}

// A containerd that exits is started again.
func TestSupervisorRestarts(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	script := filepath.Join(dir, "fake-containerd")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho run >> "+runs+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := New(Config{Dir: filepath.Join(dir, "c"), Binary: script, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(runs)
		if strings.Count(string(b), "run") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not restarted: %q", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, err := os.Stat(filepath.Join(dir, "c", "config.toml")); err != nil {
		t.Error(err)
	}
}
