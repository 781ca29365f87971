package celrules

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// structural parses a v1 openAPIV3Schema given as YAML.
func structural(t testing.TB, src string) *structuralschema.Structural {
	t.Helper()
	var v1 apiextensionsv1.JSONSchemaProps
	if err := yaml.Unmarshal([]byte(src), &v1); err != nil {
		t.Fatal(err)
	}
	var internal apiextensions.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(&v1, &internal, nil); err != nil {
		t.Fatal(err)
	}
	s, err := structuralschema.NewStructural(&internal)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func object(t testing.TB, src string) map[string]interface{} {
	t.Helper()
	if src == "" {
		return nil
	}
	var m map[string]interface{}
	if err := yaml.Unmarshal([]byte(src), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func errStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// schemaWithRule puts one rule on spec of a small schema.
func specSchema(rules string) string {
	return `
type: object
properties:
  spec:
    type: object
    x-kubernetes-validations:
` + rules + `
    properties:
      replicas: {type: integer}
      minReplicas: {type: integer}
      name: {type: string, maxLength: 64}
      ratio: {type: number}
      tags:
        type: array
        maxItems: 16
        items: {type: string, maxLength: 64}
      labels:
        type: object
        maxProperties: 16
        additionalProperties: {type: string, maxLength: 64}
      url: {type: string, maxLength: 256}
      memory: {type: string, maxLength: 16}
      addr: {type: string, maxLength: 64}
      when: {type: string, format: date-time}
      timeout: {type: string, format: duration}
      x-y: {type: string, maxLength: 64}
      namespace: {type: string, maxLength: 63}
      ios: {x-kubernetes-int-or-string: true, maxLength: 16}
`
}

func TestCompileErrors(t *testing.T) {
	root := field.NewPath("spec", "validation", "openAPIV3Schema")
	tests := []struct {
		name   string
		schema string
		want   []string // substrings, one per error, in order
	}{
		{"ok", specSchema(`      - rule: "self.minReplicas <= self.replicas"`), nil},
		{"undeclared", specSchema(`      - rule: "foo > 1"`), []string{
			`spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value: {"Rule":"foo \u003e 1","Message":"","MessageExpression":"","Reason":null,"FieldPath":"","OptionalOldSelf":null}: compilation failed: ERROR: <input>:1:1: undeclared reference to 'foo'`}},
		{"syntax", specSchema(`      - rule: "self.replicas >"`), []string{
			`x-kubernetes-validations[0].rule: Invalid value: {"Rule":"self.replicas \u003e","Message":"","MessageExpression":"","Reason":null,"FieldPath":"","OptionalOldSelf":null}: compilation failed: ERROR: <input>:1:16: Syntax error`}},
		{"undefined field", specSchema(`      - rule: "self.replicass > 0"`), []string{`compilation failed: ERROR: <input>:1:5: undefined field 'replicass'`}},
		{"type mismatch", specSchema(`      - rule: "self.replicas + 'a' == 'b'"`), []string{`compilation failed: ERROR: <input>:1:15: found no matching overload for '_+_' applied to '(int, string)'`}},
		{"only name and generateName of metadata", `
type: object
x-kubernetes-validations: [{rule: "self.metadata.name != '' && has(self.metadata.labels)"}]
`, []string{`compilation failed: ERROR: <input>:1:32: undefined field 'labels'`}},
		{"not bool", specSchema(`      - rule: "'abc'"`), []string{`x-kubernetes-validations[0].rule: Invalid value: {"Rule":"'abc'","Message":"","MessageExpression":"","Reason":null,"FieldPath":"","OptionalOldSelf":null}: cel expression must evaluate to a bool`}},
		{"message expression", specSchema(`      - {rule: "true", messageExpression: "1 + "}`), []string{`x-kubernetes-validations[0].messageExpression: Invalid value: {"Rule":"true","Message":"","MessageExpression":"1 + ","Reason":null,"FieldPath":"","OptionalOldSelf":null}: messageExpression compilation failed: ERROR: <input>:1:5: Syntax error`}},
		{"message expression not string", specSchema(`      - {rule: "true", messageExpression: "1"}`), []string{`messageExpression must evaluate to a string`}},
		{"reason", specSchema(`      - {rule: "true", reason: Bogus}`), []string{
			`x-kubernetes-validations[0].reason: Unsupported value: "Bogus": supported values: "FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"`}},
		{"field path", specSchema(`      - {rule: "true", fieldPath: ".nope"}`), []string{`x-kubernetes-validations[0].fieldPath: Invalid value: ".nope": must be a valid path`}},
		{"field path ok", specSchema(`      - {rule: "true", fieldPath: ".labels['a.b']"}`), nil},
		{"empty rule", specSchema(`      - {rule: " "}`), []string{`x-kubernetes-validations[0].rule: Required value: rule is not specified`}},
		{"multi-line rule needs message", specSchema("      - {rule: \"true &&\\ntrue\"}"), []string{`x-kubernetes-validations[0].message: Required value: message must be specified if rule contains line breaks`}},
		{"optionalOldSelf without oldSelf", specSchema(`      - {rule: "true", optionalOldSelf: true}`), []string{`x-kubernetes-validations[0].optionalOldSelf: Invalid value: true: may not be set if oldSelf is not used in rule`}},
		{"oldSelf in atomic list", `
type: object
properties:
  list:
    type: array
    maxItems: 16
    items:
      type: string
      maxLength: 64
      x-kubernetes-validations: [{rule: "self == oldSelf"}]
`, []string{`properties[list].items.x-kubernetes-validations[0].rule: Invalid value: "self == oldSelf": oldSelf cannot be used on the uncorrelatable portion of the schema within spec.validation.openAPIV3Schema.properties[list].items`}},
		{"oldSelf in map list", `
type: object
properties:
  list:
    type: array
    x-kubernetes-list-type: map
    x-kubernetes-list-map-keys: [name]
    items:
      type: object
      required: [name]
      properties:
        name: {type: string}
      x-kubernetes-validations: [{rule: "self == oldSelf"}]
`, nil},
		{"bad constant regex", specSchema(`      - rule: "self.name.matches('[')"`), []string{`x-kubernetes-validations[0].rule: Invalid value: {"Rule":"self.name.matches('[')","Message":"","MessageExpression":"","Reason":null,"FieldPath":"","OptionalOldSelf":null}: program instantiation failed: error parsing regexp: missing closing ]`}},
		{"nested items and additionalProperties", `
type: object
properties:
  m:
    type: object
    additionalProperties:
      type: string
      x-kubernetes-validations: [{rule: "self.nope()"}]
`, []string{`properties[m].additionalProperties.x-kubernetes-validations[0].rule: Invalid value: {"Rule":"self.nope()","Message":"","MessageExpression":"","Reason":null,"FieldPath":"","OptionalOldSelf":null}: compilation failed: ERROR: <input>:1:10: undeclared reference to 'nope'`}},
		{"wrong type on typed node", `
type: object
properties:
  n:
    type: integer
    x-kubernetes-validations: [{rule: "self.startsWith('a')"}]
`, []string{`compilation failed: ERROR: <input>:1:16: found no matching overload for 'startsWith' applied to 'int.(string)'`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, errs := Compile(structural(t, tc.schema), root, AllCostLimits)
			got := errStrings(errs)
			if len(got) != len(tc.want) {
				t.Fatalf("errors = %q, want %d matching %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("error %d = %q, want it to contain %q", i, got[i], w)
				}
			}
			if len(tc.want) == 0 && v == nil {
				t.Errorf("no validator for a schema with rules")
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name     string
		rules    string
		obj, old string
		want     []string // exact error strings
	}{
		{"passes", `      - rule: "self.minReplicas <= self.replicas"`, `spec: {replicas: 3, minReplicas: 1}`, "", nil},
		{"fails with default message", `      - rule: "self.minReplicas <= self.replicas"`, `spec: {replicas: 1, minReplicas: 3}`, "",
			[]string{`spec: Invalid value: failed rule: self.minReplicas <= self.replicas`}},
		{"message", `      - {rule: "self.minReplicas <= self.replicas", message: "minReplicas must not exceed replicas"}`, `spec: {replicas: 1, minReplicas: 3}`, "",
			[]string{`spec: Invalid value: minReplicas must not exceed replicas`}},
		{"messageExpression", `      - {rule: "self.replicas < 10", message: "static", messageExpression: "'replicas is %d, must be below 10'.format([self.replicas])"}`, `spec: {replicas: 12}`, "",
			[]string{`spec: Invalid value: replicas is 12, must be below 10`}},
		{"messageExpression error falls back to message", `      - {rule: "self.replicas < 10", message: "static", messageExpression: "string(self.replicas / 0)"}`, `spec: {replicas: 12}`, "",
			[]string{`spec: Invalid value: static`}},
		{"reason forbidden and fieldPath", `      - {rule: "!has(self.name)", reason: FieldValueForbidden, fieldPath: ".name", message: "name may not be set"}`, `spec: {name: x}`, "",
			[]string{`spec.name: Forbidden: name may not be set`}},
		{"reason required", `      - {rule: "has(self.name)", reason: FieldValueRequired, message: "name is required"}`, `spec: {replicas: 1}`, "",
			[]string{`spec: Required value: name is required`}},
		{"reason duplicate", `      - {rule: "self.tags.all(a, self.tags.exists_one(b, a == b))", reason: FieldValueDuplicate}`, `spec: {tags: [a, b, a]}`, "",
			[]string{`spec: Duplicate value`}},
		{"field path with key", `      - {rule: "!('a.b' in self.labels)", fieldPath: ".labels['a.b']"}`, `spec: {labels: {a.b: x}}`, "",
			[]string{`spec.labels[a.b]: Invalid value: failed rule: !('a.b' in self.labels)`}},
		{"several failures", `
      - rule: "self.replicas >= 0"
      - rule: "self.replicas % 2 == 0"
      - rule: "size(self.name) < 3"`, `spec: {replicas: -1, name: abcd}`, "",
			[]string{`spec: Invalid value: failed rule: self.replicas >= 0`, `spec: Invalid value: failed rule: self.replicas % 2 == 0`, `spec: Invalid value: failed rule: size(self.name) < 3`}},
		{"missing field", `      - rule: "self.replicas > 0"`, `spec: {name: x}`, "",
			[]string{`spec: Invalid value: "object": no such key: replicas evaluating rule: self.replicas > 0`}},
		{"transition rule skipped on create", `      - {rule: "self.name == oldSelf.name", message: "Value is immutable"}`, `spec: {name: a}`, "", nil},
		{"transition rule on update", `      - {rule: "self.name == oldSelf.name", message: "Value is immutable"}`, `spec: {name: a}`, `spec: {name: b}`,
			[]string{`spec: Invalid value: Value is immutable`}},
		{"transition rule unchanged", `      - {rule: "self.name == oldSelf.name", message: "Value is immutable"}`, `spec: {name: a}`, `spec: {name: a}`, nil},
		{"ratcheting: unchanged invalid value passes", `      - rule: "self.minReplicas <= self.replicas"`, `spec: {replicas: 1, minReplicas: 3}`, `spec: {replicas: 1, minReplicas: 3}`, nil},
		{"ratcheting: changed invalid value fails", `      - rule: "self.minReplicas <= self.replicas"`, `spec: {replicas: 1, minReplicas: 4}`, `spec: {replicas: 1, minReplicas: 3}`,
			[]string{`spec: Invalid value: failed rule: self.minReplicas <= self.replicas`}},
		{"optionalOldSelf on create", `      - {rule: "oldSelf.hasValue() || self.replicas == 1", optionalOldSelf: true, message: "must start with one replica"}`, `spec: {replicas: 2}`, "",
			[]string{`spec: Invalid value: must start with one replica`}},
		{"optionalOldSelf on update", `      - {rule: "!oldSelf.hasValue() || self.replicas >= oldSelf.value().replicas", optionalOldSelf: true, message: "may not scale down"}`, `spec: {replicas: 2}`, `spec: {replicas: 3}`,
			[]string{`spec: Invalid value: may not scale down`}},
		{"number field as double", `      - rule: "self.ratio > 0.5"`, `spec: {ratio: 1}`, "", nil},
		{"escaped names", `      - rule: "self.x__dash__y == 'v' && self.__namespace__ == 'ns'"`, `spec: {x-y: v, namespace: ns}`, "", nil},
		{"timestamp and duration formats", `      - rule: "self.when < timestamp('2030-01-01T00:00:00Z') && self.timeout < duration('1h')"`, `spec: {when: "2025-01-01T00:00:00Z", timeout: 30m}`, "", nil},
		{"list functions", `      - rule: "self.tags.isSorted() && self.tags.min() == 'a' && self.tags.max() == 'c' && self.tags.indexOf('b') == 1 && self.tags.lastIndexOf('z') == -1 && [1, 2, 3].sum() == 6 && [1.5, 2.5].sum() == 4.0"`, `spec: {tags: [a, b, c]}`, "", nil},
		{"list not sorted", `      - rule: "self.tags.isSorted()"`, `spec: {tags: [b, a]}`, "", []string{`spec: Invalid value: failed rule: self.tags.isSorted()`}},
		{"ext strings, sets, lists", `      - rule: "self.name.lowerAscii().split('-') == ['a', 'b'] && sets.contains(self.tags, ['a']) && self.tags.distinct().size() == 2 && self.name.indexOf('-') == 1"`, `spec: {name: A-B, tags: [a, b, a]}`, "", nil},
		{"regex", `      - rule: "self.name.find('[0-9]+') == '123' && self.name.findAll('[a-z]').size() == 3 && self.name.findAll('[a-z]', 2) == ['a', 'b'] && self.name.matches('^[a-z]+[0-9]+$')"`, `spec: {name: abc123}`, "", nil},
		{"url", `      - rule: "isURL(self.url) && url(self.url).getScheme() == 'https' && url(self.url).getHostname() == 'example.com' && url(self.url).getPort() == '8443' && url(self.url).getEscapedPath() == '/a%20b' && url(self.url).getQuery()['x'] == ['1'] && !isURL('not a url')"`, `spec: {url: "https://example.com:8443/a%20b?x=1"}`, "", nil},
		{"quantity", `      - rule: "isQuantity(self.memory) && quantity(self.memory).isLessThan(quantity('1Gi')) && quantity(self.memory).compareTo(quantity('512Mi')) == 0 && quantity('1').add(2).asInteger() == 3 && quantity('1.5').sign() == 1 && !quantity('1.5').isInteger() && quantity(self.memory).compareTo(quantity('0.5Gi')) == 0 && !isQuantity('x')"`, `spec: {memory: 512Mi}`, "", nil},
		{"semver", `      - rule: "isSemver(self.name) && semver(self.name).major() == 1 && semver(self.name).minor() == 2 && semver(self.name).patch() == 3 && semver(self.name).isLessThan(semver('1.10.0')) && semver('2.0.0').isGreaterThan(semver(self.name)) && semver(self.name).compareTo(semver('1.2.3')) == 0 && !isSemver('v1.0') && isSemver('v1.0', true) && semver('01.01.01', true).compareTo(semver('1.1.1')) == 0"`, `spec: {name: 1.2.3}`, "", nil},
		{"semver fails", `      - {rule: "isSemver(self.name)", message: "name must be a semantic version"}`, `spec: {name: v1}`, "", []string{`spec: Invalid value: name must be a semantic version`}},
		{"ip and cidr", `      - rule: "isIP(self.addr) && ip(self.addr).family() == 4 && cidr('10.0.0.0/8').containsIP(self.addr) && !isIP('300.1.1.1') && isCIDR('fd00::/8')"`, `spec: {addr: 10.1.2.3}`, "", nil},
		{"ip fails", `      - {rule: "isIP(self.addr)", message: "addr must be an IP"}`, `spec: {addr: nope}`, "", []string{`spec: Invalid value: addr must be an IP`}},
		{"optional field selection", `      - rule: "self.?name.orValue('none') == 'none' && self.?tags.orValue([]).size() == 0 && self.?labels.a.orValue('') == 'b'"`, `spec: {labels: {a: b}}`, "", nil},
		{"named formats", `      - rule: "!format.dns1123Label().validate(self.name).hasValue() && format.named('uuid').hasValue() && !format.named('nope').hasValue() && format.dns1123Subdomain().validate('Not_Valid').value().size() > 0 && !format.dns1123LabelPrefix().validate('abc-').hasValue()"`, `spec: {name: abc}`, "", nil},
		{"named format fails", `      - {rule: "!format.dns1123Label().validate(self.name).hasValue()", messageExpression: "'bad name: %d problem(s)'.format([format.dns1123Label().validate(self.name).value().size()])"}`, `spec: {name: A_b}`, "",
			[]string{`spec: Invalid value: bad name: 1 problem(s)`}},
		{"bad regex at runtime", `      - rule: "self.name.find('[') == ''"`, `spec: {name: abc}`, "",
			[]string{"spec: Invalid value: \"object\": error parsing regexp: missing closing ]: `[` evaluating rule: self.name.find('[') == ''"}},
		{"runtime overload error", `      - rule: "self.ios + 1 > 0"`, `spec: {ios: abc}`, "",
			[]string{`spec: Invalid value: "object": 'no such overload': call arguments did not match a supported operator, function or macro signature for rule: self.ios + 1 > 0`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, errs := Compile(structural(t, specSchema(tc.rules)), field.NewPath("schema"), AllCostLimits)
			if len(errs) > 0 {
				t.Fatalf("compile: %v", errs)
			}
			got := errStrings(v.Validate(context.Background(), object(t, tc.obj), object(t, tc.old)))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestEvaluateNested(t *testing.T) {
	schema := `
type: object
x-kubernetes-validations:
  - {rule: "self.metadata.name.startsWith('ok-')", message: "name must start with ok-"}
  - {rule: "self.kind == 'Foo' && self.apiVersion == 'example.com/v1'"}
properties:
  spec:
    type: object
    properties:
      ports:
        type: array
        maxItems: 16
        x-kubernetes-list-type: map
        x-kubernetes-list-map-keys: [name]
        items:
          type: object
          required: [name]
          properties:
            name: {type: string, maxLength: 15}
            port:
              type: integer
              x-kubernetes-validations:
                - {rule: "self > 0 && self < 65536", message: "port out of range"}
            protocol:
              type: string
              maxLength: 8
              x-kubernetes-validations:
                - {rule: "self == oldSelf", message: "Value is immutable"}
      limits:
        type: object
        maxProperties: 16
        additionalProperties:
          type: integer
          x-kubernetes-validations:
            - {rule: "self <= 100", message: "limit too high"}
      matrix:
        type: array
        maxItems: 8
        items:
          type: array
          maxItems: 8
          items:
            type: integer
            x-kubernetes-validations: [{rule: "self != 0"}]
`
	v, errs := Compile(structural(t, schema), nil, AllCostLimits)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	obj := object(t, `
apiVersion: example.com/v1
kind: Foo
metadata: {name: bad, labels: {a: b}}
spec:
  ports:
    - {name: http, port: 80, protocol: TCP}
    - {name: https, port: 70000, protocol: UDP}
  limits: {cpu: 5, mem: 500}
  matrix: [[1, 0], [0]]
`)
	old := object(t, `
apiVersion: example.com/v1
kind: Foo
metadata: {name: bad}
spec:
  ports:
    - {name: https, port: 443, protocol: TCP}
    - {name: http, port: 80, protocol: TCP}
`)
	got := errStrings(v.Validate(context.Background(), obj, old))
	want := []string{
		`<nil>: Invalid value: name must start with ok-`,
		`spec.limits[mem]: Invalid value: 500: limit too high`,
		`spec.matrix[0][1]: Invalid value: 0: failed rule: self != 0`,
		`spec.matrix[1][0]: Invalid value: 0: failed rule: self != 0`,
		`spec.ports[1].port: Invalid value: 70000: port out of range`,
		`spec.ports[1].protocol: Invalid value: "UDP": Value is immutable`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCostLimit(t *testing.T) {
	// The race detector slows evaluation down; keep the timeout out of the way.
	old := EvalTimeout
	EvalTimeout = 30 * time.Second
	defer func() { EvalTimeout = old }()
	// 10^5 iterations of a nested comprehension are within the static
	// estimate's limit but exceed the per-call limit when run.
	rule := `[0,1,2,3,4,5,6,7,8,9].all(a, [0,1,2,3,4,5,6,7,8,9].all(b, [0,1,2,3,4,5,6,7,8,9].all(c, [0,1,2,3,4,5,6,7,8,9].all(d, [0,1,2,3,4,5,6,7,8,9].all(e, a + b + c + d + e >= 0)))))`
	v, errs := Compile(structural(t, specSchema("      - rule: \""+rule+"\"\n      - rule: \"false\"")), nil, AllCostLimits)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	start := time.Now()
	got := errStrings(v.Validate(context.Background(), object(t, `spec: {replicas: 1}`), nil))
	if len(got) != 1 || !strings.Contains(got[0], "'operation cancelled: actual cost limit exceeded': no further validation rules will be run due to call cost exceeds limit for rule: [0,1,2") {
		t.Fatalf("errors = %q", got)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestTimeout(t *testing.T) {
	old := EvalTimeout
	EvalTimeout = time.Nanosecond
	defer func() { EvalTimeout = old }()
	v, errs := Compile(structural(t, specSchema(`      - rule: "self.tags.all(a, self.tags.all(b, a != b || a == b))"`)), nil, AllCostLimits)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	tags := make([]interface{}, 300)
	for i := range tags {
		tags[i] = "x"
	}
	got := errStrings(v.Validate(context.Background(), map[string]interface{}{"spec": map[string]interface{}{"tags": tags}}, nil))
	if len(got) != 1 || !strings.Contains(got[0], "due to evaluation timeout for rule: self.tags.all(") {
		t.Fatalf("errors = %q", got)
	}
}

// Rules in the style of Gateway API's CRDs.
func TestGatewayAPIStyleRules(t *testing.T) {
	schema := `
type: object
properties:
  spec:
    type: object
    properties:
      listeners:
        type: array
        maxItems: 64
        items:
          type: object
          properties:
            name: {type: string, maxLength: 253}
            hostname: {type: string, maxLength: 253}
            port: {type: integer}
            protocol: {type: string, maxLength: 255}
            tls:
              type: object
              properties:
                mode: {type: string, enum: [Terminate, Passthrough]}
                certificateRefs:
                  type: array
                  maxItems: 64
                  items: {type: object, properties: {name: {type: string, maxLength: 253}}}
        x-kubernetes-validations:
          - message: tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']
            rule: "self.all(l, l.protocol in ['HTTP', 'TCP', 'UDP'] ? !has(l.tls) : true)"
          - message: tls mode must be set for protocol HTTPS
            rule: "self.all(l, (l.protocol == 'HTTPS' && has(l.tls)) ? (has(l.tls.mode) && l.tls.mode != '') : true)"
          - message: Listener name must be unique within the Gateway
            rule: "self.all(l1, self.exists_one(l2, l1.name == l2.name))"
          - message: Combination of port, protocol and hostname must be unique for each listener
            rule: "self.all(l1, self.exists_one(l2, l1.port == l2.port && l1.protocol == l2.protocol && (has(l1.hostname) && has(l2.hostname) ? l1.hostname == l2.hostname : !has(l1.hostname) && !has(l2.hostname))))"
      addresses:
        type: array
        maxItems: 16
        items:
          type: object
          properties:
            type: {type: string, default: IPAddress, maxLength: 253}
            value: {type: string, maxLength: 253}
          x-kubernetes-validations:
            - message: value must be an IP address
              rule: "self.type == 'IPAddress' ? isIP(self.value) : true"
      rules:
        type: array
        maxItems: 16
        items:
          type: object
          properties:
            matches:
              type: array
              maxItems: 64
              items:
                type: object
                properties:
                  path:
                    type: object
                    properties:
                      type: {type: string, enum: [Exact, PathPrefix, RegularExpression]}
                      value: {type: string, maxLength: 1024}
                    x-kubernetes-validations:
                      - message: value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']
                        rule: "(self.type in ['Exact','PathPrefix']) ? self.value.startsWith('/') : true"
                      - message: must not contain '//' when type one of ['Exact', 'PathPrefix']
                        rule: "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('//') : true"
                      - message: must only contain valid characters (matching ^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$) for types ['Exact', 'PathPrefix']
                        rule: "(self.type in ['Exact','PathPrefix']) ? self.value.matches(r\"\"\"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$\"\"\") : true"
            filters:
              type: array
              maxItems: 16
              items:
                type: object
                properties:
                  type: {type: string, enum: [RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, RequestRedirect, URLRewrite, ExtensionRef]}
              x-kubernetes-validations:
                - message: RequestRedirect filter must not be used together with backendRefs
                  rule: "self.filter(f, f.type == 'RequestRedirect').size() <= 1"
                - message: URLRewrite filter cannot be repeated
                  rule: "self.filter(f, f.type == 'URLRewrite').size() <= 1"
`
	v, errs := Compile(structural(t, schema), nil, AllCostLimits)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	valid := `
spec:
  listeners:
    - {name: http, port: 80, protocol: HTTP}
    - {name: https, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {mode: Terminate}}
  addresses: [{type: IPAddress, value: 10.0.0.1}, {type: Hostname, value: foo}]
  rules:
    - matches: [{path: {type: PathPrefix, value: /foo}}]
      filters: [{type: URLRewrite}]
`
	if errs := v.Validate(context.Background(), object(t, valid), nil); len(errs) > 0 {
		t.Fatalf("valid gateway: %v", errs)
	}
	invalid := `
spec:
  listeners:
    - {name: http, port: 80, protocol: HTTP, tls: {mode: Terminate}}
    - {name: http, port: 80, protocol: HTTP}
  addresses: [{type: IPAddress, value: not-an-ip}]
  rules:
    - matches: [{path: {type: Exact, value: "foo//bar"}}]
      filters: [{type: URLRewrite}, {type: URLRewrite}]
`
	got := errStrings(v.Validate(context.Background(), object(t, invalid), nil))
	want := []string{
		`spec.addresses[0]: Invalid value: value must be an IP address`,
		`spec.listeners: Invalid value: tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']`,
		`spec.listeners: Invalid value: Listener name must be unique within the Gateway`,
		`spec.listeners: Invalid value: Combination of port, protocol and hostname must be unique for each listener`,
		`spec.rules[0].filters: Invalid value: URLRewrite filter cannot be repeated`,
		`spec.rules[0].matches[0].path: Invalid value: value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']`,
		`spec.rules[0].matches[0].path: Invalid value: must not contain '//' when type one of ['Exact', 'PathPrefix']`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestEscapeName(t *testing.T) {
	for in, want := range map[string]string{
		"foo": "foo", "x-y": "x__dash__y", "a.b": "a__dot__b", "a/b": "a__slash__b", "a__b": "a__underscores__b",
		"namespace": "__namespace__", "if": "__if__", "1abc": "", "a b": "",
	} {
		got, ok := escapeName(in)
		if got != want || ok != (want != "") {
			t.Errorf("escapeName(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// One Validator serves concurrent requests.
func TestConcurrentValidate(t *testing.T) {
	v, errs := Compile(structural(t, specSchema(`      - {rule: "self.minReplicas <= self.replicas && self.tags.all(x, x.matches('^[a-z]+$'))", message: "bad"}`)), nil, AllCostLimits)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	good, bad := object(t, `spec: {replicas: 2, minReplicas: 1, tags: [a, b]}`), object(t, `spec: {replicas: 1, minReplicas: 2, tags: [a]}`)
	done := make(chan string, 16)
	for i := 0; i < 16; i++ {
		go func(i int) {
			obj, want := good, 0
			if i%2 == 1 {
				obj, want = bad, 1
			}
			for j := 0; j < 50; j++ {
				if got := v.Validate(context.Background(), obj, nil); len(got) != want {
					done <- fmt.Sprintf("goroutine %d: %v", i, got)
					return
				}
			}
			done <- ""
		}(i)
	}
	for i := 0; i < 16; i++ {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}

func TestTotalCostBudget(t *testing.T) {
	old := runtimeCostBudget
	runtimeCostBudget = 50
	defer func() { runtimeCostBudget = old }()
	v, errs := Compile(structural(t, specSchema(`
      - rule: "self.tags.all(x, x != '')"
      - rule: "self.tags.all(x, x != '')"
      - rule: "false"`)), nil, AllCostLimits)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	tags := make([]interface{}, 10)
	for i := range tags {
		tags[i] = "a"
	}
	got := errStrings(v.Validate(context.Background(), map[string]interface{}{"spec": map[string]interface{}{"tags": tags}}, nil))
	want := `spec: Invalid value: "object": validation failed due to running out of cost budget, no further validation rules will be run`
	if len(got) != 1 || got[0] != want {
		t.Fatalf("errors = %q, want [%q]", got, want)
	}
}

func TestRatchetingAtomicListItems(t *testing.T) {
	v, errs := Compile(structural(t, `
type: object
properties:
  list:
    type: array
    items:
      type: string
      x-kubernetes-validations: [{rule: "self.size() < 3"}]
  other: {type: string}
`), nil, AllCostLimits)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	old := object(t, `{list: [abcd, a], other: x}`)
	// The list is left alone: its old items keep passing.
	if got := v.Validate(context.Background(), object(t, `{list: [abcd, a], other: y}`), old); len(got) != 0 {
		t.Errorf("unchanged list: %v", got)
	}
	// The list changes: atomic list items do not correlate, all are checked.
	got := errStrings(v.Validate(context.Background(), object(t, `{list: [abcd, b], other: y}`), old))
	if want := `list[0]: Invalid value: "abcd": failed rule: self.size() < 3`; len(got) != 1 || got[0] != want {
		t.Errorf("changed list: %q, want [%q]", got, want)
	}
}

// More Gateway API-style constructs: escaped field names (namespace),
// indexing, duration() on strings, has() chains and oldSelf immutability.
func TestGatewayAPIStyleConstructs(t *testing.T) {
	v, errs := Compile(structural(t, `
type: object
properties:
  spec:
    type: object
    properties:
      controllerName:
        type: string
        x-kubernetes-validations: [{message: Value is immutable, rule: self == oldSelf}]
      parentRefs:
        type: array
        maxItems: 32
        items:
          type: object
          required: [name]
          properties:
            group: {type: string, default: gateway.networking.k8s.io, maxLength: 253}
            kind: {type: string, default: Gateway, maxLength: 63}
            name: {type: string, maxLength: 253}
            namespace: {type: string, maxLength: 63}
            sectionName: {type: string, maxLength: 253}
        x-kubernetes-validations:
          - message: sectionName must be unique when parentRefs includes 2 or more references to the same parent
            rule: "self.all(p1, self.all(p2, p1.group == p2.group && p1.kind == p2.kind && p1.name == p2.name && (((!has(p1.__namespace__) || p1.__namespace__ == '') && (!has(p2.__namespace__) || p2.__namespace__ == '')) || (has(p1.__namespace__) && has(p2.__namespace__) && p1.__namespace__ == p2.__namespace__)) ? ((!has(p1.sectionName) || p1.sectionName == '') == (!has(p2.sectionName) || p2.sectionName == '')) : true))"
      rules:
        type: array
        maxItems: 16
        items:
          type: object
          properties:
            matches:
              type: array
              maxItems: 64
              items: {type: object, properties: {path: {type: object, properties: {value: {type: string, maxLength: 1024}}}}}
            timeouts:
              type: object
              properties:
                request: {type: string}
                backendRequest: {type: string}
              x-kubernetes-validations:
                - message: backendRequest timeout cannot be longer than request timeout
                  rule: "!(has(self.request) && has(self.backendRequest) && duration(self.request) != duration('0s') && duration(self.backendRequest) > duration(self.request))"
        x-kubernetes-validations:
          - message: While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be less than 128
            rule: "(self.size() > 0 ? (has(self[0].matches) ? self[0].matches.size() : 0) : 0) + (self.size() > 1 ? (has(self[1].matches) ? self[1].matches.size() : 0) : 0) <= 3"
`), nil, AllCostLimits)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	old := object(t, `spec: {controllerName: a.io/x}`)
	obj := object(t, `
spec:
  controllerName: b.io/x
  parentRefs: [{group: g, kind: Gateway, name: gw, namespace: ns}, {group: g, kind: Gateway, name: gw, namespace: ns, sectionName: http}]
  rules:
    - matches: [{path: {value: /a}}, {path: {value: /b}}]
      timeouts: {request: 10s, backendRequest: 20s}
    - matches: [{path: {value: /c}}, {path: {value: /d}}]
`)
	got := errStrings(v.Validate(context.Background(), obj, old))
	want := []string{
		`spec.controllerName: Invalid value: "b.io/x": Value is immutable`,
		`spec.parentRefs: Invalid value: sectionName must be unique when parentRefs includes 2 or more references to the same parent`,
		`spec.rules: Invalid value: While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be less than 128`,
		`spec.rules[0].timeouts: Invalid value: backendRequest timeout cannot be longer than request timeout`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Lists of type set and map compare without regard to order, as upstream's.
func TestSetAndMapListEquality(t *testing.T) {
	v, errs := Compile(structural(t, `
type: object
properties:
  set:
    type: array
    x-kubernetes-list-type: set
    items: {type: string}
    x-kubernetes-validations: [{rule: "self == oldSelf", message: set is immutable}]
  map:
    type: array
    x-kubernetes-list-type: map
    x-kubernetes-list-map-keys: [name]
    items:
      type: object
      required: [name]
      properties:
        name: {type: string}
        value: {type: integer}
    x-kubernetes-validations: [{rule: "self == oldSelf", message: map is immutable}]
  atomic:
    type: array
    items: {type: string}
    x-kubernetes-validations: [{rule: "self == oldSelf", message: atomic is immutable}]
`), nil, AllCostLimits)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	old := object(t, `{set: [a, b], map: [{name: x, value: 1}, {name: y, value: 2}], atomic: [a, b]}`)
	for _, tc := range []struct {
		obj  string
		want []string
	}{
		{`{set: [b, a], map: [{name: y, value: 2}, {name: x, value: 1}], atomic: [a, b]}`, nil},
		{`{set: [a, c], map: [{name: y, value: 2}, {name: x, value: 3}], atomic: [b, a]}`, []string{
			`atomic: Invalid value: atomic is immutable`,
			`map: Invalid value: map is immutable`,
			`set: Invalid value: set is immutable`,
		}},
	} {
		got := errStrings(v.Validate(context.Background(), object(t, tc.obj), old))
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: errors:\n%s\nwant:\n%s", tc.obj, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
	// Against a literal list too, a set compares as a set (as upstream's),
	// and element access works.
	v, errs = Compile(structural(t, `
type: object
properties:
  set:
    type: array
    x-kubernetes-list-type: set
    items: {type: string}
    x-kubernetes-validations: [{rule: "self[0] == 'a' && self.size() == 2 && 'b' in self && self + ['c'] == ['c', 'b', 'a'] && self != ['a'] && self.exists(x, x == 'b')"}]
`), nil, AllCostLimits)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := v.Validate(context.Background(), object(t, `{set: [a, b]}`), nil); len(got) > 0 {
		t.Errorf("set operations: %v", got)
	}
}

// + on set and map lists has upstream's semantics: a set keeps each
// element once, a map list merges by key.
func TestSetAndMapListAdd(t *testing.T) {
	v, errs := Compile(structural(t, `
type: object
properties:
  set:
    type: array
    maxItems: 16
    x-kubernetes-list-type: set
    items: {type: string, maxLength: 16}
    x-kubernetes-validations: [{rule: "(self + ['b', 'c']).size() == 3 && (self + ['b', 'c'])[2] == 'c' && (self + ['b', 'c']) == ['c', 'b', 'a']"}]
  map:
    type: array
    maxItems: 16
    x-kubernetes-list-type: map
    x-kubernetes-list-map-keys: [name]
    items:
      type: object
      required: [name]
      properties:
        name: {type: string, maxLength: 16}
        value: {type: integer}
    x-kubernetes-validations:
      - rule: "(oldSelf + self).size() == 3 && (oldSelf + self)[0].value == 1 && (oldSelf + self)[1].value == 5 && (oldSelf + self)[2].name == 'z'"
`), nil, AllCostLimits)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	old := object(t, `{set: [a], map: [{name: x, value: 1}, {name: y, value: 2}]}`)
	obj := object(t, `{set: [a, b], map: [{name: y, value: 5}, {name: z, value: 3}]}`)
	if got := v.Validate(context.Background(), obj, old); len(got) > 0 {
		t.Errorf("set and map list +: %v", got)
	}
}
