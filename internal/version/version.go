// Package version owns skiff's version and the Kubernetes version it serves.
package version

// Set at build time with -ldflags "-X skiff/internal/version.Version=...".
var (
	Version   = "v0.1.0-dev"
	Commit    = ""
	BuildDate = "1970-01-01T00:00:00Z"
)

// The Kubernetes API version skiff serves (that of its k8s.io libraries).
const (
	KubeMajor = "1"
	KubeMinor = "37"
	KubePatch = "2"
)

// GitVersion is the version reported by /version: the Kubernetes version
// with skiff's own as build metadata, like other distributions do.
func GitVersion() string {
	return "v" + KubeMajor + "." + KubeMinor + "." + KubePatch + "+skiff." + trimV(Version)
}

func trimV(v string) string {
	if len(v) > 0 && v[0] == 'v' {
		return v[1:]
	}
	return v
}
