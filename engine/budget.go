package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/aislecast/loyalty/internal/backoff"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// TopicBudget holds the budget spend of every rule, per partition of the
// swipes topic: key "<rule id>/<partition>", value the JSON of an
// offers.Spend, {"count":N,"cents":C}, the total that partition's offers of
// the rule have spent since the rule id was first used. It is compacted and
// has one partition, which every instance reads from start to end and then
// follows.
const TopicBudget = "offer-budget"

// Budgets is the spend of every rule with a budget, per partition of the
// swipes topic, as one instance knows it. The spend of a partition this
// instance owns is exact: it was caught up from TopicBudget when the
// partition was assigned and every offer since was counted here. The spend
// of any other partition is the latest record read from TopicBudget, which
// lags its owner by at most the batch in hand and the time to read the
// record. A spend only grows, so a record lower than what is known (written
// late by a former owner, or before a replay) is ignored; but a partition
// whose batches were given up goes back to its last published spend
// (rollback), since its next owner reserves again for their offers.
//
// The pipelines of the partitions an instance owns reserve budget under one
// lock, so they never overspend among themselves; instances overspend at
// most by what the others spend before this one reads it (see README).
type Budgets struct {
	log *zap.Logger

	mu    sync.Mutex
	rules map[string]*ruleSpend
	// pos is the next offset of TopicBudget to read; moved is closed and
	// replaced whenever it grows.
	pos   int64
	moved chan struct{}
}

type ruleSpend struct {
	total offers.Spend
	parts map[int]offers.Spend
	// published is each partition's spend as TopicBudget has it: the
	// latest record this instance read there or had acked.
	published map[int]offers.Spend
	// out is set once the rule's budget turned an offer down, so that
	// running out is logged once and not per swipe.
	out bool
}

// NewBudgets returns an empty ledger; a nil log means no logs.
func NewBudgets(log *zap.Logger) *Budgets {
	if log == nil {
		log = zap.NewNop()
	}
	return &Budgets{log: log, rules: make(map[string]*ruleSpend), moved: make(chan struct{})}
}

func (b *Budgets) rule(id string) *ruleSpend {
	rs := b.rules[id]
	if rs == nil {
		rs = &ruleSpend{parts: make(map[int]offers.Spend), published: make(map[int]offers.Spend)}
		b.rules[id] = rs
	}
	return rs
}

// reserve takes cost from rule r's budget on behalf of partition part if
// the rule can afford it, or, when reserve is false, only says whether it
// could. A rule whose budget turns an offer down for the first time, or the
// first time since it could afford one, is logged with the reason.
func (b *Budgets) reserve(r *rules.Rule, part int, cost offers.Spend, reserve bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	rs := b.rule(r.ID)
	if v := offers.Afford(r, rs.total, cost, false); !v.Send {
		if !rs.out {
			rs.out = true
			b.log.Info("offer budget spent; the rule sends no more offers", zap.String("rule", r.ID),
				zap.String("reason", offers.Afford(r, rs.total, cost, true).Reason))
		}
		return false
	}
	rs.out = false
	if reserve {
		rs.parts[part] = rs.parts[part].Add(cost)
		rs.total = rs.total.Add(cost)
	}
	return true
}

// release gives back what reserve took for an offer that was not sent.
func (b *Budgets) release(rule string, part int, cost offers.Spend) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rs := b.rule(rule)
	neg := offers.Spend{Count: -cost.Count, Cents: -cost.Cents}
	rs.parts[part] = rs.parts[part].Add(neg)
	rs.total = rs.total.Add(neg)
}

// observe merges a partition's spend read from TopicBudget: each of its
// figures is the larger of the known one and s's.
func (b *Budgets) observe(rule string, part int, s offers.Spend) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rs := b.rule(rule)
	old := rs.parts[part]
	m := offers.Spend{Count: max(old.Count, s.Count), Cents: max(old.Cents, s.Cents)}
	rs.parts[part] = m
	rs.total = rs.total.Add(offers.Spend{Count: m.Count - old.Count, Cents: m.Cents - old.Cents})
	b.publishedLocked(rs, part, s)
}

