package celrules

import (
	"fmt"
	"math"
	"sort"

	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The static cost limits a CRD's rules are held to when it is written, as
// upstream's: each expression (times how often it may run in one object),
// and all of them together.
const (
	StaticEstimatedCostLimit    = 10000000
	StaticEstimatedCRDCostLimit = 100000000
)

// Sizes the estimate assumes, upstream's: values come in requests of at most
// maxRequestSizeBytes, and each kind of JSON value has a least serialized size.
const (
	maxRequestSizeBytes = 3 * 1024 * 1024
	maxDurationSizeJSON = 32
	maxDatetimeSizeJSON = 32
	minDurationSizeJSON = 3
	jsonDateSize        = 12
	minDatetimeSizeJSON = 21
	minStringSize       = 2
	minBoolSize         = 4
	minNumberSize       = 1
)

// metadataSchema is what a resource root shows of metadata to rules.
var metadataSchema = &structuralschema.Structural{
	Generic: structuralschema.Generic{Type: "object"},
	Properties: map[string]structuralschema.Structural{
		"name":         {Generic: structuralschema.Generic{Type: "string"}},
		"generateName": {Generic: structuralschema.Generic{Type: "string"}},
	},
}

var unboundedString = &structuralschema.Structural{Generic: structuralschema.Generic{Type: "string"}}

// exposed reports whether values of s can be reached by rules.
func exposed(s *structuralschema.Structural) bool {
	if s == nil {
		return false
	}
	if s.XIntOrString {
		return true
	}
	switch s.Type {
	case "array":
		return exposed(s.Items)
	case "object", "string", "boolean", "number", "integer":
		return true
	}
	return false
}

// minSerializedSize is the fewest bytes a value of s takes in JSON.
func minSerializedSize(s *structuralschema.Structural) int64 {
	if s.XIntOrString {
		return 1
	}
	switch s.Type {
	case "array":
		return 2
	case "object":
		if s.AdditionalProperties != nil {
			return 2
		}
		size := int64(2)
		if s.ValueValidation == nil {
			return size
		}
		for _, name := range s.ValueValidation.Required {
			prop, ok := s.Properties[name]
			if ok && exposed(&prop) && prop.Default.Object == nil {
				size += int64(len(name)) + minSerializedSize(&prop) + 4
			}
		}
		return size
	case "string":
		switch format(s) {
		case "duration":
			return minDurationSizeJSON
		case "date":
			return jsonDateSize
		case "date-time":
			return minDatetimeSizeJSON
		}
		return minStringSize
	case "boolean":
		return minBoolSize
	}
	return minNumberSize
}

// maxElements is the largest size() a value of s may have: characters of
// a string, items of a list, entries of a map (0 for other values).
func maxElements(s *structuralschema.Structural) uint64 {
	vv := s.ValueValidation
	if vv == nil {
		vv = &structuralschema.ValueValidation{}
	}
	if s.XIntOrString {
		if vv.MaxLength != nil {
			return nonNegative(*vv.MaxLength) * 4
		}
		return maxRequestSizeBytes - 2
	}
	switch s.Type {
	case "array":
		if vv.MaxItems != nil {
			return nonNegative(*vv.MaxItems)
		}
		return (maxRequestSizeBytes - 2) / uint64(minSerializedSize(s.Items)+1)
	case "object":
		if s.AdditionalProperties == nil {
			return 0
		}
		if s.AdditionalProperties.Structural == nil || !exposed(s.AdditionalProperties.Structural) {
			return math.MaxInt
		}
		if vv.MaxProperties != nil {
			return nonNegative(*vv.MaxProperties)
		}
		// A key with its quotes and colon, a comma and the least value.
		return (maxRequestSizeBytes - 2) / uint64(minSerializedSize(s.AdditionalProperties.Structural)+6)
	case "string":
		switch format(s) {
		case "byte":
			if vv.MaxLength != nil {
				return nonNegative(*vv.MaxLength)
			}
			return maxRequestSizeBytes - 2
		case "duration":
			return maxDurationSizeJSON
		case "date":
			return jsonDateSize
		case "date-time":
			return maxDatetimeSizeJSON
		}
		if vv.MaxLength != nil {
			// maxLength counts characters; one may take 4 bytes.
			return nonNegative(*vv.MaxLength) * 4
		}
		if len(vv.Enum) > 0 {
			longest := 0
			for _, e := range vv.Enum {
				if str, ok := e.Object.(string); ok && len(str) > longest {
					longest = len(str)
				}
			}
			return uint64(longest)
		}
		return maxRequestSizeBytes - 2
	}
	return 0
}

func nonNegative(v int64) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}

