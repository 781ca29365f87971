package apiserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/admission"
	"skiff/internal/registry"
	"skiff/internal/storage"
)

// storageKey is where an object lives in etcd, as upstream lays it out.
func storageKey(res *registry.Resource, ns, name string) string {
	if res.Namespaced {
		return "/registry/" + res.StoragePrefix + "/" + ns + "/" + name
	}
	return "/registry/" + res.StoragePrefix + "/" + name
}

// storagePrefix is the key prefix of a list (one namespace, or all).
func storagePrefix(res *registry.Resource, ns string) string {
	if res.Namespaced && ns != "" {
		return "/registry/" + res.StoragePrefix + "/" + ns + "/"
	}
	return "/registry/" + res.StoragePrefix + "/"
}

func isDryRun(q *request) bool {
	for _, v := range q.r.URL.Query()["dryRun"] {
		if v == "All" {
			return true
		}
	}
	return false
}

func validateDryRun(q *request) error {
	for _, v := range q.r.URL.Query()["dryRun"] {
		if v != "All" {
			return badRequest("unsupported dry run value %q, supported values are \"All\"", v)
		}
	}
	return nil
}

// fieldValidation returns the directive for unknown and duplicate fields;
// upstream's default is Warn.
func fieldValidation(q *request) (string, error) {
	v := q.query("fieldValidation")
	switch v {
	case "":
		return "Warn", nil
	case "Strict", "Warn", "Ignore":
		return v, nil
	}
	return "", badRequest("fieldValidation parameter unsupported: %s, valid values are: Ignore, Warn, Strict", v)
}

func readBody(q *request) ([]byte, error) {
	if q.r.Body == nil {
		return nil, badRequest("request body is required")
	}
	data, err := io.ReadAll(q.r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, requestTooLarge(mbe.Limit)
		}
		return nil, badRequest("reading request body: %v", err)
	}
	return data, nil
}

// decodeObject decodes data (in mediaType) into an object of the request's
// kind, applying the field validation directive.
func (s *Server) decodeObject(q *request, data []byte, info runtime.SerializerInfo) (runtime.Object, error) {
	directive, err := fieldValidation(q)
	if err != nil {
		return nil, err
	}
	if q.res.IsCustom() && q.subresource != "scale" {
		return decodeCustom(q, data, info, directive)
	}
	decoder := info.Serializer
	if directive != "Ignore" && info.StrictSerializer != nil {
		decoder = info.StrictSerializer
	}
	want := q.res.GVK()
	if q.subresource == "scale" {
		want = scaleGVK
	}
	obj, gvk, err := decoder.Decode(data, &want, nil)
	if err != nil {
		if strictErr, ok := runtime.AsStrictDecodingError(err); ok && obj != nil {
			switch directive {
			case "Strict":
				return nil, apierrors.NewBadRequest(strictErr.Error())
			case "Warn":
				for _, e := range strictErr.Errors() {
					addWarning(q.w, e.Error())
				}
			}
			// Ignore: the codecs are built with EnableStrict, so even the
			// plain serializer reports unknown fields; drop them silently.
		} else {
			if runtime.IsNotRegisteredError(err) || runtime.IsMissingKind(err) || runtime.IsMissingVersion(err) {
				return nil, badRequest("%v", err)
			}
			return nil, badRequest("error decoding request body: %v", err)
		}
	}
	if gvk.GroupVersion() != want.GroupVersion() {
		return nil, badRequest("the API version in the data (%s) does not match the expected API version (%s)", gvk.GroupVersion().String(), want.GroupVersion().String())
	}
	if gvk.Kind != want.Kind {
		return nil, badRequest("the kind in the data (%s) does not match the expected kind (%s)", gvk.Kind, want.Kind)
	}
	convertInput(obj)
	return obj, nil
}

// convertInput does what upstream's conversion to the internal version does
// to write-only fields: a Secret's stringData is merged into data (and wins
// over it) and never stored.
func convertInput(obj runtime.Object) {
	if sec, ok := obj.(*corev1.Secret); ok && sec.StringData != nil {
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		for k, v := range sec.StringData {
			sec.Data[k] = []byte(v)
		}
		sec.StringData = nil
	}
}

func addWarning(w http.ResponseWriter, msg string) {
	w.Header().Add("Warning", "299 - "+strconv.Quote(msg))
}

// decodeBody reads and decodes the request body.
func (s *Server) decodeBody(q *request) (runtime.Object, error) {
	info, _, err := requestSerializer(q.r)
	if err != nil {
		return nil, err
	}
	data, err := readBody(q)
	if err != nil {
		return nil, err
	}
	return s.decodeObject(q, data, info)
}

