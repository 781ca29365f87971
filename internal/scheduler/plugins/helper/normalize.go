// Package helper holds small functions shared by score plugins.
package helper

import "skiff/internal/scheduler/framework"

// DefaultNormalizeScore maps scores onto [0, maxPriority] relative to the
// highest one; with reverse, the highest raw score gets 0. When every score
// is 0, all get 0 (maxPriority with reverse), as upstream does.
func DefaultNormalizeScore(maxPriority int64, reverse bool, scores []framework.NodeScore) {
	var highest int64
	for _, s := range scores {
		if s.Score > highest {
			highest = s.Score
		}
	}
	if highest == 0 {
		if reverse {
			for i := range scores {
				scores[i].Score = maxPriority
			}
		}
		return
	}
	for i := range scores {
		s := maxPriority * scores[i].Score / highest
		if reverse {
			s = maxPriority - s
		}
		scores[i].Score = s
	}
}
