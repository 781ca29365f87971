package celrules

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/blang/semver/v4"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// semverType is the CEL type of semver() values (Kubernetes' semver
// library).
var semverType = cel.OpaqueType("kubernetes.Semver")

// semverValue is a semantic version in CEL.
type semverValue struct{ v semver.Version }

func (v semverValue) ConvertToNative(t reflect.Type) (any, error) {
	if reflect.TypeOf(v.v).AssignableTo(t) {
		return v.v, nil
	}
	return nil, fmt.Errorf("type conversion error from 'Semver' to '%v'", t)
}

func (v semverValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case semverType:
		return v
	case types.StringType:
		return types.String(v.v.String())
	case types.TypeType:
		return semverType
	}
	return types.NewErr("type conversion error from '%s' to '%s'", semverType, t)
}

func (v semverValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(semverValue)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Bool(v.v.Equals(o.v))
}

func (v semverValue) Type() ref.Type { return semverType }
func (v semverValue) Value() any     { return v.v }

// parseSemver parses s; normalized, it first drops a leading "v", leading
// zeros of the numbers, and fills a missing minor or patch with 0.
func parseSemver(s string, normalize bool) (semver.Version, error) {
	if !normalize {
		return semver.Parse(s)
	}
	parts := strings.SplitN(strings.TrimPrefix(s, "v"), ".", 3)
	for i, p := range parts {
		if len(p) < 2 {
			continue
		}
		trimmed := strings.TrimLeft(p, "0")
		if trimmed == "" || trimmed[0] < '0' || trimmed[0] > '9' {
			// Keep one zero before what is not a digit ("00-rc" → "0-rc").
			trimmed = "0" + trimmed
		}
		parts[i] = trimmed
	}
	if len(parts) < 3 {
		if strings.ContainsAny(parts[len(parts)-1], "+-") {
			return semver.Version{}, errors.New("short version cannot contain PreRelease/Build meta data")
		}
		for len(parts) < 3 {
			parts = append(parts, "0")
		}
	}
	return semver.Parse(strings.Join(parts, "."))
}

// semverLibrary is Kubernetes' semver library: semver(), isSemver() (each
// with an optional normalize flag), major/minor/patch and comparisons.
func semverLibrary() []cel.EnvOption {
	parse := func(s, normalize ref.Val) ref.Val {
		str, ok1 := s.(types.String)
		norm, ok2 := normalize.(types.Bool)
		if !ok1 || !ok2 {
			return types.MaybeNoSuchOverloadErr(s)
		}
		v, err := parseSemver(string(str), bool(norm))
		if err != nil {
			return types.WrapErr(err)
		}
		return semverValue{v: v}
	}
	valid := func(s, normalize ref.Val) ref.Val {
		if v := parse(s, normalize); types.IsError(v) {
			return types.False
		}
		return types.True
	}
	part := func(name string, f func(semver.Version) uint64) cel.EnvOption {
		return cel.Function(name, cel.MemberOverload("semver_"+name, []*cel.Type{semverType}, cel.IntType, cel.UnaryBinding(func(v ref.Val) ref.Val {
			s, ok := v.(semverValue)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return types.Int(f(s.v))
		})))
	}
	compare := func(name string, out *cel.Type, f func(c int) ref.Val) cel.EnvOption {
		return cel.Function(name, cel.MemberOverload("semver_"+name, []*cel.Type{semverType, semverType}, out, cel.BinaryBinding(func(a, b ref.Val) ref.Val {
			x, ok1 := a.(semverValue)
			y, ok2 := b.(semverValue)
			if !ok1 || !ok2 {
				return types.MaybeNoSuchOverloadErr(b)
			}
			return f(x.v.Compare(y.v))
		})))
	}
	return []cel.EnvOption{
		cel.Function("semver",
			cel.Overload("string_to_semver", []*cel.Type{cel.StringType}, semverType, cel.UnaryBinding(func(s ref.Val) ref.Val { return parse(s, types.False) })),
			cel.Overload("string_bool_to_semver", []*cel.Type{cel.StringType, cel.BoolType}, semverType, cel.BinaryBinding(parse))),
		cel.Function("isSemver",
			cel.Overload("is_semver_string", []*cel.Type{cel.StringType}, cel.BoolType, cel.UnaryBinding(func(s ref.Val) ref.Val { return valid(s, types.False) })),
			cel.Overload("is_semver_string_bool", []*cel.Type{cel.StringType, cel.BoolType}, cel.BoolType, cel.BinaryBinding(valid))),
		part("major", func(v semver.Version) uint64 { return v.Major }),
		part("minor", func(v semver.Version) uint64 { return v.Minor }),
		part("patch", func(v semver.Version) uint64 { return v.Patch }),
		compare("isGreaterThan", cel.BoolType, func(c int) ref.Val { return types.Bool(c > 0) }),
		compare("isLessThan", cel.BoolType, func(c int) ref.Val { return types.Bool(c < 0) }),
		compare("compareTo", cel.IntType, func(c int) ref.Val { return types.Int(c) }),
	}
}
