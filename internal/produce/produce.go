// Package produce writes a batch of Kafka messages, whatever their topics
// and partitions, in one produce request per leader broker, and waits until
// every in-sync replica has them.
//
// kafka-go's Writer sends one produce request per partition, each from a
// goroutine and over a connection of its own, and a call returns when the
// slowest is acked. The engine's batch writes offers on three channel
// topics, decision events and dead letters, six partitions each: some
// twenty requests where the raw relay writes six, and on a loaded broker
// the slowest of twenty set the engine's latency tail. A Writer sends the
// batch as one request to each leader instead; the broker appends every
// partition and answers once.
package produce

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	meta "github.com/segmentio/kafka-go/protocol/metadata"
	produceapi "github.com/segmentio/kafka-go/protocol/produce"
)

// Defaults of a Writer's zero fields.
const (
	DefaultBatchBytes  = 1 << 20
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 3
)

// layoutTTL is how long a Writer trusts the partition leaders it looked up.
// It reads them from the transport, which caches the cluster's metadata
// and refreshes it on its own (kafka.Transport: every 6 s), so a lookup is
// cheap and this only bounds how long a Writer lags behind the transport.
const layoutTTL = time.Second

// A Writer writes batches of messages. Its zero fields take the defaults;
// Transport, Addr and Balancer must be set. It is safe for concurrent use,
// and concurrent calls go out as concurrent requests.
type Writer struct {
	// Transport carries the requests (a *kafka.Transport; its metadata
	// cache gives the partitions and their leaders). After a refusal that
	// says a leader moved, the Writer drops the transport's connection
	// pools, if it can (CloseIdleConnections), so that the cache is read
	// anew before the partition is sent again (see refresh).
	Transport kafka.RoundTripper
	// Addr is the brokers' bootstrap address.
	Addr net.Addr
	// Balancer picks each message's partition, as for a kafka.Writer.
	Balancer kafka.Balancer
	// BatchBytes caps one partition's records in one request (the
	// broker refuses a batch over the topic's max.message.bytes); a
	// partition with more goes out over several requests, in order.
	BatchBytes int
	// Timeout is how long the broker may wait for the replicas' acks,
	// and the Writer for the broker's answer (plus 5 s).
	Timeout time.Duration
	// MaxAttempts is how often a partition's records are sent before a
	// call fails: a partition the broker refuses with a temporary error
	// (a leader moved, too few replicas) is sent again, alone, after a
	// backoff of 100 ms doubling per attempt.
	MaxAttempts int
	// Retrying, if set, is called before a partition's records are sent
	// again, with why they were not acked.
	Retrying func(topic string, partition int32, err error)

	mu      sync.Mutex
	layout  map[string]*topicLayout
	fetched time.Time
}

// topicLayout is a topic's partitions as the balancer takes them, and the
// leader of each.
type topicLayout struct {
	ids     []int
	leaders []int32
}

// slot is where one message goes.
type slot struct {
	leader    int32
	topic     string
	partition int32
	msg       int   // index in the call's messages
	round     int32 // which request to its leader carries it (see BatchBytes)
}

// WriteMessages writes msgs and returns once every one is acked by all
// in-sync replicas, or with the error of a partition that was not. On an
// error, the partitions that were acked stay written: a caller that
// retries the call writes them again. Each acked message's Partition and
// Offset are set to where the broker put it (a message sent more than
// once, to where its acked copy went).
func (w *Writer) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	slots, err := w.place(ctx, msgs)
	if err != nil {
		return err
	}
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		again, failed := w.send(ctx, msgs, slots)
		if len(failed) == 0 {
			return nil
		}
		// The error returned is one that sending again cannot mend, if
		// there is one.
		err := failed[0].err
		for _, f := range failed {
			if !temporary(f.err) {
				err = f.err
				break
			}
		}
		if attempt >= cmp.Or(w.MaxAttempts, DefaultMaxAttempts) || !temporary(err) || ctx.Err() != nil {
			return err
		}
		if w.Retrying != nil {
			for _, f := range failed {
				w.Retrying(f.topic, f.partition, f.err)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait *= 2
		w.mu.Lock()
		w.fetched = time.Time{}
		w.mu.Unlock()
		if stale(failed) {
			w.refresh()
		}
		layout, err := w.layoutOf(ctx, topicsOf(again, func(s *slot) string { return s.topic }))
		if err == nil {
			err = lead(layout, again)
		}
		if err != nil {
			return err
		}
		slots = again
	}
}

