package validation

import (
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	isNegativeErrorMsg    = apimachineryvalidation.IsNegativeErrorMsg
	isNotPositiveErrorMsg = "must be greater than zero"
	fieldImmutableMsg     = apimachineryvalidation.FieldImmutableErrorMsg
	selectorMismatchMsg   = "`selector` does not match template `labels`"
)

func validateNonnegative(value int64, fldPath *field.Path) field.ErrorList {
	if value < 0 {
		return field.ErrorList{field.Invalid(fldPath, value, isNegativeErrorMsg)}
	}
	return nil
}

func validateNonnegativePtr[T ~int32 | ~int64](value *T, fldPath *field.Path) field.ErrorList {
	if value == nil {
		return nil
	}
	return validateNonnegative(int64(*value), fldPath)
}

func validateDNS1123Label(value string, fldPath *field.Path) field.ErrorList {
	return invalidFor(fldPath, value, validation.IsDNS1123Label(value))
}

func validateDNS1123Subdomain(value string, fldPath *field.Path) field.ErrorList {
	return invalidFor(fldPath, value, validation.IsDNS1123Subdomain(value))
}

func validateQualifiedName(value string, fldPath *field.Path) field.ErrorList {
	return invalidFor(fldPath, value, validation.IsQualifiedName(value))
}

// validateName applies an object-name rule to a reference to such an object.
func validateName(nameFn nameFunc, value string, fldPath *field.Path) field.ErrorList {
	return invalidFor(fldPath, value, nameFn(value, false))
}

// invalidFor turns the messages of a util/validation check into errors.
func invalidFor(fldPath *field.Path, value interface{}, msgs []string) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range msgs {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

// enumCheck reports Required for an empty value and NotSupported for a value
// outside allowed.
func enumCheck[T ~string](value T, allowed []T, fldPath *field.Path) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	return enumCheckOptional(value, allowed, fldPath)
}

// enumCheckOptional is enumCheck for fields where empty means "unset".
func enumCheckOptional[T ~string](value T, allowed []T, fldPath *field.Path) field.ErrorList {
	if value == "" {
		return nil
	}
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(fldPath, value, allowed)}
}

var strictSelectorOpts = metav1validation.LabelSelectorValidationOptions{}

func validateLabelSelector(sel *metav1.LabelSelector, fldPath *field.Path) field.ErrorList {
	return metav1validation.ValidateLabelSelector(sel, strictSelectorOpts, fldPath)
}

// validateSelectorMatchesTemplate reports the classic controller mistake of
// a template whose labels the selector does not select.
func validateSelectorMatchesTemplate(sel labels.Selector, templateLabels map[string]string, templateMetaPath *field.Path) field.ErrorList {
	if sel.Empty() || sel.Matches(labels.Set(templateLabels)) {
		return nil
	}
	return field.ErrorList{field.Invalid(templateMetaPath.Child("labels"), templateLabels, selectorMismatchMsg)}
}

// validateIntOrPercent accepts a non-negative integer or a percentage string.
func validateIntOrPercent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	switch v.Type {
	case intstr.String:
		return invalidFor(fldPath, v, validation.IsValidPercent(v.StrVal))
	case intstr.Int:
		return validateNonnegative(int64(v.IntValue()), fldPath)
	default:
		return field.ErrorList{field.Invalid(fldPath, v, "must be an integer or percentage (e.g '5%')")}
	}
}

// percentValue returns the number in a valid "N%" string.
func percentValue(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || len(validation.IsValidPercent(v.StrVal)) != 0 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if err != nil {
		return 0, false
	}
	return n, true
}

func intOrPercentValue(v intstr.IntOrString) int {
	if n, ok := percentValue(v); ok {
		return n
	}
	if v.Type == intstr.Int {
		return int(v.IntVal)
	}
	return 0
}

func validateNotMoreThan100Percent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	if n, ok := percentValue(v); ok && n > 100 {
		return field.ErrorList{field.Invalid(fldPath, v, "must not be greater than 100%")}
	}
	return nil
}

func validatePortNumOrName(port intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	switch port.Type {
	case intstr.Int:
		return invalidFor(fldPath, port.IntValue(), validation.IsValidPortNum(port.IntValue()))
	case intstr.String:
		return invalidFor(fldPath, port.StrVal, validation.IsValidPortName(port.StrVal))
	default:
		return field.ErrorList{field.Invalid(fldPath, port, "must be a port number or name")}
	}
}

func validatePortNum(port int32, fldPath *field.Path) field.ErrorList {
	return invalidFor(fldPath, port, validation.IsValidPortNum(int(port)))
}

func validateIP(value string, fldPath *field.Path) field.ErrorList {
	return validation.IsValidIP(fldPath, value)
}

func validateCIDR(value string, fldPath *field.Path) field.ErrorList {
	return validation.IsValidCIDR(fldPath, value)
}

// parseIP parses leniently (leading zeros allowed) for family checks; format
// errors are reported by validateIP.
func parseIP(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err == nil {
		return a.Unmap(), true
	}
	// IPv4 with leading zeros, which the legacy parsers accepted.
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return netip.Addr{}, false
		}
		b[i] = byte(n)
	}
	return netip.AddrFrom4(b), true
}

func isIPv6String(s string) bool {
	a, ok := parseIP(s)
	return ok && a.Is6()
}

// validateDualStackList reports a list of IPs or CIDRs that has more than one
// entry per family; family returns 4 or 6 for an item, 0 if unparsable.
func validateDualStackList(items []string, family func(string) int, fldPath *field.Path, what string) field.ErrorList {
	if len(items) < 2 {
		return nil
	}
	if len(items) > 2 || family(items[0]) == family(items[1]) {
		return field.ErrorList{field.Invalid(fldPath, items, fmt.Sprintf("may specify no more than one %s for each IP family", what))}
	}
	return nil
}

