package storage

import "sort"

// eventRing keeps the newest events of a watch cache, oldest first, in a
// fixed ring: adding one to a full window overwrites the oldest in place
// instead of copying the window.
type eventRing struct {
	buf   []Event // grows up to max, then is reused
	start int     // index in buf of the oldest event
	n     int
	max   int
}

// push appends ev; when the window was full it returns the revision of the
// event that left it and true.
func (r *eventRing) push(ev Event) (dropped int64, full bool) {
	if r.n < r.max {
		if len(r.buf) < r.max {
			r.buf = append(r.buf, ev)
		} else {
			r.buf[(r.start+r.n)%r.max] = ev
		}
		r.n++
		return 0, false
	}
	if r.max == 0 {
		return ev.Revision, true
	}
	dropped = r.buf[r.start].Revision
	r.buf[r.start] = ev
	r.start = (r.start + 1) % r.max
	return dropped, true
}

// at returns the i-th event, 0 being the oldest.
func (r *eventRing) at(i int) *Event { return &r.buf[(r.start+i)%len(r.buf)] }

// after returns the index of the first event newer than rev (n if none).
func (r *eventRing) after(rev int64) int {
	return sort.Search(r.n, func(i int) bool { return r.at(i).Revision > rev })
}

// reset empties the ring and sets its size.
func (r *eventRing) reset(max int) { *r = eventRing{max: max} }