// cardinalityFactor is how many values of a child each value of s may hold:
// 1 for an object's properties, maxItems or maxProperties for a list's items
// or a map's values, nil when those are not bounded.
func cardinalityFactor(s *structuralschema.Structural) *uint64 {
	one := uint64(1)
	vv := s.ValueValidation
	switch {
	case s.Type == "array":
		if vv != nil && vv.MaxItems != nil {
			n := nonNegative(*vv.MaxItems)
			return &n
		}
		return nil
	case s.Type == "object" && s.AdditionalProperties != nil:
		if vv != nil && vv.MaxProperties != nil {
			n := nonNegative(*vv.MaxProperties)
			return &n
		}
		return nil
	}
	return &one
}

// timesCardinality multiplies a cardinality (nil: unbounded) by a factor.
func timesCardinality(card, factor *uint64) *uint64 {
	if card == nil || factor == nil {
		return nil
	}
	n := multiplySaturating(*card, *factor)
	return &n
}

func multiplySaturating(a, b uint64) uint64 {
	if a == 0 {
		return 0
	}
	if math.MaxUint64/a < b {
		return math.MaxUint64
	}
	return a * b
}

// sizeEstimator tells cel-go's cost estimator the sizes of the values a
// rule reaches from self (or oldSelf): its paths are walked through the
// schema of the rule's node.
type sizeEstimator struct {
	root         *structuralschema.Structural
	resourceRoot bool // the node is a resource: apiVersion, kind, metadata
}

func (e *sizeEstimator) EstimateSize(element checker.AstNode) *checker.SizeEstimate {
	path := element.Path()
	if len(path) == 0 {
		return nil
	}
	s, resourceRoot := e.root, e.resourceRoot
	for i, name := range path[1:] {
		switch name {
		case "@items":
			if s.Items == nil {
				return nil
			}
			s = s.Items
		case "@values":
			if s.AdditionalProperties == nil || s.AdditionalProperties.Structural == nil {
				return nil
			}
			s = s.AdditionalProperties.Structural
		case "@keys":
			if s.AdditionalProperties == nil || i != len(path)-2 {
				return nil
			}
			// Upstream declares map keys without a size.
			return &checker.SizeEstimate{Min: 0, Max: 0}
		default:
			switch {
			case resourceRoot && name == "metadata":
				s = metadataSchema
			case resourceRoot && (name == "apiVersion" || name == "kind"):
				s = unboundedString
			default:
				child := propertyByCELName(s, name)
				if child == nil {
					return nil
				}
				s = child
			}
		}
		resourceRoot = s.XEmbeddedResource
		if !exposed(s) {
			return nil
		}
	}
	return &checker.SizeEstimate{Min: 0, Max: maxElements(s)}
}

