package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
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
// over when it stops renewing. Losing the lease ends the component with an
// error, as upstream's components exit, so nothing acts on stale state.
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
		id := host + "_" + string(uuid.NewUUID())
		lock := &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceSystem},
			Client:     client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		}
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		runErr := make(chan error, 1)
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, Name: name, ReleaseOnCancel: true,
			LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					log.Info("became leader", "lease", name, "identity", id)
					err := run(ctx)
					runErr <- err
					cancel()
				},
				OnStoppedLeading: func() { log.Info("stopped leading", "lease", name) },
			},
		})
		if err != nil {
			return err
		}
		le.Run(lctx)
		if ctx.Err() != nil {
			return nil
		}
		select {
		case err := <-runErr:
			if err != nil {
				return err
			}
			return fmt.Errorf("%s stopped", name)
		default:
		}
		return errors.New("lost the leader lease " + name)
	}
}
