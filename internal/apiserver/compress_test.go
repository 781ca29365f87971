package apiserver

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/registry"
	"skiff/internal/storage"
)

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"":                    false,
		"gzip":                true,
		"GZIP":                true,
		"deflate, gzip":       true,
		"gzip, deflate, br":   true,
		"gzip;q=0":            false,
		"gzip; q=0":           false,
		"gzip;q=0.5":          true,
		"identity":            false,
		"x-gzip":              false,
		"br;q=1, gzip;q=0.01": true,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if h != "" {
			r.Header.Set("Accept-Encoding", h)
		}
		if got := acceptsGzip(r); got != want {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", h, got, want)
		}
	}
}

// gzipList writes the cached list with and without gzip and checks that the
// compressed body is the uncompressed one.
func gzipList(t *testing.T, s *Server, media string, items []runtime.Object, shared []*storage.Shared) {
	t.Helper()
	r := registry.Lookup("", "v1", "pods")
	gvk := schema.GroupVersionKind{Version: "v1", Kind: "PodList"}
	lm := &metav1.ListMeta{ResourceVersion: "99"}
	res := &storage.ListResult{Items: items, Encodings: shared}
	plain := listRequest(t, r, media)
	if done, err := s.writeCachedList(plain, res, gvk, lm); !done || err != nil {
		t.Fatalf("plain list: done %v, %v", done, err)
	}
	zq := listRequest(t, r, media)
	zq.r.Header.Set("Accept-Encoding", "gzip")
	if done, err := s.writeCachedList(zq, res, gvk, lm); !done || err != nil {
		t.Fatalf("gzip list: done %v, %v", done, err)
	}
	rec := zq.w.(*httptest.ResponseRecorder)
	if rec.Header().Get("Content-Encoding") != "gzip" || rec.Header().Get("Vary") != "Accept-Encoding" {
		t.Fatalf("headers %v", rec.Header())
	}
	if got, want := rec.Header().Get("Content-Length"), fmt.Sprint(rec.Body.Len()); got != want {
		t.Fatalf("content length %s, body is %s bytes", got, want)
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Body.Len() != 0 {
		t.Fatalf("%d bytes after the gzip member", rec.Body.Len())
	}
	if want := plain.w.(*httptest.ResponseRecorder).Body.Bytes(); !bytes.Equal(body, want) {
		t.Fatalf("%s: gunzipped list (%d bytes) differs from the plain list (%d bytes)", media, len(body), len(want))
	}
}

// TestGzipListReusesChunks: a large list is sent gzip-compressed, equal to
// the plain list once decompressed; a second list compresses nothing, and
// after one object changed or was added only the chunks around it are
// compressed again.
func TestGzipListReusesChunks(t *testing.T) {
	r := registry.Lookup("", "v1", "pods")
	var hits, misses int
	s := &Server{listChunks: newChunkCache(func() { hits++ }, func() { misses++ })}
	items := make([]runtime.Object, 3000)
	shared := make([]*storage.Shared, len(items))
	for i := range items {
		items[i] = stored(t, r, benchPod(i, "bench", "registry.k8s.io/pause:3.10"), int64(i+1))
		shared[i] = &storage.Shared{}
	}
	for _, media := range []string{mediaProtobuf, mediaJSON} {
		t.Run(media, func(t *testing.T) {
			hits, misses = 0, 0
			gzipList(t, s, media, items, shared)
			chunks := misses
			if chunks < 3000/chunkMaxItems || hits != 0 {
				t.Fatalf("first list: %d chunks compressed, %d reused", misses, hits)
			}
			hits, misses = 0, 0
			gzipList(t, s, media, items, shared)
			if misses != 0 || hits != chunks {
				t.Fatalf("unchanged list: %d chunks compressed, %d reused, want 0 and %d", misses, hits, chunks)
			}
		})
	}
	// One pod changes (a new version: new object and encodings).
	items[1500] = stored(t, r, benchPod(1500, "bench", "registry.k8s.io/pause:3.11"), 5000)
	shared[1500] = &storage.Shared{}
	hits, misses = 0, 0
	gzipList(t, s, mediaProtobuf, items, shared)
	if misses > 2 {
		t.Fatalf("one pod changed: %d chunks compressed again (reused %d)", misses, hits)
	}
	// A pod is added in the middle.
	added := stored(t, r, benchPod(99999, "bench", "registry.k8s.io/pause:3.10"), 5001)
	items = append(items[:1000], append([]runtime.Object{added}, items[1000:]...)...)
	shared = append(shared[:1000], append([]*storage.Shared{{}}, shared[1000:]...)...)
	hits, misses = 0, 0
	gzipList(t, s, mediaProtobuf, items, shared)
	if misses > 2 {
		t.Fatalf("one pod added: %d chunks compressed again (reused %d)", misses, hits)
	}
	// The JSON list's first chunk has no separator before it: when the
	// first chunk's pods are gone, the chunk that becomes first is not the
	// kept one.
	gzipList(t, s, mediaJSON, items, shared)
	encs, err := itemEncodings(r, mediaJSON, items, shared)
	if err != nil {
		t.Fatal(err)
	}
	second := chunkEnds(items, encs)[0]
	gzipList(t, s, mediaJSON, items[second:], shared[second:])
}

// TestWriteBodyCompresses: bodies over the threshold are compressed when
// the client accepts gzip; small ones and refusing clients get them plain.
func TestWriteBodyCompresses(t *testing.T) {
	big := []byte(strings.Repeat(`{"a":"b"}`, gzipThreshold/8))
	for _, tc := range []struct {
		body   []byte
		accept string
		gzip   bool
	}{
		{big, "gzip", true},
		{big, "", false},
		{big, "gzip;q=0", false},
		{[]byte(`{"small":true}`), "gzip", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.accept != "" {
			r.Header.Set("Accept-Encoding", tc.accept)
		}
		w := httptest.NewRecorder()
		writeBody(w, r, http.StatusOK, "application/json", tc.body)
		got := w.Body.Bytes()
		if (w.Header().Get("Content-Encoding") == "gzip") != tc.gzip {
			t.Fatalf("%d bytes, Accept-Encoding %q: Content-Encoding %q", len(tc.body), tc.accept, w.Header().Get("Content-Encoding"))
		}
		if tc.gzip {
			zr, err := gzip.NewReader(w.Body)
			if err != nil {
				t.Fatal(err)
			}
			if got, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, tc.body) || w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("body or headers changed: code %d, %v", w.Code, w.Header())
		}
	}
}