// published notes that a partition's spend record, s, is acked.
func (b *Budgets) published(rule string, part int, s offers.Spend) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.publishedLocked(b.rule(rule), part, s)
}

func (b *Budgets) publishedLocked(rs *ruleSpend, part int, s offers.Spend) {
	old := rs.published[part]
	rs.published[part] = offers.Spend{Count: max(old.Count, s.Count), Cents: max(old.Cents, s.Cents)}
}

// rollback takes a partition's spend back to what TopicBudget has of it,
// giving back what its batches reserved and never published: the
// partition's state was dropped, and whoever owns it next replays those
// swipes and reserves for their offers again.
func (b *Budgets) rollback(part int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rs := range b.rules {
		old, pub := rs.parts[part], rs.published[part]
		rs.parts[part] = pub
		rs.total = rs.total.Add(offers.Spend{Count: pub.Count - old.Count, Cents: pub.Cents - old.Cents})
	}
}

// Spent returns what the rule's offers have spent in all, as this instance
// knows it.
func (b *Budgets) Spent(rule string) offers.Spend {
	b.mu.Lock()
	defer b.mu.Unlock()
	if rs := b.rules[rule]; rs != nil {
		return rs.total
	}
	return offers.Spend{}
}

// Rules returns the ids of the rules with a known spend.
func (b *Budgets) Rules() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := make([]string, 0, len(b.rules))
	for id := range b.rules {
		ids = append(ids, id)
	}
	return ids
}

// record is the TopicBudget record of the spend of a rule in a partition.
func (b *Budgets) record(rule string, part int) kafka.Message {
	b.mu.Lock()
	s := b.rule(rule).parts[part]
	b.mu.Unlock()
	v, _ := json.Marshal(s) // two integers: cannot fail
	return kafka.Message{Topic: TopicBudget, Key: []byte(rule + "/" + strconv.Itoa(part)), Value: v}
}

// parseBudgetRecord reads a TopicBudget record.
func parseBudgetRecord(key, value []byte) (rule string, part int, s offers.Spend, err error) {
	rule, p, ok := strings.Cut(string(key), "/")
	if ok {
		part, err = strconv.Atoi(p)
	}
	if !ok || err != nil || rule == "" || part < 0 {
		return "", 0, s, fmt.Errorf("key %q is not <rule id>/<partition>", key)
	}
	if err := json.Unmarshal(value, &s); err != nil {
		return "", 0, s, fmt.Errorf("value of %s: %w", key, err)
	}
	if s.Count < 0 || s.Cents < 0 {
		return "", 0, s, fmt.Errorf("value of %s: negative spend %s", key, value)
	}
	return rule, part, s, nil
}

// advance notes that TopicBudget has been read up to offset next.
func (b *Budgets) advance(next int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if next > b.pos {
		b.pos = next
		close(b.moved)
		b.moved = make(chan struct{})
	}
}

// caughtUp waits until TopicBudget has been read up to offset end.
func (b *Budgets) caughtUp(ctx context.Context, end int64) error {
	for {
		b.mu.Lock()
		pos, moved := b.pos, b.moved
		b.mu.Unlock()
		if pos >= end {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return fmt.Errorf("read %s up to offset %d (at %d): %w", TopicBudget, end, pos, ctx.Err())
		}
	}
}

// withinBudget reports whether the budget of rule r, if it has one, lets it
// send an offer on swipe s from this pipeline's partition, and with
// reserve takes the offer's cost from it; the batch then writes the
// partition's new spend.
func (p *Pipeline) withinBudget(r *rules.Rule, s *loyalty.Swipe, reserve bool) bool {
	if !offers.HasBudget(r) {
		return true
	}
	if !p.budget.reserve(r, p.id, offers.Cost(r, s), reserve) {
		return false
	}
	if reserve {
		p.b.spent[r.ID] = struct{}{}
	}
	return true
}

// unreserve gives back the budget withinBudget reserved for a rule that
// then lost arbitration.
func (p *Pipeline) unreserve(r *rules.Rule, s *loyalty.Swipe) {
	if offers.HasBudget(r) {
		p.budget.release(r.ID, p.id, offers.Cost(r, s))
	}
}

