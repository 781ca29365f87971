// Package celrules compiles and evaluates the x-kubernetes-validations
// rules (CEL expressions) of a CustomResourceDefinition's structural schema:
// compile errors are reported when the CRD is written, and the rules run on
// every create and update of a custom object, with self bound to the value
// at the rule's schema node and oldSelf to the previous value on updates.
package celrules

import (
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/ext"
)

const (
	// PerCallLimit is the cost one rule evaluation may reach, as upstream's
	// (roughly 0.1s of evaluation).
	PerCallLimit = 1000000
	// RuntimeCostBudget is the cost all the rules of one object may reach
	// together, as upstream's.
	RuntimeCostBudget = 10000000
)

// runtimeCostBudget is RuntimeCostBudget; tests lower it.
var runtimeCostBudget int64 = RuntimeCostBudget

// EvalTimeout bounds the wall time of one rule evaluation (the cost limit
// bounds work the cost model sees; this bounds the rest).
var EvalTimeout = time.Second

var (
	baseOnce sync.Once
	baseEnv  *cel.Env
	baseErr  error
)

// environment returns the shared CEL environment: the standard library,
// optional types, cel-go's string, list, set, bindings, two-variable
// comprehension, math and network extensions, and the Kubernetes list,
// regex, URL and quantity functions.
func environment() (*cel.Env, error) {
	baseOnce.Do(func() {
		opts := []cel.EnvOption{
			cel.OptionalTypes(),
			cel.CrossTypeNumericComparisons(true),
			cel.DefaultUTCTimeZone(true),
			ext.Strings(ext.StringsVersion(2)),
			ext.Sets(),
			ext.Lists(),
			ext.Bindings(),
			ext.TwoVarComprehensions(),
			ext.Math(),
			ext.Network(),
			// has() costs nothing in estimates, as upstream keeps it.
			cel.CostEstimatorOptions(checker.PresenceTestHasCost(false)),
		}
		opts = append(opts, kubernetesLibrary()...)
		baseEnv, baseErr = cel.NewEnv(opts...)
	})
	return baseEnv, baseErr
}
