package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/registry"
)

var metaV1 = schema.GroupVersion{Group: "meta.k8s.io", Version: "v1"}

// writeJSON writes a plain JSON document (discovery of non-resource paths).
func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(data)
}

// writeError writes err as a Status in the negotiated format (JSON when the
// client's Accept cannot be honoured).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			se = requestTooLarge(mbe.Limit)
		} else {
			se = apierrors.NewInternalError(err)
		}
	}
	status := se.ErrStatus
	status.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	code := statusCode(se)
	if code >= 500 && r.Context().Err() == nil {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", status.Message)
	}
	out, nerr := negotiateOutput(r)
	if nerr != nil || out.as != "" {
		out.info, _ = serializerFor(mediaJSON)
	}
	var buf bytes.Buffer
	if err := out.info.Serializer.Encode(&status, &buf); err != nil {
		http.Error(w, status.Message, code)
		return
	}
	w.Header().Set("Content-Type", out.info.MediaType)
	if code == http.StatusTooManyRequests || code == http.StatusGatewayTimeout {
		if status.Details != nil && status.Details.RetryAfterSeconds > 0 {
			w.Header().Set("Retry-After", itoa(int64(status.Details.RetryAfterSeconds)))
		}
	}
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// setKind stamps the apiVersion and kind the client expects on obj.
func setKind(obj runtime.Object, gvk schema.GroupVersionKind) {
	// Cached objects are shared by concurrent readers and already carry
	// their kind: never write when nothing changes.
	if obj.GetObjectKind().GroupVersionKind() != gvk {
		obj.GetObjectKind().SetGroupVersionKind(gvk)
	}
}

// writeObject writes obj (a single object or a list of res) with code, in the
// negotiated media type and transformation.
func (s *Server) writeObject(q *request, code int, obj runtime.Object) {
	out, err := s.transform(q, obj)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	var buf bytes.Buffer
	if err := q.out.info.Serializer.Encode(out, &buf); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	writeBody(q.w, q.r, code, q.out.info.MediaType, buf.Bytes())
}

// transform turns obj into what q.out asks for: itself, a Table, or
// partial object metadata.
func (s *Server) transform(q *request, obj runtime.Object) (runtime.Object, error) {
	if _, isStatus := obj.(*metav1.Status); isStatus {
		return obj, nil
	}
	switch q.out.as {
	case "":
		return obj, nil
	case "Table":
		return s.toTable(q, obj)
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		return toPartial(q, obj)
	}
	return obj, nil
}

func toPartial(q *request, obj runtime.Object) (runtime.Object, error) {
	gv := schema.GroupVersion{Group: "meta.k8s.io", Version: q.out.asVersion}
	if meta.IsListType(obj) {
		if q.out.as != "PartialObjectMetadataList" {
			return nil, notAcceptable("list of PartialObjectMetadata requires as=PartialObjectMetadataList")
		}
		items, err := meta.ExtractList(obj)
		if err != nil {
			return nil, err
		}
		list := &metav1.PartialObjectMetadataList{}
		setKind(list, gv.WithKind("PartialObjectMetadataList"))
		if la, err := meta.ListAccessor(obj); err == nil {
			list.ResourceVersion = la.GetResourceVersion()
			list.Continue = la.GetContinue()
			list.RemainingItemCount = la.GetRemainingItemCount()
		}
		for _, it := range items {
			p, err := partialOf(it, gv)
			if err != nil {
				return nil, err
			}
			// Items of a list carry no type, as in every list.
			p.TypeMeta = metav1.TypeMeta{}
			list.Items = append(list.Items, *p)
		}
		return list, nil
	}
	if q.out.as != "PartialObjectMetadata" {
		return nil, notAcceptable("a single object requires as=PartialObjectMetadata")
	}
	return partialOf(obj, gv)
}

func partialOf(obj runtime.Object, gv schema.GroupVersion) (*metav1.PartialObjectMetadata, error) {
	p := &metav1.PartialObjectMetadata{}
	setKind(p, gv.WithKind("PartialObjectMetadata"))
	if u, ok := obj.(*unstructured.Unstructured); ok {
		om, err := objectMetaOf(u)
		if err != nil {
			return nil, err
		}
		p.ObjectMeta = *om
		return p, nil
	}
	accessor, ok := obj.(metav1.ObjectMetaAccessor)
	if !ok {
		return nil, errors.New("object has no ObjectMeta")
	}
	om, ok := accessor.GetObjectMeta().(*metav1.ObjectMeta)
	if !ok {
		return nil, errors.New("object has no ObjectMeta")
	}
	p.ObjectMeta = *om.DeepCopy()
	return p, nil
}

// toTable renders obj as a server-side Table with the kind's columns.
func (s *Server) toTable(q *request, obj runtime.Object) (runtime.Object, error) {
	gk := q.res.GVK().GroupKind()
	table := &metav1.Table{}
	setKind(table, schema.GroupVersion{Group: "meta.k8s.io", Version: q.out.asVersion}.WithKind("Table"))
	rowFn := s.hooks.Row
	if st := q.res.Strategy; st != nil && st.Row != nil {
		table.ColumnDefinitions = st.Columns
		rowFn = st.Row
	} else if s.hooks.Columns != nil {
		table.ColumnDefinitions = s.hooks.Columns(gk)
	}
	var items []runtime.Object
	if meta.IsListType(obj) {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, err
		}
		if la, err := meta.ListAccessor(obj); err == nil {
			table.ResourceVersion = la.GetResourceVersion()
			table.Continue = la.GetContinue()
			table.RemainingItemCount = la.GetRemainingItemCount()
		}
	} else {
		items = []runtime.Object{obj}
		if m, err := meta.Accessor(obj); err == nil {
			table.ResourceVersion = m.GetResourceVersion()
		}
	}
	include := q.query("includeObject")
	now := time.Now()
	table.Rows = make([]metav1.TableRow, 0, len(items))
	for _, it := range items {
		row := metav1.TableRow{}
		if rowFn != nil {
			cells, err := rowFn(it, now)
			if err != nil {
				return nil, err
			}
			row.Cells = cells
		}
		switch include {
		case "None":
		case "Object":
			setKind(it, q.res.GVK())
			raw, err := runtime.Encode(codecs.LegacyCodec(), it)
			if err != nil {
				return nil, err
			}
			row.Object = runtime.RawExtension{Raw: raw}
		default:
			p, err := partialOf(it, metaV1)
			if err != nil {
				return nil, err
			}
			raw, err := json.Marshal(p)
			if err != nil {
				return nil, err
			}
			row.Object = runtime.RawExtension{Raw: raw}
		}
		table.Rows = append(table.Rows, row)
	}
	return table, nil
}

// prepareForOutput converts a stored object to the request's version and
// stamps its kind.
func (s *Server) prepareForOutput(res *registry.Resource, obj runtime.Object) (runtime.Object, error) {
	out, err := registry.FromStorage(res, obj)
	if err != nil {
		return nil, err
	}
	setKind(out, res.GVK())
	return out, nil
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
