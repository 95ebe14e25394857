package engine_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/internal/kfaketest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// While the changelog refuses every write, the engine publishes offers
// (the next batches are processed and published while one waits to be
// recorded) but commits no offset and counts no swipe: a commit never
// passes an unacked changelog write. Once the changelog accepts writes
// again, every swipe is recorded and committed.
func TestNoCommitPassesAnUnackedChangelogWrite(t *testing.T) {
	const n = 600
	f := newFixture(t, n, 0)
	var blocked atomic.Bool
	var refused, commits atomic.Int64
	blocked.Store(true)
	f.cluster.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		f.cluster.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		if !blocked.Load() || len(req.Topics) != 1 || req.Topics[0].Topic != engine.TopicChangelog {
			return nil, nil, false
		}
		refused.Add(1)
		return kfaketest.Refuse(req, kerr.NotEnoughReplicas.Code), nil, true
	})
	f.cluster.ControlKey(int16(kmsg.OffsetCommit), func(kmsg.Request) (kmsg.Response, error, bool) {
		f.cluster.KeepControl()
		commits.Add(1)
		return nil, nil, false
	})
	f.produce(0, n)

	e, err := engine.New(engine.Config{
		Brokers: f.brokers, Group: "e2e", Rules: f.rules, Partitions: 4, MaxBatch: 64,
		Clock: func() time.Time { return f.clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	// Wait until offers are out and the changelog was refused again and
	// again (the engine retries with a backoff).
	waitFor(t, "offers published and changelog writes refused", func() bool {
		return refused.Load() >= 8 && len(f.readAll(loyalty.OfferTopic(loyalty.ChannelMobile))) > 0
	})
	if r := e.Stats().ProduceRetries.Load(); r == 0 {
		t.Error("no produce retry counted while the changelog refused every write")
	}
	if c := commits.Load(); c != 0 {
		t.Fatalf("%d offset commits while every changelog write was refused, want none", c)
	}
	if s := e.Stats().Swipes.Load(); s != 0 {
		t.Fatalf("%d swipes counted as recorded while the changelog refused every write, want 0", s)
	}

	blocked.Store(false)
	waitFor(t, "every swipe recorded", func() bool { return e.Stats().Swipes.Load() == n })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil // for the deferred stop
	if commits.Load() == 0 {
		t.Fatal("no offset commit after the changelog recovered")
	}
	if got, want := int64(len(f.readAll(engine.TopicChangelog))), e.Stats().Changelog.Load(); got != want {
		t.Fatalf("changelog holds %d records, the engine counted %d written", got, want)
	}
}
