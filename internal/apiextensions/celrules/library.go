package celrules

import (
	"encoding/base64"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// kubernetesLibrary declares the Kubernetes CEL functions implemented here:
// the list, regex, URL, quantity, semver and named format libraries. The IP and CIDR functions come
// from cel-go's ext.Network, which mirrors Kubernetes' library.
func kubernetesLibrary() []cel.EnvOption {
	var opts []cel.EnvOption
	opts = append(opts, listLibrary()...)
	opts = append(opts, regexLibrary()...)
	opts = append(opts, urlLibrary()...)
	opts = append(opts, quantityLibrary()...)
	opts = append(opts, semverLibrary()...)
	opts = append(opts, formatLibrary()...)
	return opts
}

// --- lists ---

func listLibrary() []cel.EnvOption {
	T := cel.TypeParamType("T")
	listT := cel.ListType(T)
	sumOverload := func(id string, elem *cel.Type, zero ref.Val) cel.FunctionOpt {
		return cel.MemberOverload(id, []*cel.Type{cel.ListType(elem)}, elem, cel.UnaryBinding(func(v ref.Val) ref.Val {
			return listSum(v, zero)
		}))
	}
	return []cel.EnvOption{
		cel.Function("isSorted", cel.MemberOverload("list_is_sorted", []*cel.Type{listT}, cel.BoolType, cel.UnaryBinding(listIsSorted))),
		cel.Function("sum",
			sumOverload("list_int_sum", cel.IntType, types.IntZero),
			sumOverload("list_uint_sum", cel.UintType, types.Uint(0)),
			sumOverload("list_double_sum", cel.DoubleType, types.Double(0)),
			sumOverload("list_duration_sum", cel.DurationType, types.Duration{}),
		),
		cel.Function("min", cel.MemberOverload("list_min", []*cel.Type{listT}, T, cel.UnaryBinding(func(v ref.Val) ref.Val { return listExtreme(v, "min", -1) }))),
		cel.Function("max", cel.MemberOverload("list_max", []*cel.Type{listT}, T, cel.UnaryBinding(func(v ref.Val) ref.Val { return listExtreme(v, "max", 1) }))),
		cel.Function("indexOf", cel.MemberOverload("list_index_of", []*cel.Type{listT, T}, cel.IntType, cel.BinaryBinding(func(l, x ref.Val) ref.Val { return listIndexOf(l, x, false) }))),
		cel.Function("lastIndexOf", cel.MemberOverload("list_last_index_of", []*cel.Type{listT, T}, cel.IntType, cel.BinaryBinding(func(l, x ref.Val) ref.Val { return listIndexOf(l, x, true) }))),
	}
}

func asLister(v ref.Val) (traits.Lister, ref.Val) {
	l, ok := v.(traits.Lister)
	if !ok {
		return nil, types.MaybeNoSuchOverloadErr(v)
	}
	return l, nil
}

func compare(a, b ref.Val) (int, ref.Val) {
	c, ok := a.(traits.Comparer)
	if !ok {
		return 0, types.MaybeNoSuchOverloadErr(a)
	}
	r := c.Compare(b)
	n, ok := r.(types.Int)
	if !ok {
		return 0, types.MaybeNoSuchOverloadErr(r)
	}
	return int(n), nil
}

func listIsSorted(v ref.Val) ref.Val {
	l, err := asLister(v)
	if err != nil {
		return err
	}
	it := l.Iterator()
	var prev ref.Val
	for it.HasNext() == types.True {
		cur := it.Next()
		if prev != nil {
			c, err := compare(prev, cur)
			if err != nil {
				return err
			}
			if c > 0 {
				return types.False
			}
		}
		prev = cur
	}
	return types.True
}

func listSum(v ref.Val, zero ref.Val) ref.Val {
	l, err := asLister(v)
	if err != nil {
		return err
	}
	acc := zero
	it := l.Iterator()
	for it.HasNext() == types.True {
		a, ok := acc.(traits.Adder)
		if !ok {
			return types.MaybeNoSuchOverloadErr(acc)
		}
		acc = a.Add(it.Next())
		if types.IsError(acc) {
			return acc
		}
	}
	return acc
}

func listExtreme(v ref.Val, name string, sign int) ref.Val {
	l, err := asLister(v)
	if err != nil {
		return err
	}
	if l.Size() == types.IntZero {
		return types.NewErr("%s called on empty list", name)
	}
	it := l.Iterator()
	best := it.Next()
	for it.HasNext() == types.True {
		cur := it.Next()
		c, err := compare(cur, best)
		if err != nil {
			return err
		}
		if c*sign > 0 {
			best = cur
		}
	}
	return best
}

func listIndexOf(v, x ref.Val, last bool) ref.Val {
	l, err := asLister(v)
	if err != nil {
		return err
	}
	n := int64(l.Size().(types.Int))
	for i := int64(0); i < n; i++ {
		j := i
		if last {
			j = n - 1 - i
		}
		if l.Get(types.Int(j)).Equal(x) == types.True {
			return types.Int(j)
		}
	}
	return types.Int(-1)
}

// --- regex ---

var regexCache sync.Map // pattern -> *regexp.Regexp

func compileRegex(p string) (*regexp.Regexp, error) {
	if re, ok := regexCache.Load(p); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, err
	}
	regexCache.Store(p, re)
	return re, nil
}

