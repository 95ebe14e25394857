// Package backoff waits between attempts of a broker operation. The engine
// and the benchmark's raw relay share it, so that both retry a failed
// write the same way.
package backoff

import (
	"context"
	"time"
)

// Sleep waits d or until ctx is done; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Retry calls op until it succeeds or ctx ends, waiting first between the
// first two attempts and twice as long after each further failure, up to
// most. Before each wait it calls failed (if not nil) with the error and
// the wait. It returns nil, or op's last error once ctx has ended.
func Retry(ctx context.Context, first, most time.Duration, op func() error, failed func(err error, wait time.Duration)) error {
	wait := first
	for {
		err := op()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if failed != nil {
			failed(err, wait)
		}
		if !Sleep(ctx, wait) {
			return err
		}
		wait = min(2*wait, most)
	}
}
