// Package etcd owns the datastore process side of skiff: the embedded etcd
// that `skiff server` runs in its own process (or the client of an external
// etcd cluster), and the periodic compaction of old revisions.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Config says where the datastore is.
type Config struct {
	// DataDir holds the embedded etcd's data (DataDir/db).
	DataDir string
	// ClientPort and PeerPort are the loopback ports of the embedded etcd.
	ClientPort, PeerPort int
	// Endpoints, when set, names an external etcd cluster to use instead.
	Endpoints []string
	// CompactInterval is how often old revisions are compacted; 0 disables.
	CompactInterval time.Duration
	Logger          *slog.Logger
}

// Datastore is a running etcd (embedded or external) and a client to it.
type Datastore struct {
	cfg    Config
	embed  *embed.Etcd
	Client *clientv3.Client
	// logLevel is the embedded etcd's; raised while it shuts down, when
	// its listeners report being closed as errors.
	logLevel zap.AtomicLevel
}

// Start starts the embedded etcd (unless Endpoints are given) and connects.
func Start(ctx context.Context, cfg Config) (*Datastore, error) {
	d := &Datastore{cfg: cfg, logLevel: zap.NewAtomicLevelAt(zap.ErrorLevel)}
	endpoints := cfg.Endpoints
	if len(endpoints) == 0 {
		ec := embed.NewConfig()
		ec.Name = "skiff"
		ec.Dir = filepath.Join(cfg.DataDir, "db")
		ec.Logger = "zap"
		ec.LogLevel = "error"
		ec.LogOutputs = []string{"stderr"}
		zcfg := zap.NewProductionConfig()
		zcfg.Level = d.logLevel
		zcfg.OutputPaths, zcfg.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
		zlog, err := zcfg.Build()
		if err != nil {
			return nil, err
		}
		ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zlog)
		clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", cfg.ClientPort)}
		peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", cfg.PeerPort)}
		ec.ListenClientUrls = []url.URL{clientURL}
		ec.AdvertiseClientUrls = []url.URL{clientURL}
		ec.ListenPeerUrls = []url.URL{peerURL}
		ec.AdvertisePeerUrls = []url.URL{peerURL}
		ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
		// Keep the metrics and auto-compaction in our hands.
		ec.AutoCompactionRetention = "0"
		// Progress notifications drive watch bookmarks.
		ec.WatchProgressNotifyInterval = 5 * time.Second
		ec.QuotaBackendBytes = 8 << 30
		e, err := embed.StartEtcd(ec)
		if err != nil {
			return nil, fmt.Errorf("starting embedded etcd: %w", err)
		}
		select {
		case <-e.Server.ReadyNotify():
		case err := <-e.Err():
			e.Close()
			return nil, fmt.Errorf("embedded etcd: %w", err)
		case <-time.After(60 * time.Second):
			e.Close()
			return nil, errors.New("embedded etcd did not become ready within 60s")
		case <-ctx.Done():
			e.Close()
			return nil, ctx.Err()
		}
		d.embed = e
		endpoints = []string{clientURL.String()}
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:          endpoints,
		DialTimeout:        10 * time.Second,
		Logger:             zap.NewNop(),
		MaxCallSendMsgSize: 16 << 20,
		MaxCallRecvMsgSize: 1 << 30,
	})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("connecting to etcd %s: %w", strings.Join(endpoints, ","), err)
	}
	d.Client = client
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := client.Get(sctx, "/registry/health"); err != nil {
		d.Close()
		return nil, fmt.Errorf("etcd %s not reachable: %w", strings.Join(endpoints, ","), err)
	}
	return d, nil
}

// Run compacts old revisions until ctx ends, like upstream: every interval
// it compacts to the revision seen one interval earlier, so watchers have at
// least one interval to catch up.
func (d *Datastore) Run(ctx context.Context) error {
	if d.cfg.CompactInterval <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(d.cfg.CompactInterval)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		resp, err := d.Client.Get(ctx, "/registry/health", clientv3.WithCountOnly())
		if err != nil {
			d.cfg.Logger.Warn("etcd compaction: reading revision", "err", err)
			continue
		}
		if last > 0 {
			if _, err := d.Client.Compact(ctx, last); err != nil && ctx.Err() == nil {
				d.cfg.Logger.Debug("etcd compaction", "revision", last, "err", err)
			}
		}
		last = resp.Header.Revision
	}
}

// Err reports a fatal error of the embedded etcd.
func (d *Datastore) Err() <-chan error {
	if d.embed == nil {
		return nil
	}
	return d.embed.Err()
}

// Close disconnects and stops the embedded etcd, if any.
func (d *Datastore) Close() {
	if d.Client != nil {
		_ = d.Client.Close()
	}
	if d.embed != nil {
		d.logLevel.SetLevel(zap.FatalLevel)
		d.embed.Close()
	}
}
