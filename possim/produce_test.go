package possim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestProduceThroughBroker sends a feed through an embedded broker with
// the writer settings swipegen uses and reads every message back.
func TestProduceThroughBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "swipes"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	w := &kafka.Writer{
		Addr:         kafka.TCP(cluster.ListenAddrs()...),
		Topic:        "swipes",
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		BatchSize:    MaxBatch,
		BatchBytes:   4 << 20,
		Compression:  kafka.Snappy, // carries an oversized value under the broker's 1 MiB limit
	}
	defer w.Close()
	g := New(Config{Seed: 1, Cards: 300, BadFraction: 0.05})
	sent := map[string]int{}     // key and value → copies sent
	fault := map[string]string{} // key and value → Message.Bad
	bad := 0
	n, err := Produce(ctx, w, g, 2000, 0, func(m Message) {
		k := string(m.Key) + "\x00" + string(m.Value)
		sent[k]++
		fault[k] = m.Bad
		if m.Bad != "" {
			bad++
		}
	})
	if err != nil || n != 2000 {
		t.Fatalf("Produce sent %d: %v", n, err)
	}
	// The feed is too short for an oversized fault; send one by itself.
	og := New(Config{Seed: 1, BadFraction: 1, Faults: []string{FaultOversized}})
	var over Message
	for over.Bad == "" {
		over = og.Next()
	}
	if err := w.WriteMessages(ctx, kafka.Message{Key: over.Key, Value: over.Value}); err != nil {
		t.Fatalf("writing a %d-byte value: %v", len(over.Value), err)
	}
	sent[string(over.Key)+"\x00"+string(over.Value)]++

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     cluster.ListenAddrs(),
		Topic:       "swipes",
		GroupID:     "possim-test",
		StartOffset: kafka.FirstOffset,
		MinBytes:    1,
		MaxBytes:    8 << 20,
		MaxWait:     250 * time.Millisecond,
	})
	defer r.Close()
	partitionOf := map[string]int{}
	for read := 0; read < n+1; read++ {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("after reading %d of %d: %v", read, n+1, err)
		}
		k := string(m.Key) + "\x00" + string(m.Value)
		if sent[k] == 0 {
			t.Fatalf("read a message that was not sent (or too often): key %s, %.200s", m.Key, m.Value)
		}
		sent[k]--
		if p, ok := partitionOf[string(m.Key)]; ok && p != m.Partition {
			t.Fatalf("key %s in partitions %d and %d", m.Key, p, m.Partition)
		}
		partitionOf[string(m.Key)] = m.Partition
		if _, ok := fault[k]; ok && fault[k] == "" {
			var s loyalty.Swipe
			if err := json.Unmarshal(m.Value, &s); err != nil || s.CardID != string(m.Key) {
				t.Fatalf("good swipe under key %s: card %s, %v", m.Key, s.CardID, err)
			}
		}
		if len(m.Value) > MaxValueBytes && !bytes.Equal(m.Value, over.Value) {
			t.Fatal("oversized value changed on the way")
		}
	}
	partitions := map[int]bool{}
	for _, p := range partitionOf {
		partitions[p] = true
	}
	t.Logf("read back %d messages (%d bad, one of %d bytes) with %d keys over %d partitions", n+1, bad+1, len(over.Value), len(partitionOf), len(partitions))
	if len(partitions) != 6 {
		t.Errorf("keys spread over %d partitions, want all 6", len(partitions))
	}
}

// recorder is a Writer that keeps the batch sizes it was given.
type recorder struct {
	batches []int
	err     error
}

func (r *recorder) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	r.batches = append(r.batches, len(msgs))
	return r.err
}

func TestProduceBatches(t *testing.T) {
	var w recorder
	n, err := Produce(context.Background(), &w, New(Config{Seed: 1}), 2500, 0, nil)
	if err != nil || n != 2500 {
		t.Fatalf("sent %d: %v", n, err)
	}
	if want := []int{1000, 1000, 500}; !equalInts(w.batches, want) {
		t.Errorf("batches %v, want %v", w.batches, want)
	}
}

