// Package printers owns skiff's server-side Table output: the column
// definitions and row cells the API server returns when a client such as
// `kubectl get` asks for application/json;as=Table. Columns and cells follow
// upstream Kubernetes' printers, so `kubectl get` and `kubectl get -o wide`
// look the same against skiff as against a real cluster.
//
// Like upstream's server, every row carries the cells of all columns,
// including the Priority 1 ("-o wide") ones; the client decides which to
// show. Kinds without a printer of their own get upstream's default table:
// Name and Created At.
package printers

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
)

// rowFunc renders the cells of one object of a registered Go type.
type rowFunc func(obj runtime.Object, now time.Time) ([]interface{}, error)

// The registries are filled by the init functions of this package's files
// and only read afterwards, so concurrent use needs no locking.
var (
	columnsByKind = map[schema.GroupKind][]metav1.TableColumnDefinition{}
	rowsByType    = map[reflect.Type]rowFunc{}
	kindByType    = map[reflect.Type]schema.GroupKind{}
)

// register installs the printer of one Go type. Several types (API versions)
// may share a kind; they must then share its columns.
func register[T runtime.Object](gk schema.GroupKind, columns []metav1.TableColumnDefinition, row func(T, time.Time) ([]interface{}, error)) {
	var zero T
	t := reflect.TypeOf(zero)
	if _, dup := rowsByType[t]; dup {
		panic(fmt.Sprintf("printers: %v registered twice", t))
	}
	if existing, ok := columnsByKind[gk]; ok && len(existing) != len(columns) {
		panic(fmt.Sprintf("printers: %v registered with different columns", gk))
	}
	columnsByKind[gk] = columns
	kindByType[t] = gk
	rowsByType[t] = func(obj runtime.Object, now time.Time) ([]interface{}, error) {
		return row(obj.(T), now)
	}
}

// Columns returns the column definitions for a kind. Kinds without a printer
// of their own get upstream's default table columns: Name and Created At.
func Columns(gk schema.GroupKind) []metav1.TableColumnDefinition {
	cols, ok := columnsByKind[gk]
	if !ok {
		cols = defaultColumns
	}
	// Callers own the result; the registry stays untouched.
	return append([]metav1.TableColumnDefinition(nil), cols...)
}

// Row returns the cells of one object's row, matching Columns of the
// object's kind in count and order. now is the reference time for AGE-like
// cells.
func Row(obj runtime.Object, now time.Time) ([]interface{}, error) {
	if obj == nil {
		return nil, fmt.Errorf("printers: no object to print")
	}
	if row, ok := rowsByType[reflect.TypeOf(obj)]; ok {
		return row(obj, now)
	}
	return defaultRow(obj)
}

// KindFor reports the kind whose columns Row uses for obj's Go type, if the
// type has a printer of its own.
func KindFor(obj runtime.Object) (schema.GroupKind, bool) {
	gk, ok := kindByType[reflect.TypeOf(obj)]
	return gk, ok
}

var objectMetaDoc = metav1.ObjectMeta{}.SwaggerDoc()

// defaultColumns is upstream's table for kinds without a printer. Unlike
// the AGE columns elsewhere, Created At is an absolute RFC 3339 date.
var defaultColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]},
	{Name: "Created At", Type: "date", Description: objectMetaDoc["creationTimestamp"]},
}

func defaultRow(obj runtime.Object) ([]interface{}, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("printers: %T has no object metadata to print: %w", obj, err)
	}
	return []interface{}{m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)}, nil
}

// Column constructors. Every printer starts with nameColumn; AGE columns are
// human durations rendered as strings.
var nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]}

var ageColumn = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: objectMetaDoc["creationTimestamp"]}

func column(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// wideColumn is a column kubectl only shows with -o wide.
func wideColumn(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description, Priority: 1}
}

const (
	containersDescription = "Names of each container in the template."
	imagesDescription     = "Images referenced by each container in the template."
)

// since renders the time elapsed from ts to now the way kubectl shows ages.
func since(ts metav1.Time, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(ts.Time))
}

func sinceMicro(ts metav1.MicroTime, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(ts.Time))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// boolPtr renders an optional boolean as upstream does for SUSPEND.
func boolPtr(b *bool) string {
	switch {
	case b == nil:
		return "<unset>"
	case *b:
		return "True"
	default:
		return "False"
	}
}

// listWithMore joins up to max entries and summarises the rest, as the
// EndpointSlice columns do; an empty list reads "<unset>".
func listWithMore(all []string, max int) string {
	if len(all) > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(all[:max], ","), len(all)-max)
	}
	if len(all) == 0 {
		return "<unset>"
	}
	return strings.Join(all, ",")
}
