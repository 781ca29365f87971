package apiserver

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/registry"
	"skiff/internal/storage"
)

var storageCodec = storage.NewCodec(registry.Scheme)

// stored returns obj (in r's served version) as the watch cache holds it:
// converted to the storage version, encoded and decoded at revision rev.
func stored(t testing.TB, r *registry.Resource, obj runtime.Object, rev int64) runtime.Object {
	t.Helper()
	st, err := registry.ToStorage(r, obj)
	if err != nil {
		t.Fatal(err)
	}
	data, err := storageCodec.Encode(st)
	if err != nil {
		t.Fatal(err)
	}
	out, err := storageCodec.Decode(data, rev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func listRequest(t testing.TB, r *registry.Resource, media string) *request {
	t.Helper()
	info, ok := serializerFor(media)
	if !ok {
		t.Fatalf("no serializer for %s", media)
	}
	return &request{w: httptest.NewRecorder(), r: httptest.NewRequest(http.MethodGet, "/", nil), res: r, out: output{info: info}}
}

// bothWays writes items as a cached list and as a whole list object; it
// returns the two bodies (the cached one nil when it was not used).
func bothWays(t testing.TB, r *registry.Resource, media string, items []runtime.Object, lm *metav1.ListMeta) (cached, whole []byte) {
	t.Helper()
	s := &Server{}
	gvk := r.GVK().GroupVersion().WithKind(r.Kind + "List")
	res := &storage.ListResult{Items: items, Encodings: []*storage.Shared{}}
	for range items {
		res.Encodings = append(res.Encodings, &storage.Shared{})
	}
	q := listRequest(t, r, media)
	done, err := s.writeCachedList(q, res, gvk, lm)
	if err != nil {
		t.Fatal(err)
	}
	if done {
		rec := q.w.(*httptest.ResponseRecorder)
		if got := rec.Header().Get("Content-Type"); got != media {
			t.Fatalf("content type %q, want %q", got, media)
		}
		if got, want := rec.Header().Get("Content-Length"), fmt.Sprint(rec.Body.Len()); got != want {
			t.Fatalf("content length %s, body is %s bytes", got, want)
		}
		cached = rec.Body.Bytes()
	}
	list, err := buildList(r, items, gvk, lm)
	if err != nil {
		t.Fatal(err)
	}
	q = listRequest(t, r, media)
	s.writeObject(q, http.StatusOK, list)
	return cached, q.w.(*httptest.ResponseRecorder).Body.Bytes()
}

func listMetas() []*metav1.ListMeta {
	remaining := int64(7)
	zero := int64(0)
	return []*metav1.ListMeta{
		{ResourceVersion: "42"},
		{ResourceVersion: "42", Continue: "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ"},
		{ResourceVersion: "123456789", Continue: "abc", RemainingItemCount: &remaining},
		{ResourceVersion: "1", Continue: "abc", RemainingItemCount: &zero},
	}
}

// Every built-in list is written byte for byte as encoding the whole list
// object would write it, in JSON and protobuf, empty or not.
func TestCachedListMatchesWholeEncoding(t *testing.T) {
	for _, r := range registry.All() {
		if r.IsCustom() {
			continue
		}
		if !listShapeOK(reflect.TypeOf(r.NewList())) {
			t.Errorf("%s: list type %T is not laid out as the cached list writer expects", r.Name, r.NewList())
			continue
		}
		var items []runtime.Object
		for i := range 3 {
			obj := r.New()
			m, err := meta.Accessor(obj)
			if err != nil {
				t.Fatal(err)
			}
			m.SetName(fmt.Sprintf("obj-%d", i))
			if r.Namespaced {
				m.SetNamespace("ns")
			}
			m.SetLabels(map[string]string{"app": "x<&>", "i": fmt.Sprint(i)})
			m.SetUID("uid")
			items = append(items, stored(t, r, obj, int64(10+i)))
		}
		for _, media := range []string{mediaJSON, mediaProtobuf} {
			for _, lm := range listMetas() {
				for _, n := range []int{0, 3} {
					cached, whole := bothWays(t, r, media, items[:n], lm)
					if cached == nil {
						t.Errorf("%s %s: cached list writer not used", r.Name, media)
						continue
					}
					if !bytes.Equal(cached, whole) {
						t.Errorf("%s %s %d items: cached list differs:\n%q\nwhole:\n%q", r.Name, media, n, cached, whole)
					}
				}
			}
		}
	}
}

// The items are never changed: the cache shares them with other readers.
func TestCachedListLeavesItemsAlone(t *testing.T) {
	r := registry.Lookup("", "v1", "pods")
	items := []runtime.Object{stored(t, r, benchPod(1, "a", "b"), 5)}
	before := items[0].DeepCopyObject()
	for _, media := range []string{mediaJSON, mediaProtobuf} {
		bothWays(t, r, media, items, listMetas()[0])
	}
	if !apiequality.Semantic.DeepEqual(before, items[0]) || items[0].GetObjectKind().GroupVersionKind().Empty() {
		t.Fatalf("cached item changed: %#v", items[0])
	}
}

// Tables, metadata-only lists, YAML and lists not from a cache take the
// general path.
func TestCachedListOnlyWhenItFits(t *testing.T) {
	r := registry.Lookup("", "v1", "pods")
	s := &Server{}
	items := []runtime.Object{stored(t, r, benchPod(1, "a", "b"), 5)}
	gvk := schema.GroupVersionKind{Version: "v1", Kind: "PodList"}
	for _, tc := range []struct {
		media, as string
		shared    bool
	}{
		{mediaYAML, "", true},
		{mediaJSON, "Table", true},
		{mediaProtobuf, "PartialObjectMetadataList", true},
		{mediaJSON, "", false},
	} {
		q := listRequest(t, r, tc.media)
		q.out.as, q.out.asVersion = tc.as, "v1"
		res := &storage.ListResult{Items: items}
		if tc.shared {
			res.Encodings = []*storage.Shared{{}}
		}
		done, err := s.writeCachedList(q, res, gvk, listMetas()[0])
		if err != nil || done {
			t.Errorf("%+v: written as a cached list (err %v)", tc, err)
		}
		if q.w.(*httptest.ResponseRecorder).Body.Len() != 0 {
			t.Errorf("%+v: wrote a body", tc)
		}
	}
}

// benchPod is a pod like the ones test/bench lists.
func benchPod(i int, label, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Namespace: "ns", UID: "6b1f6c1e-6a43-4c0e-9f55-0a0b0c0d0e0f",
			Labels: map[string]string{"app": label, "tier": []string{"web", "api", "worker"}[i%3], "shard": fmt.Sprint(i % 16)}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: image,
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			Env:   []corev1.EnvVar{{Name: "SHARD", Value: fmt.Sprint(i % 16)}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
			TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			ImagePullPolicy: corev1.PullIfNotPresent,
		}}, RestartPolicy: corev1.RestartPolicyAlways, DNSPolicy: corev1.DNSClusterFirst, SchedulerName: "default-scheduler"},
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBurstable},
	}
}