// place picks every message's partition, once for every attempt (a
// balancer may pick at random), and its leader.
func (w *Writer) place(ctx context.Context, msgs []kafka.Message) ([]slot, error) {
	layout, err := w.layoutOf(ctx, topicsOf(msgs, func(m *kafka.Message) string { return m.Topic }))
	if err != nil {
		return nil, err
	}
	slots := make([]slot, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		tl := layout[m.Topic]
		p := w.Balancer.Balance(*m, tl.ids...)
		if p < 0 || p >= len(tl.ids) {
			return nil, fmt.Errorf("produce: the balancer put a message for %s in partition %d of %d", m.Topic, p, len(tl.ids))
		}
		slots[i] = slot{topic: m.Topic, partition: int32(p), msg: i}
	}
	return slots, lead(layout, slots)
}

// lead sets the leader of each slot's partition (-1 if it has none: its
// request fails and is sent again) and orders the slots by leader, topic,
// partition and message; send splits each partition's run into rounds.
func lead(layout map[string]*topicLayout, slots []slot) error {
	for i := range slots {
		s := &slots[i]
		tl := layout[s.topic]
		if int(s.partition) >= len(tl.leaders) {
			return fmt.Errorf("produce: %s has no partition %d: %w", s.topic, s.partition, kafka.UnknownTopicOrPartition)
		}
		s.leader = tl.leaders[s.partition]
	}
	slices.SortFunc(slots, func(a, b slot) int {
		return cmp.Or(cmp.Compare(a.leader, b.leader), cmp.Compare(a.topic, b.topic),
			cmp.Compare(a.partition, b.partition), cmp.Compare(a.msg, b.msg))
	})
	return nil
}

// send writes slots round by round and returns the slots still to write,
// with why the partitions that failed did. A round goes out only
// once the one before is acked, so a partition's records stay in order.
func (w *Writer) send(ctx context.Context, msgs []kafka.Message, slots []slot) ([]slot, []partitionError) {
	limit := cmp.Or(w.BatchBytes, DefaultBatchBytes)
	rounds, size := int32(0), 0
	for i := range slots {
		if i == 0 || slots[i].topic != slots[i-1].topic || slots[i].partition != slots[i-1].partition {
			slots[i].round, size = 0, 0
		} else {
			slots[i].round = slots[i-1].round
		}
		n := recordBytes(&msgs[slots[i].msg])
		if size > 0 && size+n > limit {
			slots[i].round++
			size = 0
		}
		size += n
		rounds = max(rounds, slots[i].round+1)
	}
	now := time.Now()
	for r := range rounds {
		var reqs []request
		for i := 0; i < len(slots); {
			j := i + 1
			for j < len(slots) && slots[j].leader == slots[i].leader {
				j++
			}
			if req := build(msgs, slots[i:j], r, now); req != nil {
				reqs = append(reqs, *req)
			}
			i = j
		}
		w.roundTrip(ctx, reqs)
		var failed []partitionError
		for _, req := range reqs {
			failed = append(failed, req.failed...)
		}
		if len(failed) > 0 {
			bad := make(map[topicPartition]bool, len(failed))
			for _, f := range failed {
				bad[f.topicPartition] = true
			}
			// Again: the failed partitions' records of this round, and
			// every record of the rounds that have not gone out.
			var again []slot
			for _, s := range slots {
				if s.round > r || (s.round == r && bad[topicPartition{s.topic, s.partition}]) {
					again = append(again, s)
				}
			}
			return again, failed
		}
	}
	return nil, nil
}

// request is one produce request to one leader.
type request struct {
	req    *produceapi.Request
	failed []partitionError
}

// placed sets the Partition and Offset of the messages r carried to
// partition p of topic, which the broker appended from offset base on.
// Each request carries its own messages, so requests sent concurrently
// set different ones.
func (r *request) placed(topic string, p int32, base int64) {
	for _, t := range r.req.Topics {
		if t.Topic != topic {
			continue
		}
		for _, rp := range t.Partitions {
			if rp.Partition != p {
				continue
			}
			recs := rp.RecordSet.Records.(*records)
			for i, s := range recs.all {
				m := &recs.msgs[s.msg]
				m.Partition, m.Offset = int(p), base+int64(i)
			}
		}
	}
}