func ipFamily(s string) int {
	a, ok := parseIP(s)
	if !ok {
		return 0
	}
	if a.Is4() {
		return 4
	}
	return 6
}

func cidrFamily(s string) int {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		ip, _, found := strings.Cut(s, "/")
		if !found {
			return 0
		}
		return ipFamily(ip)
	}
	if p.Addr().Unmap().Is4() {
		return 4
	}
	return 6
}

// validateNonSpecialIP rejects addresses that make no sense as endpoints:
// unspecified, loopback and link-local ones.
func validateNonSpecialIP(value string, fldPath *field.Path) field.ErrorList {
	a, ok := parseIP(value)
	if !ok {
		return field.ErrorList{field.Invalid(fldPath, value, "must be a valid IP address")}
	}
	var allErrs field.ErrorList
	if a.IsUnspecified() {
		allErrs = append(allErrs, field.Invalid(fldPath, value, fmt.Sprintf("may not be unspecified (%v)", value)))
	}
	if a.IsLoopback() {
		allErrs = append(allErrs, field.Invalid(fldPath, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if a.IsLinkLocalUnicast() {
		allErrs = append(allErrs, field.Invalid(fldPath, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if a.IsLinkLocalMulticast() {
		allErrs = append(allErrs, field.Invalid(fldPath, value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return allErrs
}

// validateNonNegativeQuantity mirrors upstream's resource quantity checks.
func validateNonNegativeQuantity(q resource.Quantity, fldPath *field.Path) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(fldPath, q.String(), isNegativeErrorMsg)}
	}
	return nil
}

func validatePositiveQuantity(q resource.Quantity, fldPath *field.Path) field.ErrorList {
	if q.Sign() <= 0 {
		return field.ErrorList{field.Invalid(fldPath, q.String(), isNotPositiveErrorMsg)}
	}
	return nil
}

// changedPaths lists the JSON paths (under prefix) where newV differs from
// oldV, at most limit of them. Forbidden-update messages use it to tell the
// user what they changed instead of dumping both objects.
func changedPaths(prefix string, oldV, newV interface{}, limit int) []string {
	var out []string
	collectChanges(prefix, reflect.ValueOf(oldV), reflect.ValueOf(newV), &out, limit)
	sort.Strings(out)
	return out
}

// leafTypes are compared as a whole: they have their own notion of equality
// or are not worth descending into.
var leafTypes = map[reflect.Type]bool{
	reflect.TypeOf(resource.Quantity{}):    true,
	reflect.TypeOf(metav1.Time{}):          true,
	reflect.TypeOf(metav1.MicroTime{}):     true,
	reflect.TypeOf(intstr.IntOrString{}):   true,
	reflect.TypeOf(metav1.LabelSelector{}): true,
}

func collectChanges(p string, o, n reflect.Value, out *[]string, limit int) {
	if len(*out) >= limit {
		return
	}
	if !o.IsValid() || !n.IsValid() {
		if o.IsValid() != n.IsValid() {
			*out = append(*out, p)
		}
		return
	}
	if equality.Semantic.DeepEqual(o.Interface(), n.Interface()) {
		return
	}
	if leafTypes[o.Type()] {
		*out = append(*out, p)
		return
	}
	switch o.Kind() {
	case reflect.Pointer, reflect.Interface:
		if o.IsNil() || n.IsNil() {
			*out = append(*out, p)
			return
		}
		collectChanges(p, o.Elem(), n.Elem(), out, limit)
	case reflect.Struct:
		t := o.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := jsonName(f)
			child := p
			switch {
			case name == "":
				// Inlined struct: its fields sit at this level.
			case p == "":
				child = name
			default:
				child = p + "." + name
			}
			collectChanges(child, o.Field(i), n.Field(i), out, limit)
		}
	case reflect.Slice, reflect.Array:
		if o.Len() != n.Len() {
			*out = append(*out, p)
			return
		}
		for i := 0; i < o.Len(); i++ {
			collectChanges(fmt.Sprintf("%s[%d]", p, i), o.Index(i), n.Index(i), out, limit)
		}
	case reflect.Map:
		keys := map[string]reflect.Value{}
		for _, k := range o.MapKeys() {
			keys[fmt.Sprint(k.Interface())] = k
		}
		for _, k := range n.MapKeys() {
			keys[fmt.Sprint(k.Interface())] = k
		}
		names := make([]string, 0, len(keys))
		for s := range keys {
			names = append(names, s)
		}
		sort.Strings(names)
		for _, s := range names {
			k := keys[s]
			collectChanges(fmt.Sprintf("%s[%s]", p, s), o.MapIndex(k), n.MapIndex(k), out, limit)
		}
	default:
		*out = append(*out, p)
	}
}

// jsonName is the serialized name of a struct field, "" for inlined fields.
func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	name, opts, _ := strings.Cut(tag, ",")
	if strings.Contains(opts, "inline") || (tag == "" && f.Anonymous) {
		return ""
	}
	if name == "" || name == "-" {
		return f.Name
	}
	return name
}

// describeChanges renders changedPaths for an error message.
func describeChanges(prefix string, oldV, newV interface{}) string {
	const limit = 10
	paths := changedPaths(prefix, oldV, newV, limit)
	if len(paths) == 0 {
		return ""
	}
	s := "changed: " + strings.Join(paths, ", ")
	if len(paths) >= limit {
		s += ", ..."
	}
	return s
}

func sortStrings[T ~string](s []T) {
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
}
