package produce_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aislecast/loyalty/internal/kfaketest"
	"github.com/aislecast/loyalty/internal/produce"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// cluster is an embedded cluster with topics a (6 partitions) and b (3),
// and a log of the produce requests it received.
type cluster struct {
	*kfake.Cluster
	mu       sync.Mutex
	requests []int // the partitions of each produce request
	// intercept, if set, sees each request once it is logged (under mu),
	// as a kfake control function.
	intercept func(*kmsg.ProduceRequest) (resp kmsg.Response, handled bool)
}

func newCluster(t testing.TB, brokers int) *cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(brokers), kfake.SeedTopics(6, "a"), kfake.SeedTopics(3, "b"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl := &cluster{Cluster: c}
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		cl.mu.Lock()
		defer cl.mu.Unlock()
		pr := req.(*kmsg.ProduceRequest)
		n := 0
		for _, t := range pr.Topics {
			n += len(t.Partitions)
		}
		cl.requests = append(cl.requests, n)
		if cl.intercept != nil {
			resp, handled := cl.intercept(pr)
			return resp, nil, handled
		}
		return nil, nil, false
	})
	return cl
}

func (c *cluster) writer(t testing.TB, b kafka.Balancer) *produce.Writer {
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &produce.Writer{Transport: tr, Addr: kafka.TCP(c.ListenAddrs()...), Balancer: b}
}

// produced is how many produce requests arrived, and how many partitions
// they carried in all.
func (c *cluster) produced() (requests, partitions int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.requests {
		partitions += n
	}
	return len(c.requests), partitions
}

// readAll reads n records from topics.
func (c *cluster) readAll(t *testing.T, n int, topics ...string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n && ctx.Err() == nil {
		f := cl.PollFetches(ctx)
		recs = append(recs, f.Records()...)
	}
	// A short poll for records beyond n, which would be duplicates.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	recs = append(recs, cl.PollFetches(ctx2).Records()...)
	if len(recs) != n {
		t.Fatalf("read %d records, want %d", len(recs), n)
	}
	return recs
}

// batch is n messages over topics a and b, keyed by card; every seventh
// has no key, and each carries its place in the batch.
func batch(n int) []kafka.Message {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		m := &msgs[i]
		m.Topic = "a"
		if i%3 == 0 {
			m.Topic = "b"
		}
		if i%7 != 0 {
			m.Key = []byte("card-" + strconv.Itoa(i%40))
		}
		m.Value = []byte(strconv.Itoa(i))
		m.Headers = []kafka.Header{{Key: "seq", Value: []byte(strconv.Itoa(i))}}
	}
	return msgs
}

// checkRead checks that recs are msgs: each keyed one in the partition its
// key hashes to, every partition's in the order of msgs, headers and all.
func checkRead(t *testing.T, msgs []kafka.Message, recs []*kgo.Record) {
	t.Helper()
	last := make(map[string]int)
	seen := make(map[int]bool)
	for _, r := range recs {
		i, err := strconv.Atoi(string(r.Value))
		if err != nil || i < 0 || i >= len(msgs) || seen[i] {
			t.Fatalf("record %q: not one of the batch, or read twice", r.Value)
		}
		seen[i] = true
		m := msgs[i]
		if r.Topic != m.Topic || string(r.Key) != string(m.Key) || (m.Key == nil) != (r.Key == nil) {
			t.Fatalf("message %d read as topic %s key %q, want %s %q", i, r.Topic, r.Key, m.Topic, m.Key)
		}
		if len(r.Headers) != 1 || r.Headers[0].Key != "seq" || string(r.Headers[0].Value) != string(m.Value) {
			t.Fatalf("message %d read with headers %v", i, r.Headers)
		}
		if int32(m.Partition) != r.Partition || m.Offset != r.Offset {
			t.Fatalf("message %d said to be at %d@%d, read at %d@%d", i, m.Partition, m.Offset, r.Partition, r.Offset)
		}
		if time.Since(r.Timestamp) > time.Minute {
			t.Fatalf("message %d read with time %v, want about now", i, r.Timestamp)
		}
		if m.Key != nil {
			n := 6
			if m.Topic == "b" {
				n = 3
			}
			ids := make([]int, n)
			for k := range ids {
				ids[k] = k
			}
			if want := (kafka.Murmur2Balancer{}).Balance(m, ids...); int(r.Partition) != want {
				t.Fatalf("message %d (key %s) in partition %d, want %d as a kafka.Writer puts it", i, m.Key, r.Partition, want)
			}
		}
		tp := fmt.Sprintf("%s/%d", r.Topic, r.Partition)
		if prev, ok := last[tp]; ok && prev > i {
			t.Fatalf("%s: message %d read after %d", tp, i, prev)
		}
		last[tp] = i
	}
}

