package apiserver

// Server-side apply and managedFields.
//
// Every write records who changed what in metadata.managedFields, as
// upstream's field manager does: create, update and patch add an "Update"
// entry for the request's manager (?fieldManager=, else the User-Agent up to
// its first "/"), the status, scale and finalize subresources record theirs
// with subresource set, and PATCH with application/apply-patch+yaml merges
// the applied configuration into the object as an "Apply" entry, refusing
// (409) to change fields another manager owns unless ?force=true.
//
// The bookkeeping is the library's (k8s.io/apimachinery's managedfields, on
// the schemas client-go ships for the built-in types); this file gives it
// the server's conversions and defaults and plugs it into the write paths:
// trackManagedFields runs in create() and update() once the object to store
// is known, and serveApply drives apply through those same paths.

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apiextensionsac "k8s.io/apiextensions-apiserver/pkg/client/applyconfiguration"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/typed"

	"skiff/internal/registry"
)

// typeConverter turns built-in objects into structured-merge-diff values,
// with upstream's list types and map keys (client-go's schemas of the
// built-in types); built on first use.
var typeConverter = sync.OnceValue(func() managedfields.TypeConverter {
	p, err := typed.NewParser(scaleSchema)
	if err != nil {
		panic("apiserver: Scale schema: " + err.Error())
	}
	return builtinTypes{builtin: applyconfigurations.NewTypeConverter(registry.Scheme), scale: p.Type("io.k8s.api.autoscaling.v1.Scale"),
		apiextensions: apiextensionsac.NewTypeConverter(registry.Scheme)}
})

// scaleSchema describes autoscaling/v1 Scale, which client-go's schemas
// lack (it has no apply configuration). Its metadata is left deduced: the
// field manager ignores the system metadata a Scale carries.
const scaleSchema typed.YAMLObject = `types:
- name: io.k8s.api.autoscaling.v1.Scale
  map:
    fields:
    - name: apiVersion
      type:
        scalar: string
    - name: kind
      type:
        scalar: string
    - name: metadata
      type:
        namedType: __untyped_deduced_
      default: {}
    - name: spec
      type:
        namedType: io.k8s.api.autoscaling.v1.ScaleSpec
      default: {}
    - name: status
      type:
        namedType: io.k8s.api.autoscaling.v1.ScaleStatus
      default: {}
- name: io.k8s.api.autoscaling.v1.ScaleSpec
  map:
    fields:
    - name: replicas
      type:
        scalar: numeric
- name: io.k8s.api.autoscaling.v1.ScaleStatus
  map:
    fields:
    - name: replicas
      type:
        scalar: numeric
      default: 0
    - name: selector
      type:
        scalar: string
- name: __untyped_atomic_
  scalar: untyped
  list:
    elementType:
      namedType: __untyped_atomic_
    elementRelationship: atomic
  map:
    elementType:
      namedType: __untyped_atomic_
    elementRelationship: atomic
- name: __untyped_deduced_
  scalar: untyped
  list:
    elementType:
      namedType: __untyped_atomic_
    elementRelationship: atomic
  map:
    elementType:
      namedType: __untyped_deduced_
    elementRelationship: separable
`

// builtinTypes is client-go's type converter plus Scale.
type builtinTypes struct {
	builtin managedfields.TypeConverter
	scale   typed.ParseableType
	// apiextensions knows CustomResourceDefinition (not in client-go).
	apiextensions managedfields.TypeConverter
}

func (c builtinTypes) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	if gvk := obj.GetObjectKind().GroupVersionKind(); gvk.Group == "apiextensions.k8s.io" {
		return c.apiextensions.ObjectToTyped(obj, opts...)
	}
	if obj.GetObjectKind().GroupVersionKind() != scaleGVK {
		return c.builtin.ObjectToTyped(obj, opts...)
	}
	if u, ok := obj.(runtime.Unstructured); ok {
		return c.scale.FromUnstructured(u.UnstructuredContent(), opts...)
	}
	return c.scale.FromStructured(obj, opts...)
}

func (c builtinTypes) TypedToObject(v *typed.TypedValue) (runtime.Object, error) {
	return c.builtin.TypedToObject(v)
}

// fieldManagementKey is the context key of a write's fieldManagement.
type fieldManagementKey struct{}

// fieldManagement is what a write path tells trackManagedFields beyond the
// request itself.
type fieldManagement struct {
	// subresource is the subresource the client wrote when the server
	// writes the main object for it (scale).
	subresource string
	// applied is set by server-side apply: managed holds the entries the
	// apply computed for the object being written.
	applied bool
	managed []metav1.ManagedFieldsEntry
}

