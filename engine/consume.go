package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aislecast/loyalty/internal/backoff"
	"github.com/aislecast/loyalty/internal/groupcommit"
	"github.com/aislecast/loyalty/internal/produce"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// The group's timeouts: a member that has not heartbeated for
// groupSessionTimeout, or has not joined a rebalance within
// groupRebalanceTimeout, is dropped from the group, and its partitions go
// to other members.
const (
	groupSessionTimeout   = 10 * time.Second
	groupRebalanceTimeout = 10 * time.Second
)

// flushGrace is how long the batches in hand may take to publish and
// commit once the partition is released (a rebalance, or shutdown); past
// it the flusher gives up and its writes stop. The member rejoins the
// group only once every partition is released, and sends no heartbeat
// from the generation's end until then (kafka-go), so the group may hand
// the partition to another member once either timeout has run. Writes
// after that would land after the new owner's, and a card's last
// changelog value, which restore trusts, would go back in time: the 15 s
// this was, longer than both, allowed it. Half the shorter timeout leaves
// the rest for a write already on its way. Giving up is safe: the next
// owner replays the uncommitted swipes and re-sends their offers with the
// same ids.
const flushGrace = min(groupSessionTimeout, groupRebalanceTimeout) / 2

// newOffersWriter returns the writer of offers, decision events and dead
// letters. The engine hands it each batch in one call and waits for the
// acks; the call goes out as one produce request per leader broker, however
// many topics and partitions the batch writes to (see package produce).
func (e *Engine) newOffersWriter() *produce.Writer {
	return e.newBatchWriter(&kafka.Murmur2Balancer{})
}

// newChangelogWriter writes each profile to the changelog partition that
// has the number of the swipes partition it came from, whatever the key
// hashes to: that is the partition it will be restored from.
func (e *Engine) newChangelogWriter() *produce.Writer {
	return e.newBatchWriter(samePartition{})
}

// newBatchWriter returns a writer that counts the partitions it sends
// again (a leader moved, a connection was lost); if they still fail, the
// flusher's retry logs it.
func (e *Engine) newBatchWriter(b kafka.Balancer) *produce.Writer {
	return &produce.Writer{
		Transport:  e.cfg.Transport,
		Addr:       kafka.TCP(e.cfg.Brokers...),
		Balancer:   b,
		BatchBytes: writeBatchBytes, // dead letters may be over 1 MiB
		Retrying: func(topic string, partition int32, err error) {
			e.stats.ProduceRetries.Add(1)
			e.log.Debug("sending a partition's records again", zap.String("topic", topic), zap.Int32("partition", partition), zap.Error(err))
		},
	}
}

type samePartition struct{}

func (samePartition) Balance(m kafka.Message, partitions ...int) int { return m.Partition }

// runPartition owns one partition for one generation: it restores the
// partition's profiles from the changelog, then processes swipes batch by
// batch while a flusher publishes and commits the batches before (see
// flusher). It returns when the generation ends (gctx) or the engine stops
// (ctx), after the batches in hand are published and committed.
func (e *Engine) runPartition(ctx, gctx context.Context, gen *kafka.Generation, c *groupcommit.Committer, a kafka.PartitionAssignment) {
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
	store, from, kept, err := e.partitionStore(a.ID, a.Offset)
	n, records := 0, 0
	if err == nil {
		n, records, err = e.restore(stop, a.ID, store, from)
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
	if kept {
		e.stats.Resumed.Add(1)
		log.Info("resumed with the profiles kept from the last generation", zap.Int("profiles", n), zap.Int64("from offset", from),
			zap.Int("records replayed", records), zap.Duration("took", time.Since(start)))
	} else {
		e.stats.Restored.Add(int64(n))
		log.Info("restored", zap.Int("profiles", n), zap.Duration("took", time.Since(start)))
	}
	e.mu.Lock()
	e.owned[a.ID] = store
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.owned, a.ID)
		e.mu.Unlock()
	}()
	if ms, ok := store.(*memStore); ok {
		go e.compact(stop, ms, log)
	}

	p := NewPipeline(a.ID, e.rules.Load(), store, e.cfg.Limits, e.cfg.Clock, log)
	p.SetMaxOffersPerChannel(e.cfg.MaxOffersPerChannel)
	p.SetSendExpired(e.cfg.SendExpired)
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

	f := e.startFlusher(stop, c, a.ID, store, log)
	e.process(p, msgs, f)
	if err := f.wait(); err != nil {
		log.Error("batch not committed; dropping the partition's state so it is rebuilt from the changelog", zap.Error(err))
		e.budgets.rollback(a.ID)
		return
	}
	committed := a.Offset
	if f.committed > 0 {
		committed = f.committed
	}
	e.release(a.ID, store, committed, ctx.Err() != nil, log)
}

