package apiserver

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Go's profiles are served at /debug/pprof to cluster admins only, and not
// at all with profiling turned off.
func TestProfiling(t *testing.T) {
	get := func(url, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	ts, _, _ := newTestServerWith(t, func(c *Config) {
		c.Tokens["dev-token"] = User{Name: "dev", Groups: []string{"developers"}}
	})
	if code, body := get(ts.URL+"/debug/pprof/heap?debug=1", testToken); code != http.StatusOK || !strings.Contains(body, "heap profile:") {
		t.Errorf("admin heap profile: %d %.200s", code, body)
	}
	if code, body := get(ts.URL+"/debug/pprof/", testToken); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("admin index: %d %.200s", code, body)
	}
	if code, body := get(ts.URL+"/debug/pprof/heap", "dev-token"); code != http.StatusForbidden || !strings.Contains(body, `forbidden: User \"dev\" cannot get path \"/debug/pprof/heap\"`) {
		t.Errorf("non-admin: %d %s", code, body)
	}
	if code, _ := get(ts.URL+"/debug/pprof/heap", "no-such-token"); code != http.StatusUnauthorized {
		t.Errorf("anonymous: %d", code)
	}

	off, _, _ := newTestServerWith(t, func(c *Config) { c.DisableProfiling = true })
	if code, _ := get(off.URL+"/debug/pprof/heap", testToken); code != http.StatusNotFound {
		t.Errorf("profiling off: %d, want 404", code)
	}
}
