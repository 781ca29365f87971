package openapi

//go:generate go run ../../../hack/gen-openapi-enums -o zz_generated_enums.go

import (
	"reflect"
	"strconv"
	"strings"
)

// enumValue is one value of a string type marked +enum in the API sources,
// with the doc comment of its constant as openapi-gen prints it (the
// constant's name and redundant whitespace removed). zz_generated_enums.go
// lists them, since reflection cannot enumerate a type's constants.
type enumValue struct {
	value string
	doc   string
}

// enumValues returns the values of t, a field, item or map value type with
// pointers removed, when it is an enum type; nil otherwise.
func enumValues(t reflect.Type) []enumValue {
	if t.Kind() != reflect.String || t.PkgPath() == "" {
		return nil
	}
	return enumTypes[t.PkgPath()+"."+t.Name()]
}

// enumStrings lists the values for the schema's enum, in upstream's order.
func enumStrings(values []enumValue) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = v.value
	}
	return out
}

// enumDescription appends to a field's description the paragraph
// openapi-gen writes for enum fields:
//
//	<description>
//
//	Possible enum values:
//	 - `"Recreate"` Kill all existing pods before creating new ones.
//	 - `"RollingUpdate"` Replace the old ReplicaSets by new one ...
func enumDescription(desc string, values []enumValue) string {
	if len(values) == 0 {
		return desc
	}
	var b strings.Builder
	if desc != "" {
		b.WriteString(desc)
		b.WriteString("\n\n")
	}
	b.WriteString("Possible enum values:")
	for _, v := range values {
		// A value without documentation has no trailing space: upstream
		// trims each description line.
		b.WriteString("\n - `" + strconv.Quote(v.value) + "`")
		if v.doc != "" {
			b.WriteString(" " + v.doc)
		}
	}
	return b.String()
}