// SetBudgets makes the pipeline reserve budget from b, the ledger shared by
// every partition of an engine; by default a pipeline has its own. Call it
// before the first batch.
func (p *Pipeline) SetBudgets(b *Budgets) { p.budget = b }

// appendBudgetRecords appends the spend of every rule whose budget the
// batch used to out. They are published with the offers, before the
// changelog: a crash after they are written and before the profiles are
// replays the batch and counts its offers twice, which spends the budget
// early but never overspends it.
func (p *Pipeline) appendBudgetRecords(out []kafka.Message) []kafka.Message {
	for rule := range p.b.spent {
		out = append(out, p.budget.record(rule, p.id))
	}
	return out
}

// budgetsPublished tells the ledger which spend records of out, a batch's
// acked output, are now in TopicBudget.
func (e *Engine) budgetsPublished(out []kafka.Message) {
	for i := range out {
		if out[i].Topic != TopicBudget {
			continue
		}
		if rule, part, s, err := parseBudgetRecord(out[i].Key, out[i].Value); err == nil {
			e.budgets.published(rule, part, s)
		}
	}
}

// tailBudgets reads TopicBudget from its first offset and follows it until
// ctx ends, merging every partition's spend into e.budgets.
func (e *Engine) tailBudgets(ctx context.Context) {
	b := e.budgets
	offset := int64(-1) // unknown: start at the first offset
	for ctx.Err() == nil {
		if offset < 0 {
			first, _, err := bounds(ctx, e.client, TopicBudget, 0)
			if err != nil {
				e.log.Warn("budget spend not readable; retrying", zap.Error(err))
				backoff.Sleep(ctx, time.Second)
				continue
			}
			offset = first
		}
		resp, err := e.client.Fetch(ctx, &kafka.FetchRequest{
			Topic: TopicBudget, Partition: 0, Offset: offset,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 500 * time.Millisecond,
		})
		if err == nil {
			err = resp.Error
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, kafka.OffsetOutOfRange) {
				offset = -1
			}
			e.log.Warn("read budget spend; retrying", zap.Int64("offset", offset), zap.Error(err))
			backoff.Sleep(ctx, time.Second)
			continue
		}
		n, clean := 0, true
		for {
			rec, err := resp.Records.ReadRecord()
			if err != nil {
				if clean = errors.Is(err, io.EOF); !clean {
					e.log.Warn("read budget spend", zap.Int64("offset", offset), zap.Error(err))
				}
				break
			}
			n++
			offset = rec.Offset + 1
			if err := e.observeBudget(rec); err != nil {
				e.stats.BudgetErrors.Add(1)
				e.log.Warn("budget record ignored", zap.String("topic", TopicBudget), zap.Int64("offset", rec.Offset), zap.Error(err))
			}
		}
		if n == 0 && clean {
			// Nothing left below the high watermark: records up to it were
			// compacted away. (A fetch that failed to decode proves
			// nothing: it is fetched again.)
			offset = max(offset, resp.HighWatermark)
		}
		b.advance(offset)
	}
}

func (e *Engine) observeBudget(rec *kafka.Record) error {
	key, err := readBytes(rec.Key)
	if err != nil {
		return err
	}
	val, err := readBytes(rec.Value)
	if err != nil || val == nil {
		return err // a tombstone resets nothing: spend only grows
	}
	rule, part, s, err := parseBudgetRecord(key, val)
	if err != nil {
		return err
	}
	e.budgets.observe(rule, part, s)
	return nil
}

// restoreBudgets waits until the tail has read TopicBudget up to its
// current end, so that the spend of a newly assigned partition is the one
// its former owner last wrote.
func (e *Engine) restoreBudgets(ctx context.Context) error {
	_, end, err := bounds(ctx, e.client, TopicBudget, 0)
	if err != nil {
		return err
	}
	return e.budgets.caughtUp(ctx, end)
}

// BudgetSpent returns what a rule's offers have spent in all, as this
// instance knows it: exact for the partitions it owns, the latest record
// read for the others.
func (e *Engine) BudgetSpent(rule string) offers.Spend { return e.budgets.Spent(rule) }