// The concatenated list decodes to the same PodList as the whole-object
// encoding, byte for byte, whatever the pods hold.
func FuzzCachedPodList(f *testing.F) {
	f.Add(uint8(3), "bench", "registry.k8s.io/pause:3.10", "42", "", int64(-1))
	f.Add(uint8(0), "", "", "1", "tok", int64(0))
	f.Add(uint8(200), "<a&b>\u2028", "\xff\xfe", "9999999999", "c", int64(1<<40))
	r := registry.Lookup("", "v1", "pods")
	f.Fuzz(func(t *testing.T, n uint8, label, image, rv, cont string, remaining int64) {
		lm := &metav1.ListMeta{ResourceVersion: rv, Continue: cont}
		if cont != "" && remaining >= 0 {
			lm.RemainingItemCount = &remaining
		}
		n %= 40 // enough items to matter, few enough to fuzz quickly
		items := make([]runtime.Object, int(n))
		for i := range items {
			items[i] = stored(t, r, benchPod(i, label+strings.Repeat("x", i%5), image), int64(i+1))
		}
		for _, media := range []string{mediaJSON, mediaProtobuf} {
			cached, whole := bothWays(t, r, media, items, lm)
			if cached == nil {
				t.Fatalf("%s: cached list writer not used", media)
			}
			if !bytes.Equal(cached, whole) {
				t.Fatalf("%s: cached list differs:\n%q\nwhole:\n%q", media, cached, whole)
			}
			info, _ := serializerFor(media)
			got, err := runtime.Decode(info.Serializer, cached)
			if err != nil {
				t.Fatalf("%s: decoding cached list: %v", media, err)
			}
			want, err := runtime.Decode(info.Serializer, whole)
			if err != nil {
				t.Fatalf("%s: decoding whole list: %v", media, err)
			}
			if !apiequality.Semantic.DeepEqual(got, want) {
				t.Fatalf("%s: decoded lists differ:\n%#v\n%#v", media, got, want)
			}
			if pl, ok := got.(*corev1.PodList); !ok || len(pl.Items) != int(n) {
				t.Fatalf("%s: decoded %T with wrong items", media, got)
			}
		}
	})
}

