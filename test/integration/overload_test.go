package integration

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// TestBurstOf2000Requests sends 2,000 concurrent requests: every one gets
// an answer (success or 429 with Retry-After), and /readyz keeps answering
// meanwhile.
func TestBurstOf2000Requests(t *testing.T) {
	// A server process, as in production (an in-process server would share
	// the race detector's slowdown with the 2,000 clients).
	cfg := serverConfig(t, t.TempDir())
	startServerProcess(t, cfg)
	rc := waitReady(t, cfg.WriteKubeconfig)
	tlsCfg, err := rest.TLSConfigFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	newClient := func() *http.Client {
		tr := &http.Transport{TLSClientConfig: tlsCfg.Clone(), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 1}
		return &http.Client{Transport: tr, Timeout: 60 * time.Second}
	}
	// 2,000 concurrent requests as API clients send them: HTTP/2 streams
	// multiplexed over a few connections (200 streams on each of 10).
	clients := make([]*http.Client, 10)
	for i := range clients {
		clients[i] = newClient()
		defer clients[i].CloseIdleConnections()
	}
	host := rc.Host
	const n = 2000
	var ok, throttled, other atomic.Int64
	var otherMsg atomic.Value
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := clients[i%len(clients)]
			<-start
			var req *http.Request
			if i%2 == 0 {
				req, _ = http.NewRequest("GET", host+"/api/v1/namespaces/default/configmaps", nil)
			} else {
				body := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"burst-%d"}}`, i)
				req, _ = http.NewRequest("POST", host+"/api/v1/namespaces/default/configmaps", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := c.Do(req)
			if err != nil {
				other.Add(1)
				otherMsg.Store(err.Error())
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated:
				ok.Add(1)
			case resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "":
				throttled.Add(1)
			default:
				other.Add(1)
				otherMsg.Store(fmt.Sprintf("status %d", resp.StatusCode))
			}
		}(i)
	}
	readyFailures := make(chan string, 100)
	stopProbe := make(chan struct{})
	var probeWG sync.WaitGroup
	probeWG.Add(1)
	probe := newClient()
	probe.Timeout = 10 * time.Second
	if resp, err := probe.Get(host + "/readyz"); err == nil {
		resp.Body.Close()
	}
	go func() {
		defer probeWG.Done()
		c := probe
		for {
			select {
			case <-stopProbe:
				return
			case <-time.After(100 * time.Millisecond):
			}
			resp, err := c.Get(host + "/readyz")
			if err != nil {
				readyFailures <- err.Error()
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				readyFailures <- fmt.Sprintf("readyz %d", resp.StatusCode)
			}
		}
	}()
	close(start)
	wg.Wait()
	close(stopProbe)
	probeWG.Wait()
	close(readyFailures)
	for f := range readyFailures {
		t.Errorf("/readyz during the burst: %s", f)
	}
	t.Logf("burst of %d: %d answered 200/201, %d answered 429", n, ok.Load(), throttled.Load())
	if o := other.Load(); o > 0 {
		t.Fatalf("%d requests got neither success nor 429 (last: %v)", o, otherMsg.Load())
	}
}
