package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	skiffdns "skiff/internal/dns"
	"skiff/internal/proxy"
)

// proxyChildFlag makes the bench binary the proxy child: it runs
// proxy.KernelSyncBench in the (fresh) network namespace it was started in
// and prints the figures.
const proxyChildFlag = "-proxy-child"

const (
	dnsBenchFor         = 5 * time.Second
	dnsBenchConcurrency = 16
	proxyEndpointsPer   = 10
)

type dnsFigures struct {
	services    int
	qps, refQPS float64
}

type proxyFigures struct {
	services          int
	full, incremental time.Duration
	// fullNFT and incNFT are the parts spent in nft: the floor.
	fullNFT, incNFT time.Duration
}

type netFigures struct {
	dns     *dnsFigures
	proxy   []proxyFigures
	skipped string
}

// dnsBench measures A queries/s for service names against the cluster DNS
// server (services from an informer on a fake clientset: the API is not
// what is measured), and against a miekg/dns server that answers every
// query with one fixed record, the floor of the library and the loopback.
func dnsBench(ctx context.Context, out io.Writer, services int) (*dnsFigures, error) {
	client := fake.NewClientset()
	var names []string
	for i := 0; i < services; i++ {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "dnsbench", Name: fmt.Sprintf("svc-%05d", i)},
			Spec: corev1.ServiceSpec{ClusterIP: fmt.Sprintf("10.43.%d.%d", 1+i/250, 1+i%250), Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
		if _, err := client.CoreV1().Services("dnsbench").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		names = append(names, svc.Name+".dnsbench.svc.cluster.local.")
	}
	srv, err := skiffdns.New(client, skiffdns.Config{Listen: "127.0.0.1:0", Upstreams: []string{"127.0.0.1:9"}})
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = srv.Run(sctx) }()
	select {
	case <-srv.Ready():
	case <-time.After(time.Minute):
		return nil, fmt.Errorf("the DNS server did not get ready")
	}
	f := &dnsFigures{services: services}
	if f.qps, err = skiffdns.QueryBench(ctx, srv.Addr(), names, dnsBenchFor, dnsBenchConcurrency); err != nil {
		return nil, err
	}
	ref, stop, err := staticDNS()
	if err != nil {
		return nil, err
	}
	defer stop()
	if f.refQPS, err = skiffdns.QueryBench(ctx, ref, names, dnsBenchFor, dnsBenchConcurrency); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "BENCH dns services=%d qps=%.0f static_qps=%.0f ratio=%.2f\n", services, f.qps, f.refQPS, f.qps/f.refQPS)
	return f, nil
}

// staticDNS serves one fixed A record for every query on loopback UDP.
func staticDNS() (string, func(), error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		if len(r.Question) == 1 {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.IPv4(10, 43, 0, 1)}}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	return pc.LocalAddr().String(), func() { _ = srv.Shutdown() }, nil
}

// proxyBench measures the service proxy's nftables syncs on the real
// kernel, in a network namespace made for it: a full sync of n Services
// with proxyEndpointsPer endpoints each, then one Service changing.
func proxyBench(ctx context.Context, out io.Writer, n int) (proxyFigures, error) {
	f := proxyFigures{services: n}
	ns := fmt.Sprintf("skiff-bench-proxy-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return f, fmt.Errorf("ip netns add: %v: %s", err, out)
	}
	defer func() { _ = exec.Command("ip", "netns", "del", ns).Run() }()
	self, err := os.Executable()
	if err != nil {
		return f, err
	}
	cmd := exec.CommandContext(ctx, "nsenter", "--net=/run/netns/"+ns, self, proxyChildFlag, strconv.Itoa(n))
	cmd.Env = append(os.Environ(), proxy.DisposableNetnsEnv+"=1")
	res, err := cmd.Output()
	if err != nil {
		return f, fmt.Errorf("proxy child: %v", err)
	}
	fields := strings.Fields(string(res))
	if len(fields) != 4 {
		return f, fmt.Errorf("proxy child said %q", res)
	}
	var ds [4]time.Duration
	for i, s := range fields {
		if ds[i], err = time.ParseDuration(s); err != nil {
			return f, fmt.Errorf("proxy child said %q", res)
		}
	}
	f.full, f.incremental, f.fullNFT, f.incNFT = ds[0], ds[1], ds[2], ds[3]
	fmt.Fprintf(out, "BENCH proxy services=%d endpoints_per=%d full_s=%.2f incremental_ms=%.1f full_nft_s=%.2f incremental_nft_ms=%.1f ratio_full=%.2f ratio_incremental=%.2f\n",
		n, proxyEndpointsPer, f.full.Seconds(), ms(f.incremental), f.fullNFT.Seconds(), ms(f.incNFT), f.full.Seconds()/f.fullNFT.Seconds(), f.incremental.Seconds()/f.incNFT.Seconds())
	return f, nil
}

