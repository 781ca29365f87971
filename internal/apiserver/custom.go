package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"skiff/internal/registry"
)

// Custom resources (served from CustomResourceDefinitions) are
// *unstructured.Unstructured objects: JSON and YAML only on the wire,
// pruned and defaulted by their schema while decoding, as upstream does.

// customOutput falls back to JSON for custom resources when protobuf was
// negotiated: they have no protobuf form (tables and partial metadata do).
func customOutput(q *request) {
	if q.res.IsCustom() && q.out.as == "" && q.out.info.MediaType == mediaProtobuf {
		q.out.info, _ = serializerFor(mediaJSON)
	}
}

// decodeCustom decodes a custom resource body.
func decodeCustom(q *request, data []byte, info runtime.SerializerInfo, directive string) (runtime.Object, error) {
	switch info.MediaType {
	case mediaJSON:
	case mediaYAML:
		var err error
		if data, err = yaml.YAMLToJSON(data); err != nil {
			return nil, badRequest("error decoding request body: %v", err)
		}
	default:
		return nil, unsupportedMediaType(info.MediaType)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return nil, badRequest("%v", err)
	}
	want := q.res.GVK()
	gvk := u.GroupVersionKind()
	if gvk.GroupVersion() != want.GroupVersion() {
		return nil, badRequest("the API version in the data (%s) does not match the expected API version (%s)", gvk.GroupVersion().String(), want.GroupVersion().String())
	}
	if gvk.Kind != want.Kind {
		return nil, badRequest("the kind in the data (%s) does not match the expected kind (%s)", gvk.Kind, want.Kind)
	}
	if st := q.res.Strategy; st.Prune != nil {
		unknown := st.Prune(u)
		if len(unknown) > 0 {
			switch directive {
			case "Strict":
				msgs := make([]string, len(unknown))
				for i, p := range unknown {
					msgs[i] = fmt.Sprintf("unknown field %q", p)
				}
				return nil, badRequest("%s in version %q cannot be handled as a %s: strict decoding error: %s", q.res.Kind, q.res.Version, q.res.Kind, strings.Join(msgs, ", "))
			case "Warn":
				for _, p := range unknown {
					addWarning(q.w, fmt.Sprintf("unknown field %q", p))
				}
			}
		}
	}
	if st := q.res.Strategy; st.Default != nil {
		st.Default(u)
	}
	return u, nil
}

// strategyDefault runs a resource's own defaulting (and, for custom
// resources, pruning) after the server's.
func strategyDefault(res *registry.Resource, obj runtime.Object) {
	st := res.Strategy
	if st == nil {
		return
	}
	if st.Prune != nil {
		st.Prune(obj)
	}
	if st.Default != nil {
		st.Default(obj)
	}
}

// strategyValidate runs a resource's own validation; old is nil on create.
func strategyValidate(res *registry.Resource, subresource string, obj, old runtime.Object) field.ErrorList {
	st := res.Strategy
	if st == nil {
		return nil
	}
	if subresource == "status" {
		if st.ValidateStatus != nil {
			return st.ValidateStatus(obj, old)
		}
		return nil
	}
	if st.Validate != nil {
		return st.Validate(obj, old)
	}
	return nil
}

// prepareCustomCreate drops the status of a new custom resource with a
// status subresource.
func prepareCustomCreate(res *registry.Resource, obj runtime.Object) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	if res.Status {
		delete(u.Object, "status")
	}
}

// prepareCustomUpdate keeps the status of a custom resource with a status
// subresource and bumps the generation when anything but metadata (and
// status) changed, as upstream does for custom resources.
func prepareCustomUpdate(res *registry.Resource, obj, old runtime.Object) {
	u, ok1 := obj.(*unstructured.Unstructured)
	o, ok2 := old.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return
	}
	if res.Status {
		if st, ok := o.Object["status"]; ok {
			u.Object["status"] = runtime.DeepCopyJSONValue(st)
		} else {
			delete(u.Object, "status")
		}
	}
	if !apiequality.Semantic.DeepEqual(withoutMeta(u.Object), withoutMeta(o.Object)) {
		u.SetGeneration(o.GetGeneration() + 1)
	}
}

func withoutMeta(obj map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(obj))
	for k, v := range obj {
		if k != "metadata" && k != "status" && k != "apiVersion" && k != "kind" {
			out[k] = v
		}
	}
	return out
}

// applyCustomStatusUpdate returns old with the status of obj.
func applyCustomStatusUpdate(obj, old runtime.Object) (runtime.Object, bool) {
	u, ok1 := obj.(*unstructured.Unstructured)
	o, ok2 := old.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return nil, false
	}
	out := o.DeepCopy()
	if st, ok := u.Object["status"]; ok {
		out.Object["status"] = runtime.DeepCopyJSONValue(st)
	} else {
		delete(out.Object, "status")
	}
	out.SetResourceVersion(u.GetResourceVersion())
	return out, true
}