func regexLibrary() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Function("find", cel.MemberOverload("string_find_string", []*cel.Type{cel.StringType, cel.StringType}, cel.StringType,
			cel.BinaryBinding(func(s, p ref.Val) ref.Val {
				re, err := compileRegex(string(p.(types.String)))
				if err != nil {
					return types.WrapErr(err)
				}
				return types.String(re.FindString(string(s.(types.String))))
			}))),
		cel.Function("findAll",
			cel.MemberOverload("string_find_all_string", []*cel.Type{cel.StringType, cel.StringType}, cel.ListType(cel.StringType),
				cel.BinaryBinding(func(s, p ref.Val) ref.Val { return findAll(s, p, types.Int(-1)) })),
			cel.MemberOverload("string_find_all_string_int", []*cel.Type{cel.StringType, cel.StringType, cel.IntType}, cel.ListType(cel.StringType),
				cel.FunctionBinding(func(args ...ref.Val) ref.Val { return findAll(args[0], args[1], args[2]) })),
		),
	}
}

func findAll(s, p, limit ref.Val) ref.Val {
	re, err := compileRegex(string(p.(types.String)))
	if err != nil {
		return types.WrapErr(err)
	}
	n := int(limit.(types.Int))
	return types.DefaultTypeAdapter.NativeToValue(nonNil(re.FindAllString(string(s.(types.String)), n)))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// --- URLs ---

// urlType is the CEL type of url() values.
var urlType = cel.OpaqueType("kubernetes.URL")

// urlValue is a parsed URL in CEL.
type urlValue struct{ u *url.URL }

func (v urlValue) ConvertToNative(t reflect.Type) (any, error) {
	if reflect.TypeOf(v.u).AssignableTo(t) {
		return v.u, nil
	}
	if reflect.TypeOf(*v.u).AssignableTo(t) {
		return *v.u, nil
	}
	return nil, fmt.Errorf("type conversion error from 'URL' to '%v'", t)
}

func (v urlValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case urlType:
		return v
	case types.StringType:
		return types.String(v.u.String())
	case types.TypeType:
		return urlType
	}
	return types.NewErr("type conversion error from '%s' to '%s'", urlType, t)
}

func (v urlValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(urlValue)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Bool(v.u.String() == o.u.String())
}

func (v urlValue) Type() ref.Type { return urlType }
func (v urlValue) Value() any     { return v.u }

// parseURL accepts absolute URIs with a scheme and absolute paths, as
// Kubernetes' url() does.
func parseURL(s string) (*url.URL, error) {
	u, err := url.ParseRequestURI(s)
	if err != nil {
		return nil, err
	}
	return u, nil
}

func urlLibrary() []cel.EnvOption {
	str := func(f func(*url.URL) string) func(ref.Val) ref.Val {
		return func(v ref.Val) ref.Val {
			u, ok := v.(urlValue)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return types.String(f(u.u))
		}
	}
	member := func(name string, f func(*url.URL) string) cel.EnvOption {
		return cel.Function(name, cel.MemberOverload("url_"+name, []*cel.Type{urlType}, cel.StringType, cel.UnaryBinding(str(f))))
	}
	return []cel.EnvOption{
		cel.Function("url", cel.Overload("string_to_url", []*cel.Type{cel.StringType}, urlType, cel.UnaryBinding(func(v ref.Val) ref.Val {
			u, err := parseURL(string(v.(types.String)))
			if err != nil {
				return types.NewErr("URL parse error during conversion from string: %v", err)
			}
			return urlValue{u: u}
		}))),
		cel.Function("isURL", cel.Overload("is_url_string", []*cel.Type{cel.StringType}, cel.BoolType, cel.UnaryBinding(func(v ref.Val) ref.Val {
			_, err := parseURL(string(v.(types.String)))
			return types.Bool(err == nil)
		}))),
		member("getScheme", func(u *url.URL) string { return u.Scheme }),
		member("getHost", func(u *url.URL) string { return u.Host }),
		member("getHostname", func(u *url.URL) string { return u.Hostname() }),
		member("getPort", func(u *url.URL) string { return u.Port() }),
		member("getEscapedPath", func(u *url.URL) string { return u.EscapedPath() }),
		cel.Function("getQuery", cel.MemberOverload("url_getQuery", []*cel.Type{urlType}, cel.MapType(cel.StringType, cel.ListType(cel.StringType)),
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				u, ok := v.(urlValue)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				return types.DefaultTypeAdapter.NativeToValue(map[string][]string(u.u.Query()))
			}))),
	}
}

