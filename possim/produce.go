package possim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Writer is what Produce needs of a Kafka producer; *kafka.Writer has it.
// WriteMessages must return only once the messages are acknowledged (a
// synchronous writer), so that the count Produce returns is true.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// MaxBatch is the most messages Produce hands to one WriteMessages call.
const MaxBatch = 1000

// tick is how often Produce sends what is due when it is rate limited.
const tick = 10 * time.Millisecond

// Produce writes count messages of g to w (count 0: until ctx is done) at
// rate messages per second (0: as fast as w takes them), in batches of up
// to MaxBatch per WriteMessages call. onSent, if not nil, sees every
// message once its batch is acknowledged, in order. It returns how many
// messages were acknowledged, and ctx.Err() when ctx ended the run before
// count was reached.
//
// When it falls behind the rate (a slow broker), Produce catches up by at
// most one second's worth of messages rather than bursting the whole
// backlog.
//
// Messages with FaultOversized carry a value over 1 MiB: w must accept it
// (kafka.Writer needs BatchBytes above 1 MiB) and so must the broker (the
// default max.message.bytes of Kafka and kfake is 1 MiB, so compress the
// batches, or raise the topic's limit), or else leave the fault out of
// Config.Faults.
func Produce(ctx context.Context, w Writer, g *Generator, count int, rate float64, onSent func(Message)) (int, error) {
	if count < 0 || rate < 0 {
		return 0, fmt.Errorf("possim: Produce count %d and rate %g must not be negative", count, rate)
	}
	p := producer{w: w, g: g, onSent: onSent,
		msgs:  make([]Message, 0, MaxBatch),
		batch: make([]kafka.Message, 0, MaxBatch)}
	left := func() int {
		if count == 0 {
			return MaxBatch
		}
		return min(count-p.sent, MaxBatch)
	}
	if rate == 0 {
		for count == 0 || p.sent < count {
			if err := ctx.Err(); err != nil {
				return p.sent, err
			}
			if err := p.send(ctx, left()); err != nil {
				return p.sent, err
			}
		}
		return p.sent, nil
	}

	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	base := 0 // messages not owed after falling behind
	for count == 0 || p.sent < count {
		select {
		case <-ctx.Done():
			return p.sent, ctx.Err()
		case now := <-t.C:
			due := base + int(rate*now.Sub(start).Seconds()) - p.sent
			if lag := due - int(rate) - 1; lag > 0 {
				base -= lag
				due -= lag
			}
			for due > 0 && (count == 0 || p.sent < count) {
				n := min(due, left())
				if err := p.send(ctx, n); err != nil {
					return p.sent, err
				}
				due -= n
			}
		}
	}
	return p.sent, nil
}

type producer struct {
	w      Writer
	g      *Generator
	onSent func(Message)
	msgs   []Message
	batch  []kafka.Message
	sent   int
}

// send writes the next n messages of the generator as one batch.
func (p *producer) send(ctx context.Context, n int) error {
	p.msgs, p.batch = p.msgs[:0], p.batch[:0]
	for range n {
		m := p.g.Next()
		p.msgs = append(p.msgs, m)
		km := kafka.Message{Key: m.Key, Value: m.Value}
		if p.g.stamp {
			km.Time = p.g.Clock()
		}
		p.batch = append(p.batch, km)
	}
	if err := p.w.WriteMessages(ctx, p.batch...); err != nil {
		var tooLarge kafka.MessageTooLargeError
		if errors.As(err, &tooLarge) {
			return fmt.Errorf("possim: writing %d messages after %d: %w (an oversized fault needs a writer with BatchBytes over %d, or leave %s out of Config.Faults)",
				n, p.sent, err, MaxValueBytes, FaultOversized)
		}
		return fmt.Errorf("possim: writing %d messages after %d: %w", n, p.sent, err)
	}
	p.sent += n
	if p.onSent != nil {
		for _, m := range p.msgs {
			p.onSent(m)
		}
	}
	return nil
}
