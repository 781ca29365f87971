package dns

import (
	"context"
	"errors"
	"time"

	mdns "github.com/miekg/dns"
)

// forward relays r to the upstreams in order: UDP first, again over TCP
// when the UDP answer is truncated; on a network error or timeout the
// next upstream is tried. SERVFAIL when none answered.
func (s *Server) forward(r *mdns.Msg) *mdns.Msg {
	for _, up := range s.upstreams {
		resp, err := s.exchange(r, up)
		if err != nil {
			s.log.Debug("upstream failed", "upstream", up, "err", err)
			continue
		}
		resp.Id = r.Id
		return resp
	}
	if len(r.Question) == 1 {
		s.log.Debug("no upstream answered", "name", r.Question[0].Name, "upstreams", s.upstreams)
	}
	return reply(r, mdns.RcodeServerFailure)
}

func (s *Server) exchange(r *mdns.Msg, up string) (*mdns.Msg, error) {
	start := time.Now()
	s.m.fwdRequests.WithLabelValues(up).Inc()
	// The upstream must not answer over UDP with more than we can relay.
	size := uint16(mdns.MinMsgSize)
	if opt := r.IsEdns0(); opt != nil && opt.UDPSize() > size {
		size = opt.UDPSize()
	}
	ctx, cancel := context.WithTimeout(context.Background(), forwardTimeout)
	defer cancel()
	c := &mdns.Client{Net: "udp", UDPSize: size, Timeout: forwardTimeout}
	q := r.Copy()
	resp, _, err := c.ExchangeContext(ctx, q, up)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, q, up)
	}
	if err == nil && !resp.Response {
		err = errors.New("reply without the QR bit")
	}
	rc := "error"
	if err == nil {
		rc = rcodeLabel(resp.Rcode)
	}
	s.m.fwdResp.WithLabelValues(up, rc).Inc()
	s.m.fwdDuration.WithLabelValues(up, rc).Observe(time.Since(start).Seconds())
	return resp, err
}