// --- quantities ---

// quantityType is the CEL type of quantity() values.
var quantityType = cel.OpaqueType("kubernetes.Quantity")

// quantityValue is a resource.Quantity in CEL.
type quantityValue struct{ q *resource.Quantity }

func (v quantityValue) ConvertToNative(t reflect.Type) (any, error) {
	if reflect.TypeOf(v.q).AssignableTo(t) {
		return v.q, nil
	}
	if reflect.TypeOf(*v.q).AssignableTo(t) {
		return *v.q, nil
	}
	return nil, fmt.Errorf("type conversion error from 'Quantity' to '%v'", t)
}

func (v quantityValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case quantityType:
		return v
	case types.StringType:
		return types.String(v.q.String())
	case types.TypeType:
		return quantityType
	}
	return types.NewErr("type conversion error from '%s' to '%s'", quantityType, t)
}

func (v quantityValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(quantityValue)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Bool(v.q.Equal(*o.q))
}

func (v quantityValue) Type() ref.Type { return quantityType }
func (v quantityValue) Value() any     { return v.q }

func quantityLibrary() []cel.EnvOption {
	q := func(v ref.Val) (*resource.Quantity, bool) {
		qv, ok := v.(quantityValue)
		if !ok {
			return nil, false
		}
		return qv.q, true
	}
	unary := func(name string, out *cel.Type, f func(*resource.Quantity) ref.Val) cel.EnvOption {
		return cel.Function(name, cel.MemberOverload("quantity_"+name, []*cel.Type{quantityType}, out, cel.UnaryBinding(func(v ref.Val) ref.Val {
			x, ok := q(v)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return f(x)
		})))
	}
	binary := func(name string, out *cel.Type, f func(a, b *resource.Quantity) ref.Val) cel.EnvOption {
		return cel.Function(name, cel.MemberOverload("quantity_"+name, []*cel.Type{quantityType, quantityType}, out, cel.BinaryBinding(func(a, b ref.Val) ref.Val {
			x, ok1 := q(a)
			y, ok2 := q(b)
			if !ok1 || !ok2 {
				return types.MaybeNoSuchOverloadErr(b)
			}
			return f(x, y)
		})))
	}
	arith := func(name string, sub bool) cel.EnvOption {
		apply := func(x, y *resource.Quantity) ref.Val {
			r := x.DeepCopy()
			if sub {
				r.Sub(*y)
			} else {
				r.Add(*y)
			}
			return quantityValue{q: &r}
		}
		return cel.Function(name,
			cel.MemberOverload("quantity_"+name+"_quantity", []*cel.Type{quantityType, quantityType}, quantityType, cel.BinaryBinding(func(a, b ref.Val) ref.Val {
				x, ok1 := q(a)
				y, ok2 := q(b)
				if !ok1 || !ok2 {
					return types.MaybeNoSuchOverloadErr(b)
				}
				return apply(x, y)
			})),
			cel.MemberOverload("quantity_"+name+"_int", []*cel.Type{quantityType, cel.IntType}, quantityType, cel.BinaryBinding(func(a, b ref.Val) ref.Val {
				x, ok := q(a)
				n, ok2 := b.(types.Int)
				if !ok || !ok2 {
					return types.MaybeNoSuchOverloadErr(b)
				}
				y := resource.NewQuantity(int64(n), resource.DecimalSI)
				return apply(x, y)
			})),
		)
	}
	return []cel.EnvOption{
		cel.Function("quantity", cel.Overload("string_to_quantity", []*cel.Type{cel.StringType}, quantityType, cel.UnaryBinding(func(v ref.Val) ref.Val {
			x, err := resource.ParseQuantity(string(v.(types.String)))
			if err != nil {
				return types.WrapErr(err)
			}
			return quantityValue{q: &x}
		}))),
		cel.Function("isQuantity", cel.Overload("is_quantity_string", []*cel.Type{cel.StringType}, cel.BoolType, cel.UnaryBinding(func(v ref.Val) ref.Val {
			_, err := resource.ParseQuantity(string(v.(types.String)))
			return types.Bool(err == nil)
		}))),
		unary("sign", cel.IntType, func(x *resource.Quantity) ref.Val { return types.Int(x.Sign()) }),
		unary("isInteger", cel.BoolType, func(x *resource.Quantity) ref.Val {
			_, ok := x.AsInt64()
			return types.Bool(ok)
		}),
		unary("asInteger", cel.IntType, func(x *resource.Quantity) ref.Val {
			n, ok := x.AsInt64()
			if !ok {
				return types.NewErr("cannot convert value to integer")
			}
			return types.Int(n)
		}),
		unary("asApproximateFloat", cel.DoubleType, func(x *resource.Quantity) ref.Val {
			f := x.AsApproximateFloat64()
			if math.IsInf(f, 0) {
				return types.NewErr("value out of range")
			}
			return types.Double(f)
		}),
		arith("add", false),
		arith("sub", true),
		binary("isLessThan", cel.BoolType, func(a, b *resource.Quantity) ref.Val { return types.Bool(a.Cmp(*b) < 0) }),
		binary("isGreaterThan", cel.BoolType, func(a, b *resource.Quantity) ref.Val { return types.Bool(a.Cmp(*b) > 0) }),
		binary("compareTo", cel.IntType, func(a, b *resource.Quantity) ref.Val { return types.Int(a.Cmp(*b)) }),
	}
}

