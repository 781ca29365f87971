package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// result is one measured figure: how many operations ran in how long, and
// the latency of each.
type result struct {
	Name    string // e.g. "api create"
	N       int
	Elapsed time.Duration
	Lat     []time.Duration // sorted
	// Start, for watch deliveries, is the latency from the update starting.
	Start []time.Duration // sorted
	// Unit names what ops/s counts ("ops" unless set).
	Unit string
	// CPU is the process CPU time (user+system) spent during the run.
	CPU time.Duration
	// Extra is appended to the BENCH line (already formatted key=value pairs).
	Extra string
}

func (r *result) opsPerSec() float64 {
	if r == nil || r.Elapsed <= 0 {
		return 0
	}
	return float64(r.N) / r.Elapsed.Seconds()
}

// pct returns the nearest-rank percentile p (0..100) of the latencies.
func (r *result) pct(p float64) time.Duration {
	if r == nil || len(r.Lat) == 0 {
		return 0
	}
	return percentile(r.Lat, p)
}

func (r *result) startPct(p float64) time.Duration {
	if r == nil {
		return 0
	}
	return percentile(r.Start, p)
}

// cpuPerOp is the process CPU time per operation in microseconds (client,
// API server and etcd all run in this process).
func (r *result) cpuPerOp() float64 {
	if r == nil || r.N == 0 {
		return 0
	}
	return float64(r.CPU) / float64(time.Microsecond) / float64(r.N)
}

// cores is the process CPU time over wall time: how much of the machine the
// whole process got during the run.
func (r *result) cores() float64 {
	if r == nil || r.Elapsed <= 0 {
		return 0
	}
	return r.CPU.Seconds() / r.Elapsed.Seconds()
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	k = max(0, min(k, len(sorted)-1))
	return sorted[k]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *result) line() string {
	unit := r.Unit
	if unit == "" {
		unit = "ops"
	}
	s := fmt.Sprintf("BENCH %s %s/s=%.0f p50_ms=%.2f p99_ms=%.2f n=%d cpu_us/op=%.0f cpu_cores=%.2f", r.Name, unit, r.opsPerSec(), ms(r.pct(50)), ms(r.pct(99)), r.N, r.cpuPerOp(), r.cores())
	if r.Extra != "" {
		s += " " + r.Extra
	}
	return s
}

// parallel runs op(i) for i in [0,n) on the given number of workers and
// records each call's latency. It stops at the first error.
func parallel(ctx context.Context, name string, workers, n int, op func(ctx context.Context, worker, i int) error) (*result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	lats := make([][]time.Duration, workers)
	var (
		once     sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, n/workers+1)
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					break
				}
				t0 := time.Now()
				err := op(ctx, w, i)
				d := time.Since(t0)
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("%s #%d: %w", name, i, err); cancel() })
					break
				}
				mine = append(mine, d)
			}
			lats[w] = mine
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	return &result{Name: name, N: len(all), Elapsed: elapsed, Lat: all}, nil
}

// sequential runs op n times, one after another.
func sequential(ctx context.Context, name string, n int, op func(ctx context.Context, i int) error) (*result, error) {
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for i := range n {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		t0 := time.Now()
		if err := op(ctx, i); err != nil {
			return nil, fmt.Errorf("%s #%d: %w", name, i, err)
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	slices.Sort(lat)
	return &result{Name: name, N: n, Elapsed: elapsed, Lat: lat}, nil
}
