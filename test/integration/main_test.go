package integration

import (
	"os"
	"testing"
)

// TestMain gives the kubectl processes of this run a cache directory of
// their own. kubectl caches discovery and OpenAPI documents per host:port
// under ~/.kube/cache; test servers listen on ports earlier runs used, so a
// shared cache would answer a test with another server's API.
func TestMain(m *testing.M) {
	os.Exit(withKubectlCache(m))
}

func withKubectlCache(m *testing.M) int {
	dir, err := os.MkdirTemp("", "skiff-kubectl-cache-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Setenv("KUBECACHEDIR", dir); err != nil {
		panic(err)
	}
	return m.Run()
}
