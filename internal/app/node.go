package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"skiff/internal/agent"
	"skiff/internal/ingress"
	"skiff/internal/netpol"
	"skiff/internal/network"
	"skiff/internal/proxy"
	"skiff/internal/syncloop"
)

// nodeComponents are what every node runs: the agent (kubelet), the pod
// network's routes and masquerading, the service proxy, NetworkPolicy
// enforcement and the ingress router.
func nodeComponents(client kubernetes.Interface, cfg agent.Config, reg prometheus.Registerer, log *slog.Logger) ([]Component, error) {
	if cfg.NodeName == "" {
		cfg.NodeName, _ = os.Hostname()
	}
	// One event sink for the node's components, each its own source.
	events := record.NewBroadcaster()
	events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	recorder := func(component string) record.EventRecorder {
		return events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component, Host: cfg.NodeName})
	}
	nw, err := network.New(client, network.Config{NodeName: cfg.NodeName, Logger: log.With("component", "network"), Registerer: reg,
		Recorder: recorder("skiff-network")})
	if err != nil {
		return nil, err
	}
	px, err := proxy.New(client, proxy.Config{NodeName: cfg.NodeName, Logger: log.With("component", "proxy"), Registerer: reg,
		Recorder: recorder("skiff-proxy")})
	if err != nil {
		return nil, err
	}
	policies, err := netpol.New(client, netpol.Config{NodeName: cfg.NodeName, Logger: log.With("component", "netpol"), Registerer: reg,
		Recorder: recorder("skiff-network-policy")})
	if err != nil {
		return nil, err
	}
	ingressEvents := recorder("skiff-ingress")
	router, err := ingress.New(client, ingress.Config{NodeName: cfg.NodeName, Logger: log.With("component", "ingress"), Registerer: reg,
		Recorder: ingressEvents})
	if err != nil {
		return nil, err
	}
	return []Component{
		{Name: "agent", Run: agent.New(client, cfg).Run},
		{Name: "network", Run: nw.Run},
		{Name: "proxy", Run: px.Run},
		{Name: "network-policy", Run: policies.Run},
		{Name: "ingress", Run: func(ctx context.Context) error {
			// Ports 80/443 taken by something else on this machine cost
			// the node its ingress, not its pods.
			if err := router.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("the ingress router stopped; this node serves no Ingress", "err", err)
				ingressEvents.Eventf(syncloop.NodeReference(cfg.NodeName), corev1.EventTypeWarning, "IngressRouterFailed",
					"The ingress router stopped, this node serves no Ingress: %v", err)
			}
			<-ctx.Done()
			return nil
		}},
		{Name: "node-events", Run: func(ctx context.Context) error {
			<-ctx.Done()
			events.Shutdown()
			return nil
		}},
	}, nil
}

// RunNode runs a node that is not a server (`skiff agent`) until ctx
// ends; its metrics are served on metricsAddr (empty: not served).
func RunNode(ctx context.Context, client kubernetes.Interface, cfg agent.Config, metricsAddr string) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	comps, err := nodeComponents(client, cfg, reg, log)
	if err != nil {
		return err
	}
	if metricsAddr != "" {
		comps = append(comps, Component{Name: "metrics", Run: func(ctx context.Context) error {
			return serveMetrics(ctx, metricsAddr, reg)
		}})
	}
	return runAll(ctx, log, comps)
}

// serveMetrics serves /metrics over plain HTTP until ctx ends.
func serveMetrics(ctx context.Context, addr string, g prometheus.Gatherer) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