func withFieldManagement(ctx context.Context, fm *fieldManagement) context.Context {
	return context.WithValue(ctx, fieldManagementKey{}, fm)
}

func fieldManagementFrom(ctx context.Context) *fieldManagement {
	fm, _ := ctx.Value(fieldManagementKey{}).(*fieldManagement)
	return fm
}

// trackManagedFields sets obj's managedFields for a write: live is the
// object before it (nil on create), obj the object about to be validated
// and stored, both in the served version. Managed fields the client sent are
// honoured as upstream does: an empty list resets them, leaving them out
// keeps the live ones, and subresource writes never change them directly.
func (s *Server) trackManagedFields(ctx context.Context, q *request, live, obj runtime.Object) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	state := fieldManagementFrom(ctx)
	if state != nil && state.applied {
		m.SetManagedFields(state.managed)
		return nil
	}
	if err := validateFieldManager(q); err != nil {
		return err
	}
	manager := managerOf(q)
	sub := q.subresource
	if state != nil && state.subresource != "" {
		sub = state.subresource
	}
	if live == nil {
		live = q.res.New()
	}
	setKind(live, q.res.GVK())
	setKind(obj, q.res.GVK())
	if sub == "scale" {
		m.SetManagedFields(s.scaleManagedFields(q, live, obj, manager))
		return nil
	}
	fm, err := s.newFieldManager(q.res, sub)
	if err != nil {
		return err
	}
	out := fm.UpdateNoErrors(live, obj, manager)
	if om, err := meta.Accessor(out); err == nil {
		m.SetManagedFields(om.GetManagedFields())
	}
	return nil
}

// scaleManagedFields records a write through the scale subresource as
// upstream does: the owners of the parent's replicas are seen as owners of
// the Scale's spec.replicas, the write is tracked on the Scale, and the
// result is mapped back onto the parent's entries.
func (s *Server) scaleManagedFields(q *request, live, obj runtime.Object, manager string) []metav1.ManagedFieldsEntry {
	lm, _ := meta.Accessor(live)
	keep := lm.GetManagedFields()
	h := managedfields.NewScaleHandler(keep, q.res.GVK().GroupVersion(), replicasPaths(q.res))
	entries, err := h.ToSubresource()
	if err != nil {
		return keep
	}
	oldScale, err := scaleOf(live)
	if err != nil {
		return keep
	}
	newScale, err := scaleOf(obj)
	if err != nil {
		return keep
	}
	oldScale.ManagedFields, newScale.ManagedFields = entries, entries
	fm, err := s.newFieldManager(q.res, "scale")
	if err != nil {
		return keep
	}
	out, ok := fm.UpdateNoErrors(oldScale, newScale, manager).(*autoscalingv1.Scale)
	if !ok {
		return keep
	}
	parent, err := h.ToParent(out.ManagedFields)
	if err != nil {
		return keep
	}
	return parent
}

// replicasPaths is where the scalable kinds keep their replica count.
func replicasPaths(res *registry.Resource) managedfields.ResourcePathMappings {
	if res.IsCustom() {
		var parts []interface{}
		for _, p := range jsonPathParts(res.Strategy.SpecReplicasPath) {
			parts = append(parts, p)
		}
		return managedfields.ResourcePathMappings{res.GVK().GroupVersion().String(): fieldpath.MakePathOrDie(parts...)}
	}
	return managedfields.ResourcePathMappings{res.GVK().GroupVersion().String(): fieldpath.MakePathOrDie("spec", "replicas")}
}

// newFieldManager builds the field manager of one resource (or of its
// subresource): cheap, so built per request.
func (s *Server) newFieldManager(res *registry.Resource, subresource string) (*managedfields.FieldManager, error) {
	// One field manager per resource and subresource, shared by requests
	// as upstream does: building one is not free.
	key := fieldManagerKey{res, subresource}
	if fm, ok := s.fieldManagers.Load(key); ok {
		return fm.(*managedfields.FieldManager), nil
	}
	fm, err := s.buildFieldManager(res, subresource)
	if err != nil {
		return nil, err
	}
	actual, _ := s.fieldManagers.LoadOrStore(key, fm)
	return actual.(*managedfields.FieldManager), nil
}

type fieldManagerKey struct {
	res         *registry.Resource
	subresource string
}