// process runs the swipes of msgs through p batch by batch until msgs is
// closed or the flusher fails, handing each batch to the flusher. A batch
// ends when the flusher is ready for it and no swipe is waiting, or when it
// holds MaxBatch swipes: while the flusher publishes one batch the next one
// grows, so batches are as small as the brokers' round trips allow (low
// latency) and as large as a backlog needs (high throughput).
func (e *Engine) process(p *Pipeline, msgs <-chan kafka.Message, f *flusher) {
	defer f.closeInput()
	// take adds a received swipe to the batch; once msgs is closed it
	// hands the batch in hand over and reports false.
	take := func(m *kafka.Message, ok bool) bool {
		if !ok {
			f.handOff(p)
			return false
		}
		if p.Len() == 0 {
			p.SetRules(e.rules.Load())
		}
		p.Process(m)
		return true
	}
	for {
		if p.Len() >= e.cfg.MaxBatch {
			if !f.handOff(p) {
				return
			}
			continue
		}
		// Swipes already fetched go into the batch first.
		select {
		case m, ok := <-msgs:
			if !take(&m, ok) {
				return
			}
			continue
		default:
		}
		var ready <-chan struct{}
		if p.Len() > 0 {
			ready = f.idle
		}
		select {
		case m, ok := <-msgs:
			if !take(&m, ok) {
				return
			}
		case <-ready:
			if !f.send(p) {
				return
			}
		case <-f.ctx.Done():
			return
		}
	}
}

// A flusher publishes one partition's batches in two stages, each a
// goroutine, so that the pipeline processes the next batch while the last
// ones are written. The order is the one that makes a crash at any point
// harmless, per batch and across batches:
//
//  1. publish: offers and dead letters, acked by all replicas;
//  2. record: the changed profiles to the changelog, acked, then the
//     offset commit.
//
// A batch reaches record only once its offers are acked, batches move
// through each stage in order, and record commits an offset only after the
// changelog of every batch up to it is acked, so a commit never passes an
// unacked write. Batch n+1's offers may be published before batch n's
// profiles are recorded: after a crash both batches are replayed from the
// last commit, re-sending their offers with the same offer ids, and the
// profiles' applied offsets keep every swipe from counting twice.
//
// When record finds several batches waiting it writes them as one: the last
// value of each card, then one commit. Commits lag behind by the batches in
// flight (at most a few, each at most MaxBatch swipes); a crash costs
// re-reading those swipes, which the applied offsets skip.
type flusher struct {
	e       *Engine
	commits *groupcommit.Committer
	id      int
	store   Store // told what reached the changelog (a store on disk writes it then)
	log     *zap.Logger
	// ctx bounds every write: it ends flushGrace after the partition's
	// ownership ends, or at the first failure (its cause).
	ctx  context.Context
	fail context.CancelCauseFunc

	idle   chan struct{} // publish waits for a batch
	work   chan *unit    // the batch for publish
	noMore chan struct{} // the pipeline hands over no more batches
	acked  chan *unit    // batches whose offers are acked, for record
	free   chan *unit    // recorded batches, for reuse
	done   chan struct{} // both stages returned

	seen   map[string]struct{} // record: cards already in a merged changelog write
	merged []kafka.Message
	// committed is the swipe offset record last committed (or tried to:
	// a commit may fail), 0 before the first; read once done is closed.
	committed int64
}

// unit is a batch on its way through the flusher.
type unit struct {
	b  *batch
	cl []kafka.Message
}

// inFlight is how many batches may be queued for record besides the one
// publish holds and the one the pipeline fills.
const inFlight = 4

func (e *Engine) startFlusher(stop context.Context, c *groupcommit.Committer, id int, store Store, log *zap.Logger) *flusher {
	ctx, fail := context.WithCancelCause(context.Background())
	f := &flusher{
		e: e, commits: c, id: id, store: store, log: log, ctx: ctx, fail: fail,
		idle:   make(chan struct{}),
		work:   make(chan *unit, 1),
		noMore: make(chan struct{}),
		acked:  make(chan *unit, inFlight),
		free:   make(chan *unit, inFlight+2),
		done:   make(chan struct{}),
		seen:   make(map[string]struct{}),
	}
	go func() {
		select {
		case <-stop.Done():
			t := time.NewTimer(flushGrace)
			defer t.Stop()
			select {
			case <-t.C:
				fail(fmt.Errorf("not flushed within %v after the partition was released", flushGrace))
			case <-f.done:
			}
		case <-f.done:
		}
	}()
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		f.record()
	}()
	go func() {
		defer close(f.done)
		f.publish()
		<-recorded
	}()
	return f
}

