package openapi

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// The paragraph upstream appends to DeploymentStrategy.type (compare
// api/openapi-spec/v3/apis__apps__v1_openapi.json of a release with
// enums, or `kubectl explain deployment.spec.strategy.type`).
const strategyTypeEnumDoc = "\n\nPossible enum values:\n" +
	" - `\"Recreate\"` Kill all existing pods before creating new ones.\n" +
	" - `\"RollingUpdate\"` Replace the old ReplicaSets by new one using rolling update i.e gradually scale down the old ReplicaSets and scale up the new one."

func TestDeploymentStrategyTypeEnum(t *testing.T) {
	fieldDoc := (appsv1.DeploymentStrategy{}).SwaggerDoc()["type"]
	if fieldDoc == "" {
		t.Fatal("DeploymentStrategy.type has no SwaggerDoc")
	}
	for _, v3 := range []bool{false, true} {
		b := newSchemaBuilder(v3)
		s := b.defs[b.define(reflect.TypeFor[appsv1.DeploymentStrategy]())].Properties["type"]
		if s == nil {
			t.Fatalf("v3=%v: no type property", v3)
		}
		if want := []string{"Recreate", "RollingUpdate"}; !slices.Equal(s.Enum, want) {
			t.Errorf("v3=%v: enum %q, want %q", v3, s.Enum, want)
		}
		if want := fieldDoc + strategyTypeEnumDoc; s.Description != want {
			t.Errorf("v3=%v: description\n%q\nwant\n%q", v3, s.Description, want)
		}
		if s.Type != "string" {
			t.Errorf("v3=%v: type %q", v3, s.Type)
		}
	}
}

// Where enum types appear in other positions: a pointer field is
// documented like a value field; list items and map values carry only the
// values, as openapi-gen's items and additionalProperties do.
type testEnums struct {
	Value   appsv1.DeploymentStrategyType            `json:"value"`
	Ptr     *corev1.RestartPolicy                    `json:"ptr,omitempty"`
	List    []corev1.PersistentVolumeAccessMode      `json:"list,omitempty"`
	Map     map[string]appsv1.DeploymentStrategyType `json:"map,omitempty"`
	Plain   string                                   `json:"plain"`
	Unnamed corev1.ResourceName                      `json:"unnamed"` // a string type without +enum
}

func (testEnums) SwaggerDoc() map[string]string {
	return map[string]string{"value": "The value.", "list": "The list."}
}

func TestEnumPositions(t *testing.T) {
	b := newSchemaBuilder(false)
	s := b.defs[b.define(reflect.TypeFor[testEnums]())]
	for n, want := range map[string]string{
		"value": `{"type":"string","enum":["Recreate","RollingUpdate"],"description":` + strconv.Quote("The value."+strategyTypeEnumDoc) + `}`,
		// Constants without doc comments: no trailing space.
		"ptr": `{"type":"string","enum":["Always","Never","OnFailure"],` +
			`"description":"Possible enum values:\n - ` + "`\\\"Always\\\"`" + `\n - ` + "`\\\"Never\\\"`" + `\n - ` + "`\\\"OnFailure\\\"`" + `"}`,
		"list":    `{"type":"array","description":"The list.","items":{"type":"string","enum":["ReadOnlyMany","ReadWriteMany","ReadWriteOnce","ReadWriteOncePod"]}}`,
		"map":     `{"type":"object","additionalProperties":{"type":"string","enum":["Recreate","RollingUpdate"]}}`,
		"plain":   `{"type":"string"}`,
		"unnamed": `{"type":"string"}`,
	} {
		sameJSON(t, "property "+n, s.Properties[n], want)
	}
}

// The generated table is well formed: values in upstream's order (sorted
// as Go string literals), unique, their docs on one line without comment
// markers, and its keys are what reflection reports for the types.
func TestEnumTable(t *testing.T) {
	if len(enumTypes) < 50 {
		t.Fatalf("only %d enum types", len(enumTypes))
	}
	for typ, values := range enumTypes {
		if len(values) == 0 {
			t.Errorf("%s: no values", typ)
		}
		quoted := make([]string, len(values))
		for i, v := range values {
			quoted[i] = strconv.Quote(v.value)
			if strings.ContainsAny(v.doc, "\n\t") || strings.HasPrefix(v.doc, "//") || strings.Contains(v.doc, "  ") || strings.TrimSpace(v.doc) != v.doc {
				t.Errorf("%s %q: doc %q", typ, v.value, v.doc)
			}
		}
		if !slices.IsSorted(quoted) || len(slices.Compact(slices.Clone(quoted))) != len(quoted) {
			t.Errorf("%s: values %v not sorted and unique", typ, quoted)
		}
	}
	for _, typ := range []reflect.Type{
		reflect.TypeFor[appsv1.DeploymentStrategyType](),
		reflect.TypeFor[corev1.RestartPolicy](),
		reflect.TypeFor[corev1.Protocol](),
		reflect.TypeFor[corev1.ServiceType](),
		reflect.TypeFor[corev1.PullPolicy](),
	} {
		if enumValues(typ) == nil {
			t.Errorf("%v (%s.%s) is not in the table", typ, typ.PkgPath(), typ.Name())
		}
	}
	pull := enumDescription("", enumValues(reflect.TypeFor[corev1.PullPolicy]()))
	if want := "Possible enum values:\n" +
		" - `\"Always\"` means that kubelet always attempts to pull the latest image. Container will fail If the pull fails.\n" +
		" - `\"IfNotPresent\"` means that kubelet pulls if the image isn't present on disk. Container will fail if the image isn't present and the pull fails.\n" +
		" - `\"Never\"` means that kubelet never pulls an image, but only uses a local image. Container will fail if the image isn't present"; pull != want {
		t.Errorf("PullPolicy paragraph\n%q\nwant\n%q", pull, want)
	}
}

// zz_generated_enums.go must be what the generator writes for the
// k8s.io/api version in go.mod; after upgrading it, run go generate.
func TestGeneratedEnumsUpToDate(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to re-run the generator: %v", err)
	}
	out := filepath.Join(t.TempDir(), "enums.go")
	cmd := exec.Command(goCmd, "run", "../../../hack/gen-openapi-enums", "-o", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("running the generator: %v\n%s", err, stderr.String())
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("zz_generated_enums.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, committed) {
		t.Errorf("zz_generated_enums.go is stale: run `go generate ./internal/apiserver/openapi/` and commit the result")
	}
}
