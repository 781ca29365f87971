package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// HealthCheck is one named check of /healthz, /livez and /readyz.
type HealthCheck struct {
	Name  string
	Check func(ctx context.Context) error
	// ReadyOnly checks count for /readyz only.
	ReadyOnly bool
}

type healthChecks struct {
	checks []HealthCheck
}

func newHealthChecks(s *Server, extra []HealthCheck) *healthChecks {
	checks := []HealthCheck{
		{Name: "ping", Check: func(context.Context) error { return nil }},
		{Name: "etcd", Check: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err := s.store.Revision(ctx)
			return err
		}},
		{Name: "poststarthook/bootstrap-system-objects", ReadyOnly: true, Check: func(context.Context) error {
			select {
			case <-s.ready:
				return nil
			default:
				return fmt.Errorf("not finished")
			}
		}},
	}
	return &healthChecks{checks: append(checks, extra...)}
}

// handler serves one of healthz, livez, readyz, with per-check paths and
// ?verbose and ?exclude= like upstream.
func (h *healthChecks) handler(kind string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		only := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/"+kind), "/")
		excluded := map[string]bool{}
		for _, e := range r.URL.Query()["exclude"] {
			excluded[e] = true
		}
		var b strings.Builder
		failed := false
		found := only == ""
		for _, c := range h.checks {
			if c.ReadyOnly && kind != "readyz" {
				continue
			}
			if only != "" && c.Name != only {
				continue
			}
			found = true
			if excluded[c.Name] {
				fmt.Fprintf(&b, "[+]%s excluded: ok\n", c.Name)
				continue
			}
			if err := c.Check(r.Context()); err != nil {
				failed = true
				fmt.Fprintf(&b, "[-]%s failed: reason withheld\n", c.Name)
			} else {
				fmt.Fprintf(&b, "[+]%s ok\n", c.Name)
			}
		}
		if !found {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if failed {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "%s%s check failed\n", b.String(), kind)
			return
		}
		if _, verbose := r.URL.Query()["verbose"]; verbose {
			fmt.Fprintf(w, "%s%s check passed\n", b.String(), kind)
			return
		}
		fmt.Fprint(w, "ok")
	})
}