// send ends p's batch and gives it to publish, which has just said it is
// idle. It reports false if the batch could not be ended.
func (f *flusher) send(p *Pipeline) bool {
	_, cl, err := p.EndBatch()
	if err != nil {
		f.fail(err)
		return false
	}
	var u *unit
	select {
	case u = <-f.free:
	default:
		u = &unit{b: newBatch()}
	}
	// The filled batch leaves with the unit; the pipeline goes on with the
	// unit's empty one.
	u.b, p.b = p.b, u.b
	u.cl, p.cl = cl, u.cl[:0]
	p.StartBatch()
	f.work <- u
	return true
}

// handOff waits until publish is idle and sends p's batch, if it has one.
// It reports false if the flusher failed first.
func (f *flusher) handOff(p *Pipeline) bool {
	if p.Len() == 0 {
		return true
	}
	select {
	case <-f.idle:
		return f.send(p)
	case <-f.ctx.Done():
		return false
	}
}

// closeInput tells the flusher that no batch follows.
func (f *flusher) closeInput() { close(f.noMore) }

// wait waits until every batch handed over is recorded, or the flusher
// failed, and returns the failure.
func (f *flusher) wait() error {
	<-f.done
	err := context.Cause(f.ctx)
	f.fail(nil)
	return err
}

// publish is stage 1: it writes each batch's offers and dead letters and
// passes the batch on once they are acked.
func (f *flusher) publish() {
	defer close(f.acked)
	for {
		select {
		case f.idle <- struct{}{}:
		case <-f.noMore:
			return
		case <-f.ctx.Done():
			return
		}
		var u *unit
		select {
		case u = <-f.work:
		case <-f.ctx.Done():
			return
		}
		if err := f.e.retry(f.ctx, "publish offers", func() error { return f.e.offersW.WriteMessages(f.ctx, u.b.out...) }); err != nil {
			f.fail(err)
			return
		}
		f.e.budgetsPublished(u.b.out)
		select {
		case f.acked <- u:
		case <-f.ctx.Done():
			return
		}
	}
}

// record is stage 2: it writes the changelog of every acked batch waiting,
// then asks for the offset after the last one to be committed. It does not
// wait for the commit: a commit only tells where to resume after a crash
// or a rebalance, and waiting for it held up the batches behind (on a busy
// broker a commit took 20-80 ms, and record fell so far behind that
// publish stopped). Commits stay in order, each after the changelog it
// covers is acked. Once no batch follows, record commits the last offset
// and waits for it, so that the partition is released committed.
func (f *flusher) record() {
	var us []*unit
	for {
		u, ok := <-f.acked
		if !ok {
			if f.committed > 0 {
				if err := f.commits.Commit(f.id, f.committed); err != nil {
					f.log.Warn("commit", zap.Int64("offset", f.committed), zap.Error(err))
				}
			}
			return
		}
		us = append(us[:0], u)
	more:
		for {
			select {
			case u, ok := <-f.acked:
				if !ok {
					break more
				}
				us = append(us, u)
			default:
				break more
			}
		}
		cl := f.changelog(us)
		if err := f.e.retry(f.ctx, "write changelog", func() error { return f.e.changelogW.WriteMessages(f.ctx, cl...) }); err != nil {
			f.fail(err)
			return
		}
		if err := f.e.committed(f.id, f.store, cl); err != nil {
			f.fail(err)
			return
		}
		for _, u := range us {
			f.e.stats.add(u.b)
		}
		f.e.stats.Changelog.Add(int64(len(cl)))
		for i := range cl {
			f.e.stats.ChangeB.Add(int64(len(cl[i].Key) + len(cl[i].Value)))
		}
		next := us[len(us)-1].b.next
		f.commits.Request(f.id, next)
		f.committed = next
		f.e.ready.Store(true)
		for _, u := range us {
			u.b.reset()
			clear(u.cl)
			select {
			case f.free <- u:
			default:
			}
		}
	}
}

// changelog returns the changelog records of us: for one batch its
// records, for several the record of each card from the latest batch that
// has one (restore keeps only the last value of a card anyway).
func (f *flusher) changelog(us []*unit) []kafka.Message {
	if len(us) == 1 {
		return us[0].cl
	}
	clear(f.seen)
	clear(f.merged)
	f.merged = f.merged[:0]
	for i := len(us) - 1; i >= 0; i-- {
		for _, m := range us[i].cl {
			if _, ok := f.seen[string(m.Key)]; !ok {
				f.seen[string(m.Key)] = struct{}{}
				f.merged = append(f.merged, m)
			}
		}
	}
	return f.merged
}

// retry runs write until it succeeds or ctx ends, backing off up to 5 s and
// marking the engine not ready while it fails.
func (e *Engine) retry(ctx context.Context, what string, write func() error) error {
	err := backoff.Retry(ctx, 100*time.Millisecond, 5*time.Second, write, func(err error, wait time.Duration) {
		e.ready.Store(false)
		e.log.Warn(what+" failed; retrying", zap.Duration("backoff", wait), zap.Error(err))
	})
	if err != nil {
		e.ready.Store(false)
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
