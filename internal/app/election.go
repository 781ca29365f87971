package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Leader election timing. Upstream's defaults are 15s/10s/2s; a shorter
// lease lets a standby server take over within 15 s of the leader dying
// (at most leaseDuration + retryPeriod after its last renewal).
const (
	leaseDuration = 10 * time.Second
	renewDeadline = 7 * time.Second
	retryPeriod   = 2 * time.Second
)

// elected returns a Run that, once the API is ready, runs run only while
// this server holds the Lease kube-system/<name>: with several servers,
// exactly one runs the controllers (or the scheduler), and another takes
// over when it stops renewing. Losing the lease (a stalled datastore, a
// partition) stops run and waits for it to return before campaigning
// again, so nothing acts on stale state; unlike upstream's components,
// which exit, the rest of the server (API, node) keeps running.
func elected(name string, cfg *rest.Config, ready <-chan struct{}, log *slog.Logger, run func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		select {
		case <-ready:
		case <-ctx.Done():
			return nil
		}
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		host, _ := os.Hostname()
		for {
			lost, err := campaign(ctx, name, host+"_"+string(uuid.NewUUID()), client, log, run)
			if ctx.Err() != nil {
				return nil
			}
			if !lost {
				return err
			}
			log.Warn("lost the leader lease; standing by to campaign again", "lease", name)
		}
	}
}

// campaign waits to lead, runs run while leading and returns when run
// ends (lost false, with run's error) or the lease is lost (lost true,
// after run returned).
func campaign(ctx context.Context, name, id string, client kubernetes.Interface, log *slog.Logger, run func(context.Context) error) (lost bool, err error) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceSystem},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	var started atomic.Bool
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, Name: name, ReleaseOnCancel: true,
		LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				started.Store(true)
				log.Info("became leader", "lease", name, "identity", id)
				err := run(ctx)
				runErr <- err
				cancel()
			},
			OnStoppedLeading: func() { log.Info("stopped leading", "lease", name) },
		},
	})
	if err != nil {
		return false, err
	}
	le.Run(lctx)
	if ctx.Err() != nil {
		if started.Load() {
			if err := <-runErr; err != nil {
				log.Info("leader component ended with the server", "lease", name, "err", err)
			}
		}
		return false, nil
	}
	// lctx still live: the elector gave up renewing, not run returning.
	lost = lctx.Err() == nil
	cancel()
	err = <-runErr
	if lost {
		return true, nil
	}
	if err == nil {
		err = fmt.Errorf("%s stopped", name)
	}
	return false, err
}
