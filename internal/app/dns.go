package app

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/dns"
)

// runDNS serves cluster DNS on the server's address and publishes it as
// the endpoint of the kube-dns Service, once it answers.
func runDNS(ctx context.Context, cfg ServerConfig, loopback *rest.Config, addr string, reg prometheus.Registerer, log *slog.Logger) error {
	rc := rest.CopyConfig(loopback)
	rc.UserAgent = "skiff-dns"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	port := cfg.DNSPort
	if port == 0 {
		port = 53
	}
	srv, err := dns.New(client, dns.Config{
		Listen: net.JoinHostPort(addr, strconv.Itoa(port)), ClusterDomain: cfg.ClusterDomain,
		Logger: log, Registerer: reg,
	})
	if err != nil {
		return err
	}
	nodeName := cfg.Agent.NodeName
	if nodeName == "" {
		nodeName, _ = os.Hostname()
	}
	go func() {
		select {
		case <-srv.Ready():
		case <-ctx.Done():
			return
		}
		for {
			err := dns.EnsureService(ctx, client, cfg.ClusterDNS, nodeName, addr, int32(port))
			if err == nil {
				log.Info("cluster DNS published", "service", "kube-system/kube-dns", "clusterIP", cfg.ClusterDNS, "endpoint", net.JoinHostPort(addr, strconv.Itoa(port)))
				return
			}
			log.Error("publishing the kube-dns service; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Second):
			}
		}
	}()
	// Port 53 of this address held by another resolver costs the cluster
	// its DNS, not the server its API.
	if err := srv.Run(ctx); err != nil && ctx.Err() == nil {
		log.Error("cluster DNS stopped; pods resolve no cluster names (is another DNS server on this address? --cluster-dns='' turns it off)", "err", err)
	}
	<-ctx.Done()
	// Stopping: other servers answer meanwhile (the API may already be
	// gone, in which case the endpoint stays until this server is back).
	dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := dns.RemoveEndpoint(dctx, client, nodeName); err != nil {
		log.Debug("removing the cluster DNS endpoint", "err", err)
	}
	return nil
}
