//go:build race

package openapi

// The race detector slows reflection-heavy code several times over, so
// timing limits only apply without it.
const raceEnabled = true
