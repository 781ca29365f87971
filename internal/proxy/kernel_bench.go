package proxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/knftables"
)

// DisposableNetnsEnv must be set to "1" for KernelSyncBench to run. Setting
// it is the caller's promise that the current network namespace is a
// throwaway one (created for the benchmark and deleted after it), because
// the benchmark deletes and rewrites the ip skiff-proxy table there.
const DisposableNetnsEnv = "SKIFF_PROXY_BENCH_DISPOSABLE_NETNS"

// KernelSyncBench is SyncBench against the real kernel: it loads n
// ClusterIP Services with endpointsPer ready endpoints each into nftables
// (through the nft binary, as the proxy does) with a full sync, then changes
// one endpoint of one Service and runs an incremental sync, and returns both
// durations. Both include computing the rules and running nft.
//
// It works on the network namespace of the calling process and must never
// run in the host's: it deletes any existing ip skiff-proxy table first
// (so the full sync starts from nothing) and deletes the table it made
// afterwards. It therefore refuses to run unless the environment variable
// DisposableNetnsEnv is "1", and also when the process can see that it
// shares its network namespace with PID 1 (normally the host's).
// The caller creates a fresh namespace (e.g. `ip netns add`), runs the
// process that calls this inside it (e.g. `nsenter --net=/run/netns/NAME`
// with the variable set), and deletes the namespace afterwards. It needs
// root and the nft binary.
func KernelSyncBench(n, endpointsPer int) (full, incremental time.Duration, err error) {
	r, err := kernelSyncBench(n, endpointsPer)
	return r.full, r.incremental, err
}

// KernelSyncFigures are KernelSyncBench's durations with the part spent
// in the nft command (parsing the transaction and the kernel applying it):
// the floor any proxy writing the same rules through nft pays.
type KernelSyncFigures struct {
	Full, Incremental       time.Duration
	FullNFT, IncrementalNFT time.Duration
}

// KernelSyncDetail is KernelSyncBench reporting the time spent in nft too;
// the same preconditions apply.
func KernelSyncDetail(n, endpointsPer int) (KernelSyncFigures, error) {
	r, err := kernelSyncBench(n, endpointsPer)
	return KernelSyncFigures{Full: r.full, Incremental: r.incremental, FullNFT: r.fullNFT, IncrementalNFT: r.incrementalNFT}, err
}

// kernelSyncBench is KernelSyncBench with the time spent in nft reported
// separately (for the benchmarks).
func kernelSyncBench(n, endpointsPer int) (benchResult, error) {
	if n < 1 || endpointsPer < 0 {
		return benchResult{}, errors.New("KernelSyncBench: need n >= 1 and endpointsPer >= 0")
	}
	if err := checkDisposableNetns(); err != nil {
		return benchResult{}, fmt.Errorf("KernelSyncBench: %w", err)
	}
	nft, err := knftables.New(knftables.IPv4Family, TableName)
	if err != nil {
		return benchResult{}, fmt.Errorf("KernelSyncBench: %w", err)
	}
	ctx := context.Background()
	if err := deleteTable(ctx, nft); err != nil {
		return benchResult{}, fmt.Errorf("KernelSyncBench: clearing the table: %w", err)
	}
	r, err := syncBench(nft, n, endpointsPer)
	if err != nil {
		_ = deleteTable(ctx, nft)
		return benchResult{}, fmt.Errorf("KernelSyncBench: %w", err)
	}
	if err := deleteTable(ctx, nft); err != nil {
		return r, fmt.Errorf("KernelSyncBench: removing the table: %w", err)
	}
	return r, nil
}

// checkDisposableNetns enforces KernelSyncBench's preconditions.
func checkDisposableNetns() error {
	if os.Getenv(DisposableNetnsEnv) != "1" {
		return fmt.Errorf("refusing to touch nftables: set %s=1 only inside a throwaway network namespace", DisposableNetnsEnv)
	}
	self, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		return fmt.Errorf("refusing to touch nftables: cannot identify the network namespace: %w", err)
	}
	// PID 1's namespace is the host's in the usual setup. Where it cannot
	// be read (no CAP_SYS_PTRACE over PID 1, e.g. in some sandboxes) the
	// environment variable is the only guard.
	pid1, err := os.Stat("/proc/1/ns/net")
	if err == nil && os.SameFile(self, pid1) {
		return errors.New("refusing to touch nftables: this process is in PID 1's (the host's) network namespace")
	}
	return nil
}

// deleteTable removes the proxy's table if it exists.
func deleteTable(ctx context.Context, nft knftables.Interface) error {
	tx := nft.NewTransaction()
	tx.Add(&knftables.Table{}) // makes the delete succeed when there is none
	tx.Delete(&knftables.Table{})
	return nft.Run(ctx, tx)
}