// proxyChild is the bench binary inside the proxy's namespace.
func proxyChild(arg string) int {
	n, err := strconv.Atoi(arg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	f, err := proxy.KernelSyncDetail(n, proxyEndpointsPer)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(f.Full, f.Incremental, f.FullNFT, f.IncrementalNFT)
	return 0
}

// networkBench runs both parts; the proxy part needs root.
func networkBench(ctx context.Context, out io.Writer, dnsServices int, proxyServices []int) (*netFigures, error) {
	f := &netFigures{}
	var err error
	if dnsServices > 0 {
		if f.dns, err = dnsBench(ctx, out, dnsServices); err != nil {
			return nil, fmt.Errorf("dns: %w", err)
		}
	}
	if len(proxyServices) == 0 {
		return f, nil
	}
	if os.Geteuid() != 0 {
		f.skipped = "the proxy sync needs root (a network namespace and nftables)"
		return f, nil
	}
	for _, n := range proxyServices {
		pf, err := proxyBench(ctx, out, n)
		if err != nil {
			return nil, fmt.Errorf("proxy sync at %d services: %w", n, err)
		}
		f.proxy = append(f.proxy, pf)
	}
	return f, nil
}

func (r *report) networkMarkdown(p func(string, ...any)) {
	f := r.network
	if f == nil {
		return
	}
	p("## Cluster DNS and the service proxy\n\n")
	if d := f.dns; d != nil {
		p("Cluster DNS (internal/dns): A queries for %d service names (`svc-NNNNN.dnsbench.svc.cluster.local`), %d concurrent clients for %s over loopback UDP, answers from the informer cache. The reference is a miekg/dns server on the same loopback that answers every query with one fixed record (no lookup at all): the floor of the library and the network stack.\n\n",
			d.services, dnsBenchConcurrency, dnsBenchFor)
		p("| | queries/s |\n|---|---:|\n| skiff DNS | %.0f |\n| fixed-answer server (floor) | %.0f |\n| skiff ÷ floor | %.2f |\n\n", d.qps, d.refQPS, d.qps/d.refQPS)
	}
	if f.skipped != "" {
		p("Service proxy: skipped in this run: %s.\n\n", f.skipped)
		return
	}
	if len(f.proxy) > 0 {
		p("Service proxy (internal/proxy) on the real kernel, in a network namespace made for the run: a full sync of N ClusterIP Services with %d ready endpoints each (computing the rules and loading them with `nft` in one transaction, from an empty table), then one endpoint of one Service changing (an incremental sync, which rewrites only that Service's chains). The reference is the time spent inside `nft` for the same transactions (its parsing and the kernel applying them): what any proxy writing these rules through nft pays; skiff ÷ nft shows what computing the rules adds.\n\n", proxyEndpointsPer)
		p("| Services | full sync | of it in nft | skiff ÷ nft | one Service changing | of it in nft | skiff ÷ nft |\n|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, x := range f.proxy {
			p("| %d | %.2f s | %.2f s | %.2f | %.1f ms | %.1f ms | %.2f |\n", x.services, x.full.Seconds(), x.fullNFT.Seconds(), x.full.Seconds()/x.fullNFT.Seconds(),
				ms(x.incremental), ms(x.incNFT), x.incremental.Seconds()/x.incNFT.Seconds())
		}
		p("\n")
	}
}