// --- named formats ---

// formatType is the CEL type of format.* values.
var formatType = cel.OpaqueType("kubernetes.NamedFormat")

// formatValue is a named string format with its validator.
type formatValue struct {
	name     string
	validate func(string) []string
}

func (v formatValue) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("type conversion error from '%s' to '%v'", formatType, t)
}

func (v formatValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case formatType:
		return v
	case types.TypeType:
		return formatType
	}
	return types.NewErr("type conversion error from '%s' to '%s'", formatType, t)
}

func (v formatValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(formatValue)
	return types.Bool(ok && o.name == v.name)
}

func (v formatValue) Type() ref.Type { return formatType }
func (v formatValue) Value() any     { return v }

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// prefixOf validates a generateName-style prefix: a trailing dash is
// allowed.
func prefixOf(f func(string) []string) func(string) []string {
	return func(s string) []string {
		if strings.HasSuffix(s, "-") && len(s) > 1 {
			s = s[:len(s)-1]
		}
		return f(s)
	}
}

func single(err error, msg string) []string {
	if err != nil {
		return []string{msg}
	}
	return nil
}

// namedFormats are Kubernetes' format library formats.
var namedFormats = map[string]func(string) []string{
	"dns1123Label":           validation.IsDNS1123Label,
	"dns1123Subdomain":       validation.IsDNS1123Subdomain,
	"dns1035Label":           validation.IsDNS1035Label,
	"qualifiedName":          validation.IsQualifiedName,
	"dns1123LabelPrefix":     prefixOf(validation.IsDNS1123Label),
	"dns1123SubdomainPrefix": prefixOf(validation.IsDNS1123Subdomain),
	"dns1035LabelPrefix":     prefixOf(validation.IsDNS1035Label),
	"labelValue":             validation.IsValidLabelValue,
	"uri": func(s string) []string {
		_, err := url.ParseRequestURI(s)
		return single(err, "invalid URI")
	},
	"uuid": func(s string) []string {
		if !uuidPattern.MatchString(s) {
			return []string{"does not match the UUID format"}
		}
		return nil
	},
	"byte": func(s string) []string {
		_, err := base64.StdEncoding.DecodeString(s)
		return single(err, "invalid base64")
	},
	"date": func(s string) []string {
		_, err := time.Parse("2006-01-02", s)
		return single(err, "invalid date")
	},
	"datetime": func(s string) []string {
		_, err := time.Parse(time.RFC3339, s)
		return single(err, "invalid datetime")
	},
}

func formatLibrary() []cel.EnvOption {
	opts := []cel.EnvOption{
		cel.Function("format.named", cel.Overload("format_named_string", []*cel.Type{cel.StringType}, cel.OptionalType(formatType),
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				name := string(v.(types.String))
				if f, ok := namedFormats[name]; ok {
					return types.OptionalOf(formatValue{name: name, validate: f})
				}
				return types.OptionalNone
			}))),
		cel.Function("validate", cel.MemberOverload("format_validate_string", []*cel.Type{formatType, cel.StringType}, cel.OptionalType(cel.ListType(cel.StringType)),
			cel.BinaryBinding(func(f, s ref.Val) ref.Val {
				fv, ok := f.(formatValue)
				if !ok {
					return types.MaybeNoSuchOverloadErr(f)
				}
				if errs := fv.validate(string(s.(types.String))); len(errs) > 0 {
					return types.OptionalOf(types.DefaultTypeAdapter.NativeToValue(errs))
				}
				return types.OptionalNone
			}))),
	}
	names := make([]string, 0, len(namedFormats))
	for n := range namedFormats {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		n := n
		opts = append(opts, cel.Function("format."+n, cel.Overload("format_"+n, nil, formatType,
			cel.FunctionBinding(func(...ref.Val) ref.Val { return formatValue{name: n, validate: namedFormats[n]} }))))
	}
	return opts
}
