package apiextensions

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/util/jsonpath"

	"skiff/internal/registry"
)

// Served is one served version of a custom resource with its schema.
type Served struct {
	Resource *registry.Resource
	Schema   *Schema
	// CRD is the definition the resource was built from.
	CRD *apiextensionsv1.CustomResourceDefinition
}

// resourcesFor builds the served resources of an established CRD, one per
// served version, in upstream's version priority order.
func resourcesFor(crd *apiextensionsv1.CustomResourceDefinition) ([]*Served, error) {
	names := crd.Status.AcceptedNames
	if names.Plural == "" {
		names = crd.Spec.Names
	}
	singular := names.Singular
	if singular == "" {
		singular = strings.ToLower(names.Kind)
	}
	storage := storageVersion(crd)
	var out []*Served
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		if !v.Served {
			continue
		}
		var schema *Schema
		if v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
			s, err := NewSchema(v.Schema.OpenAPIV3Schema)
			if err != nil {
				return nil, fmt.Errorf("version %s: %w", v.Name, err)
			}
			schema = s
		}
		r := &registry.Resource{
			Group: crd.Spec.Group, Version: v.Name, Name: names.Plural, Kind: names.Kind, Singular: singular,
			ShortNames: names.ShortNames, Categories: names.Categories,
			Namespaced:    crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
			StoragePrefix: crd.Spec.Group + "/" + names.Plural,
			Generation:    true,
		}
		st := &registry.Strategy{Custom: true, CRDName: crd.Name, StorageVersion: storage}
		if sub := v.Subresources; sub != nil {
			r.Status = sub.Status != nil
			if sub.Scale != nil {
				r.Scale = true
				st.SpecReplicasPath, st.StatusReplicasPath = sub.Scale.SpecReplicasPath, sub.Scale.StatusReplicasPath
				if sub.Scale.LabelSelectorPath != nil {
					st.LabelSelectorPath = *sub.Scale.LabelSelectorPath
				}
			}
		}
		for _, f := range v.SelectableFields {
			r.Fields = append(r.Fields, strings.TrimPrefix(f.JSONPath, "."))
		}
		if len(r.Fields) > 0 {
			paths := r.Fields
			st.SelectableFields = func(obj runtime.Object) map[string]string {
				u, ok := obj.(*unstructured.Unstructured)
				if !ok {
					return nil
				}
				set := map[string]string{}
				for _, p := range paths {
					val, found, _ := unstructured.NestedFieldNoCopy(u.Object, strings.Split(p, ".")...)
					if found && val != nil {
						set[p] = fmt.Sprint(val)
					} else {
						set[p] = ""
					}
				}
				return set
			}
		}
		if schema.HasDefaults() {
			// Also applied on every read: set only when there is work.
			st.Default = func(obj runtime.Object) {
				if u, ok := obj.(*unstructured.Unstructured); ok {
					schema.Default(u.Object)
				}
			}
		}
		if schema != nil {
			st.Prune = func(obj runtime.Object) []string {
				if u, ok := obj.(*unstructured.Unstructured); ok {
					return schema.Prune(u.Object)
				}
				return nil
			}
		}
		st.Validate = func(obj, old runtime.Object) field.ErrorList {
			u, ok := obj.(*unstructured.Unstructured)
			if !ok {
				return nil
			}
			var errs field.ErrorList
			if old == nil {
				// Custom resource names are DNS subdomains, as upstream's.
				for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(u.GetName(), false) {
					errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), u.GetName(), msg))
				}
			}
			errs = append(errs, schema.Validate(u.Object)...)
			errs = append(errs, validateScale(u, st)...)
			if !schema.HasRules() {
				return errs
			}
			if blocked := blocksRules(errs); blocked != nil {
				return append(errs, blocked)
			}
			var oldObj map[string]interface{}
			if ou, ok := old.(*unstructured.Unstructured); ok {
				oldObj = ou.Object
			}
			errs = append(errs, schema.ValidateRules(context.Background(), u.Object, oldObj)...)
			return errs
		}
		st.ValidateStatus = st.Validate
		cols, row, err := printerColumns(v.AdditionalPrinterColumns)
		if err != nil {
			return nil, fmt.Errorf("version %s: %w", v.Name, err)
		}
		st.Columns, st.Row = cols, row
		r.Strategy = st
		out = append(out, &Served{Resource: r, Schema: schema, CRD: crd})
	}
	sort.SliceStable(out, func(i, j int) bool {
		return version.CompareKubeAwareVersionStrings(out[i].Resource.Version, out[j].Resource.Version) > 0
	})
	return out, nil
}

