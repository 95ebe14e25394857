package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// flushGrace is how long a batch in hand may take to publish and commit
// after shutdown or revocation was asked for.
const flushGrace = 15 * time.Second

func newOffersWriter(cfg Config) *kafka.Writer {
	w := &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		BatchSize:    10000,
		BatchBytes:   writeBatchBytes, // dead letters may be over 1 MiB
		MaxAttempts:  3,
		Transport:    cfg.Transport,
	}
	return w
}

// newChangelogWriter writes each profile to the changelog partition that
// has the number of the swipes partition it came from, whatever the key
// hashes to: that is the partition it will be restored from.
func newChangelogWriter(cfg Config) *kafka.Writer {
	w := newOffersWriter(cfg)
	w.Balancer = samePartition{}
	return w
}

type samePartition struct{}

func (samePartition) Balance(m kafka.Message, partitions ...int) int { return m.Partition }

// runPartition owns one partition for one generation: it restores the
// partition's profiles from the changelog, then processes swipes batch by
// batch, each batch published and committed before the next one starts.
// It returns when the generation ends (gctx) or the engine stops (ctx),
// after finishing the batch in hand.
func (e *Engine) runPartition(ctx, gctx context.Context, gen *kafka.Generation, a kafka.PartitionAssignment) {
	stop, cancel := context.WithCancel(gctx)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
			cancel()
		case <-stop.Done():
		}
	}()
	log := e.log.With(zap.Int("partition", a.ID), zap.Int32("generation", gen.ID))

	start := time.Now()
	store, from, err := e.partitionStore(a.ID)
	n := 0
	if err == nil {
		n, err = e.restore(stop, a.ID, store, from)
	}
	if err == nil {
		err = e.restoreBudgets(stop)
	}
	e.restoring.Add(-1)
	if err != nil {
		if stop.Err() == nil {
			log.Error("restore failed; leaving the generation so the partition is retried", zap.Error(err))
		}
		return
	}
	log.Info("restored", zap.Int("profiles", n), zap.Duration("took", time.Since(start)))
	e.mu.Lock()
	e.owned[a.ID] = store
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.owned, a.ID)
		e.mu.Unlock()
	}()

	p := NewPipeline(a.ID, e.rules.Load(), store, e.cfg.Limits, e.cfg.Clock, log)
	p.SetMaxOffersPerChannel(e.cfg.MaxOffersPerChannel)
	p.SetPolicy(&e.policy)
	p.SetBudgets(e.budgets)
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   e.cfg.Brokers,
		Dialer:    e.cfg.Dialer,
		Topic:     TopicSwipes,
		Partition: a.ID,
		MinBytes:  1,
		MaxBytes:  16 << 20,
		MaxWait:   500 * time.Millisecond,
		ErrorLogger: kafka.LoggerFunc(func(f string, args ...any) {
			log.Debug(fmt.Sprintf(f, args...))
		}),
	})
	defer r.Close()
	if err := r.SetOffset(a.Offset); err != nil {
		log.Error("set offset", zap.Int64("offset", a.Offset), zap.Error(err))
		return
	}

	msgs := make(chan kafka.Message, e.cfg.MaxBatch)
	go func() {
		defer close(msgs)
		for {
			m, err := r.FetchMessage(stop)
			if err != nil {
				if stop.Err() != nil || errors.Is(err, io.EOF) {
					return
				}
				log.Warn("fetch", zap.Error(err))
				if !sleep(stop, time.Second) {
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

	for {
		m, ok := <-msgs
		if !ok {
			e.release(a.ID, store, log)
			return
		}
		p.SetRules(e.rules.Load())
		p.StartBatch()
		p.Process(&m)
	fill:
		for p.Len() < e.cfg.MaxBatch {
			select {
			case m, ok := <-msgs:
				if !ok {
					break fill
				}
				p.Process(&m)
			default:
				break fill
			}
		}
		if err := e.flush(stop, gen, p); err != nil {
			log.Error("batch not committed; dropping the partition's state so it is rebuilt from the changelog", zap.Error(err))
			return
		}
	}
}

// flush publishes a processed batch in the order that makes a crash at any
// point harmless: offers, dead letters and budget spend (acked), then the changed
// profiles to the changelog (acked), then the offset commit. Each step is
// retried while the partition is owned; once ownership is ending, the
// batch gets flushGrace to finish.
func (e *Engine) flush(stop context.Context, gen *kafka.Generation, p *Pipeline) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop.Done():
			t := time.NewTimer(flushGrace)
			defer t.Stop()
			select {
			case <-t.C:
				cancel()
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
	}()

	out, cl, err := p.EndBatch()
	if err != nil {
		return err
	}
	if err := e.retry(ctx, "publish offers", func() error { return e.offersW.WriteMessages(ctx, out...) }); err != nil {
		return err
	}
	if err := e.retry(ctx, "write changelog", func() error { return e.changelogW.WriteMessages(ctx, cl...) }); err != nil {
		return err
	}
	if err := e.committed(ctx, p.id, p.store); err != nil {
		return err
	}
	b := p.b
	st := &e.stats
	st.Swipes.Add(int64(b.n))
	st.Applied.Add(b.applied)
	st.Duplicates.Add(b.dups)
	st.Replayed.Add(b.replays)
	st.RuleErrors.Add(b.errs)
	st.Offers.Add(b.offers)
	st.Changelog.Add(int64(len(cl)))
	for i := range cl {
		st.ChangeB.Add(int64(len(cl[i].Key) + len(cl[i].Value)))
	}
	var dlq int64
	for _, n := range b.byReason {
		dlq += n
	}
	st.DLQ.Add(dlq)
	st.merge(b)
	// A failed commit is harmless: the next owner re-reads these swipes and
	// skips them by the profiles' applied offsets.
	if err := gen.CommitOffsets(map[string]map[int]int64{TopicSwipes: {p.id: b.next}}); err != nil {
		e.log.Warn("commit", zap.Int("partition", p.id), zap.Int64("offset", b.next), zap.Error(err))
	}
	e.ready.Store(true)
	return nil
}

// retry runs write until it succeeds or ctx ends, backing off up to 5 s and
// marking the engine not ready while it fails.
func (e *Engine) retry(ctx context.Context, what string, write func() error) error {
	backoff := 100 * time.Millisecond
	for {
		err := write()
		if err == nil {
			return nil
		}
		e.ready.Store(false)
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		e.log.Warn(what+" failed; retrying", zap.Duration("backoff", backoff), zap.Error(err))
		if !sleep(ctx, backoff) {
			return fmt.Errorf("%s: %w", what, err)
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