func doAccept(t *testing.T, url, accept string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), buf.Bytes()
}

// Lists answer in every negotiated form, with selectors and chunking, the
// same whichever way they are written.
func TestListFormats(t *testing.T) {
	ts, _ := newTestServer(t)
	base := "/api/v1/namespaces/default/configmaps"
	for _, n := range []string{"a", "b", "c"} {
		do(t, ts, "POST", base, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"`+n+`","labels":{"l":"`+n+`"}},"data":{"k":"<`+n+`>"}}`)
	}
	decode := func(media string, body []byte) *corev1.ConfigMapList {
		t.Helper()
		info, _ := serializerFor(media)
		obj, err := runtime.Decode(info.Serializer, body)
		if err != nil {
			t.Fatalf("%s: %v: %q", media, err, body)
		}
		l, ok := obj.(*corev1.ConfigMapList)
		if !ok {
			t.Fatalf("%s: decoded a %T", media, obj)
		}
		return l
	}
	for _, media := range []string{mediaJSON, mediaProtobuf, mediaYAML} {
		code, ct, body := doAccept(t, ts.URL+base, media)
		if code != http.StatusOK || ct != media {
			t.Fatalf("%s: %d %s %s", media, code, ct, body)
		}
		l := decode(media, body)
		if len(l.Items) != 3 || l.ResourceVersion == "" || l.Items[2].Data["k"] != "<c>" || l.Items[0].ResourceVersion == "" {
			t.Fatalf("%s: list %+v", media, l)
		}
		if media == mediaJSON && (strings.Count(string(body), `"kind"`) != 1 || !strings.HasSuffix(string(body), "]}\n")) {
			t.Fatalf("json list: items carry a kind or the body is cut: %s", body)
		}
	}
	code, _, body := doAccept(t, ts.URL+base+"?labelSelector=l+in+(a,c)&limit=1", mediaProtobuf)
	l := decode(mediaProtobuf, body)
	if code != http.StatusOK || len(l.Items) != 1 || l.Items[0].Name != "a" || l.Continue == "" || l.RemainingItemCount != nil {
		t.Fatalf("selected first page: %d %+v", code, l)
	}
	_, _, body = doAccept(t, ts.URL+base+"?labelSelector=l+in+(a,c)&limit=1&continue="+l.Continue, mediaJSON)
	if l := decode(mediaJSON, body); len(l.Items) != 1 || l.Items[0].Name != "c" || l.Continue != "" {
		t.Fatalf("selected second page: %+v", l)
	}
	_, _, body = doAccept(t, ts.URL+base+"?limit=2", mediaJSON)
	if l := decode(mediaJSON, body); len(l.Items) != 2 || l.RemainingItemCount == nil || *l.RemainingItemCount != 1 {
		t.Fatalf("limited list: %+v", l)
	}
	code, ct, body := doAccept(t, ts.URL+base, "application/json;as=Table;v=v1;g=meta.k8s.io")
	if code != http.StatusOK || ct != mediaJSON || !strings.Contains(string(body), `"kind":"Table"`) || strings.Count(string(body), `"cells"`) != 3 {
		t.Fatalf("table: %d %s", code, body)
	}
	code, _, body = doAccept(t, ts.URL+base, "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io")
	if code != http.StatusOK || !strings.Contains(string(body), `"kind":"PartialObjectMetadataList"`) || strings.Contains(string(body), "<a>") {
		t.Fatalf("metadata list: %d %s", code, body)
	}
	code, _, body = doAccept(t, ts.URL+"/api/v1/namespaces/empty/configmaps", mediaJSON)
	if code != http.StatusOK || !strings.Contains(string(body), `"items":[]`) {
		t.Fatalf("empty list: %d %s", code, body)
	}
}

// discardWriter is a ResponseWriter that only counts the body.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }

// BenchmarkPodList10k compares writing a protobuf list of 10000 cached pods
// from their kept encodings with building and encoding the whole PodList.
func BenchmarkPodList10k(b *testing.B) {
	r := registry.Lookup("", "v1", "pods")
	items := make([]runtime.Object, 10000)
	shared := make([]*storage.Shared, len(items))
	for i := range items {
		items[i] = stored(b, r, benchPod(i, "bench", "registry.k8s.io/pause:3.10"), int64(i+1))
		shared[i] = &storage.Shared{}
	}
	gvk := schema.GroupVersionKind{Version: "v1", Kind: "PodList"}
	lm := &metav1.ListMeta{ResourceVersion: "10000"}
	s := &Server{listChunks: newChunkCache(func() {}, func() {})}
	info, _ := serializerFor(mediaProtobuf)
	q := &request{r: httptest.NewRequest(http.MethodGet, "/", nil), res: r, out: output{info: info}}
	// Compressed from kept chunks (a client accepting gzip, as client-go
	// does by default); the first list compresses every chunk.
	b.Run("gzip", func(b *testing.B) {
		zq := *q
		zq.r = httptest.NewRequest(http.MethodGet, "/", nil)
		zq.r.Header.Set("Accept-Encoding", "gzip")
		d := &discardWriter{}
		for b.Loop() {
			d.h, d.n = http.Header{}, 0
			zq.w = d
			if done, err := s.writeCachedList(&zq, &storage.ListResult{Items: items, Encodings: shared}, gvk, lm); !done || err != nil {
				b.Fatal(done, err)
			}
		}
		b.ReportMetric(float64(d.n), "wire-bytes")
	})
	b.Run("cached", func(b *testing.B) {
		d := &discardWriter{}
		for b.Loop() {
			d.h, d.n = http.Header{}, 0
			q.w = d
			if done, err := s.writeCachedList(q, &storage.ListResult{Items: items, Encodings: shared}, gvk, lm); !done || err != nil {
				b.Fatal(done, err)
			}
		}
		b.SetBytes(int64(d.n))
	})
	b.Run("whole", func(b *testing.B) {
		d := &discardWriter{}
		for b.Loop() {
			d.h, d.n = http.Header{}, 0
			q.w = d
			list, err := buildList(r, items, gvk, lm)
			if err != nil {
				b.Fatal(err)
			}
			s.writeObject(q, http.StatusOK, list)
		}
		b.SetBytes(int64(d.n))
	})
}
