package scheduler

import (
	"container/heap"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"

	"skiff/internal/scheduler/framework"
	"skiff/internal/scheduler/plugins/queuesort"
)

// Where a queued pod waits.
const (
	inNone = iota
	inActive
	inBackoff
	inUnschedulable
	inGated
)

// Queue names, as upstream labels scheduler_pending_pods.
const (
	queueActive        = "active"
	queueBackoff       = "backoff"
	queueUnschedulable = "unschedulable"
	queueGated         = "gated"
)

// queuedPod is one pending pod the queue knows.
type queuedPod struct {
	key      string
	priority int32
	// timestamp orders pods of equal priority: when it was (re)queued.
	timestamp time.Time
	// attempts counts failed attempts, for the backoff.
	attempts     int
	backoffUntil time.Time
	// parkedAt is when it became unschedulable.
	parkedAt time.Time
	where    int
	index    int // in the heap it is in
	// processing: popped and not yet Done; dirty: changed meanwhile.
	processing, dirty bool
}

// podHeap is a heap of queued pods under a less function.
type podHeap struct {
	items []*queuedPod
	less  func(a, b *queuedPod) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *podHeap) Push(x any) {
	p := x.(*queuedPod)
	p.index = len(h.items)
	h.items = append(h.items, p)
}
func (h *podHeap) Pop() any {
	last := len(h.items) - 1
	p := h.items[last]
	h.items[last] = nil
	h.items = h.items[:last]
	p.index = -1
	return p
}

// schedulingQueue is upstream's PriorityQueue: activeQ is a heap ordered by
// priority (higher first), then by time queued (PrioritySort); backoffQ
// holds failed pods until their backoff (initial doubling per attempt up
// to max) ends; unschedulable pods wait for a cluster change, or at most
// unschedulableRetry.
type schedulingQueue struct {
	mu   sync.Mutex
	cond *sync.Cond

	pods          map[string]*queuedPod
	active        *podHeap
	backoff       *podHeap
	unschedulable map[string]*queuedPod
	// gated pods have schedulingGates: not tried until they are removed.
	gated map[string]*queuedPod
	// moves counts cluster changes, so that a pod failing while a change
	// arrived goes to backoff rather than being parked.
	moves  uint64
	closed bool
	// lastParkedScan is when flush last looked at the parked pods.
	lastParkedScan time.Time

	initialBackoff, maxBackoff, unschedulableRetry time.Duration
	now                                            func() time.Time

	pending  *prometheus.GaugeVec
	incoming *prometheus.CounterVec
	// gauges are pending's series, by queue.
	gauges [4]prometheus.Gauge
}

func newSchedulingQueue(cfg Config, reg prometheus.Registerer) *schedulingQueue {
	q := &schedulingQueue{
		pods:           map[string]*queuedPod{},
		unschedulable:  map[string]*queuedPod{},
		gated:          map[string]*queuedPod{},
		initialBackoff: cfg.InitialBackoff, maxBackoff: cfg.MaxBackoff, unschedulableRetry: cfg.UnschedulableRetry,
		now: time.Now,
		active: &podHeap{less: func(a, b *queuedPod) bool {
			return queuesort.Less(a.priority, a.timestamp, b.priority, b.timestamp)
		}},
		backoff: &podHeap{less: func(a, b *queuedPod) bool { return a.backoffUntil.Before(b.backoffUntil) }},
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Subsystem: "scheduler", Name: "pending_pods",
			Help: "Number of pending pods, by the queue type. 'active' means number of pods in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' means number of pods in unschedulablePods that the scheduler attempted to schedule and failed.",
		}, []string{"queue"}),
		incoming: prometheus.NewCounterVec(prometheus.CounterOpts{
			Subsystem: "scheduler", Name: "queue_incoming_pods_total",
			Help: "Number of pods added to scheduling queues by event and queue type.",
		}, []string{"queue", "event"}),
	}
	q.cond = sync.NewCond(&q.mu)
	if reg != nil {
		q.pending = register(reg, q.pending)
		q.incoming = register(reg, q.incoming)
	}
	for i, name := range []string{queueActive, queueBackoff, queueUnschedulable, queueGated} {
		q.gauges[i] = q.pending.WithLabelValues(name)
	}
	q.updateMetricsLocked()
	return q
}

func (q *schedulingQueue) updateMetricsLocked() {
	q.gauges[0].Set(float64(q.active.Len()))
	q.gauges[1].Set(float64(q.backoff.Len()))
	q.gauges[2].Set(float64(len(q.unschedulable)))
	q.gauges[3].Set(float64(len(q.gated)))
}

// entry returns the queue's record of pod, creating it.
func (q *schedulingQueue) entry(pod *v1.Pod) *queuedPod {
	key := podKey(pod)
	p := q.pods[key]
	if p == nil {
		p = &queuedPod{key: key, index: -1, timestamp: q.now()}
		q.pods[key] = p
	}
	p.priority = framework.PodPriority(pod)
	return p
}

// removeLocked takes p out of whichever queue holds it.
func (q *schedulingQueue) removeLocked(p *queuedPod) {
	switch p.where {
	case inActive:
		heap.Remove(q.active, p.index)
	case inBackoff:
		heap.Remove(q.backoff, p.index)
	case inUnschedulable:
		delete(q.unschedulable, p.key)
	case inGated:
		delete(q.gated, p.key)
	}
	p.where = inNone
}

func (q *schedulingQueue) pushActiveLocked(p *queuedPod, event string) {
	q.removeLocked(p)
	p.where = inActive
	heap.Push(q.active, p)
	q.incoming.WithLabelValues(queueActive, event).Inc()
	q.cond.Signal()
}

