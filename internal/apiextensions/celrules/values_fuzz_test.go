package celrules

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/cel-go/common/types"
)

const fuzzSchema = `
type: object
x-kubernetes-validations: [{rule: "self == self"}]
properties:
  spec:
    type: object
    x-kubernetes-validations: [{rule: "has(self.num) ? self.num == self.num : true"}]
    properties:
      num: {type: integer}
      f: {type: number}
      s: {type: string}
      d: {type: string, format: duration}
      t: {type: string, format: date-time}
      b: {type: string, format: byte}
      x-y: {type: string}
      ios: {x-kubernetes-int-or-string: true}
      list:
        type: array
        items:
          type: object
          properties:
            k: {type: string}
      m:
        type: object
        additionalProperties: {type: number}
      set:
        type: array
        x-kubernetes-list-type: set
        items: {type: string}
        x-kubernetes-validations: [{rule: "self == self"}]
      mapList:
        type: array
        x-kubernetes-list-type: map
        x-kubernetes-list-map-keys: [k]
        items:
          type: object
          properties:
            k: {type: string}
            tags: {type: array, x-kubernetes-list-type: set, items: {type: integer}}
        x-kubernetes-validations: [{rule: "self == self"}]
      free:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`

// FuzzToNative feeds arbitrary JSON through the schema-guided conversion
// and the rules: nothing may panic, the conversion is deterministic and
// every value it makes is one CEL can take.
func FuzzToNative(f *testing.F) {
	for _, seed := range []string{
		`{"spec":{"num":1,"f":2,"s":"x","d":"1h","t":"2020-01-01T00:00:00Z","b":"aGk=","x-y":"z","ios":"50%","list":[{"k":"a"}],"m":{"a":1.5},"set":["a","b"],"mapList":[{"k":"a","tags":[2,1]},{"k":"b"}],"free":{"a":[1,{"b":null}]}}}`,
		`{"spec":{"num":"not a number","f":"x","list":{"a":1},"m":[1]}}`,
		`{"spec":null}`, `{"apiVersion":"v1","kind":"K","metadata":{"name":"n","labels":{"a":"b"}}}`,
		`{"spec":{"num":1.5,"d":"bogus","t":"bogus","b":"!!"}}`,
		`{"spec":{"t":"0000-01-01T00:00:00+01:00","set":["a"],"mapList":[{"k":"a","tags":[1]}]}}`,
	} {
		f.Add([]byte(seed))
	}
	s := structural(f, fuzzSchema)
	v, errs := Compile(s, nil, AllCostLimits)
	if len(errs) > 0 {
		f.Fatal(errs)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var obj map[string]interface{}
		if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
			return
		}
		a, b := toNative(obj, s, true), toNative(obj, s, true)
		if canonical(a) != canonical(b) {
			t.Fatalf("conversion not deterministic: %s vs %s", canonical(a), canonical(b))
		}
		if val := types.DefaultTypeAdapter.NativeToValue(a); types.IsError(val) {
			t.Fatalf("conversion made a value CEL cannot take: %v", val)
		}
		_ = v.Validate(context.Background(), obj, obj)
	})
}
