package apiserver

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"skiff/internal/registry"
	"skiff/internal/storage"
)

// fuzzMediaTypes are the request bodies FuzzDecodeRequest sends, chosen by
// the first fuzz argument: three object encodings, then the patch types.
var fuzzMediaTypes = []string{
	mediaJSON,
	mediaYAML,
	mediaProtobuf,
	string(types.JSONPatchType),
	string(types.MergePatchType),
	string(types.StrategicMergePatchType),
}

// fuzzResources are the resources FuzzDecodeRequest decodes for.
var fuzzResources = []string{"pods", "deployments", "services", "configmaps"}

func fuzzResource(i uint8) *registry.Resource {
	name := fuzzResources[int(i)%len(fuzzResources)]
	group := ""
	if name == "deployments" {
		group = "apps"
	}
	return registry.Lookup(group, "v1", name)
}

// fuzzCurrent is a valid stored object of res, as update hands it to a
// patch: in the served version with its kind set.
func fuzzCurrent(res *registry.Resource) runtime.Object {
	om := metav1.ObjectMeta{Name: "x", Namespace: "default", UID: "6f0e3c5a-0000-4000-8000-000000000001", ResourceVersion: "7",
		Labels: map[string]string{"app": "x"}, Annotations: map[string]string{"note": "n"}}
	podSpec := corev1.PodSpec{
		Containers: []corev1.Container{
			{Name: "c", Image: "busybox", Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
				Env: []corev1.EnvVar{{Name: "A", Value: "1"}}},
			{Name: "d", Image: "nginx", Args: []string{"a", "b"}},
		},
		Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	}
	var obj runtime.Object
	switch res.Name {
	case "pods":
		obj = &corev1.Pod{ObjectMeta: om, Spec: podSpec}
	case "deployments":
		replicas := int32(2)
		obj = &appsv1.Deployment{ObjectMeta: om, Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}}, Spec: podSpec},
		}}
	case "services":
		obj = &corev1.Service{ObjectMeta: om, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "x"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP},
				{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}},
		}}
	default:
		obj = &corev1.ConfigMap{ObjectMeta: om, Data: map[string]string{"k": "v"}, BinaryData: map[string][]byte{"b": {1, 2}}}
	}
	setKind(obj, res.GVK())
	return obj
}