// validateScale checks the replica counts the scale subresource reads, as
// upstream does for custom resources with a scale subresource.
func validateScale(u *unstructured.Unstructured, st *registry.Strategy) field.ErrorList {
	var errs field.ErrorList
	for _, p := range []string{st.SpecReplicasPath, st.StatusReplicasPath} {
		if p == "" {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(p, "."), ".")
		val, found, _ := unstructured.NestedFieldNoCopy(u.Object, parts...)
		if !found || val == nil {
			continue
		}
		n, ok := val.(int64)
		if !ok {
			errs = append(errs, field.Invalid(field.NewPath(parts[0], parts[1:]...), val, "should be an integer"))
			continue
		}
		if n < 0 {
			errs = append(errs, field.Invalid(field.NewPath(parts[0], parts[1:]...), val, "should be a non-negative integer"))
		} else if n > 1<<31-1 {
			errs = append(errs, field.Invalid(field.NewPath(parts[0], parts[1:]...), val, "should be less than or equal to 2147483647"))
		}
	}
	return errs
}

// printerColumns builds the Table columns of a version: Name, then the
// additional printer columns (Age when there are none).
func printerColumns(cols []apiextensionsv1.CustomResourceColumnDefinition) ([]metav1.TableColumnDefinition, func(runtime.Object, time.Time) ([]interface{}, error), error) {
	if len(cols) == 0 {
		cols = []apiextensionsv1.CustomResourceColumnDefinition{{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp",
			Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}}
	}
	defs := []metav1.TableColumnDefinition{{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}}
	paths := make([]*jsonpath.JSONPath, len(cols))
	for i, c := range cols {
		defs = append(defs, metav1.TableColumnDefinition{Name: c.Name, Type: c.Type, Format: c.Format, Description: c.Description, Priority: c.Priority})
		jp := jsonpath.New(c.Name).AllowMissingKeys(true)
		if err := jp.Parse(fmt.Sprintf("{%s}", c.JSONPath)); err != nil {
			return nil, nil, fmt.Errorf("unrecognized column definition %q", c.JSONPath)
		}
		paths[i] = jp
	}
	row := func(obj runtime.Object, now time.Time) ([]interface{}, error) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return nil, fmt.Errorf("not a custom resource: %T", obj)
		}
		cells := []interface{}{u.GetName()}
		for i, jp := range paths {
			results, err := jp.FindResults(u.Object)
			if err != nil || len(results) == 0 || len(results[0]) == 0 {
				cells = append(cells, nil)
				continue
			}
			value := results[0][0].Interface()
			switch cols[i].Type {
			case "string":
				var buf bytes.Buffer
				if err := jp.PrintResults(&buf, []reflect.Value{reflect.ValueOf(value)}); err != nil {
					cells = append(cells, nil)
					continue
				}
				cells = append(cells, buf.String())
			case "date":
				s, ok := value.(string)
				t, err := time.Parse(time.RFC3339, s)
				if !ok || err != nil {
					cells = append(cells, value)
					continue
				}
				cells = append(cells, duration.HumanDuration(now.Sub(t)))
			default:
				cells = append(cells, value)
			}
		}
		return cells, nil
	}
	return defs, row, nil
}