// EstimateCallCost prices the Kubernetes library's functions as upstream's
// estimator does (an API contract: a different price accepts or refuses
// other CRDs); nil leaves a call to cel-go.
func (e *sizeEstimator) EstimateCallCost(function, _ string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	fixed := func(n uint64) *checker.CallEstimate {
		return &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: n, Max: n}}
	}
	traversal := func(sz checker.SizeEstimate, factor float64) *checker.CallEstimate {
		return &checker.CallEstimate{CostEstimate: sz.MultiplyByCostFactor(factor)}
	}
	switch function {
	case "isSorted", "sum", "max", "min", "indexOf", "lastIndexOf":
		if target == nil {
			return nil
		}
		el := e.listElement(*target)
		if el == nil {
			// indexOf and lastIndexOf of a string: one traversal.
			return traversal(e.sizeOf(*target), common.StringTraversalCostFactor)
		}
		// One per element compared, plus traversing string elements.
		perElement := checker.CostEstimate{Min: 1, Max: 1}
		if k := el.Type().Kind(); k == types.StringKind || k == types.BytesKind {
			perElement = perElement.Add(e.sizeOf(el).MultiplyByCostFactor(common.StringTraversalCostFactor))
		}
		return &checker.CallEstimate{CostEstimate: e.sizeOf(*target).MultiplyByCost(perElement)}
	case "url":
		if len(args) == 1 {
			return traversal(e.sizeOf(args[0]), common.StringTraversalCostFactor)
		}
	case "lowerAscii", "upperAscii", "substring", "trim":
		if target != nil {
			sz := e.sizeOf(*target)
			est := traversal(sz, common.StringTraversalCostFactor)
			est.ResultSize = &sz
			return est
		}
	case "replace":
		if target != nil && len(args) >= 2 {
			sz := e.sizeOf(*target)
			size := replacedSize(sz, e.sizeOf(args[0]), e.sizeOf(args[1]))
			est := traversal(sz, 2*common.StringTraversalCostFactor)
			est.ResultSize = &size
			return est
		}
	case "split":
		if target != nil {
			sz := e.sizeOf(*target)
			// At worst every character is an element; a literal limit caps it.
			most := sz.Max
			if len(args) > 1 && args[1].Expr().Kind() == ast.LiteralKind {
				if n, ok := args[1].Expr().AsLiteral().ConvertToType(types.UintType).Value().(uint64); ok {
					most = n
				}
			}
			est := traversal(sz, 2*common.StringTraversalCostFactor)
			est.ResultSize = &checker.SizeEstimate{Min: 0, Max: most}
			return est
		}
	case "join":
		if target != nil {
			var sz checker.SizeEstimate
			items := e.sizeOf(*target)
			if el := e.listElement(*target); el != nil {
				sz = items.Multiply(e.sizeOf(el))
			}
			if len(args) > 0 {
				var seps checker.SizeEstimate
				if items.Min > 0 {
					seps.Min = items.Min - 1
				}
				if items.Max > 0 {
					seps.Max = items.Max - 1
				}
				sz = sz.Add(e.sizeOf(args[0]).Multiply(seps))
			}
			est := traversal(sz, common.StringTraversalCostFactor)
			est.ResultSize = &sz
			return est
		}
	case "find", "findAll":
		if target != nil && len(args) >= 1 {
			sz := e.sizeOf(*target)
			str := sz.Add(checker.SizeEstimate{Min: 1, Max: 1}).MultiplyByCostFactor(common.StringTraversalCostFactor)
			// A regex costs by its length, guessing 4 characters a term.
			regex := e.sizeOf(args[0]).MultiplyByCostFactor(common.RegexStringLengthCostFactor)
			return &checker.CallEstimate{CostEstimate: str.Multiply(regex), ResultSize: &checker.SizeEstimate{Min: 0, Max: sz.Max}}
		}
	case "sign", "asInteger", "isInteger", "asApproximateFloat", "isGreaterThan", "isLessThan", "compareTo", "add", "sub":
		return fixed(1)
	}
	return nil
}

// replacedSize is the size range of a string of size sz after replacing
// what (of size old) with a string of size with, as upstream bounds it.
func replacedSize(sz, old, with checker.SizeEstimate) checker.SizeEstimate {
	var count, kept checker.SizeEstimate
	switch {
	case old.Min == 0:
		// An empty match surrounds every character.
		count.Max = sz.Max
		if sz.Max < math.MaxUint64 {
			count.Max++
		}
		kept.Max = sz.Max
	case with.Max <= old.Min:
		kept.Max = sz.Max
	default:
		count.Max = uint64(math.Ceil(float64(sz.Max) / float64(old.Min)))
	}
	switch {
	case old.Max == 0:
		count.Min = sz.Min
		if sz.Min < math.MaxUint64 {
			count.Min++
		}
		kept.Min = sz.Min
	case old.Max <= with.Min:
		kept.Min = sz.Min
	default:
		count.Min = uint64(math.Ceil(float64(sz.Min) / float64(old.Max)))
	}
	return count.Multiply(with).Add(kept)
}

