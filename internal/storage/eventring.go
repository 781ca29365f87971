package storage

import (
	"sort"
	"time"
)

// eventRing keeps the newest events of a watch cache, oldest first, in a
// fixed ring: adding one to a full window overwrites the oldest in place
// instead of copying the window.
type eventRing struct {
	buf   []Event     // grows up to max, then is reused
	at    []time.Time // when each event of buf arrived
	start int         // index in buf of the oldest event
	n     int
	max   int
}

// push appends ev, arrived at now; when the window was full it returns the
// revision of the event that left it and true.
func (r *eventRing) push(ev Event, now time.Time) (dropped int64, full bool) {
	if r.max == 0 {
		return ev.Revision, true
	}
	switch {
	case r.n < len(r.buf):
		// A slot freed by dropBefore.
		i := (r.start + r.n) % len(r.buf)
		r.buf[i], r.at[i] = ev, now
		r.n++
		return 0, false
	case len(r.buf) < r.max:
		if r.start != 0 {
			r.buf = append(r.buf[r.start:], r.buf[:r.start]...)
			r.at = append(r.at[r.start:], r.at[:r.start]...)
			r.start = 0
		}
		r.buf, r.at = append(r.buf, ev), append(r.at, now)
		r.n++
		return 0, false
	}
	dropped = r.buf[r.start].Revision
	r.buf[r.start], r.at[r.start] = ev, now
	r.start = (r.start + 1) % r.max
	return dropped, true
}

// dropBefore removes the events that arrived before t, keeping at least
// keep events; it returns the revision of the last one removed, if any.
func (r *eventRing) dropBefore(t time.Time, keep int) (dropped int64, ok bool) {
	for r.n > keep && r.at[r.start].Before(t) {
		dropped, ok = r.buf[r.start].Revision, true
		r.buf[r.start] = Event{} // let the objects go
		r.start = (r.start + 1) % len(r.buf)
		r.n--
	}
	return dropped, ok
}

// event returns the i-th event, 0 being the oldest.
func (r *eventRing) event(i int) *Event { return &r.buf[(r.start+i)%len(r.buf)] }

// after returns the index of the first event newer than rev (n if none).
func (r *eventRing) after(rev int64) int {
	return sort.Search(r.n, func(i int) bool { return r.event(i).Revision > rev })
}

// reset empties the ring and sets its size.
func (r *eventRing) reset(max int) { *r = eventRing{max: max} }
