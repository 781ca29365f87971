// Package queuesort owns PrioritySort, the order of the scheduler's active
// queue: higher spec.priority first, then the pod queued earlier.
package queuesort

import "time"

// Name is the plugin's name.
const Name = "PrioritySort"

// Less says whether a pod of priority pa queued at ta goes before one of
// priority pb queued at tb.
func Less(pa int32, ta time.Time, pb int32, tb time.Time) bool {
	if pa != pb {
		return pa > pb
	}
	return ta.Before(tb)
}