// partitionError is why a partition's records were not acked.
type partitionError struct {
	topicPartition
	err error
}

type topicPartition struct {
	topic     string
	partition int32
}

// build makes the request of one leader's slots (ordered by topic and
// partition) for round r, or returns nil if none is in it.
func build(msgs []kafka.Message, slots []slot, r int32, now time.Time) *request {
	req := &produceapi.Request{Acks: int16(kafka.RequireAll)}
	for i := 0; i < len(slots); {
		j := i
		for j < len(slots) && slots[j].topic == slots[i].topic && slots[j].partition == slots[i].partition {
			j++
		}
		run := slots[i:j]
		i = j
		k := slices.IndexFunc(run, func(s slot) bool { return s.round == r })
		if k < 0 {
			continue
		}
		end := k
		for end < len(run) && run[end].round == r {
			end++
		}
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != run[k].topic {
			req.Topics = append(req.Topics, produceapi.RequestTopic{Topic: run[k].topic})
		}
		t := &req.Topics[len(req.Topics)-1]
		t.Partitions = append(t.Partitions, produceapi.RequestPartition{
			Partition: run[k].partition,
			RecordSet: protocol.RecordSet{Records: &records{msgs: msgs, slots: run[k:end], all: run[k:end], now: now}},
		})
	}
	if len(req.Topics) == 0 {
		return nil
	}
	return &request{req: req}
}

// roundTrip sends reqs, one per leader, concurrently, and records in each
// the partitions that were not acked.
func (w *Writer) roundTrip(ctx context.Context, reqs []request) {
	timeout := cmp.Or(w.Timeout, DefaultTimeout)
	one := func(r *request) {
		r.req.Timeout = int32(timeout.Milliseconds())
		ctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
		defer cancel()
		res, err := w.Transport.RoundTrip(ctx, w.Addr, r.req)
		acked := make(map[topicPartition]bool)
		if err == nil {
			pr, ok := res.(*produceapi.Response)
			if !ok {
				err = fmt.Errorf("produce: answered with %T", res)
			} else {
				for _, t := range pr.Topics {
					for _, p := range t.Partitions {
						if p.ErrorCode != 0 {
							r.failed = append(r.failed, partitionError{topicPartition{t.Topic, p.Partition},
								fmt.Errorf("produce to %s partition %d: %w", t.Topic, p.Partition, kafka.Error(p.ErrorCode))})
						} else {
							r.placed(t.Topic, p.Partition, p.BaseOffset)
						}
						acked[topicPartition{t.Topic, p.Partition}] = true
					}
				}
			}
		}
		for _, t := range r.req.Topics {
			for _, p := range t.Partitions {
				if acked[topicPartition{t.Topic, p.Partition}] {
					continue
				}
				e := err
				if e == nil {
					e = errors.New("no answer for it")
				}
				r.failed = append(r.failed, partitionError{topicPartition{t.Topic, p.Partition},
					fmt.Errorf("produce to %s partition %d: %w", t.Topic, p.Partition, e)})
			}
		}
	}
	if len(reqs) == 1 {
		one(&reqs[0])
		return
	}
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() { one(&reqs[i]) })
	}
	wg.Wait()
}

// stale reports whether a failure says that the leaders the writer sent
// to may have moved: a broker that no longer (or not yet) leads a
// partition, or no answer at all (a broker restarting, a connection
// lost). Other refusals (too few in-sync replicas, a timeout waiting for
// them) come from the right leader.
func stale(failed []partitionError) bool {
	for _, f := range failed {
		var ke kafka.Error
		if !errors.As(f.err, &ke) {
			return true
		}
		switch ke {
		case kafka.NotLeaderForPartition, kafka.LeaderNotAvailable, kafka.UnknownTopicOrPartition:
			return true
		}
	}
	return false
}

