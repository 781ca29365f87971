package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/knftables"
)

// SyncBench measures the proxy's rule generation: it builds n ClusterIP
// Services with endpointsPer ready endpoints each, runs a full sync, then
// changes one endpoint of one Service and runs an incremental sync, and
// returns both durations. It runs against knftables.NewFake, so it measures
// our rule generation and diffing plus the fake's in-memory bookkeeping,
// not the kernel or the nft binary. Beyond a few thousand Services the
// fake dominates the full sync (it inserts map elements with a linear
// search, so its cost grows quadratically) and the incremental one (it
// copies the whole table per transaction); BenchmarkSync* report the
// fake's share separately.
func SyncBench(n, endpointsPer int) (full, incremental time.Duration, err error) {
	if n < 1 || endpointsPer < 0 {
		return 0, 0, fmt.Errorf("SyncBench: need n >= 1 and endpointsPer >= 0")
	}
	r, err := syncBench(knftables.NewFake(knftables.IPv4Family, TableName), n, endpointsPer)
	return r.full, r.incremental, err
}

// benchResult holds the durations of one syncBench run; the nft fields
// are the part spent inside the knftables Interface's Run.
type benchResult struct {
	full, incremental       time.Duration
	fullNFT, incrementalNFT time.Duration
}

// timedNFT measures the time spent running transactions.
type timedNFT struct {
	knftables.Interface
	run time.Duration
}

func (t *timedNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	start := time.Now()
	err := t.Interface.Run(ctx, tx)
	t.run += time.Since(start)
	return err
}

func syncBench(inner knftables.Interface, n, endpointsPer int) (benchResult, error) {
	var r benchResult
	nft := &timedNFT{Interface: inner}
	p, err := newProxy(nil, Config{
		NodeName: benchNode,
		NFT:      nft,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return r, err
	}
	p.ct = noConntrack{}
	if err := p.nodes.GetStore().Add(benchNodeObject()); err != nil {
		return r, err
	}
	for i := 0; i < n; i++ {
		if err := p.services.GetStore().Add(benchService(i)); err != nil {
			return r, err
		}
		if err := p.slices.GetStore().Add(benchSlice(i, endpointsPer, 0)); err != nil {
			return r, err
		}
	}
	ctx := context.Background()
	start := time.Now()
	if err := p.syncRules(ctx); err != nil {
		return r, err
	}
	r.full, r.fullNFT = time.Since(start), nft.run

	changed := benchSlice(n/2, endpointsPer, 1)
	if err := p.slices.GetStore().Update(changed); err != nil {
		return r, err
	}
	p.onSlice(changed)
	nft.run = 0
	start = time.Now()
	if err := p.syncRules(ctx); err != nil {
		return r, err
	}
	r.incremental, r.incrementalNFT = time.Since(start), nft.run
	if p.last.full || (endpointsPer > 0 && p.last.servicesWritten != 1) {
		return r, fmt.Errorf("SyncBench: incremental sync rewrote %d services (full=%v)", p.last.servicesWritten, p.last.full)
	}
	return r, nil
}

const benchNode = "bench-node"

func benchNodeObject() *v1.Node {
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: benchNode},
		Spec:       v1.NodeSpec{PodCIDR: "10.42.0.0/24"},
		Status: v1.NodeStatus{Addresses: []v1.NodeAddress{
			{Type: v1.NodeInternalIP, Address: "192.168.50.10"},
		}},
	}
}

func benchService(i int) *v1.Service {
	ip := fmt.Sprintf("10.43.%d.%d", (i+2)/256%256, (i+2)%256)
	return &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: "svc-" + strconv.Itoa(i), ResourceVersion: "1"},
		Spec: v1.ServiceSpec{
			Type:       v1.ServiceTypeClusterIP,
			ClusterIP:  ip,
			ClusterIPs: []string{ip},
			Ports:      []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80}},
		},
	}
}

// benchSlice is the slice of Service i; shift moves its first endpoint to
// another address (the "one endpoint changed" event).
func benchSlice(i, endpointsPer, shift int) *discovery.EndpointSlice {
	s := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "bench", Name: "svc-" + strconv.Itoa(i) + "-abcde",
			Labels:          map[string]string{labelServiceName: "svc-" + strconv.Itoa(i)},
			ResourceVersion: strconv.Itoa(1 + shift),
		},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: ptr("http"), Protocol: ptr(v1.ProtocolTCP), Port: ptr(int32(8080))}},
	}
	for j := 0; j < endpointsPer; j++ {
		k := i*endpointsPer + j
		if j == 0 && shift != 0 {
			k = 1<<22 + i // outside the range the other endpoints use
		}
		ip := fmt.Sprintf("10.%d.%d.%d", 64+k/65536, k/256%256, k%256)
		s.Endpoints = append(s.Endpoints, discovery.Endpoint{
			Addresses:  []string{ip},
			Conditions: discovery.EndpointConditions{Ready: ptr(true)},
			NodeName:   ptr("node-" + strconv.Itoa(j%5)),
		})
	}
	return s
}

func ptr[T any](v T) *T { return &v }

// noConntrack leaves the conntrack table alone (benchmarks, tests).
type noConntrack struct{}

func (noConntrack) clear([]flowFilter) error { return nil }