// timeRecorder is a Writer that keeps the messages' timestamps.
type timeRecorder struct{ times []time.Time }

func (r *timeRecorder) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	for _, m := range msgs {
		r.times = append(r.times, m.Time)
	}
	return nil
}

// With Config.Timestamps each message carries the simulated time it is
// sent at: never before its swipe's event time, and later for a late
// swipe. Without, the writer's clock is left to stamp it.
func TestProduceTimestamps(t *testing.T) {
	var w timeRecorder
	var seen []Message
	if _, err := Produce(context.Background(), &w, New(Config{Seed: 1, Timestamps: true}), 5000, 0, func(m Message) { seen = append(seen, m) }); err != nil {
		t.Fatal(err)
	}
	late := 0
	for i, m := range seen {
		if m.Swipe == nil {
			continue
		}
		sent := w.times[i]
		if sent.Before(m.Swipe.TS) {
			t.Fatalf("message %d stamped %s, before its event time %s", i, sent, m.Swipe.TS)
		}
		if m.Late {
			late++
			if sent.Sub(m.Swipe.TS) < time.Hour {
				t.Fatalf("late message %d stamped %s after its event time", i, sent.Sub(m.Swipe.TS))
			}
		}
	}
	if late == 0 {
		t.Fatal("no late swipe among 5000: the test tests nothing")
	}
	var plain timeRecorder
	if _, err := Produce(context.Background(), &plain, New(Config{Seed: 1}), 10, 0, nil); err != nil {
		t.Fatal(err)
	}
	for _, ts := range plain.times {
		if !ts.IsZero() {
			t.Fatalf("message stamped %s without Config.Timestamps", ts)
		}
	}
}

func TestProduceRate(t *testing.T) {
	var w recorder
	var seen []Message
	start := time.Now()
	n, err := Produce(context.Background(), &w, New(Config{Seed: 1}), 300, 2000, func(m Message) { seen = append(seen, m) })
	elapsed := time.Since(start)
	if err != nil || n != 300 || len(seen) != 300 {
		t.Fatalf("sent %d, saw %d: %v", n, len(seen), err)
	}
	// 300 messages at 2000/s take 150 ms; sent per tick, not one call each.
	if elapsed < 100*time.Millisecond {
		t.Errorf("300 messages at 2000/s took only %v", elapsed)
	}
	if len(w.batches) > 60 {
		t.Errorf("%d WriteMessages calls for 300 messages: not batched per tick", len(w.batches))
	}
	want := New(Config{Seed: 1})
	for i, m := range seen {
		if !bytes.Equal(m.Value, want.Next().Value) {
			t.Fatalf("onSent message %d out of order", i)
		}
	}
}

func TestProduceStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var w recorder
	stop := 0
	n, err := Produce(ctx, &w, New(Config{Seed: 1}), 0, 0, func(Message) {
		if stop++; stop == 5000 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || n != 5000 {
		t.Errorf("forever run stopped after %d with %v, want 5000 and context.Canceled", n, err)
	}

	w.err = errors.New("broker down")
	if n, err := Produce(context.Background(), &w, New(Config{Seed: 1}), 10, 0, nil); n != 0 || !errors.Is(err, w.err) {
		t.Errorf("failed write: sent %d, %v", n, err)
	}
	if _, err := Produce(context.Background(), &w, New(Config{Seed: 1}), -1, 0, nil); err == nil {
		t.Error("negative count accepted")
	}
}

// TestProduceTooLarge checks that a writer that cannot carry an oversized
// fault gets an error that says what to do.
func TestProduceTooLarge(t *testing.T) {
	w := &kafka.Writer{Addr: kafka.TCP("127.0.0.1:1"), Topic: "swipes"} // fails before dialling
	g := New(Config{Seed: 1, BadFraction: 1, Faults: []string{FaultOversized}})
	for range OversizedEvery - 1 {
		g.Next()
	}
	_, err := Produce(context.Background(), w, g, 1, 0, nil)
	var tooLarge kafka.MessageTooLargeError
	if !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), "BatchBytes") {
		t.Errorf("got %v, want a MessageTooLargeError that mentions BatchBytes", err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