// fuzzServer is an API server whose decoding functions FuzzDecodeRequest
// calls directly; they never reach the (in-memory) store.
func fuzzServer(tb testing.TB) *Server {
	tb.Helper()
	s, err := New(Config{Store: storage.NewMemory(storage.NewCodec(registry.Scheme))})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// fuzzRequest is a parsed request for res carrying body and query.
func fuzzRequest(res *registry.Resource, method, contentType, query string, body []byte) *request {
	r := httptest.NewRequest(method, "/", bytes.NewReader(body))
	r.URL.Path = res.APIPath()
	// Set after parsing: httptest.NewRequest panics on a malformed target,
	// while a server hands any query through to URL.Query().
	r.URL.RawQuery = query
	r.Header.Set("Content-Type", contentType)
	return &request{w: httptest.NewRecorder(), r: r, res: res, namespace: "default", name: "x"}
}

// checkDecoded fails unless the outcome of a decoding step is an object or
// a client error (a *StatusError with a 4xx code).
func checkDecoded(t *testing.T, step string, obj any, err error) {
	t.Helper()
	if err == nil {
		if obj == nil {
			t.Fatalf("%s: neither an object nor an error", step)
		}
		return
	}
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("%s: error is %T, not a *StatusError: %v", step, err, err)
	}
	if c := se.ErrStatus.Code; c < 400 || c > 499 {
		t.Fatalf("%s: status code %d (%s), want 4xx", step, c, se.ErrStatus.Message)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	s := fuzzServer(f)
	proto, _ := serializerFor(mediaProtobuf)
	for ri := range fuzzResources {
		res := fuzzResource(uint8(ri))
		cur := fuzzCurrent(res)
		js, err := runtime.Encode(codecs.LegacyCodec(res.GVK().GroupVersion()), cur)
		if err != nil {
			f.Fatal(err)
		}
		ys, err := yaml.JSONToYAML(js)
		if err != nil {
			f.Fatal(err)
		}
		var pb bytes.Buffer
		if err := proto.Serializer.Encode(cur, &pb); err != nil {
			f.Fatal(err)
		}
		r := uint8(ri)
		// Objects: valid, with unknown and duplicate fields, wrong kinds,
		// and broken in each encoding.
		for _, q := range []string{"", "fieldValidation=Strict", "fieldValidation=Ignore", "fieldValidation=Bogus"} {
			f.Add(uint8(0), r, q, []byte(strings.Replace(string(js), `"metadata":{`, `"bogus":1,"metadata":{"name":"dup",`, 1)))
			f.Add(uint8(1), r, q, append(append([]byte{}, ys...), "bogus: 1\nkind: Other\n"...))
		}
		f.Add(uint8(0), r, "", js)
		f.Add(uint8(1), r, "fieldValidation=Warn", ys)
		f.Add(uint8(2), r, "", pb.Bytes())
		f.Add(uint8(2), r, "", pb.Bytes()[:pb.Len()/2])
		f.Add(uint8(2), r, "", []byte("k8s\x00\x0a\x05garbage"))
		f.Add(uint8(0), r, "", js[:len(js)/2])
		f.Add(uint8(0), r, "", []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"}}`))
		f.Add(uint8(0), r, "", []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x","namespace":"other"}}`))
		f.Add(uint8(0), r, "", []byte(`{"apiVersion":"v9","kind":"Pod"}`))
		f.Add(uint8(0), r, "", []byte(`null`))
		f.Add(uint8(0), r, "", []byte(`[]`))
		f.Add(uint8(0), r, "", []byte{})
		f.Add(uint8(1), r, "", []byte("a: [\n  b: {\n"))
		f.Add(uint8(1), r, "", []byte("- 1\n- 2\n"))
		f.Add(uint8(1), r, "", []byte("&a [*a]"))
		// Selectors and delete options ride along on every input.
		f.Add(uint8(0), r, "labelSelector=a+in+(b", []byte(`{"kind":"DeleteOptions","apiVersion":"v1","gracePeriodSeconds":5}`))
		f.Add(uint8(0), r, "labelSelector=app%3Dx,tier!%3Dfe&fieldSelector=metadata.name%3Dx", []byte(`{"propagationPolicy":"Foreground","dryRun":["All"]}`))
		f.Add(uint8(0), r, "fieldSelector=spec.nodeName%3Dn1,status.phase!%3DRunning", []byte(`{"preconditions":{"uid":"u","resourceVersion":"1"}}`))
		f.Add(uint8(0), r, "fieldSelector=spec.foo%3Dx&gracePeriodSeconds=abc", []byte(`{"propagationPolicy":"Bogus","orphanDependents":true}`))
		f.Add(uint8(1), r, "propagationPolicy=Orphan&orphanDependents=false&dryRun=Bogus", []byte("kind: DeleteOptions\ngracePeriodSeconds: -3\n"))
		// Patches: valid, failing, and malformed.
		f.Add(uint8(3), r, "", []byte(`[{"op":"replace","path":"/metadata/labels/app","value":"y"},{"op":"add","path":"/metadata/annotations/a","value":"b"}]`))
		f.Add(uint8(3), r, "", []byte(`[{"op":"test","path":"/metadata/name","value":"nope"}]`))
		f.Add(uint8(3), r, "", []byte(`[{"op":"remove","path":"/metadata"},{"op":"move","from":"/kind","path":"/apiVersion"}]`))
		f.Add(uint8(3), r, "", []byte(`[{"op":"copy","from":"/metadata","path":"/metadata/labels/x"}]`))
		f.Add(uint8(3), r, "fieldValidation=Strict", []byte(`[{"op":"add","path":"/spec/foo","value":1}]`))
		f.Add(uint8(3), r, "", []byte(`[{"op":"bogus"}]`))
		f.Add(uint8(3), r, "", []byte(`{"op":"replace"}`))
		f.Add(uint8(3), r, "", copyBomb(12))
		f.Add(uint8(4), r, "", []byte(`{"metadata":{"labels":{"app":null,"new":"v"}},"spec":{"replicas":3}}`))
		f.Add(uint8(4), r, "fieldValidation=Strict", []byte(`{"spec":{"foo":1}}`))
		f.Add(uint8(4), r, "", []byte(`{"kind":"Service","apiVersion":"v1"}`))
		f.Add(uint8(4), r, "", []byte(`null`))
		f.Add(uint8(4), r, "", []byte(`[1,2]`))
		f.Add(uint8(4), r, "", []byte(`{"data":`))
		f.Add(uint8(5), r, "", []byte(`{"spec":{"containers":[{"name":"c","image":"img:2"},{"name":"d","$patch":"delete"}]}}`))
		f.Add(uint8(5), r, "", []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"e","image":"x"}]}}}}`))
		f.Add(uint8(5), r, "", []byte(`{"spec":{"$setElementOrder/containers":[{"name":"d"},{"name":"c"}],"containers":[{"name":"c","args":null}]}}`))
		f.Add(uint8(5), r, "", []byte(`{"spec":{"ports":[{"port":80,"$patch":"replace"}],"$retainKeys":["ports"]}}`))
		f.Add(uint8(5), r, "", []byte(`{"spec":{"containers":[{"name":"d","$deleteFromPrimitiveList/args":["a"]}]}}`))
		f.Add(uint8(5), r, "", []byte(`{"$patch":"delete"}`))
		f.Add(uint8(5), r, "", []byte(`{"metadata":{"$patch":"replace"},"spec":{"containers":{"$patch":"merge"}}}`))
		f.Add(uint8(5), r, "", []byte(`{"spec":{"containers":[[{"name":"c"}]]}}`))
		f.Add(uint8(5), r, "", []byte(`{"data":{"$patch":"bogus"}}`))
	}

	f.Fuzz(func(t *testing.T, mode, resIdx uint8, query string, body []byte) {
		res := fuzzResource(resIdx)
		mt := fuzzMediaTypes[int(mode)%len(fuzzMediaTypes)]
		method := http.MethodPost
		if int(mode)%len(fuzzMediaTypes) >= 3 {
			method = http.MethodPatch
		}
		q := fuzzRequest(res, method, mt, query, body)

		sel, err := s.parseSelection(q)
		checkDecoded(t, "parseSelection", sel, err)

		if method == http.MethodPost {
			info, _, err := requestSerializer(q.r)
			if err != nil {
				t.Fatalf("requestSerializer(%s): %v", mt, err)
			}
			obj, err := s.decodeObject(q, body, info)
			checkDecoded(t, "decodeObject", obj, err)
			if err == nil {
				m, err := meta.Accessor(obj)
				if err != nil {
					t.Fatalf("decoded %T has no metadata: %v", obj, err)
				}
				checkDecoded(t, "checkNamespace", obj, checkNamespace(q, m))
				if got, want := reflect.TypeOf(obj), reflect.TypeOf(res.New()); got != want {
					t.Fatalf("decoded a %v for %v", got, want)
				}
			}
		} else {
			pt := types.PatchType(mt)
			jp, err := decodePatch(pt, body)
			checkDecoded(t, "decodePatch", body, err)
			if err == nil {
				obj, err := s.patchObject(q, pt, body, jp, fuzzCurrent(res))
				checkDecoded(t, "patchObject", obj, err)
			}
		}

		// The same body as DeleteOptions, in the same media type.
		dq := fuzzRequest(res, http.MethodDelete, mt, query, body)
		opts, err := deleteOptions(dq)
		checkDecoded(t, "deleteOptions", opts, err)
	})
}

// copyBomb is a JSON patch whose copies double /metadata n times.
func copyBomb(n int) []byte {
	ops := []string{`{"op":"add","path":"/metadata/annotations/seed","value":"` + strings.Repeat("x", 1024) + `"}`}
	for i := 0; i < n; i++ {
		ops = append(ops, `{"op":"copy","from":"/metadata","path":"/metadata/c`+strconv.Itoa(i)+`"}`)
	}
	return []byte("[" + strings.Join(ops, ",") + "]")
}

// A JSON patch may not grow the object by more than upstream's 3 MiB
// through copies; without the limit 40 doublings exhaust any server.
func TestJSONPatchCopyLimit(t *testing.T) {
	s := fuzzServer(t)
	res := fuzzResource(3)
	patch := copyBomb(12) // 1 KiB doubled 12 times: over 4 MiB copied
	jp, err := decodePatch(types.JSONPatchType, patch)
	if err != nil {
		t.Fatal(err)
	}
	q := fuzzRequest(res, http.MethodPatch, string(types.JSONPatchType), "", patch)
	_, err = s.patchObject(q, types.JSONPatchType, patch, jp, fuzzCurrent(res))
	var se *apierrors.StatusError
	if !errors.As(err, &se) || se.ErrStatus.Code != http.StatusUnprocessableEntity {
		t.Fatalf("copy bomb: got %v, want a 422", err)
	}
}
