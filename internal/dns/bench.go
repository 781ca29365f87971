package dns

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// QueryBench fires A queries for names (round robin) at the DNS server at
// addr over UDP from concurrency workers for dur, and returns the rate of
// answered queries (any rcode). It fails when nothing was answered.
func QueryBench(ctx context.Context, addr string, names []string, dur time.Duration, concurrency int) (float64, error) {
	if len(names) == 0 {
		return 0, errors.New("dns: QueryBench: no names")
	}
	concurrency = max(concurrency, 1)
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var ok, failed atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Go(func() {
			c := &mdns.Client{Net: "udp", Timeout: time.Second}
			var conn *mdns.Conn
			defer func() {
				if conn != nil {
					_ = conn.Close()
				}
			}()
			for i := w; ctx.Err() == nil; i += concurrency {
				if conn == nil {
					var err error
					if conn, err = c.DialContext(ctx, addr); err != nil {
						failed.Add(1)
						once.Do(func() { firstErr = err })
						continue
					}
				}
				m := new(mdns.Msg)
				m.SetQuestion(mdns.Fqdn(names[i%len(names)]), mdns.TypeA)
				resp, _, err := c.ExchangeWithConnContext(ctx, m, conn)
				if err == nil && !resp.Response {
					err = errors.New("reply without the QR bit")
				}
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					failed.Add(1)
					once.Do(func() { firstErr = err })
					// A lost datagram leaves a late reply behind; start over.
					_ = conn.Close()
					conn = nil
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if ok.Load() == 0 {
		if firstErr == nil {
			firstErr = errors.New("no query answered")
		}
		return 0, firstErr
	}
	return float64(ok.Load()) / elapsed, nil
}