// checkNamespace fills or checks the object's namespace against the URL.
func checkNamespace(q *request, m metav1.Object) error {
	if !q.res.Namespaced {
		m.SetNamespace("")
		return nil
	}
	if ns := m.GetNamespace(); ns != "" && ns != q.namespace {
		return badRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	m.SetNamespace(q.namespace)
	return nil
}

func (s *Server) serveGet(q *request) {
	ctx := q.r.Context()
	obj, err := s.store.Get(ctx, storageKey(q.res, q.namespace, q.name))
	if err != nil {
		s.writeError(q.w, q.r, toStatusError(err, q.gr(), q.name))
		return
	}
	out, err := s.prepareForOutput(q.res, obj)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	s.writeObject(q, http.StatusOK, out)
}

// continueToken is upstream's list continuation token.
type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	StartKey        string `json:"start"`
}

func encodeContinue(prefix, nextKey string, rev int64) (string, error) {
	data, err := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", ResourceVersion: rev, StartKey: strings.TrimPrefix(nextKey, prefix)})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(data), nil
}

func decodeContinue(token, prefix string) (startKey string, rev int64, err error) {
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", 0, fmt.Errorf("continue key is not valid: %v", err)
	}
	var t continueToken
	if err := json.Unmarshal(data, &t); err != nil {
		return "", 0, fmt.Errorf("continue key is not valid: %v", err)
	}
	if t.APIVersion != "meta.k8s.io/v1" {
		return "", 0, fmt.Errorf("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
	}
	if t.ResourceVersion == 0 {
		return "", 0, errors.New("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
	}
	if strings.Contains(t.StartKey, "..") || strings.HasPrefix(t.StartKey, "/") {
		return "", 0, errors.New("continue key is not valid: key must not contain path traversal")
	}
	return prefix + t.StartKey, t.ResourceVersion, nil
}

// selection is the parsed label and field selectors of a list or watch.
type selection struct {
	res    *registry.Resource
	labels labels.Selector
	fields fields.Selector
	// needFields is true when the field selector reads beyond metadata.
	needFields bool
}

func (s *Server) parseSelection(q *request) (*selection, error) {
	sel := &selection{res: q.res, labels: labels.Everything(), fields: fields.Everything()}
	if v := q.query("labelSelector"); v != "" {
		ls, err := labels.Parse(v)
		if err != nil {
			return nil, badRequest("unable to parse requirement: %v", unwrapLabelErr(err))
		}
		sel.labels = ls
	}
	if v := q.query("fieldSelector"); v != "" {
		fs, err := fields.ParseSelector(v)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		for _, r := range fs.Requirements() {
			switch r.Field {
			case "metadata.name", "metadata.namespace":
			default:
				if !hasVerb(q.res.Fields, r.Field) {
					return nil, badRequest("field label not supported: %s", r.Field)
				}
				sel.needFields = true
			}
		}
		sel.fields = fs
	}
	return sel, nil
}

func unwrapLabelErr(err error) string {
	msg := err.Error()
	return strings.TrimPrefix(msg, "unable to parse requirement: ")
}

func (sel *selection) empty() bool {
	return sel.labels.Empty() && sel.fields.Empty()
}

// matchesStored reports whether a stored object is selected, converting it
// to the served version first when they differ.
func (sel *selection) matchesStored(obj runtime.Object) bool {
	if sel.needFields {
		served, err := registry.FromStorage(sel.res, obj)
		if err != nil {
			return false
		}
		obj = served
	}
	return sel.matches(obj)
}

// matches reports whether obj (in the served version) is selected.
func (sel *selection) matches(obj runtime.Object) bool {
	if sel.empty() {
		return true
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	if !sel.labels.Matches(labels.Set(m.GetLabels())) {
		return false
	}
	if sel.fields.Empty() {
		return true
	}
	set := fields.Set{"metadata.name": m.GetName()}
	if ns := m.GetNamespace(); ns != "" {
		set["metadata.namespace"] = ns
	} else {
		set["metadata.namespace"] = ""
	}
	if sel.needFields {
		for k, v := range registry.SelectableFields(sel.res, obj) {
			set[k] = v
		}
	}
	return sel.fields.Matches(set)
}

func parseRV(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	rv, err := strconv.ParseInt(v, 10, 64)
	if err != nil || rv < 0 {
		return 0, badRequest("invalid resource version: %s", v)
	}
	return rv, nil
}

func (s *Server) serveList(q *request) {
	ctx := q.r.Context()
	sel, err := s.parseSelection(q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	prefix := storagePrefix(q.res, q.namespace)
	opts := storage.ListOptions{}
	if !sel.empty() {
		opts.Filter = sel.matchesStored
	}
	if v := q.query("limit"); v != "" {
		limit, err := strconv.ParseInt(v, 10, 64)
		if err != nil || limit < 0 {
			s.writeError(q.w, q.r, badRequest("invalid limit: %s", v))
			return
		}
		opts.Limit = limit
	}
	rvParam := q.query("resourceVersion")
	rv, err := parseRV(rvParam)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	match := q.query("resourceVersionMatch")
	switch match {
	case "", string(metav1.ResourceVersionMatchExact), string(metav1.ResourceVersionMatchNotOlderThan):
	default:
		s.writeError(q.w, q.r, invalid(metaListGK, "", field.ErrorList{field.NotSupported(field.NewPath("resourceVersionMatch"), match, []string{"Exact", "NotOlderThan"})}))
		return
	}
	if match != "" && rvParam == "" {
		s.writeError(q.w, q.r, invalid(metaListGK, "", field.ErrorList{field.Forbidden(field.NewPath("resourceVersionMatch"), "resourceVersionMatch is forbidden unless resourceVersion is provided")}))
		return
	}
	if token := q.query("continue"); token != "" {
		if rvParam != "" && rvParam != "0" {
			s.writeError(q.w, q.r, badRequest("specifying resource version is not allowed when using continue"))
			return
		}
		start, crv, err := decodeContinue(token, prefix)
		if err != nil {
			s.writeError(q.w, q.r, badRequest("%v", err))
			return
		}
		opts.StartKey, opts.Revision = start, crv
	} else {
		switch {
		case rvParam == "":
			opts.Consistent = true
		case rv == 0:
			// Any version will do.
		case match == string(metav1.ResourceVersionMatchExact) || (match == "" && opts.Limit > 0):
			opts.Revision = rv
		default:
			// NotOlderThan: the newest state is never older than rv.
			cur, err := s.store.Revision(ctx)
			if err != nil {
				s.writeError(q.w, q.r, toStatusError(err, q.gr(), ""))
				return
			}
			if rv > cur {
				s.writeError(q.w, q.r, toStatusError(storage.ErrTooLargeResourceVersion, q.gr(), ""))
				return
			}
			opts.Consistent = true
		}
	}
	res, err := s.store.List(ctx, prefix, opts)
	if err != nil {
		if errors.Is(err, storage.ErrExpired) && q.query("continue") == "" {
			err = apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d", rv))
		}
		s.writeError(q.w, q.r, toStatusError(err, q.gr(), ""))
		return
	}
	lm := metav1.ListMeta{ResourceVersion: strconv.FormatInt(res.Revision, 10)}
	if res.NextKey != "" {
		token, err := encodeContinue(prefix, res.NextKey, res.Revision)
		if err != nil {
			s.writeError(q.w, q.r, err)
			return
		}
		lm.Continue = token
		if res.Remaining >= 0 {
			lm.RemainingItemCount = &res.Remaining
		}
	}
	listGVK := q.res.GVK().GroupVersion().WithKind(q.res.Kind + "List")
	if done, err := s.writeCachedList(q, res, listGVK, &lm); done || err != nil {
		if err != nil {
			s.writeError(q.w, q.r, err)
		}
		return
	}
	list, err := buildList(q.res, res.Items, listGVK, &lm)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	s.writeObject(q, http.StatusOK, list)
}

// buildList makes the list object of stored items in the served version.
func buildList(r *registry.Resource, stored []runtime.Object, listGVK schema.GroupVersionKind, lm *metav1.ListMeta) (runtime.Object, error) {
	list := r.NewList()
	// One conversion of all items (one ConversionReview for a custom
	// resource converted by webhook).
	items, err := registry.FromStorageList(r, stored)
	if err != nil {
		return nil, err
	}
	if err := meta.SetList(list, items); err != nil {
		return nil, err
	}
	// Items of a list carry no kind of their own. SetList copied them
	// into the list, so this never touches the store's shared objects.
	// Custom resource items keep theirs, as upstream's: SetList copies
	// only the Unstructured struct, whose map is the stored object's.
	if !r.IsCustom() {
		_ = meta.EachListItem(list, func(it runtime.Object) error {
			it.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
			return nil
		})
	}
	la, _ := meta.ListAccessor(list)
	la.SetResourceVersion(lm.ResourceVersion)
	if lm.Continue != "" {
		la.SetContinue(lm.Continue)
		if lm.RemainingItemCount != nil {
			la.SetRemainingItemCount(lm.RemainingItemCount)
		}
	}
	setKind(list, listGVK)
	return list, nil
}

func (s *Server) serveCreate(q *request) {
	ctx := q.r.Context()
	if st := q.res.Strategy; st != nil && st.Terminating {
		err := apierrors.NewMethodNotSupported(q.gr(), "create")
		err.ErrStatus.Message = "create not allowed while custom resource definition is terminating"
		s.writeError(q.w, q.r, err)
		return
	}
	if err := validateDryRun(q); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	obj, err := s.decodeBody(q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	out, code, err := s.create(ctx, q, obj)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	if q.res == registry.CRDResource && !isDryRun(q) {
		// A client that waits for Established right after creating a CRD
		// must find its conditions: give the controller a moment.
		if m, err := meta.Accessor(out); err == nil {
			s.crds.WaitNamesChecked(ctx, m.GetName(), 2*time.Second)
		}
	}
	s.writeObject(q, code, out)
}

// create runs the create path for an already decoded object.
func (s *Server) create(ctx context.Context, q *request, obj runtime.Object) (runtime.Object, int, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, 0, err
	}
	if err := checkNamespace(q, m); err != nil {
		return nil, 0, err
	}
	if q.res.Namespaced {
		if err := s.admitNamespace(ctx, q.namespace, m.GetName(), q.res); err != nil {
			return nil, 0, err
		}
	}
	if m.GetResourceVersion() != "" {
		return nil, 0, badRequest("resourceVersion should not be set on objects to be created")
	}
	generated := m.GetName() == "" && m.GetGenerateName() != ""
	orig := obj.DeepCopyObject()
	for attempt := 0; ; attempt++ {
		obj = orig.DeepCopyObject()
		m, _ = meta.Accessor(obj)
		if generated {
			m.SetName(generateName(m.GetGenerateName()))
		}
		// Defaults apply to what the client sent, as upstream defaults while
		// decoding; then the server sets the system fields.
		if s.hooks.Default != nil {
			s.hooks.Default(obj)
		}
		strategyDefault(q.res, obj)
		attrs := admissionAttributes(ctx, q, admission.Create, obj, nil)
		if err := s.admitMutating(ctx, q, attrs); err != nil {
			return nil, 0, err
		}
		prepareCreate(q.res, obj)
		stampRequester(ctx, obj)
		if err := s.trackManagedFields(ctx, q, nil, obj); err != nil {
			return nil, 0, err
		}
		if errs := append(s.validateCreate(q.res, obj), strategyValidate(q.res, "", obj, nil)...); len(errs) > 0 {
			return nil, 0, invalid(q.res.GVK().GroupKind(), m.GetName(), errs)
		}
		if err := s.admitValidating(ctx, q, attrs); err != nil {
			return nil, 0, err
		}
		claims, err := s.beforeCreate(ctx, q, obj)
		if err != nil {
			return nil, 0, err
		}
		if isDryRun(q) {
			out, err := s.prepareForOutput(q.res, obj)
			return out, http.StatusCreated, err
		}
		stored, err := registry.ToStorage(q.res, obj)
		if err != nil {
			return nil, 0, err
		}
		created, err := s.store.Create(ctx, storageKey(q.res, q.namespace, m.GetName()), stored, claims)
		if err != nil {
			var ce *storage.ClaimError
			if errors.As(err, &ce) {
				if retry, ferr := s.claimFailed(q, orig, ce); retry && attempt < 5 {
					continue
				} else if ferr != nil {
					return nil, 0, ferr
				}
			}
			if errors.Is(err, storage.ErrAlreadyExists) && generated && attempt < 5 {
				continue
			}
			if errors.Is(err, storage.ErrAlreadyExists) && generated {
				return nil, 0, apierrors.NewAlreadyExists(q.gr(), m.GetName())
			}
			return nil, 0, toStatusError(err, q.gr(), m.GetName())
		}
		if ns, ok := created.(*corev1.Namespace); ok {
			s.ensureDefaultServiceAccount(ctx, ns.Name)
		}
		out, err := s.prepareForOutput(q.res, created)
		return out, http.StatusCreated, err
	}
}

func (s *Server) validateCreate(res *registry.Resource, obj runtime.Object) field.ErrorList {
	if s.hooks.ValidateCreate == nil {
		return nil
	}
	return s.hooks.ValidateCreate(obj)
}

func (s *Server) serveUpdate(q *request) {
	ctx := q.r.Context()
	if err := validateDryRun(q); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	obj, err := s.decodeBody(q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	if m.GetName() != q.name {
		s.writeError(q.w, q.r, badRequest("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), q.name))
		return
	}
	if err := checkNamespace(q, m); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	out, code, err := s.update(ctx, q, func(current runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	})
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	s.writeObject(q, code, out)
}

// update runs the update path: newObjFn computes the requested object from
// the current one (a PUT body, or the current object with a patch applied);
// the result is prepared, defaulted, validated and written if the object did
// not change meanwhile.
func (s *Server) update(ctx context.Context, q *request, newObjFn func(current runtime.Object) (runtime.Object, error)) (runtime.Object, int, error) {
	key := storageKey(q.res, q.namespace, q.name)
	dryRun := isDryRun(q)
	var dryResult, lastTried runtime.Object
	errDryRun := errors.New("dry run")
	fn := func(current runtime.Object) (runtime.Object, error) {
		cur, err := registry.FromStorage(q.res, current)
		if err != nil {
			return nil, err
		}
		setKind(cur, q.res.GVK())
		obj, err := newObjFn(cur.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, err
		}
		curMeta, _ := meta.Accessor(cur)
		if rv := m.GetResourceVersion(); rv != "" && rv != curMeta.GetResourceVersion() {
			return nil, apierrors.NewConflict(q.gr(), q.name, errors.New(objectModifiedMsg))
		}
		// An update without a resourceVersion is unconditional: it applies
		// to the current object.
		m.SetResourceVersion(curMeta.GetResourceVersion())
		switch q.subresource {
		case "status":
			obj = keepApproval(applyStatusUpdate(obj, cur), cur)
		case "approval":
			obj = applyApproval(obj, cur)
		case "finalize":
			obj = applyFinalize(obj, cur)
		default:
			if s.hooks.Default != nil {
				s.hooks.Default(obj)
			}
			strategyDefault(q.res, obj)
			prepareUpdate(q.res, obj, cur)
		}
		attrs := admissionAttributes(ctx, q, admission.Update, obj, cur)
		if err := s.admitMutating(ctx, q, attrs); err != nil {
			return nil, err
		}
		if err := s.trackManagedFields(ctx, q, cur, obj); err != nil {
			return nil, err
		}
		if err := s.beforeUpdate(ctx, q, obj, cur); err != nil {
			return nil, err
		}
		var errs field.ErrorList
		if q.subresource == "status" {
			if s.hooks.ValidateStatusUpdate != nil {
				errs = s.hooks.ValidateStatusUpdate(obj, cur)
			}
		} else if s.hooks.ValidateUpdate != nil {
			errs = s.hooks.ValidateUpdate(obj, cur)
		}
		if q.subresource == "" || q.subresource == "status" {
			errs = append(errs, strategyValidate(q.res, q.subresource, obj, cur)...)
		}
		if len(errs) > 0 {
			return nil, invalid(q.res.GVK().GroupKind(), q.name, errs)
		}
		if err := s.admitValidating(ctx, q, attrs); err != nil {
			return nil, err
		}
		if dryRun {
			dryResult = obj
			return nil, errDryRun
		}
		lastTried = obj
		return registry.ToStorage(q.res, obj)
	}
	var updated runtime.Object
	var err error
	for attempt := 0; ; attempt++ {
		updated, err = s.store.Update(ctx, key, fn, s.updateClaims(q))
		var ce *storage.ClaimError
		if errors.As(err, &ce) {
			// A value picked at random was taken meanwhile: pick again. A
			// requested value stays taken, so the last attempt reports it.
			if attempt < 5 {
				continue
			}
			if _, ferr := s.claimFailed(q, lastTried, ce); ferr != nil {
				return nil, 0, ferr
			}
		}
		break
	}
	if errors.Is(err, errDryRun) {
		out, err := s.prepareForOutput(q.res, dryResult)
		return out, http.StatusOK, err
	}
	if err != nil {
		return nil, 0, toStatusError(err, q.gr(), q.name)
	}
	// An object being deleted goes away once its last finalizer is removed.
	if m, err := meta.Accessor(updated); err == nil && m.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) == 0 && !hasSpecFinalizers(updated) {
		if _, err := s.store.Delete(ctx, key, rvPrecondition(m.GetResourceVersion()), s.deleteClaims(q)); err == nil {
			out, err := s.prepareForOutput(q.res, updated)
			return out, http.StatusOK, err
		}
	}
	out, err := s.prepareForOutput(q.res, updated)
	return out, http.StatusOK, err
}

func rvPrecondition(rv string) func(runtime.Object) error {
	return func(current runtime.Object) error {
		m, err := meta.Accessor(current)
		if err != nil {
			return err
		}
		if m.GetResourceVersion() != rv {
			return storage.ErrConflict
		}
		return nil
	}
}