// sizeOf is a node's size: as the expression shows it, from the schema,
// or unbounded.
func (e *sizeEstimator) sizeOf(n checker.AstNode) checker.SizeEstimate {
	if sz := n.ComputedSize(); sz != nil {
		return *sz
	}
	if sz := e.EstimateSize(n); sz != nil {
		return *sz
	}
	return checker.SizeEstimate{Min: 0, Max: math.MaxUint64}
}

// listElement is a node standing for the elements of a list node (nil if
// it is no list), at its path's @items when it has a path.
func (e *sizeEstimator) listElement(list checker.AstNode) checker.AstNode {
	params := list.Type().Parameters()
	if len(params) == 0 || list.Type().Kind() != types.ListKind {
		return nil
	}
	el := &elementNode{t: params[0]}
	if p := list.Path(); p != nil {
		el.path = append(append([]string(nil), p...), "@items")
	}
	return el
}

// elementNode is a checker.AstNode for the elements of a list.
type elementNode struct {
	path []string
	t    *types.Type
}

func (n *elementNode) Path() []string                      { return n.path }
func (n *elementNode) Type() *types.Type                   { return n.t }
func (n *elementNode) Expr() ast.Expr                      { return nil }
func (n *elementNode) ComputedSize() *checker.SizeEstimate { return nil }

// propertyByCELName is the property of s whose escaped name is name.
func propertyByCELName(s *structuralschema.Structural, name string) *structuralschema.Structural {
	if p, ok := s.Properties[name]; ok {
		if escaped, ok := escapeName(name); ok && escaped == name {
			return &p
		}
	}
	for k := range s.Properties {
		if escaped, ok := escapeName(k); ok && escaped == name {
			p := s.Properties[k]
			return &p
		}
	}
	return nil
}

// costTotal adds up the estimated costs of a schema's expressions and
// keeps the most expensive ones, to name them when the total is too high.
type costTotal struct {
	total     uint64
	expensive []ruleCost
}

type ruleCost struct {
	path *field.Path
	cost uint64
}

func (t *costTotal) observe(p *field.Path, cost uint64) {
	if math.MaxUint64-t.total < cost {
		t.total = math.MaxUint64
	} else {
		t.total += cost
	}
	if cost < StaticEstimatedCRDCostLimit/100 {
		return
	}
	t.expensive = append(t.expensive, ruleCost{p, cost})
	sort.SliceStable(t.expensive, func(i, j int) bool { return t.expensive[i].cost > t.expensive[j].cost })
	if len(t.expensive) > 4 {
		t.expensive = t.expensive[:4]
	}
}

// errors are the errors of a total over the limit, at schemaPath.
func (t *costTotal) errors(schemaPath *field.Path) field.ErrorList {
	if t.total <= StaticEstimatedCRDCostLimit {
		return nil
	}
	var errs field.ErrorList
	for _, e := range t.expensive {
		errs = append(errs, field.Forbidden(e.path, "contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema"))
	}
	return append(errs, field.Forbidden(schemaPath, costErrorMessage("x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema", t.total, StaticEstimatedCRDCostLimit)))
}

// costErrorMessage says by how much an estimate exceeds its limit, in
// upstream's words.
func costErrorMessage(what string, cost, limit uint64) string {
	factor := float64(cost) / float64(limit)
	var by string
	switch {
	case factor > 100:
		by = "more than 100x"
	case factor < 1.5:
		by = fmt.Sprintf("%fx", factor)
	default:
		by = fmt.Sprintf("%.1fx", factor)
	}
	return fmt.Sprintf("%s exceeds budget by factor of %s (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)", what, by)
}