// refresh makes the transport read the cluster's metadata again before
// its next request. kafka-go's Transport answers metadata requests from a
// cache it refreshes on a timer (every 6 s by default) and routes each
// produce request to the leader that cache names; it has no call to
// refresh the cache, but CloseIdleConnections drops its connection pools
// (requests in flight keep theirs to the end), and the pool the next
// request makes starts by fetching the metadata. Without it a write after
// a leader moved (a broker restarting in a rolling upgrade) was refused
// on every attempt and failed, and the engine's retries stalled the
// partition until the timer fired.
func (w *Writer) refresh() {
	if t, ok := w.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// temporary reports whether sending again may succeed: a refusal the
// broker calls temporary, or a failure on the way (a connection lost, an
// answer too late, a leader the transport's metadata does not know yet).
func temporary(err error) bool {
	var ke kafka.Error
	if errors.As(err, &ke) {
		return ke.Temporary()
	}
	return true
}

// layoutOf returns the layout of at least topics, looked up again if it is
// older than layoutTTL or lacks one of them.
func (w *Writer) layoutOf(ctx context.Context, topics []string) (map[string]*topicLayout, error) {
	w.mu.Lock()
	layout, fetched := w.layout, w.fetched
	w.mu.Unlock()
	fresh := time.Since(fetched) < layoutTTL
	for _, t := range topics {
		if layout[t] == nil {
			fresh = false
		}
	}
	if fresh {
		return layout, nil
	}
	want := slices.Clone(topics)
	for t := range layout {
		if !slices.Contains(want, t) {
			want = append(want, t)
		}
	}
	res, err := w.Transport.RoundTrip(ctx, w.Addr, &meta.Request{TopicNames: want})
	if err != nil {
		// A pool whose first lookup failed (a refresh while the broker
		// was down) answers every lookup with that failure until its
		// metadata timer fires, up to 6 s after the broker is back: the
		// next lookup starts a new one.
		if ctx.Err() == nil {
			w.refresh()
		}
		return nil, fmt.Errorf("produce: partitions of %v: %w", want, err)
	}
	mr, ok := res.(*meta.Response)
	if !ok {
		return nil, fmt.Errorf("produce: metadata answered with %T", res)
	}
	next := make(map[string]*topicLayout, len(mr.Topics))
	for _, t := range mr.Topics {
		if t.ErrorCode != 0 {
			if slices.Contains(topics, t.Name) {
				return nil, fmt.Errorf("produce: partitions of %s: %w", t.Name, kafka.Error(t.ErrorCode))
			}
			continue
		}
		tl := &topicLayout{ids: make([]int, len(t.Partitions)), leaders: make([]int32, len(t.Partitions))}
		for i := range tl.ids {
			tl.ids[i], tl.leaders[i] = i, -1
		}
		for _, p := range t.Partitions {
			if int(p.PartitionIndex) < len(tl.ids) && p.ErrorCode == 0 {
				tl.leaders[p.PartitionIndex] = p.LeaderID
			}
		}
		next[t.Name] = tl
	}
	for _, t := range topics {
		if next[t] == nil {
			return nil, fmt.Errorf("produce: partitions of %s: %w", t, kafka.UnknownTopicOrPartition)
		}
	}
	w.mu.Lock()
	w.layout, w.fetched = next, time.Now()
	w.mu.Unlock()
	return next, nil
}

// topicsOf returns the topics of xs, each once.
func topicsOf[T any](xs []T, topic func(*T) string) []string {
	topics := make([]string, 0, 4)
	for i := range xs {
		if t := topic(&xs[i]); !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	return topics
}

// recordBytes is about what m takes in a record batch.
func recordBytes(m *kafka.Message) int {
	n := len(m.Key) + len(m.Value) + 24
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value) + 10
	}
	return n
}

// records reads one partition's messages of one request as the protocol
// encodes them, without copying them.
type records struct {
	msgs       []kafka.Message
	slots      []slot    // those not read yet
	all        []slot    // every one, for placed
	now        time.Time // for messages without a time
	rec        protocol.Record
	key, value bytesReader
}

func (r *records) ReadRecord() (*protocol.Record, error) {
	if len(r.slots) == 0 {
		return nil, io.EOF
	}
	m := &r.msgs[r.slots[0].msg]
	r.slots = r.slots[1:]
	r.rec = protocol.Record{Time: m.Time, Headers: m.Headers}
	if r.rec.Time.IsZero() {
		r.rec.Time = r.now
	}
	if m.Key != nil {
		r.key.Reset(m.Key)
		r.rec.Key = &r.key
	}
	if m.Value != nil {
		r.value.Reset(m.Value)
		r.rec.Value = &r.value
	}
	return &r.rec, nil
}

type bytesReader struct{ bytes.Reader }

func (*bytesReader) Close() error { return nil }
