package registry

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
)

// SelectableFields returns the values of r's selectable fields (those
// listed in Resource.Fields) of obj, keyed by their dotted JSON path.
func SelectableFields(r *Resource, obj runtime.Object) fields.Set {
	set := fields.Set{}
	if len(r.Fields) == 0 {
		return set
	}
	if r.Strategy != nil && r.Strategy.SelectableFields != nil {
		for k, v := range r.Strategy.SelectableFields(obj) {
			set[k] = v
		}
		return set
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return set
	}
	for _, f := range r.Fields {
		set[f] = lookup(u, f)
	}
	return set
}

// lookup reads a dotted path from an unstructured object; a list yields its
// first element (status.podIPs selects on the primary IP, as upstream).
func lookup(u map[string]interface{}, path string) string {
	var cur interface{} = u
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]interface{})
		if !ok {
			return ""
		}
		cur = m[part]
	}
	switch v := cur.(type) {
	case nil:
		if strings.HasSuffix(path, "unschedulable") || strings.HasSuffix(path, "hostNetwork") {
			return "false"
		}
		return ""
	case string:
		return v
	case []interface{}:
		if len(v) == 0 {
			return ""
		}
		if m, ok := v[0].(map[string]interface{}); ok {
			if ip, ok := m["ip"].(string); ok {
				return ip
			}
		}
		return fmt.Sprint(v[0])
	default:
		return fmt.Sprint(v)
	}
}
