// Command echo is the small HTTP server the e2e tests run in pods (image
// docker.io/skiff/echo:1). It listens on :9876 (PORT overrides) and serves
// /healthz (500 after POST /fail-health or with FAIL_HEALTH=1), /info (who
// answered and who asked, as JSON) and /exit?code=N (the process exits),
// logging one line per request to stdout.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// info is what /info answers.
type info struct {
	Pod        string              `json:"pod"`
	Hostname   string              `json:"hostname"`
	PodIPs     []string            `json:"podIPs"`
	RemoteAddr string              `json:"remoteAddr"`
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	Headers    map[string][]string `json:"headers"`
}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "9876"
	}
	var failing atomic.Bool
	failing.Store(os.Getenv("FAIL_HEALTH") == "1")
	hostname, _ := os.Hostname()
	pod := os.Getenv("POD_NAME")
	if pod == "" {
		pod = hostname
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			http.Error(w, "failing", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/fail-health", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		failing.Store(true)
		fmt.Fprintln(w, "healthz now fails")
	})
	mux.HandleFunc("/info", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(info{
			Pod: pod, Hostname: hostname, PodIPs: localIPs(), RemoteAddr: r.RemoteAddr,
			Method: r.Method, Path: r.URL.Path, Headers: r.Header,
		})
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.URL.Query().Get("code"))
		if err != nil {
			code = 0
		}
		fmt.Fprintf(w, "exiting with %d\n", code)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		go func() {
			// Let the answer leave first.
			time.Sleep(100 * time.Millisecond)
			os.Exit(code)
		}()
	})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("%s %s %s %s\n", time.Now().UTC().Format(time.RFC3339), r.RemoteAddr, r.Method, r.URL.RequestURI())
		mux.ServeHTTP(w, r)
	})
	fmt.Printf("echo listening on :%s\n", port)
	srv := &http.Server{Addr: ":" + port, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// localIPs lists the non-loopback addresses of this network namespace.
func localIPs() []string {
	var out []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
			out = append(out, n.IP.String())
		}
	}
	return out
}