func (q *schedulingQueue) pushBackoffLocked(p *queuedPod, event string) {
	q.removeLocked(p)
	if !p.backoffUntil.After(q.now()) {
		q.pushActiveLocked(p, event)
		return
	}
	p.where = inBackoff
	heap.Push(q.backoff, p)
	q.incoming.WithLabelValues(queueBackoff, event).Inc()
}

// backoffFor is the delay after attempts failures.
func (q *schedulingQueue) backoffFor(attempts int) time.Duration {
	d := q.initialBackoff
	for i := 1; i < attempts && d < q.maxBackoff; i++ {
		d *= 2
	}
	return min(d, q.maxBackoff)
}

// Add queues a new or changed pending pod. A pod waiting as unschedulable
// is retried (after its backoff) since its change may let it fit; one in
// the middle of a cycle is queued again once the cycle is done.
func (q *schedulingQueue) Add(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.entry(pod)
	switch {
	case len(pod.Spec.SchedulingGates) > 0:
		// Upstream's SchedulingGates PreEnqueue: wait for the gates to go.
		if p.where != inGated {
			q.removeLocked(p)
			p.where = inGated
			q.gated[p.key] = p
			q.incoming.WithLabelValues(queueGated, "PodAdd").Inc()
		}
	case p.processing:
		p.dirty = true
	case p.where == inGated:
		q.pushActiveLocked(p, "PodUpdate")
	case p.where == inActive:
		heap.Fix(q.active, p.index)
	case p.where == inBackoff:
	case p.where == inUnschedulable:
		q.pushBackoffLocked(p, "PodUpdate")
	default:
		q.pushActiveLocked(p, "PodAdd")
	}
	q.updateMetricsLocked()
}

// Pop waits for the highest-priority active pod and marks it in process;
// ok is false once the queue is closed.
func (q *schedulingQueue) Pop() (key string, moves uint64, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return "", 0, false
	}
	p := heap.Pop(q.active).(*queuedPod)
	p.where, p.processing, p.dirty = inNone, true, false
	q.updateMetricsLocked()
	return p.key, q.moves, true
}

// Done ends the cycle of key; a pod changed meanwhile and not queued by
// the cycle's outcome goes back to the active queue.
func (q *schedulingQueue) Done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.pods[key]
	if p == nil {
		return
	}
	p.processing = false
	if p.dirty && p.where == inNone {
		q.pushActiveLocked(p, "PodUpdate")
	}
	p.dirty = false
	q.updateMetricsLocked()
}

// AddBackoff queues pod again after a failed attempt, once its backoff
// ends.
func (q *schedulingQueue) AddBackoff(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.entry(pod)
	p.attempts++
	p.timestamp = q.now()
	p.backoffUntil = p.timestamp.Add(q.backoffFor(p.attempts))
	p.dirty = false
	q.pushBackoffLocked(p, "ScheduleAttemptFailure")
	q.updateMetricsLocked()
}

// AddUnschedulable parks pod, which fit no node in a cycle that began at
// moves; if the cluster changed since (or the pod did), it goes to backoff
// instead.
func (q *schedulingQueue) AddUnschedulable(pod *v1.Pod, moves uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.entry(pod)
	p.attempts++
	p.timestamp = q.now()
	p.backoffUntil = p.timestamp.Add(q.backoffFor(p.attempts))
	if q.moves != moves || p.dirty {
		p.dirty = false
		q.pushBackoffLocked(p, "ScheduleAttemptFailure")
	} else {
		q.removeLocked(p)
		p.where, p.parkedAt = inUnschedulable, p.timestamp
		q.unschedulable[p.key] = p
		q.incoming.WithLabelValues(queueUnschedulable, "ScheduleAttemptFailure").Inc()
	}
	q.updateMetricsLocked()
}

// IsUnschedulable says whether key is parked.
func (q *schedulingQueue) IsUnschedulable(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.pods[key]
	return p != nil && p.where == inUnschedulable
}

// Delete forgets key (deleted, or bound).
func (q *schedulingQueue) Delete(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p := q.pods[key]; p != nil {
		q.removeLocked(p)
		delete(q.pods, key)
		q.updateMetricsLocked()
	}
}

// MoveAllToActiveOrBackoff retries every parked pod: those still in
// backoff wait for its end.
func (q *schedulingQueue) MoveAllToActiveOrBackoff(event string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moves++
	for _, p := range q.unschedulable {
		q.pushBackoffLocked(p, event)
	}
	q.updateMetricsLocked()
}

// flush moves pods whose backoff ended to the active queue, and pods
// parked longer than unschedulableRetry back to be tried.
func (q *schedulingQueue) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for q.backoff.Len() > 0 && !q.backoff.items[0].backoffUntil.After(now) {
		p := heap.Pop(q.backoff).(*queuedPod)
		p.where = inNone
		q.pushActiveLocked(p, "BackoffComplete")
	}
	// Parked pods wait minutes: a scan per second is plenty.
	if now.Sub(q.lastParkedScan) >= time.Second {
		q.lastParkedScan = now
		for _, p := range q.unschedulable {
			if now.Sub(p.parkedAt) >= q.unschedulableRetry {
				q.pushBackoffLocked(p, "UnschedulableTimeout")
			}
		}
	}
	q.updateMetricsLocked()
}

// run flushes until stop is closed, then closes the queue.
func (q *schedulingQueue) run(stop <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			q.Close()
			return
		case <-t.C:
			q.flush()
		}
	}
}

// Close wakes Pop, which then returns false.
func (q *schedulingQueue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// Len is the number of pods in the active, backoff and unschedulable
// queues.
func (q *schedulingQueue) Len() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable)
}
