package backtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aislecast/loyalty/engine"
	"github.com/segmentio/kafka-go"
)

// Record is one Kafka message as a JSON line: what offerctl tail prints,
// swipegen --out writes and a file Source reads. Value is the message
// itself when it is JSON (swipes, offers), else a JSON string of its bytes.
type Record struct {
	Topic     string            `json:"topic"`
	Partition int               `json:"partition"`
	Offset    int64             `json:"offset"`
	Time      time.Time         `json:"time"`
	Key       string            `json:"key"`
	Headers   map[string]string `json:"headers,omitempty"`
	Value     json.RawMessage   `json:"value"`
}

// NewRecord returns the record of m.
func NewRecord(m *kafka.Message) Record {
	r := Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Time: m.Time, Key: string(m.Key)}
	if json.Valid(m.Value) {
		r.Value = m.Value
	} else {
		r.Value, _ = json.Marshal(string(m.Value))
	}
	if len(m.Headers) > 0 {
		r.Headers = make(map[string]string, len(m.Headers))
		for _, h := range m.Headers {
			r.Headers[h.Key] = string(h.Value)
		}
	}
	return r
}

// value is the message bytes the record holds.
func (r *Record) value() []byte {
	var s string
	if len(r.Value) > 0 && r.Value[0] == '"' && json.Unmarshal(r.Value, &s) == nil {
		return []byte(s)
	}
	return r.Value
}

// fileSource reads a history file; see NewFileSource.
type fileSource struct {
	r *bufio.Reader
	n int64 // offset of the next message
}

// NewFileSource returns a Source of the JSON lines in r, each one message
// of the swipes topic in the order the point of sale sent them: either a
// Record (a line of offerctl tail swipes or swipegen --out), whose key,
// value and time are used, or a bare swipe object (a line with a "v" field,
// or without a "value" one), keyed by its card_id and sent at its own ts.
// Blank lines are skipped. A line that is not JSON is a malformed swipe,
// dead-lettered like the engine would. The messages are numbered from 0 in
// file order, as one partition's offsets: a file is one partition, which is
// equivalent to the live engine's partitions because every decision but a
// budget's depends only on the card's own swipes, in their order, and
// budgets are replayed in the order the swipes were sent (see Run).
func NewFileSource(r io.Reader) Source {
	return &fileSource{r: bufio.NewReaderSize(r, 1<<16)}
}

func (f *fileSource) Next(context.Context) (kafka.Message, error) {
	for {
		line, err := f.r.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			return kafka.Message{}, err // io.EOF at the end
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return kafka.Message{}, err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		m := kafka.Message{Topic: engine.TopicSwipes, Offset: f.n}
		// A swipe may carry a "value" field of its own (unknown fields
		// are allowed), but never lacks "v", which a record never has.
		var rec struct {
			Record
			V json.RawMessage `json:"v"`
		}
		if line[0] == '{' && json.Unmarshal(line, &rec) == nil && rec.Value != nil && rec.V == nil {
			m.Key, m.Value, m.Time = []byte(rec.Key), rec.value(), rec.Time
		} else {
			m.Value = line
			var id struct {
				CardID string `json:"card_id"`
			}
			if json.Unmarshal(line, &id) == nil {
				m.Key = []byte(id.CardID)
			}
		}
		f.n++
		return m, nil
	}
}

func (f *fileSource) Close() error { return nil }

// SentAt is the simulated clock of a replay at message m: the time m was
// sent (its Kafka timestamp), else the event time of the swipe it holds,
// else prev. A message without either fails decoding on grounds that do
// not depend on the clock (bad JSON, no or bad ts), so prev only has to be
// something.
func SentAt(m *kafka.Message, prev time.Time) time.Time {
	if !m.Time.IsZero() {
		return m.Time
	}
	var ev struct {
		TS string `json:"ts"`
	}
	if json.Unmarshal(m.Value, &ev) == nil {
		if t, err := time.Parse(time.RFC3339Nano, ev.TS); err == nil {
			return t
		}
	}
	return prev
}

// topicSource reads one partition up to the end it had when opened.
type topicSource struct {
	r    *kafka.Reader
	next int64 // offset of the next message
	end  int64 // offset after the last message to read
}

// TopicSources returns one Source per partition of topic on brokers, each
// reading the partition from its first offset to the end it had at the
// call, and the number of messages they will yield in all. dialer may be
// nil.
func TopicSources(ctx context.Context, brokers []string, topic string, dialer *kafka.Dialer) ([]Source, int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err == nil && len(meta.Topics) == 1 {
		err = meta.Topics[0].Error
	}
	if err != nil {
		return nil, 0, fmt.Errorf("topic %s: %w", topic, err)
	}
	var req []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		req = append(req, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		return nil, 0, fmt.Errorf("offsets of topic %s: %w", topic, err)
	}
	var (
		srcs  []Source
		total int64
	)
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, 0, fmt.Errorf("offsets of topic %s partition %d: %w", topic, po.Partition, po.Error)
		}
		if po.LastOffset <= po.FirstOffset {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Dialer: dialer, Topic: topic, Partition: po.Partition,
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 500 * time.Millisecond})
		if err := r.SetOffset(po.FirstOffset); err != nil {
			r.Close()
			return nil, 0, err
		}
		srcs = append(srcs, &topicSource{r: r, next: po.FirstOffset, end: po.LastOffset})
		total += po.LastOffset - po.FirstOffset
	}
	return srcs, total, nil
}

func (t *topicSource) Next(ctx context.Context) (kafka.Message, error) {
	if t.next >= t.end {
		return kafka.Message{}, io.EOF
	}
	m, err := t.r.FetchMessage(ctx)
	if err != nil {
		return kafka.Message{}, err
	}
	t.next = m.Offset + 1
	return m, nil
}

func (t *topicSource) Close() error { return t.r.Close() }
