package integration

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// TestResponseCompression: answers over 128 KiB go gzip-compressed to
// clients that accept it (client-go does by default), lists from the watch
// cache from kept compressed chunks; decompressed they are the plain
// answers, and client-go and kubectl read them unchanged.
func TestResponseCompression(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	ns := "compress"
	if _, err := ts.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const n = 300
	filler := strings.Repeat("x", 1000)
	for i := range n {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%03d", i)}, Data: map[string]string{"v": fmt.Sprint(i), "filler": filler}}
		if _, err := ts.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	big := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "big"}, Data: map[string]string{"a": strings.Repeat("abcdefgh", 40<<10)}}
	if _, err := ts.Client.CoreV1().ConfigMaps("default").Create(ctx, big, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(ts.Config)
	if err != nil {
		t.Fatal(err)
	}
	base := ts.Config.Host
	// get returns the body as sent and its Content-Encoding; asking for an
	// encoding explicitly keeps Go's transport from decompressing.
	get := func(path, accept, encoding string) ([]byte, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Accept", accept)
		req.Header.Set("Accept-Encoding", encoding)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v %.200s", path, resp.StatusCode, err, body)
		}
		return body, resp.Header.Get("Content-Encoding")
	}
	gunzip := func(b []byte) []byte {
		t.Helper()
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	chunks := func(result string) float64 {
		return metricSum(t, ts.Client, "skiff_apiserver_list_gzip_chunks_total", `result="`+result+`"`)
	}
	for _, tc := range []struct{ path, accept string }{
		{"/api/v1/namespaces/" + ns + "/configmaps", "application/json"},
		{"/api/v1/namespaces/" + ns + "/configmaps", "application/vnd.kubernetes.protobuf"},
		{"/api/v1/namespaces/" + ns + "/configmaps?resourceVersion=0", "application/json"},
		{"/api/v1/namespaces/default/configmaps/big", "application/json"},
	} {
		plain, enc := get(tc.path, tc.accept, "identity")
		if enc != "" {
			t.Fatalf("%s with identity: Content-Encoding %q", tc.path, enc)
		}
		hits := chunks("hit")
		zipped, enc := get(tc.path, tc.accept, "gzip")
		if enc != "gzip" {
			t.Fatalf("%s (%s, %d bytes) with gzip: Content-Encoding %q", tc.path, tc.accept, len(plain), enc)
		}
		if got := gunzip(zipped); !sameAnswer(t, got, plain) {
			t.Fatalf("%s (%s): gunzipped answer (%d bytes) differs from the plain one (%d bytes)", tc.path, tc.accept, len(got), len(plain))
		}
		t.Logf("%s (%s): %d bytes, %d compressed", tc.path, tc.accept, len(plain), len(zipped))
		if strings.Contains(tc.path, "configmaps?") || strings.HasSuffix(tc.path, "/configmaps") {
			// The same list again reuses every compressed chunk.
			zipped2, _ := get(tc.path, tc.accept, "gzip")
			if !sameAnswer(t, gunzip(zipped2), plain) {
				t.Fatalf("%s: second compressed list differs", tc.path)
			}
			if chunks("hit") <= hits {
				t.Fatalf("%s: no kept chunk was reused", tc.path)
			}
		}
	}
	// client-go (gzip by default) and kubectl read compressed answers.
	list, err := ts.Client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != n+1 { // + kube-root-ca.crt
		t.Fatalf("client-go list: %d items, %v", len(list.Items), err)
	}
	out := kubectlRun(t, ts, true, "get", "configmaps", "-n", ns, "-o", "name")
	if got := strings.Count(out, "configmap/cm-"); got != n {
		t.Fatalf("kubectl get listed %d of our configmaps, want %d", got, n)
	}
}

// sameAnswer compares two answers as objects, but for a list's
// resourceVersion (a consistent list is at the newest revision, which
// moves between two requests).
func sameAnswer(t *testing.T, a, b []byte) bool {
	t.Helper()
	dec := scheme.Codecs.UniversalDeserializer()
	oa, _, err := dec.Decode(a, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ob, _, err := dec.Decode(b, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []runtime.Object{oa, ob} {
		if l, ok := o.(*corev1.ConfigMapList); ok {
			l.ResourceVersion = ""
		}
	}
	return apiequality.Semantic.DeepEqual(oa, ob)
}