// A batch for nine partitions of two topics goes out as one request per
// leader broker.
func TestOneRequestPerLeader(t *testing.T) {
	for _, brokers := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d brokers", brokers), func(t *testing.T) {
			c := newCluster(t, brokers)
			w := c.writer(t, &kafka.Murmur2Balancer{})
			msgs := batch(300)
			if err := w.WriteMessages(context.Background(), msgs...); err != nil {
				t.Fatal(err)
			}
			leaders := make(map[int32]bool)
			for _, topic := range []string{"a", "b"} {
				n := map[string]int32{"a": 6, "b": 3}[topic]
				for p := range n {
					leader := c.LeaderFor(topic, p)
					leaders[leader] = true
				}
			}
			if brokers > 1 && len(leaders) < 2 {
				t.Fatalf("every partition led by one of %d brokers: the case tests nothing", brokers)
			}
			requests, partitions := c.produced()
			if requests != len(leaders) || partitions != 9 {
				t.Fatalf("%d requests carrying %d partitions, want one per leader (%d) carrying all 9", requests, partitions, len(leaders))
			}
			checkRead(t, msgs, c.readAll(t, len(msgs), "a", "b"))
		})
	}
}

// A partition's records over BatchBytes go out over several requests, in
// order.
func TestBatchBytes(t *testing.T) {
	c := newCluster(t, 1)
	w := c.writer(t, &kafka.Murmur2Balancer{})
	w.BatchBytes = 1000
	msgs := make([]kafka.Message, 20)
	for i := range msgs {
		msgs[i] = kafka.Message{Topic: "a", Key: []byte("card"), Value: fmt.Appendf(nil, "%d %0200d", i, 0),
			Headers: []kafka.Header{{Key: "seq", Value: []byte(strconv.Itoa(i))}}}
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	// 20 records of about 240 bytes: four to a request.
	if requests, _ := c.produced(); requests != 5 {
		t.Fatalf("%d requests, want 5", requests)
	}
	recs := c.readAll(t, len(msgs), "a")
	for i, r := range recs {
		var seq int
		if _, err := fmt.Sscan(string(r.Value), &seq); err != nil || seq != i {
			t.Fatalf("record %d is message %d", i, seq)
		}
		if m := msgs[i]; int32(m.Partition) != r.Partition || m.Offset != r.Offset {
			t.Fatalf("message %d said to be at %d@%d, read at %d@%d", i, m.Partition, m.Offset, r.Partition, r.Offset)
		}
	}
}

// A partition the broker does not ack is sent again alone, and only what
// was not acked is sent again.
func TestRetriesWhatWasNotAcked(t *testing.T) {
	for _, tc := range []struct {
		name string
		// first handles the first request: it may change it, answer
		// it (handled), or leave it to the broker.
		first func(req *kmsg.ProduceRequest) (resp kmsg.Response, handled bool)
		// second is the partitions the second request must carry.
		second int
	}{
		{"every partition refused as not led", func(req *kmsg.ProduceRequest) (kmsg.Response, bool) {
			return kfaketest.Refuse(req, kerr.NotLeaderForPartition.Code), true
		}, 9},
		{"no answer for a:0", func(req *kmsg.ProduceRequest) (kmsg.Response, bool) {
			for i := range req.Topics {
				if rt := &req.Topics[i]; rt.Topic == "a" {
					rt.Partitions = slices.DeleteFunc(rt.Partitions, func(p kmsg.ProduceRequestTopicPartition) bool { return p.Partition == 0 })
				}
			}
			return nil, false
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 1)
			c.intercept = func(req *kmsg.ProduceRequest) (kmsg.Response, bool) {
				if len(c.requests) > 1 {
					return nil, false
				}
				return tc.first(req)
			}
			w := c.writer(t, &kafka.Murmur2Balancer{})
			retrying := 0
			w.Retrying = func(string, int32, error) { retrying++ }
			msgs := batch(300)
			if err := w.WriteMessages(context.Background(), msgs...); err != nil {
				t.Fatal(err)
			}
			if retrying != tc.second {
				t.Errorf("Retrying called %d times, want once per partition sent again (%d)", retrying, tc.second)
			}
			if requests, partitions := c.produced(); requests != 2 || partitions != 9+tc.second {
				t.Fatalf("%d requests carrying %d partitions, want 2 carrying 9 and %d", requests, partitions, tc.second)
			}
			checkRead(t, msgs, c.readAll(t, len(msgs), "a", "b"))
		})
	}
}

