package celrules

import (
	"context"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// supportedReasons are the values a rule's reason may take.
var supportedReasons = []string{
	string(apiextensionsv1.FieldValueDuplicate), string(apiextensionsv1.FieldValueForbidden),
	string(apiextensionsv1.FieldValueInvalid), string(apiextensionsv1.FieldValueRequired),
}

// Validator holds the compiled rules of one schema (one CRD version). It is
// safe for concurrent use.
type Validator struct {
	root *node
}

// node mirrors a schema node that has rules in its subtree.
type node struct {
	schema     *structuralschema.Structural
	rules      []*compiledRule
	props      map[string]*node
	items      *node
	additional *node
}

type compiledRule struct {
	rule            apiextensionsv1.ValidationRule
	program         cel.Program
	message         cel.Program
	usesOldSelf     bool
	optionalOldSelf bool
	// fieldPath is the rule's fieldPath, resolved against the schema.
	fieldPath []pathElem
}

// pathElem is one step of a fieldPath: a property (Child) or a map key (Key).
type pathElem struct {
	name  string
	isKey bool
}

// CostLimits says which static cost limits Compile holds the rules to.
type CostLimits int

const (
	// AllCostLimits applies both the per-expression and the whole-schema
	// limit: a CRD being created, or a changed schema.
	AllCostLimits CostLimits = iota
	// TotalCostLimit applies only the whole-schema limit: upstream lets an
	// unchanged schema keep expressions over the per-expression limit.
	TotalCostLimit
	// NoCostLimits estimates nothing: a stored CRD being served.
	NoCostLimits
)

// Compile compiles every rule of the schema. The errors name the rule by
// its place in the CRD under schemaPath (e.g.
// spec.validation.openAPIV3Schema), as upstream's:
// `...x-kubernetes-validations[0].rule: Invalid value: {...}: compilation failed: ...`.
// The static cost of the rules is estimated from the schema's bounds and
// held to limits as upstream does. The Validator is nil when the schema
// has no rules.
func Compile(s *structuralschema.Structural, schemaPath *field.Path, limits CostLimits) (*Validator, field.ErrorList) {
	env, err := environment()
	if err != nil {
		return nil, field.ErrorList{field.InternalError(schemaPath, fmt.Errorf("CEL environment: %w", err))}
	}
	st := newSchemaTypes(env.CELTypeProvider())
	env, err = env.Extend(cel.CustomTypeProvider(st))
	if err != nil {
		return nil, field.ErrorList{field.InternalError(schemaPath, fmt.Errorf("CEL environment: %w", err))}
	}
	c := &compiler{env: env, types: st, limits: limits}
	one := uint64(1)
	root := c.compile(s, schemaPath, "object", true, nil, &one)
	if limits != NoCostLimits {
		c.errs = append(c.errs, c.cost.errors(schemaPath)...)
	}
	if len(c.errs) > 0 || root == nil {
		return nil, c.errs
	}
	return &Validator{root: root}, nil
}

type compiler struct {
	env    *cel.Env
	types  *schemaTypes
	errs   field.ErrorList
	cost   costTotal
	limits CostLimits
}

// compile walks the schema; typeName names the node's CEL object type,
// embedded is true at the root, uncorrelatable is the schema path of the
// highest atomic list items above, where oldSelf cannot be used, and card
// is how many values of the node one object may hold (nil: unbounded).
func (c *compiler) compile(s *structuralschema.Structural, p *field.Path, typeName string, embedded bool, uncorrelatable *field.Path, card *uint64) *node {
	if s == nil {
		return nil
	}
	n := &node{schema: s}
	keep := false
	childCard := timesCardinality(card, cardinalityFactor(s))
	est := ruleEstimate{size: &sizeEstimator{root: s, resourceRoot: embedded || s.XEmbeddedResource}, card: card}
	for i := range s.XValidations {
		if r := c.compileRule(s, c.types.typeOf(s, typeName, embedded), s.XValidations[i], p.Child("x-kubernetes-validations").Index(i), uncorrelatable, est); r != nil {
			n.rules = append(n.rules, r)
		}
		keep = true
	}
	for _, k := range slices.Sorted(maps.Keys(s.Properties)) {
		prop := s.Properties[k]
		if child := c.compile(&prop, p.Child("properties").Key(k), typeName+"."+k, false, uncorrelatable, childCard); child != nil {
			if n.props == nil {
				n.props = map[string]*node{}
			}
			n.props[k] = child
			keep = true
		}
	}
	if s.Items != nil {
		u := uncorrelatable
		if u == nil && !isCorrelatableList(s) {
			u = p.Child("items")
		}
		if n.items = c.compile(s.Items, p.Child("items"), typeName+".@items", false, u, childCard); n.items != nil {
			keep = true
		}
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Structural != nil {
		if n.additional = c.compile(s.AdditionalProperties.Structural, p.Child("additionalProperties"), typeName+".@value", false, uncorrelatable, childCard); n.additional != nil {
			keep = true
		}
	}
	if !keep {
		return nil
	}
	return n
}

func isCorrelatableList(s *structuralschema.Structural) bool {
	if s.XListType == nil {
		return false
	}
	return *s.XListType == "map" || *s.XListType == "set"
}

// checkRule applies the checks on a rule's fields that need no compiler.
func (c *compiler) checkRule(s *structuralschema.Structural, rule apiextensionsv1.ValidationRule, p *field.Path) bool {
	n := len(c.errs)
	trimmedRule, trimmedMsg := strings.TrimSpace(rule.Rule), strings.TrimSpace(rule.Message)
	switch {
	case trimmedRule == "":
		c.errs = append(c.errs, field.Required(p.Child("rule"), "rule is not specified"))
	case rule.Message != "" && trimmedMsg == "":
		c.errs = append(c.errs, field.Invalid(p.Child("message"), rule.Message, "must be non-empty if specified"))
	case strings.Contains(trimmedMsg, "\n"):
		c.errs = append(c.errs, field.Invalid(p.Child("message"), rule.Message, "must not contain line breaks"))
	case strings.Contains(trimmedRule, "\n") && trimmedMsg == "":
		c.errs = append(c.errs, field.Required(p.Child("message"), "message must be specified if rule contains line breaks"))
	}
	if rule.MessageExpression != "" && strings.TrimSpace(rule.MessageExpression) == "" {
		c.errs = append(c.errs, field.Required(p.Child("messageExpression"), "messageExpression must be non-empty if specified"))
	}
	if rule.Reason != nil {
		ok := false
		for _, r := range supportedReasons {
			ok = ok || string(*rule.Reason) == r
		}
		if !ok {
			c.errs = append(c.errs, field.NotSupported(p.Child("reason"), *rule.Reason, supportedReasons))
		}
	}
	if rule.FieldPath != "" {
		switch {
		case strings.TrimSpace(rule.FieldPath) == "":
			c.errs = append(c.errs, field.Invalid(p.Child("fieldPath"), rule.FieldPath, "must be non-empty if specified"))
		case strings.Contains(rule.FieldPath, "\n"):
			c.errs = append(c.errs, field.Invalid(p.Child("fieldPath"), rule.FieldPath, "must not contain line breaks"))
		default:
			if _, err := parseFieldPath(rule.FieldPath, s); err != nil {
				c.errs = append(c.errs, field.Invalid(p.Child("fieldPath"), rule.FieldPath, "must be a valid path"))
			}
		}
	}
	return len(c.errs) == n
}

// ruleEstimate is what estimating a rule's cost needs of its node.
type ruleEstimate struct {
	size *sizeEstimator
	card *uint64 // values of the node in one object; nil: unbounded
}

// cost is the estimated most a rule of the node may cost in one object:
// its own estimate times how often it may run. Without a bound from the
// lists and maps above, that is how many values of the node fit in a
// request, as upstream estimates it.
func (e ruleEstimate) cost(perRun uint64) uint64 {
	card := uint64(maxRequestSizeBytes) / uint64(minSerializedSize(e.size.root)+1)
	if e.card != nil {
		card = *e.card
	}
	return multiplySaturating(perRun, card)
}

func (c *compiler) compileRule(s *structuralschema.Structural, t *cel.Type, rule apiextensionsv1.ValidationRule, p *field.Path, uncorrelatable *field.Path, est ruleEstimate) *compiledRule {
	if !c.checkRule(s, rule, p) {
		return nil
	}
	optionalOld := rule.OptionalOldSelf != nil && *rule.OptionalOldSelf
	oldT := t
	if optionalOld {
		oldT = cel.OptionalType(t)
	}
	env, err := c.env.Extend(cel.Variable("self", t), cel.Variable("oldSelf", oldT))
	if err != nil {
		c.errs = append(c.errs, field.InternalError(p.Child("rule"), err))
		return nil
	}
	r := &compiledRule{rule: rule, optionalOldSelf: optionalOld}
	ruleOK := true
	checked, issues := env.Compile(rule.Rule)
	switch {
	case issues != nil && issues.Err() != nil:
		c.errs = append(c.errs, field.Invalid(p.Child("rule"), ruleValue(rule), "compilation failed: "+issues.String()))
		ruleOK = false
	case checked.OutputType() != cel.BoolType && checked.OutputType() != cel.DynType:
		c.errs = append(c.errs, field.Invalid(p.Child("rule"), ruleValue(rule), "cel expression must evaluate to a bool"))
		ruleOK = false
	default:
		r.program, err = newProgram(env, checked)
		if err != nil {
			c.errs = append(c.errs, field.Invalid(p.Child("rule"), ruleValue(rule), "program instantiation failed: "+err.Error()))
			ruleOK = false
		}
		r.usesOldSelf = referencesOldSelf(checked)
		if c.limits == NoCostLimits {
			break
		}
		if perRun, err := env.EstimateCost(checked, est.size); err != nil {
			c.errs = append(c.errs, field.InternalError(p.Child("rule"), fmt.Errorf("cost estimation failed: %w", err)))
			ruleOK = false
		} else {
			cost := est.cost(perRun.Max)
			if cost > StaticEstimatedCostLimit && c.limits == AllCostLimits {
				c.errs = append(c.errs, field.Forbidden(p.Child("rule"), costErrorMessage("estimated rule cost", cost, StaticEstimatedCostLimit)))
			}
			c.cost.observe(p.Child("rule"), cost)
		}
	}
	if rule.MessageExpression != "" {
		checkedMsg, issues := env.Compile(rule.MessageExpression)
		switch {
		case issues != nil && issues.Err() != nil:
			c.errs = append(c.errs, field.Invalid(p.Child("messageExpression"), ruleValue(rule), "messageExpression compilation failed: "+issues.String()))
			ruleOK = false
		case checkedMsg.OutputType() != cel.StringType && checkedMsg.OutputType() != cel.DynType:
			c.errs = append(c.errs, field.Invalid(p.Child("messageExpression"), ruleValue(rule), "messageExpression must evaluate to a string"))
			ruleOK = false
		default:
			r.message, err = newProgram(env, checkedMsg)
			if err != nil {
				c.errs = append(c.errs, field.Invalid(p.Child("messageExpression"), ruleValue(rule), "messageExpression instantiation failed: "+err.Error()))
				ruleOK = false
			} else if c.limits == NoCostLimits {
				break
			} else if msgCost, err := env.EstimateCost(checkedMsg, est.size); err != nil {
				c.errs = append(c.errs, field.InternalError(p.Child("messageExpression"), fmt.Errorf("cost estimation failed for messageExpression: %w", err)))
				ruleOK = false
			} else {
				// A message is only built for a failed rule: its own cost counts.
				if msgCost.Max > StaticEstimatedCostLimit && c.limits == AllCostLimits {
					c.errs = append(c.errs, field.Forbidden(p.Child("messageExpression"), costErrorMessage("estimated messageExpression cost", msgCost.Max, StaticEstimatedCostLimit)))
				}
				c.cost.observe(p.Child("messageExpression"), msgCost.Max)
			}
		}
	}
	if !ruleOK {
		return nil
	}
	if r.usesOldSelf && uncorrelatable != nil {
		c.errs = append(c.errs, field.Invalid(p.Child("rule"), rule.Rule, fmt.Sprintf("oldSelf cannot be used on the uncorrelatable portion of the schema within %v", uncorrelatable)))
		return nil
	}
	if !r.usesOldSelf && rule.OptionalOldSelf != nil {
		c.errs = append(c.errs, field.Invalid(p.Child("optionalOldSelf"), *rule.OptionalOldSelf, "may not be set if oldSelf is not used in rule"))
		return nil
	}
	if rule.FieldPath != "" {
		r.fieldPath, _ = parseFieldPath(rule.FieldPath, s)
	}
	return r
}

// ruleAsValue is how a rule shows in a compile error: upstream reports its
// internal ValidationRule, which renders as JSON with Go field names, e.g.
// {"Rule":"self.x \u003e 1","Message":"",...}.
type ruleAsValue struct {
	Rule              string
	Message           string
	MessageExpression string
	Reason            *apiextensionsv1.FieldValueErrorReason
	FieldPath         string
	OptionalOldSelf   *bool
}

func ruleValue(r apiextensionsv1.ValidationRule) ruleAsValue {
	return ruleAsValue{Rule: r.Rule, Message: r.Message, MessageExpression: r.MessageExpression, Reason: r.Reason, FieldPath: r.FieldPath, OptionalOldSelf: r.OptionalOldSelf}
}

func newProgram(env *cel.Env, checked *cel.Ast) (cel.Program, error) {
	return env.Program(checked,
		cel.EvalOptions(cel.OptOptimize, cel.OptTrackCost),
		cel.CostLimit(PerCallLimit),
		// has() costs nothing, as upstream keeps it.
		cel.CostTrackerOptions(interpreter.PresenceTestHasCost(false)),
		cel.InterruptCheckFrequency(100),
	)
}

func referencesOldSelf(checked *cel.Ast) bool {
	for _, ref := range checked.NativeRep().ReferenceMap() {
		if ref.Name == "oldSelf" {
			return true
		}
	}
	return false
}

// parseFieldPath resolves a rule's fieldPath (".spec.x", ".m['key.with.dots']")
// against the schema: properties by name, map keys by any name.
func parseFieldPath(path string, s *structuralschema.Structural) ([]pathElem, error) {
	var out []pathElem
	step := func(name string) error {
		switch {
		case s == nil:
			return fmt.Errorf("does not refer to a valid field")
		case s.Properties != nil:
			p, ok := s.Properties[name]
			if !ok {
				return fmt.Errorf("does not refer to a valid field")
			}
			s = &p
			out = append(out, pathElem{name: name})
		case s.AdditionalProperties != nil && s.AdditionalProperties.Structural != nil:
			s = s.AdditionalProperties.Structural
			out = append(out, pathElem{name: name, isKey: true})
		default:
			return fmt.Errorf("does not refer to a valid field")
		}
		return nil
	}
	for i := 0; i < len(path); {
		switch path[i] {
		case '.':
			j := i + 1
			for j < len(path) && path[j] != '.' && path[j] != '[' && path[j] != ']' {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("unexpected end of JSON path")
			}
			if err := step(path[i+1 : j]); err != nil {
				return nil, err
			}
			i = j
		case '[':
			if i+1 >= len(path) || path[i+1] != '\'' {
				return nil, fmt.Errorf("expected single quoted string")
			}
			j := i + 2
			for j < len(path) && !(path[j] == '\'' && path[j-1] != '\\') {
				j++
			}
			if j+1 >= len(path) || path[j+1] != ']' {
				return nil, fmt.Errorf("expected ]")
			}
			name, err := strconv.Unquote(`"` + strings.ReplaceAll(strings.ReplaceAll(path[i+2:j], `"`, `\"`), `\'`, `'`) + `"`)
			if err != nil {
				return nil, fmt.Errorf("invalid string literal: %w", err)
			}
			if err := step(name); err != nil {
				return nil, err
			}
			i = j + 2
		default:
			return nil, fmt.Errorf("expected [ or . but got: %c", path[i])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty path")
	}
	return out, nil
}

// Validate evaluates the rules on obj (a custom object as unstructured
// JSON); old is the stored object on updates and nil on create. It returns
// every failed rule as a field error at the node's path.
func (v *Validator) Validate(ctx context.Context, obj, old map[string]interface{}) field.ErrorList {
	if v == nil || v.root == nil {
		return nil
	}
	e := &evaluator{ctx: ctx, budget: runtimeCostBudget}
	var oldVal interface{}
	if old != nil {
		oldVal = old
	}
	e.eval(v.root, nil, obj, oldVal, old != nil, true, false)
	return e.errs
}

type evaluator struct {
	ctx     context.Context
	budget  int64
	stopped bool
	errs    field.ErrorList
}

// eval runs the rules at node n and below. parentUnchanged tells whether
// the nearest correlated ancestor is unchanged by the update: a node
// without an old value of its own ratchets on it, as upstream's.
func (e *evaluator) eval(n *node, p *field.Path, val, old interface{}, hasOld, embedded, parentUnchanged bool) {
	if n == nil || val == nil || e.stopped {
		return
	}
	unchanged := parentUnchanged
	if hasOld {
		unchanged = equality.Semantic.DeepEqual(val, old)
	}
	if len(n.rules) > 0 {
		e.evalRules(n, p, val, old, hasOld, embedded, unchanged)
	}
	s := n.schema
	switch x := val.(type) {
	case map[string]interface{}:
		oldMap, _ := old.(map[string]interface{})
		if n.props != nil {
			keys := make([]string, 0, len(n.props))
			for k := range n.props {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				child, ok := x[k]
				if !ok {
					continue
				}
				o, has := oldMap[k]
				e.eval(n.props[k], p.Child(k), child, o, has && hasOld, n.props[k].schema.XEmbeddedResource, unchanged)
			}
		}
		if n.additional != nil {
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				o, has := oldMap[k]
				e.eval(n.additional, p.Key(k), x[k], o, has && hasOld, n.additional.schema.XEmbeddedResource, unchanged)
			}
		}
	case []interface{}:
		if n.items == nil {
			return
		}
		oldList, _ := old.([]interface{})
		correlate := listCorrelator(s, oldList)
		for i, item := range x {
			o, has := correlate(item)
			e.eval(n.items, p.Index(i), item, o, has && hasOld, n.items.schema.XEmbeddedResource, unchanged)
		}
	}
}

// listCorrelator finds the old element of a list item: by key fields for
// x-kubernetes-list-type=map, by value for set; atomic lists do not
// correlate.
func listCorrelator(s *structuralschema.Structural, old []interface{}) func(interface{}) (interface{}, bool) {
	none := func(interface{}) (interface{}, bool) { return nil, false }
	if s.XListType == nil || len(old) == 0 {
		return none
	}
	switch *s.XListType {
	case "map":
		keys := s.XListMapKeys
		return func(item interface{}) (interface{}, bool) {
			m, ok := item.(map[string]interface{})
			if !ok {
				return nil, false
			}
			for _, o := range old {
				om, ok := o.(map[string]interface{})
				if !ok {
					continue
				}
				match := true
				for _, k := range keys {
					if !reflect.DeepEqual(m[k], om[k]) {
						match = false
						break
					}
				}
				if match {
					return o, true
				}
			}
			return nil, false
		}
	case "set":
		return func(item interface{}) (interface{}, bool) {
			for _, o := range old {
				if reflect.DeepEqual(item, o) {
					return o, true
				}
			}
			return nil, false
		}
	}
	return none
}

func (e *evaluator) evalRules(n *node, p *field.Path, val, old interface{}, hasOld, embedded, unchanged bool) {
	s := n.schema
	self := types.DefaultTypeAdapter.NativeToValue(toNative(val, s, embedded))
	var oldSelf ref.Val
	if hasOld {
		oldSelf = types.DefaultTypeAdapter.NativeToValue(toNative(old, s, embedded))
	}
	for _, r := range n.rules {
		if e.stopped {
			return
		}
		vars := map[string]interface{}{"self": self}
		switch {
		case r.optionalOldSelf:
			if hasOld {
				vars["oldSelf"] = types.OptionalOf(oldSelf)
			} else {
				vars["oldSelf"] = types.OptionalNone
			}
		case r.usesOldSelf && !hasOld:
			// Transition rules run only when there is an old value.
			continue
		case !r.usesOldSelf && unchanged:
			// Ratcheting: a value the update leaves alone keeps passing
			// the rules that do not look at oldSelf, so that rules added
			// to a CRD do not block updates of other fields.
			continue
		case hasOld:
			vars["oldSelf"] = oldSelf
		}
		e.evalRule(r, s, p, val, vars)
	}
}

func ruleString(r apiextensionsv1.ValidationRule) string {
	if m := strings.TrimSpace(r.Message); m != "" {
		return m
	}
	return strings.TrimSpace(r.Rule)
}

func (e *evaluator) run(prg cel.Program, vars map[string]interface{}) (ref.Val, uint64, error) {
	ctx, cancel := context.WithTimeout(e.ctx, EvalTimeout)
	defer cancel()
	out, det, err := prg.ContextEval(ctx, vars)
	var cost uint64
	if det != nil && det.ActualCost() != nil {
		cost = *det.ActualCost()
	}
	return out, cost, err
}

func (e *evaluator) spend(cost uint64) bool {
	if cost > math.MaxInt64 || int64(cost) > e.budget {
		e.stopped = true
		return false
	}
	e.budget -= int64(cost)
	return true
}

func (e *evaluator) evalRule(r *compiledRule, s *structuralschema.Structural, p *field.Path, val interface{}, vars map[string]interface{}) {
	typeName := s.Type
	out, cost, err := e.run(r.program, vars)
	if !e.spend(cost) {
		e.errs = append(e.errs, field.Invalid(p, typeName, "validation failed due to running out of cost budget, no further validation rules will be run"))
		return
	}
	if err != nil {
		msg := err.Error()
		switch {
		case strings.HasPrefix(msg, "no such overload"):
			e.errs = append(e.errs, field.Invalid(p, typeName, fmt.Sprintf("'%v': call arguments did not match a supported operator, function or macro signature for rule: %v", err, ruleString(r.rule))))
		case strings.HasPrefix(msg, "operation cancelled: actual cost limit exceeded"):
			e.errs = append(e.errs, field.Invalid(p, typeName, fmt.Sprintf("'%v': no further validation rules will be run due to call cost exceeds limit for rule: %v", err, ruleString(r.rule))))
			e.stopped = true
		case strings.Contains(msg, "operation interrupted") || e.ctx.Err() == nil && strings.Contains(msg, "context deadline exceeded"):
			e.errs = append(e.errs, field.Invalid(p, typeName, fmt.Sprintf("'%v': no further validation rules will be run due to evaluation timeout for rule: %v", err, ruleString(r.rule))))
			e.stopped = true
		default:
			e.errs = append(e.errs, field.Invalid(p, typeName, fmt.Sprintf("%v evaluating rule: %v", err, ruleString(r.rule))))
		}
		return
	}
	if out == types.True {
		return
	}
	if _, isBool := out.(types.Bool); !isBool {
		e.errs = append(e.errs, field.Invalid(p, typeName, fmt.Sprintf("rule did not evaluate to a bool (got %s) for rule: %v", out.Type().TypeName(), ruleString(r.rule))))
		return
	}

	path := p
	for _, el := range r.fieldPath {
		if el.isKey {
			path = path.Key(el.name)
		} else {
			path = path.Child(el.name)
		}
	}
	detail, ok := "", false
	if r.message != nil {
		detail, ok = e.message(r, path, typeName, vars)
		if e.stopped {
			return
		}
	}
	if !ok {
		if m := strings.TrimSpace(r.rule.Message); m != "" {
			detail = m
		} else {
			detail = "failed rule: " + strings.TrimSpace(r.rule.Rule)
		}
	}
	// Objects and arrays are not printed back, as upstream's errors.
	var value interface{} = field.OmitValueType{}
	if typeName != "object" && typeName != "array" {
		value = val
	}
	e.errs = append(e.errs, errorForReason(path, value, detail, r.rule.Reason))
}

// maxMessageLength bounds a messageExpression result, as upstream's.
const maxMessageLength = 5 * 1024

// message evaluates a rule's messageExpression; ok is false when the
// static message (or the default) is to be used instead.
func (e *evaluator) message(r *compiledRule, path *field.Path, typeName string, vars map[string]interface{}) (string, bool) {
	out, cost, err := e.run(r.message, vars)
	if !e.spend(cost) {
		e.errs = append(e.errs, field.Invalid(path, typeName, "messageExpression evaluation failed due to running out of cost budget, no further validation rules will be run"))
		return "", false
	}
	if err != nil {
		if strings.HasPrefix(err.Error(), "operation cancelled: actual cost limit exceeded") {
			e.errs = append(e.errs, field.Invalid(path, typeName, fmt.Sprintf("no further validation rules will be run due to call cost exceeds limit for messageExpression: %q", r.rule.MessageExpression)))
			e.stopped = true
		}
		return "", false
	}
	str, ok := out.Value().(string)
	if !ok {
		return "", false
	}
	str = strings.TrimSpace(str)
	if str == "" || len(str) > maxMessageLength || strings.Contains(str, "\n") {
		return "", false
	}
	return str, true
}

func errorForReason(p *field.Path, value interface{}, detail string, reason *apiextensionsv1.FieldValueErrorReason) *field.Error {
	if reason == nil {
		return field.Invalid(p, value, detail)
	}
	switch *reason {
	case apiextensionsv1.FieldValueForbidden:
		return field.Forbidden(p, detail)
	case apiextensionsv1.FieldValueRequired:
		return field.Required(p, detail)
	case apiextensionsv1.FieldValueDuplicate:
		return field.Duplicate(p, value)
	}
	return field.Invalid(p, value, detail)
}
