package engine

import (
	"strconv"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Topic names of the engine's streams.
const (
	TopicSwipes    = "swipes"
	TopicDLQ       = "swipes.dlq"
	TopicChangelog = "profiles.changelog"
)

// partition is the state of one owned partition of the swipes topic and the
// pipeline that runs over it: decode, fold into the profile, evaluate the
// rules, build the offers. It does no I/O; the caller publishes the batch.
// Only the goroutine that owns the partition touches it, so the hot path
// takes no lock.
type partition struct {
	id     int
	store  Store
	rules  *rules.Set
	eval   *rules.Evaluator
	limits Limits
	now    func() time.Time
	stats  *Stats
	log    *zap.Logger
	hits   []*rules.Rule
}

// batch is what a run of swipes produced: the messages to publish before
// the offsets may be committed, and the profiles to write to the changelog.
type batch struct {
	out     []kafka.Message // offers and dead letters
	dirty   map[string]*loyalty.Profile
	next    int64 // offset to commit: one past the last message processed
	n       int   // messages processed
	applied int64
	dups    int64
	replays int64
	offers  int64
	errs    int64

	byRule   map[string]int64
	byReason map[string]int64
}

func newBatch() *batch {
	return &batch{
		dirty:    make(map[string]*loyalty.Profile),
		byRule:   make(map[string]int64),
		byReason: make(map[string]int64),
	}
}

func (b *batch) reset() {
	clear(b.out)
	b.out = b.out[:0]
	clear(b.dirty)
	clear(b.byRule)
	clear(b.byReason)
	b.next, b.n, b.applied, b.dups, b.replays, b.offers, b.errs = 0, 0, 0, 0, 0, 0, 0
}

// setRules switches to a new rule set between batches.
func (p *partition) setRules(rs *rules.Set) {
	if rs != p.rules {
		p.rules = rs
		p.eval = rs.NewEvaluator()
	}
}

// process runs one swipe message through the pipeline into b.
func (p *partition) process(m *kafka.Message, b *batch) {
	b.n++
	b.next = m.Offset + 1
	s, err := Decode(m.Key, m.Value, p.now(), p.limits)
	if err != nil {
		p.deadLetter(m, err.(*RejectError), b)
		return
	}
	prof, err := p.profile(s.CardID, b)
	if err != nil {
		// A profile that cannot be decoded is a bug or a corrupt changelog;
		// dead-letter the swipe rather than build on unknown state.
		p.deadLetter(m, reject("state", "profile of card %s unreadable: %v", s.CardID, err), b)
		return
	}
	if m.Offset <= prof.LastOffset {
		b.replays++ // applied before a crash or rebalance
		return
	}
	prof.LastOffset = m.Offset
	b.dirty[s.CardID] = prof
	if prof.Apply(s) == loyalty.Duplicate {
		b.dups++
		return
	}
	b.applied++
	p.hits = p.eval.Match(s, prof, p.hits[:0], func(r *rules.Rule, err error) {
		b.errs++
		p.log.Warn("rule failed", zap.String("rule", r.ID), zap.String("swipe_id", s.SwipeID), zap.Error(err))
	})
	for _, r := range p.hits {
		for _, ch := range r.Channels {
			o, err := offers.Build(r, ch, s, prof)
			if err == nil {
				var v []byte
				if v, err = offers.Encode(&o); err == nil {
					b.out = append(b.out, kafka.Message{Topic: loyalty.OfferTopic(ch), Key: []byte(s.CardID), Value: v})
					b.offers++
					b.byRule[r.ID]++
					continue
				}
			}
			b.errs++
			p.log.Warn("offer not built", zap.String("rule", r.ID), zap.String("swipe_id", s.SwipeID), zap.Error(err))
		}
	}
}

// profile returns the card's profile as this batch sees it.
func (p *partition) profile(card string, b *batch) (*loyalty.Profile, error) {
	if prof, ok := b.dirty[card]; ok {
		return prof, nil
	}
	prof, err := p.store.Get(card)
	if err != nil || prof != nil {
		return prof, err
	}
	return loyalty.NewProfile(card), nil
}

// deadLetter queues the original message for swipes.dlq with the reason.
func (p *partition) deadLetter(m *kafka.Message, rej *RejectError, b *batch) {
	b.byReason[rej.Reason]++
	b.out = append(b.out, kafka.Message{
		Topic: TopicDLQ,
		Key:   m.Key,
		Value: m.Value,
		Headers: []kafka.Header{
			{Key: "error", Value: []byte(rej.Msg)},
			{Key: "reason", Value: []byte(rej.Reason)},
			{Key: "source-topic", Value: []byte(m.Topic)},
			{Key: "source-partition", Value: strconv.AppendInt(nil, int64(m.Partition), 10)},
			{Key: "source-offset", Value: strconv.AppendInt(nil, m.Offset, 10)},
		},
	})
}

// changelog encodes the batch's changed profiles, stores them, and returns
// the changelog records to write: one per card, its last value.
func (p *partition) changelog(b *batch, buf []kafka.Message) ([]kafka.Message, error) {
	for card, prof := range b.dirty {
		enc := AppendProfile(nil, prof)
		if err := p.store.Put(card, enc, prof); err != nil {
			return buf, err
		}
		buf = append(buf, kafka.Message{Topic: TopicChangelog, Partition: p.id, Key: []byte(card), Value: enc})
	}
	return buf, nil
}
