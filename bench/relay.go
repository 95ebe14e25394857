package bench

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/internal/backoff"
	"github.com/aislecast/loyalty/internal/groupcommit"
	"github.com/segmentio/kafka-go"
)

// relay is the baseline: a raw kafka-go relay that does with the broker
// exactly what the engine does and nothing else. It joins a consumer group
// on swipes with the engine's group settings, runs one reader per assigned
// partition with the engine's fetch settings, takes what has arrived (up
// to maxBatch swipes) as a batch, writes one message per swipe to
// offers.mobile with one WriteMessages call (with the engine's writer
// settings: murmur2, all acks, no linger, requests of at most maxBatch
// messages), retries a failed write as the engine does, and commits the
// batch's offsets through the generation, grouped with the other
// partitions' commits as the engine does (see package groupcommit). It
// does not pipeline: the next batch is taken once the last one is
// committed. The engine's figure over the relay's is the
// engine's own cost: decoding, profiles, rules, offers and the changelog.
type relay struct {
	brokers   []string
	group     string
	maxBatch  int
	transport *kafka.Transport
	committed atomic.Int64 // swipes relayed and committed
	assigned  atomic.Bool  // the group has handed out partitions
}

func newRelay(b *Broker, group string, maxBatch int) *relay {
	return &relay{brokers: b.Addrs, group: group, maxBatch: maxBatch, transport: &kafka.Transport{}}
}

// run relays until ctx is done.
func (r *relay) run(ctx context.Context) error {
	defer r.transport.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:         kafka.TCP(r.brokers...),
		Topic:        loyalty.OfferTopic(loyalty.ChannelMobile),
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Nanosecond,
		BatchSize:    r.maxBatch,
		BatchBytes:   16 << 20,
		MaxAttempts:  3,
		Transport:    r.transport,
	}
	defer w.Close()
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                r.group,
		Brokers:           r.brokers,
		Topics:            []string{engine.TopicSwipes},
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  time.Second,
	})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		cg.Close()
	}()
	for {
		gen, err := cg.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			continue // kafka-go backs off between join attempts
		}
		c := groupcommit.New(gen, engine.TopicSwipes, nil)
		for _, a := range gen.Assignments[engine.TopicSwipes] {
			wg.Add(1)
			gen.Start(func(gctx context.Context) {
				defer wg.Done()
				r.partition(ctx, gctx, c, w, a)
			})
		}
		r.assigned.Store(true)
	}
}

func (r *relay) partition(ctx, gctx context.Context, c *groupcommit.Committer, w *kafka.Writer, a kafka.PartitionAssignment) {
	stop, cancel := context.WithCancel(gctx)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
			cancel()
		case <-stop.Done():
		}
	}()
	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   r.brokers,
		Topic:     engine.TopicSwipes,
		Partition: a.ID,
		MinBytes:  1,
		MaxBytes:  16 << 20,
		MaxWait:   500 * time.Millisecond,
	})
	defer rd.Close()
	if err := rd.SetOffset(a.Offset); err != nil {
		return
	}
	msgs := make(chan kafka.Message, r.maxBatch)
	go func() {
		defer close(msgs)
		for {
			m, err := rd.FetchMessage(stop)
			if err != nil {
				if stop.Err() != nil || errors.Is(err, io.EOF) {
					return
				}
				if !backoff.Sleep(stop, time.Second) {
					return
				}
				continue
			}
			select {
			case msgs <- m:
			case <-stop.Done():
				return
			}
		}
	}()
	out := make([]kafka.Message, 0, r.maxBatch)
	var pending int64 // relayed, not yet committed
	for {
		m, ok := <-msgs
		if !ok {
			return
		}
		out = append(out[:0], kafka.Message{Key: m.Key, Value: m.Value})
		next := m.Offset + 1
	fill:
		for len(out) < r.maxBatch {
			select {
			case m, ok := <-msgs:
				if !ok {
					break fill
				}
				out = append(out, kafka.Message{Key: m.Key, Value: m.Value})
				next = m.Offset + 1
			default:
				break fill
			}
		}
		if backoff.Retry(stop, 100*time.Millisecond, 5*time.Second, func() error { return w.WriteMessages(stop, out...) }, nil) != nil {
			return
		}
		pending += int64(len(out))
		// As in the engine, a failed commit is left to the next one.
		if err := c.Commit(a.ID, next); err == nil {
			r.committed.Add(pending)
			pending = 0
		}
	}
}