// objectMetaOf reads the ObjectMeta of a custom resource.
func objectMetaOf(u *unstructured.Unstructured) (*metav1.ObjectMeta, error) {
	om := &metav1.ObjectMeta{}
	m, ok := u.Object["metadata"].(map[string]interface{})
	if !ok {
		return om, nil
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, om); err != nil {
		return nil, err
	}
	return om, nil
}

// jsonPathParts splits a scale path such as ".spec.replicas".
func jsonPathParts(p string) []string { return strings.Split(strings.TrimPrefix(p, "."), ".") }

// customScale reads the Scale view of a custom resource.
func customScale(u *unstructured.Unstructured, res *registry.Resource) (specReplicas, statusReplicas int32, selector string) {
	st := res.Strategy
	if v, found, _ := unstructured.NestedFieldNoCopy(u.Object, jsonPathParts(st.SpecReplicasPath)...); found {
		specReplicas = int32(toInt(v))
	}
	if v, found, _ := unstructured.NestedFieldNoCopy(u.Object, jsonPathParts(st.StatusReplicasPath)...); found {
		statusReplicas = int32(toInt(v))
	}
	if st.LabelSelectorPath != "" {
		if v, found, _ := unstructured.NestedFieldNoCopy(u.Object, jsonPathParts(st.LabelSelectorPath)...); found {
			if s, ok := v.(string); ok {
				selector = s
			}
		}
	}
	return
}

func toInt(v interface{}) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	case string:
		i, _ := strconv.ParseInt(n, 10, 64)
		return i
	}
	return 0
}

// customResourceFor finds the served custom resource of an object.
func customResourceFor(u *unstructured.Unstructured) *registry.Resource {
	gvk := u.GroupVersionKind()
	r := registry.LookupKind(gvk.Group, gvk.Version, gvk.Kind)
	if r == nil || !r.IsCustom() || !r.Scale {
		// Stored in another version: any served version has the paths.
		for _, c := range registry.Custom() {
			if c.Group == gvk.Group && c.Kind == gvk.Kind && c.Scale {
				return c
			}
		}
		return nil
	}
	return r
}

// customConvertor converts custom resources between versions (strategy
// None: only apiVersion changes), for the field manager.
type customConvertor struct{}

func (customConvertor) Convert(in, out, context interface{}) error {
	return fmt.Errorf("custom resources cannot be converted in place")
}

func (customConvertor) ConvertFieldLabel(gvk schema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}

func (customConvertor) ConvertToVersion(in runtime.Object, target runtime.GroupVersioner) (runtime.Object, error) {
	u, ok := in.(*unstructured.Unstructured)
	if !ok {
		return in, nil
	}
	gvk := u.GroupVersionKind()
	to, ok := target.KindForGroupVersionKinds([]schema.GroupVersionKind{gvk})
	if !ok || to.GroupVersion() == gvk.GroupVersion() || to.Version == runtime.APIVersionInternal {
		return in, nil
	}
	out := u.DeepCopy()
	out.SetAPIVersion(to.GroupVersion().String())
	return out, nil
}

// customCreater makes empty custom resources.
type customCreater struct{}

func (customCreater) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// customOpenAPI serves the OpenAPI v3 documents of custom group versions
// and lists them in /openapi/v3 beside the built-in ones from next.
func (s *Server) customOpenAPI(next http.Handler) http.Handler {
	const v3 = "/openapi/v3"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimSuffix(r.URL.Path, "/")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		if path == v3 {
			gvs := s.crds.GroupVersions()
			if len(gvs) == 0 {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			r2 := r.Clone(r.Context())
			r2.Header.Set("Accept", "application/json")
			for _, h := range []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Range"} {
				r2.Header.Del(h)
			}
			next.ServeHTTP(rec, r2)
			var disco struct {
				Paths map[string]map[string]string `json:"paths"`
			}
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &disco) != nil {
				next.ServeHTTP(w, r)
				return
			}
			if disco.Paths == nil {
				disco.Paths = map[string]map[string]string{}
			}
			for _, gv := range gvs {
				if _, hash, ok := s.crds.OpenAPIV3(gv); ok {
					key := "apis/" + gv.Group + "/" + gv.Version
					disco.Paths[key] = map[string]string{"serverRelativeURL": v3 + "/" + key + "?" + url.Values{"hash": {hash}}.Encode()}
				}
			}
			s.writeJSON(w, http.StatusOK, disco)
			return
		}
		if rest, ok := strings.CutPrefix(path, v3+"/apis/"); ok {
			if parts := strings.Split(rest, "/"); len(parts) == 2 {
				if doc, hash, ok := s.crds.OpenAPIV3(schema.GroupVersion{Group: parts[0], Version: parts[1]}); ok {
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("Etag", strconv.Quote(hash))
					if r.URL.Query().Get("hash") == hash {
						w.Header().Set("Cache-Control", "public, immutable")
					} else {
						w.Header().Set("Cache-Control", "no-cache, private")
					}
					w.WriteHeader(http.StatusOK)
					_, _ = w.Write(doc)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}