// A refusal that is not temporary fails the call at once; a temporary one
// after MaxAttempts requests.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		err      *kerr.Error
		requests int
	}{
		{kerr.MessageTooLarge, 1},
		{kerr.NotEnoughReplicas, produce.DefaultMaxAttempts},
	} {
		t.Run(tc.err.Message, func(t *testing.T) {
			c := newCluster(t, 1)
			c.intercept = func(req *kmsg.ProduceRequest) (kmsg.Response, bool) {
				return kfaketest.Refuse(req, tc.err.Code), true
			}
			w := c.writer(t, &kafka.Murmur2Balancer{})
			retrying := 0
			w.Retrying = func(string, int32, error) { retrying++ }
			err := w.WriteMessages(context.Background(), batch(30)...)
			if !errors.Is(err, kafka.Error(tc.err.Code)) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			requests, partitions := c.produced()
			if requests != tc.requests {
				t.Fatalf("%d requests, want %d", requests, tc.requests)
			}
			// Every attempt but the last is followed by a retry of every
			// partition.
			if want := partitions / requests * (requests - 1); retrying != want {
				t.Fatalf("Retrying called %d times, want %d", retrying, want)
			}
		})
	}
}

// BenchmarkWrite writes the batch of a swipe or two at a steady 1,000
// swipes/s (30 messages over two topics, nine partitions) and a full
// one (600), through a Writer and through kafka-go's Writer as the engine
// used it, to the embedded broker. requests/op is produce requests per
// batch.
func BenchmarkWrite(b *testing.B) {
	for _, n := range []int{30, 600} {
		for _, side := range []string{"produce.Writer", "kafka.Writer"} {
			b.Run(fmt.Sprintf("batch=%d/%s", n, side), func(b *testing.B) {
				c := newCluster(b, 1)
				tr := &kafka.Transport{}
				defer tr.CloseIdleConnections()
				addr := kafka.TCP(c.ListenAddrs()...)
				var write func(context.Context, ...kafka.Message) error
				if side == "produce.Writer" {
					write = (&produce.Writer{Transport: tr, Addr: addr, Balancer: &kafka.Murmur2Balancer{}}).WriteMessages
				} else {
					kw := &kafka.Writer{Addr: addr, Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll,
						BatchTimeout: time.Nanosecond, BatchSize: n, Transport: tr}
					defer kw.Close()
					write = kw.WriteMessages
				}
				msgs := batch(n)
				ctx := context.Background()
				if err := write(ctx, msgs...); err != nil {
					b.Fatal(err)
				}
				before, _ := c.produced()
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if err := write(ctx, msgs...); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				after, _ := c.produced()
				b.ReportMetric(float64(after-before)/float64(b.N), "requests/op")
			})
		}
	}
}

