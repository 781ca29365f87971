package job

import (
	"sort"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// interval is a closed range of completion indexes.
type interval struct{ first, last int }

// intervals is a sorted, non-overlapping, non-adjacent list of index ranges,
// the form of status.completedIndexes and status.failedIndexes.
type intervals []interval

// parseIntervals reads "1,3-5,7" keeping only indexes below limit; malformed
// parts are skipped.
func parseIntervals(s string, limit int) intervals {
	var ixs []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi := part, part
		if i := strings.IndexByte(part, '-'); i > 0 {
			lo, hi = part[:i], part[i+1:]
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || a < 0 || b < a {
			continue
		}
		for ix := a; ix <= b && ix < limit; ix++ {
			ixs = append(ixs, ix)
		}
	}
	var out intervals
	for _, ix := range ixs {
		out = out.add(ix)
	}
	return out
}

// has says whether ix is in the list.
func (iv intervals) has(ix int) bool {
	i := sort.Search(len(iv), func(i int) bool { return iv[i].last >= ix })
	return i < len(iv) && iv[i].first <= ix
}

// add returns the list with ix in it, merging neighbours.
func (iv intervals) add(ix int) intervals {
	if iv.has(ix) {
		return iv
	}
	i := sort.Search(len(iv), func(i int) bool { return iv[i].first > ix })
	out := make(intervals, 0, len(iv)+1)
	out = append(out, iv[:i]...)
	out = append(out, interval{ix, ix})
	out = append(out, iv[i:]...)
	// Merge the new range with its neighbours where they touch.
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && merged[n-1].last+1 >= r.first {
			if r.last > merged[n-1].last {
				merged[n-1].last = r.last
			}
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// total counts the indexes in the list.
func (iv intervals) total() int {
	n := 0
	for _, r := range iv {
		n += r.last - r.first + 1
	}
	return n
}

// String writes the list as upstream does: two consecutive indexes as
// "1,2", longer runs as "1-3".
func (iv intervals) String() string {
	var b strings.Builder
	for _, r := range iv {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(r.first))
		if r.last > r.first {
			if r.last == r.first+1 {
				b.WriteByte(',')
			} else {
				b.WriteByte('-')
			}
			b.WriteString(strconv.Itoa(r.last))
		}
	}
	return b.String()
}

// podIndex is the completion index of a pod of an Indexed job, from its
// annotation (or label); -1 when missing or invalid.
func podIndex(p *corev1.Pod) int {
	v, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		v, ok = p.Labels[batchv1.JobCompletionIndexAnnotation]
	}
	if !ok {
		return -1
	}
	ix, err := strconv.Atoi(v)
	if err != nil || ix < 0 {
		return -1
	}
	return ix
}

// indexFailureCount is how many earlier pods of the pod's index failed, as
// recorded on the pod when it was created.
func indexFailureCount(p *corev1.Pod) int {
	n, err := strconv.Atoi(p.Annotations[batchv1.JobIndexFailureCountAnnotation])
	if err != nil || n < 0 {
		return 0
	}
	return n
}
