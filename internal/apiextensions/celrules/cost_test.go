package celrules

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The largest maxItems upstream's CRD validation accepts for
// self.all(x, x.contains('gpu')) on a list of strings of a given
// maxLength: one more item is refused.
func TestStaticCostBoundary(t *testing.T) {
	for _, tc := range []struct{ maxLength, maxItems int }{
		{16, 909090}, {63, 333333}, {253, 94339}, {1024, 24154},
	} {
		schema := func(items int) string {
			return fmt.Sprintf(`
type: object
properties:
  spec:
    type: object
    properties:
      tags:
        type: array
        maxItems: %d
        items: {type: string, maxLength: %d}
        x-kubernetes-validations: [{rule: "self.all(x, x.contains('gpu'))"}]
`, items, tc.maxLength)
		}
		if _, errs := Compile(structural(t, schema(tc.maxItems)), field.NewPath("spec", "validation", "openAPIV3Schema"), AllCostLimits); len(errs) != 0 {
			t.Errorf("maxLength %d, maxItems %d: refused: %v", tc.maxLength, tc.maxItems, errs)
		}
		_, errs := Compile(structural(t, schema(tc.maxItems+1)), field.NewPath("spec", "validation", "openAPIV3Schema"), AllCostLimits)
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), "estimated rule cost exceeds budget by factor of") {
			t.Errorf("maxLength %d, maxItems %d: accepted, want refused: %v", tc.maxLength, tc.maxItems+1, errs)
		}
	}
}

func compileErrs(t *testing.T, schema string, limits CostLimits) []string {
	t.Helper()
	_, errs := Compile(structural(t, schema), field.NewPath("spec", "validation", "openAPIV3Schema"), limits)
	return errStrings(errs)
}

const hint = " (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)"

// An expensive rule is refused three times, as upstream reports it: over
// the per-expression limit, as a contributor to the total, and the total.
func TestStaticCostErrors(t *testing.T) {
	unbounded := `
type: object
properties:
  spec:
    type: object
    properties:
      tags:
        type: array
        items: {type: string}
        x-kubernetes-validations: [{rule: "self.all(x, x.contains('gpu'))"}]
`
	want := []string{
		`spec.validation.openAPIV3Schema.properties[spec].properties[tags].x-kubernetes-validations[0].rule: Forbidden: estimated rule cost exceeds budget by factor of more than 100x` + hint,
		`spec.validation.openAPIV3Schema.properties[spec].properties[tags].x-kubernetes-validations[0].rule: Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema`,
		`spec.validation.openAPIV3Schema: Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of more than 100x` + hint,
	}
	if got := compileErrs(t, unbounded, AllCostLimits); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// An unchanged schema keeps its expensive expression, not the total.
	if got := compileErrs(t, unbounded, TotalCostLimit); strings.Join(got, "\n") != strings.Join(want[1:], "\n") {
		t.Errorf("total limit only: %q", got)
	}
	if got := compileErrs(t, unbounded, NoCostLimits); len(got) != 0 {
		t.Errorf("no limits: %q", got)
	}

	// A message built from an unbounded string is priced as one.
	msg := `
type: object
properties:
  spec:
    type: object
    properties:
      min: {type: integer}
    x-kubernetes-validations:
      - {rule: "self.min >= 0", messageExpression: "'min (' + string(self.min) + ') is negative'"}
`
	got := compileErrs(t, msg, AllCostLimits)
	if len(got) != 3 || got[0] != `spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].messageExpression: Forbidden: estimated messageExpression cost exceeds budget by factor of more than 100x`+hint ||
		!strings.HasSuffix(got[1], `x-kubernetes-validations[0].messageExpression: Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema`) {
		t.Errorf("messageExpression: %q", got)
	}
	// format() is priced by its arguments: accepted.
	if got := compileErrs(t, strings.Replace(msg, `'min (' + string(self.min) + ') is negative'`, `'min (%d) is negative'.format([self.min])`, 1), AllCostLimits); len(got) != 0 {
		t.Errorf("format(): %q", got)
	}
}

// A rule's cost counts once for every value of its node one object may
// hold: the product of the bounds of the lists and maps above it, or, with
// an unbounded one above, as many values as fit in a request.
func TestStaticCostCardinality(t *testing.T) {
	schema := func(outer, inner string) string {
		return `
type: object
properties:
  spec:
    type: object
    properties:
      groups:
        type: array
        ` + outer + `
        items:
          type: object
          properties:
            names:
              type: object
              ` + inner + `
              additionalProperties:
                type: string
                maxLength: 64
                x-kubernetes-validations: [{rule: "self.contains('x')"}]
`
	}
	for _, tc := range []struct {
		outer, inner string
		ok           bool
	}{
		{"maxItems: 100", "maxProperties: 100", true},
		{"maxItems: 1000", "maxProperties: 1000", false}, // 10^6 runs
		{"", "maxProperties: 10", false},                 // unbounded above
		{"maxItems: 10", "", false},
	} {
		got := compileErrs(t, schema(tc.outer, tc.inner), AllCostLimits)
		if ok := len(got) == 0; ok != tc.ok {
			t.Errorf("%s, %s: errors %q, want accepted=%v", tc.outer, tc.inner, got, tc.ok)
		}
	}
}

// The Kubernetes library's functions are priced by the sizes they work on,
// as upstream prices them.
func TestStaticCostOfLibraryCalls(t *testing.T) {
	for _, tc := range []struct {
		rule string
		ok   bool // on a list of 30,000 strings of at most 1,024 characters
	}{
		{"self.isSorted()", false},
		{"self.size() < 5", true},
		{"self.all(x, x.size() < 5)", true},
		{"self.all(x, x.find('[0-9]+') != '')", false},
		{"self.all(x, x.lowerAscii() == x)", false},
		{"self.all(x, x.split('-').size() < 3)", false},
		{"self.join(',').size() < 10", false},
	} {
		schema := `
type: object
properties:
  spec:
    type: object
    properties:
      tags:
        type: array
        maxItems: 30000
        items: {type: string, maxLength: 1024}
        x-kubernetes-validations: [{rule: "` + tc.rule + `"}]
`
		got := compileErrs(t, schema, AllCostLimits)
		if ok := len(got) == 0; ok != tc.ok {
			t.Errorf("%s: errors %q, want accepted=%v", tc.rule, got, tc.ok)
		}
	}
}

func TestCostErrorMessage(t *testing.T) {
	for cost, want := range map[uint64]string{
		12000000:   "by factor of 1.200000x",
		25000000:   "by factor of 2.5x",
		2000000000: "by factor of more than 100x",
	} {
		if got := costErrorMessage("estimated rule cost", cost, StaticEstimatedCostLimit); !strings.Contains(got, "estimated rule cost exceeds budget "+want+hint) {
			t.Errorf("%d: %s", cost, got)
		}
	}
}
