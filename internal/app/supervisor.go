// Package app owns skiff's roles (server, and later agent) and the
// supervisor that starts their components in order, waits for readiness and
// stops all of them when one fails. It is the only package that wires
// components together.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// Component is anything with a blocking Run.
type Component struct {
	Name string
	Run  func(ctx context.Context) error
}

// runAll runs components until ctx ends or one of them fails; then it
// cancels the rest and waits for them. A component that returns nil before
// ctx ends is treated as failed: every component is meant to run until told.
func runAll(ctx context.Context, log *slog.Logger, comps []Component) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(comps))
	for _, c := range comps {
		wg.Add(1)
		go func(c Component) {
			defer wg.Done()
			err := c.Run(ctx)
			if ctx.Err() != nil {
				errc <- nil
				return
			}
			if err == nil {
				err = errors.New("stopped unexpectedly")
			}
			log.Error("component failed", "component", c.Name, "err", err)
			errc <- fmt.Errorf("%s: %w", c.Name, err)
			cancel()
		}(c)
	}
	var first error
	go func() { wg.Wait(); close(errc) }()
	for err := range errc {
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}
