package apiserver

import (
	"net/http"
	"runtime"

	"k8s.io/apimachinery/pkg/version"

	skiffversion "skiff/internal/version"
)

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, &version.Info{
		Major:        skiffversion.KubeMajor,
		Minor:        skiffversion.KubeMinor,
		GitVersion:   skiffversion.GitVersion(),
		GitCommit:    skiffversion.Commit,
		GitTreeState: "clean",
		BuildDate:    skiffversion.BuildDate,
		GoVersion:    runtime.Version(),
		Compiler:     runtime.Compiler,
		Platform:     runtime.GOOS + "/" + runtime.GOARCH,
	})
}