// Whatever the broker leaves unanswered, a call that succeeds has written
// every message exactly once, each partition's in the order of the call:
// random batches over both topics, records split over several requests
// by a small BatchBytes, and each of the first requests with a random
// set of its partitions dropped before the broker sees it.
func TestUnansweredPartitionsProperty(t *testing.T) {
	for seed := range int64(12) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 1))
			c := newCluster(t, 1+int(seed%2)*2)
			drops := 1 + rng.IntN(4) // requests to cut
			c.intercept = func(req *kmsg.ProduceRequest) (kmsg.Response, bool) {
				if drops == 0 {
					return nil, false
				}
				drops--
				for i := range req.Topics {
					rt := &req.Topics[i]
					rt.Partitions = slices.DeleteFunc(rt.Partitions, func(kmsg.ProduceRequestTopicPartition) bool { return rng.IntN(3) == 0 })
				}
				return nil, false
			}
			w := c.writer(t, &kafka.Murmur2Balancer{})
			w.BatchBytes = 200 + rng.IntN(2000)
			w.MaxAttempts = 10
			msgs := batch(1 + rng.IntN(400))
			if err := w.WriteMessages(context.Background(), msgs...); err != nil {
				t.Fatal(err)
			}
			checkRead(t, msgs, c.readAll(t, len(msgs), "a", "b"))
		})
	}
}

// A write after the leaders of its partitions moved to other brokers goes
// to the new leaders within the call: the writer does not wait for the
// transport's periodic metadata refresh (every 6 s by default, longer
// than the attempts of one call last).
func TestLeadersMoved(t *testing.T) {
	c := newCluster(t, 3)
	w := c.writer(t, &kafka.Murmur2Balancer{})
	msgs := batch(600)
	first, second := msgs[:300], msgs[300:]
	if err := w.WriteMessages(context.Background(), first...); err != nil {
		t.Fatal(err)
	}
	for topic, n := range map[string]int32{"a": 6, "b": 3} {
		for p := range n {
			to := (c.LeaderFor(topic, p) + 1) % 3
			if err := c.MoveTopicPartition(topic, p, to); err != nil {
				t.Fatal(err)
			}
		}
	}
	retrying := 0
	w.Retrying = func(string, int32, error) { retrying++ }
	start := time.Now()
	if err := w.WriteMessages(context.Background(), second...); err != nil {
		t.Fatalf("write after the leaders moved: %v", err)
	}
	t.Logf("write after the leaders moved: %v, %d partitions sent again", time.Since(start).Round(time.Millisecond), retrying)
	if retrying == 0 {
		t.Fatal("no partition was refused: the moves test nothing")
	}
	checkRead(t, msgs, c.readAll(t, len(msgs), "a", "b"))
}

// TestBrokerBack: while the broker does not answer, a write fails, and
// the transport's fresh connection pool, which a failed write makes it
// start, records that its first metadata lookup failed: kafka-go's pool
// then answers every lookup with that failure until its metadata timer
// fires, any time in the next 6 s (a loop of writes 100 ms apart first
// succeeded after 1.6-6.0 s). The first write after the broker answers
// again must succeed.
func TestBrokerBack(t *testing.T) {
	c := newCluster(t, 1)
	w := c.writer(t, &kafka.Murmur2Balancer{})
	msgs := batch(300)
	first, second := msgs[:100], msgs[100:]
	if err := w.WriteMessages(context.Background(), first...); err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool // the broker drops every connection
	var refused atomic.Int32
	down.Store(true)
	c.ControlKey(-1, func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if down.Load() {
			refused.Add(1)
			return nil, errors.New("down"), true // the connection is closed
		}
		return nil, nil, false
	})
	if err := w.WriteMessages(context.Background(), second...); err == nil {
		t.Fatal("a write succeeded while the broker dropped every connection")
	}
	down.Store(false)
	if err := w.WriteMessages(context.Background(), second...); err != nil {
		t.Fatalf("the first write after the broker answered again: %v", err)
	}
	t.Logf("%d requests refused while the broker was down", refused.Load())
	checkRead(t, msgs, c.readAll(t, len(msgs), "a", "b"))
}