func (s *Server) buildFieldManager(res *registry.Resource, subresource string) (*managedfields.FieldManager, error) {
	gvk := res.GVK()
	var reset map[fieldpath.APIVersion]fieldpath.Filter
	if subresource == "scale" {
		gvk = scaleGVK
	} else {
		reset = resetFields(res, subresource)
	}
	hub := schema.GroupVersion{Group: gvk.Group, Version: runtime.APIVersionInternal}
	if res.IsCustom() && subresource != "scale" {
		// Custom resources have no Go types: their fields are deduced from
		// the objects, and versions differ only in apiVersion.
		return managedfields.NewDefaultFieldManager(managedfields.NewDeducedTypeConverter(), customConvertor{}, defaulter(nil), customCreater{}, gvk, gvk.GroupVersion(), subresource, reset)
	}
	return managedfields.NewDefaultFieldManager(typeConverter(), versionConvertor{}, defaulter(s.hooks.Default), kindCreater{}, gvk, hub, subresource, reset)
}

// resetFields are the fields a write through (sub)resource cannot change,
// so an applier never owns them there: the main resource keeps the status
// of kinds with a status subresource, the status subresource changes only
// the status, and a namespace's finalize only its spec.finalizers.
func resetFields(res *registry.Resource, subresource string) map[fieldpath.APIVersion]fieldpath.Filter {
	v := fieldpath.APIVersion(res.GVK().GroupVersion().String())
	switch subresource {
	case "":
		if res.Status {
			return map[fieldpath.APIVersion]fieldpath.Filter{v: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status")))}
		}
	case "status", "approval":
		return map[fieldpath.APIVersion]fieldpath.Filter{v: fieldpath.NewIncludeMatcherFilter(fieldpath.MakePrefixMatcherOrDie("status"))}
	case "finalize":
		return map[fieldpath.APIVersion]fieldpath.Filter{v: fieldpath.NewIncludeMatcherFilter(fieldpath.MakePrefixMatcherOrDie("spec", "finalizers"))}
	}
	return nil
}

// managerOf is the request's field manager: ?fieldManager=, else the
// User-Agent up to its first "/", printable characters only, at most 128
// bytes (upstream's rule; the library names an empty one "unknown").
func managerOf(q *request) string {
	if m := q.query("fieldManager"); m != "" {
		return m
	}
	prefix, _, _ := strings.Cut(q.r.UserAgent(), "/")
	var b strings.Builder
	for _, r := range prefix {
		if !unicode.IsPrint(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > metav1validation.FieldManagerMaxLength {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// optionsKind is the options kind upstream names in errors about the
// query parameters of a write.
func optionsKind(q *request) string {
	switch q.verb {
	case "create":
		return "CreateOptions"
	case "patch":
		return "PatchOptions"
	}
	return "UpdateOptions"
}

func optionsError(q *request, errs field.ErrorList) error {
	return invalid(schema.GroupKind{Group: metav1.GroupName, Kind: optionsKind(q)}, "", errs)
}

// validateFieldManager checks ?fieldManager= (length, printable).
func validateFieldManager(q *request) error {
	if errs := metav1validation.ValidateFieldManager(q.query("fieldManager"), field.NewPath("fieldManager")); len(errs) > 0 {
		return optionsError(q, errs)
	}
	return nil
}

// forceParam reads ?force= as upstream's parameter codec does: present and
// neither "0" nor "false" means true.
func forceParam(q *request) (set, force bool) {
	v, ok := q.r.URL.Query()["force"]
	if !ok {
		return false, false
	}
	if len(v) == 0 {
		return true, false
	}
	return true, v[0] != "0" && !strings.EqualFold(v[0], "false")
}

// validatePatchOptions checks the options of a patch that is not an apply:
// force is for apply only.
func validatePatchOptions(q *request) error {
	var errs field.ErrorList
	if set, _ := forceParam(q); set {
		errs = append(errs, field.Forbidden(field.NewPath("force"), "may not be specified for non-apply patch"))
	}
	errs = append(errs, metav1validation.ValidateFieldManager(q.query("fieldManager"), field.NewPath("fieldManager"))...)
	if len(errs) > 0 {
		return optionsError(q, errs)
	}
	return nil
}

// applyOptions returns the manager and force of an apply request; the
// manager is required.
func applyOptions(q *request) (string, bool, error) {
	manager := q.query("fieldManager")
	var errs field.ErrorList
	if manager == "" {
		errs = append(errs, field.Required(field.NewPath("fieldManager"), "is required for apply patch"))
	}
	errs = append(errs, metav1validation.ValidateFieldManager(manager, field.NewPath("fieldManager"))...)
	if len(errs) > 0 {
		return "", false, optionsError(q, errs)
	}
	_, force := forceParam(q)
	return manager, force, nil
}

// decodeApplyPatch reads an apply configuration (YAML or JSON); duplicate
// fields are refused or warned about as fieldValidation says.
func decodeApplyPatch(q *request, patch []byte) (*unstructured.Unstructured, error) {
	directive, err := fieldValidation(q)
	if err != nil {
		return nil, err
	}
	obj := &unstructured.Unstructured{Object: map[string]interface{}{}}
	if err := utilyaml.Unmarshal(patch, &obj.Object); err != nil {
		return nil, badRequest("error decoding YAML: %v", err)
	}
	if obj.Object == nil {
		obj.Object = map[string]interface{}{}
	}
	if directive != "Ignore" {
		if err := utilyaml.UnmarshalStrict(patch, &map[string]interface{}{}); err != nil {
			if directive == "Strict" {
				return nil, badRequest("error strict decoding YAML: %v", err)
			}
			addWarning(q.w, err.Error())
		}
	}
	return obj, nil
}

// applyError keeps the library's API errors (a conflict, a bad patch) and
// answers anything else as upstream does: 500 with the error's text.
func applyError(err error) error {
	if _, ok := err.(apierrors.APIStatus); ok {
		return err
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Message: err.Error()}}
}

// serveApply serves PATCH with application/apply-patch+yaml: the
// configuration is merged into the live object, or into an empty one that
// is then created through the create path.
func (s *Server) serveApply(q *request) {
	out, code, err := s.apply(q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	s.writeObject(q, code, out)
}

func (s *Server) apply(q *request) (runtime.Object, int, error) {
	manager, force, err := applyOptions(q)
	if err != nil {
		return nil, 0, err
	}
	body, err := readBody(q)
	if err != nil {
		return nil, 0, err
	}
	patch, err := decodeApplyPatch(q, body)
	if err != nil {
		return nil, 0, err
	}
	fm, err := s.newFieldManager(q.res, q.subresource)
	if err != nil {
		return nil, 0, err
	}
	state := &fieldManagement{applied: true}
	ctx := withFieldManagement(q.r.Context(), state)
	applyTo := func(live runtime.Object) (runtime.Object, error) {
		obj, err := fm.Apply(live, patch.DeepCopy(), manager, force)
		if err != nil {
			return nil, applyError(err)
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, err
		}
		if m.GetName() != q.name {
			return nil, badRequest("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), q.name)
		}
		if err := checkNamespace(q, m); err != nil {
			return nil, err
		}
		state.managed = m.GetManagedFields()
		return obj, nil
	}
	for attempt := 0; ; attempt++ {
		out, code, err := s.update(ctx, q, applyTo)
		if !apierrors.IsNotFound(err) || q.subresource != "" {
			return out, code, err
		}
		// Nothing to apply to: apply to an empty object and create it.
		empty := q.res.New()
		setKind(empty, q.res.GVK())
		obj, err := applyTo(empty)
		if err != nil {
			return nil, 0, err
		}
		out, code, err = s.create(ctx, q, obj)
		if apierrors.IsAlreadyExists(err) && attempt < 2 {
			continue // created meanwhile: apply to it
		}
		return out, code, err
	}
}

// applyScale applies a Scale configuration to the scalable object current
// (PATCH .../scale with application/apply-patch+yaml), as upstream does:
// the parent's owners of replicas own the Scale's, the apply runs on the
// Scale, and the result goes back to the parent. It returns current with
// the applied replicas.
func (s *Server) applyScale(ctx context.Context, q *request, current runtime.Object, body []byte) (runtime.Object, error) {
	manager, force, err := applyOptions(q)
	if err != nil {
		return nil, err
	}
	patch, err := decodeApplyPatch(q, body)
	if err != nil {
		return nil, err
	}
	cm, err := meta.Accessor(current)
	if err != nil {
		return nil, err
	}
	h := managedfields.NewScaleHandler(cm.GetManagedFields(), q.res.GVK().GroupVersion(), replicasPaths(q.res))
	entries, err := h.ToSubresource()
	if err != nil {
		return nil, err
	}
	sc, err := scaleOf(current)
	if err != nil {
		return nil, err
	}
	sc.ManagedFields = entries
	fm, err := s.newFieldManager(q.res, "scale")
	if err != nil {
		return nil, err
	}
	out, err := fm.Apply(sc, patch, manager, force)
	if err != nil {
		return nil, applyError(err)
	}
	want, ok := out.(*autoscalingv1.Scale)
	if !ok {
		return nil, fmt.Errorf("apply to scale returned %T", out)
	}
	if want.Name != q.name {
		return nil, badRequest("the name of the object (%s) does not match the name on the URL (%s)", want.Name, q.name)
	}
	if want.Spec.Replicas < 0 {
		return nil, invalid(scaleGVK.GroupKind(), q.name, field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), want.Spec.Replicas, "must be greater than or equal to 0")})
	}
	if want.ResourceVersion != "" && want.ResourceVersion != sc.ResourceVersion {
		return nil, apierrors.NewConflict(q.gr(), q.name, fmt.Errorf("%s", objectModifiedMsg))
	}
	parent, err := h.ToParent(want.ManagedFields)
	if err != nil {
		return nil, err
	}
	if state := fieldManagementFrom(ctx); state != nil {
		state.applied, state.managed = true, parent
	}
	setReplicas(current, want.Spec.Replicas)
	return current, nil
}

// versionConvertor converts objects between the served versions of one
// stored resource (through the stored form, as registry does) and from
// unstructured to typed. The field manager's "hub" version is
// APIVersionInternal; here that is whatever version the object is in.
type versionConvertor struct{}

func (versionConvertor) Convert(in, out, context interface{}) error {
	return registry.Scheme.Convert(in, out, context)
}

func (versionConvertor) ConvertFieldLabel(gvk schema.GroupVersionKind, label, value string) (string, string, error) {
	return registry.Scheme.ConvertFieldLabel(gvk, label, value)
}

func (versionConvertor) ConvertToVersion(in runtime.Object, target runtime.GroupVersioner) (runtime.Object, error) {
	obj, err := typedObject(in)
	if err != nil {
		return nil, err
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	gv, ok := target.(schema.GroupVersion)
	if !ok {
		k, ok := target.KindForGroupVersionKinds([]schema.GroupVersionKind{gvk})
		if !ok {
			return nil, runtime.NewNotRegisteredGVKErrForTarget("skiff", gvk, target)
		}
		gv = k.GroupVersion()
	}
	if gv.Version == runtime.APIVersionInternal || gv == gvk.GroupVersion() {
		return obj, nil
	}
	from, to := servedAs(gvk, gv)
	if from == nil || to == nil {
		return nil, runtime.NewNotRegisteredGVKErrForTarget("skiff", gvk, target)
	}
	stored, err := registry.ToStorage(from, obj)
	if err != nil {
		return nil, err
	}
	out, err := registry.FromStorage(to, stored)
	if err != nil {
		return nil, err
	}
	setKind(out, to.GVK())
	return out, nil
}

// servedAs finds the resource serving gvk and the one serving the same
// stored objects in gv.
func servedAs(gvk schema.GroupVersionKind, gv schema.GroupVersion) (from, to *registry.Resource) {
	for _, r := range registry.All() {
		if r.GVK() == gvk {
			from = r
			break
		}
	}
	if from == nil {
		return nil, nil
	}
	for _, r := range registry.All() {
		if r.GVK().GroupVersion() == gv && r.Kind == gvk.Kind && r.StoragePrefix == from.StoragePrefix {
			return from, r
		}
	}
	return from, nil
}

// typedObject returns in as a typed object with its kind set.
func typedObject(in runtime.Object) (runtime.Object, error) {
	if u, ok := in.(runtime.Unstructured); ok {
		gvk := in.GetObjectKind().GroupVersionKind()
		out, err := registry.Scheme.New(gvk)
		if err != nil {
			return nil, err
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), out); err != nil {
			return nil, err
		}
		setKind(out, gvk)
		return out, nil
	}
	if in.GetObjectKind().GroupVersionKind().Empty() {
		kinds, _, err := registry.Scheme.ObjectKinds(in)
		if err != nil {
			return nil, err
		}
		if len(kinds) == 0 {
			return nil, runtime.NewNotRegisteredErrForType("skiff", reflect.TypeOf(in))
		}
		setKind(in, kinds[0])
	}
	return in, nil
}

// defaulter applies the server's defaults (nil: none).
type defaulter func(runtime.Object)

func (d defaulter) Default(obj runtime.Object) {
	if d != nil {
		d(obj)
	}
}

// kindCreater makes empty objects with their kind set, so that they can be
// converted to typed values.
type kindCreater struct{}

func (kindCreater) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	obj, err := registry.Scheme.New(gvk)
	if err != nil {
		return nil, err
	}
	setKind(obj, gvk)
	return obj, nil
}
