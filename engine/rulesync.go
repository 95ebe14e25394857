package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/aislecast/loyalty/internal/backoff"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// followWait is how long a fetch of offer-rules waits for a change; a
// change arriving meanwhile is returned at once.
const followWait = 500 * time.Millisecond

// ruleSync is the rule set as offer-rules gives it: the compiled rule of
// every live id. Records are folded in offset order; one that does not
// compile (a document written by a newer release, say) is logged and
// counted, and the rule keeps its previous version.
type ruleSync struct {
	log   *zap.Logger
	stats *ruleSyncStats

	mu      sync.Mutex
	active  map[string]activeRule
	records int // records read: any makes the topic the source of truth
}

type activeRule struct {
	rule *rules.Rule
	doc  []byte
}

// ruleSyncStats counts what rule sync did, for the metrics.
type ruleSyncStats struct {
	reloads  atomic.Int64 // rule sets swapped in from offer-rules
	mu       sync.Mutex
	rejected map[string]int64 // records that did not compile, by rule id
}

func (s *ruleSyncStats) reject(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rejected == nil {
		s.rejected = map[string]int64{}
	}
	s.rejected[id]++
}

// Rejected returns the offer-rules records that did not compile, by rule.
func (s *ruleSyncStats) Rejected() []Count {
	s.mu.Lock()
	out := make([]Count, 0, len(s.rejected))
	for k, v := range s.rejected {
		out = append(out, Count{k, v})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func newRuleSync(log *zap.Logger, stats *ruleSyncStats) *ruleSync {
	return &ruleSync{log: log, stats: stats, active: map[string]activeRule{}}
}

// apply folds one record in and reports whether the live rules changed.
// Changes are logged at info level when live, at debug level while the
// topic is read at start.
func (s *ruleSync) apply(rec RuleRecord, live bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records++
	level := zap.DebugLevel
	if live {
		level = zap.InfoLevel
	}
	fields := []zap.Field{zap.String("rule", rec.ID), zap.String("applied_by", rec.AppliedBy),
		zap.String("applied_at", rec.AppliedAt), zap.Int("partition", rec.Partition), zap.Int64("offset", rec.Offset)}
	if rec.Deleted() {
		old, ok := s.active[rec.ID]
		if !ok {
			return false
		}
		delete(s.active, rec.ID)
		s.log.Log(level, "rule deleted", append(fields, zap.Int("was_version", old.rule.Version))...)
		return true
	}
	r, err := compileRecord(rec)
	if err != nil {
		s.stats.reject(rec.ID)
		keep := 0
		if old, ok := s.active[rec.ID]; ok {
			keep = old.rule.Version
		}
		s.log.Error("rule record does not compile; keeping the previous version", append(fields,
			zap.Int("version", docVersion(rec.Doc)), zap.Int("kept_version", keep), zap.Error(err))...)
		return false
	}
	old, had := s.active[rec.ID]
	if had && old.rule.Version == r.Version && bytes.Equal(old.doc, rec.Doc) {
		return false // the same document again, e.g. two instances seeding
	}
	s.active[rec.ID] = activeRule{rule: r, doc: rec.Doc}
	if had {
		fields = append(fields, zap.Int("was_version", old.rule.Version))
	}
	s.log.Log(level, "rule applied", append(fields, zap.Int("version", r.Version))...)
	return true
}

// compileRecord compiles a record's document, which must hold exactly the
// rule its key names. Positions in errors are given as
// offer-rules/<partition>@<offset>:line:col.
func compileRecord(rec RuleRecord) (*rules.Rule, error) {
	if rec.ID == "" {
		return nil, errors.New("record has no key (the rule id)")
	}
	rs, err := rules.Parse(fmt.Sprintf("%s/%d@%d", TopicRules, rec.Partition, rec.Offset), rec.Doc)
	if err != nil {
		return nil, err
	}
	if len(rs) != 1 || rs[0].ID != rec.ID {
		ids := make([]string, len(rs))
		for i, r := range rs {
			ids[i] = r.ID
		}
		return nil, fmt.Errorf("record keyed %q must hold that one rule, not %v", rec.ID, ids)
	}
	return rs[0], nil
}

// set builds the rule set of the live rules.
func (s *ruleSync) set() (*rules.Set, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]*rules.Rule, 0, len(s.active))
	for _, a := range s.active {
		list = append(list, a.rule)
	}
	return rules.NewSet(list)
}

// syncRules makes offer-rules the source of truth: it publishes the seed
// rules the topic lacks, reads the topic to its end and, unless it is
// empty, swaps in its rules, all before Run joins the group; then it
// follows the topic in the background until ctx ends. wait waits for the
// follower to stop.
func (e *Engine) syncRules(ctx context.Context) (wait func(), err error) {
	if len(e.cfg.RuleSeed) > 0 {
		if err := e.seedRules(ctx); err != nil {
			return nil, err
		}
	}
	s := newRuleSync(e.log, &e.ruleStats)
	var next map[int]int64
	err = e.untilReachable(ctx, "read "+TopicRules, func() (err error) {
		next, err = scanRules(ctx, e.client, nil, func(rec RuleRecord) { s.apply(rec, false) })
		return err
	})
	if err != nil {
		return nil, err
	}
	if s.records == 0 {
		e.log.Info(TopicRules+" is empty; using the rules given", zap.Int("rules", e.rules.Load().Len()))
	} else if err := e.swapRules(s, nil); err != nil {
		return nil, err
	}
	for _, r := range e.rules.Load().Rules() {
		e.log.Info("rule active", zap.String("rule", r.ID), zap.Int("version", r.Version), zap.String("source", r.File))
	}
	var wg sync.WaitGroup
	for p, off := range next {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.followRules(ctx, s, p, off)
		}()
	}
	return wg.Wait, nil
}

// seedRules publishes the seed rules offer-rules has no record of.
func (e *Engine) seedRules(ctx context.Context) error {
	var st RuleState
	err := e.untilReachable(ctx, "read "+TopicRules, func() (err error) {
		st, err = ReadRules(ctx, e.client)
		return err
	})
	if err != nil {
		return err
	}
	plan, err := PlanSeed(st, e.cfg.RuleSeed)
	if err != nil {
		return fmt.Errorf("seed %s: %w", TopicRules, err)
	}
	for _, c := range plan {
		switch c.Action {
		case Created:
			e.log.Info("seeding "+TopicRules, zap.String("rule", c.ID), zap.Int("version", c.Version), zap.String("file", c.File))
		case TopicWins, TopicDeleted:
			e.log.Warn(c.String(), zap.String("rule", c.ID), zap.String("file", c.File))
		}
	}
	a := Applier{By: AppliedBy(), With: "offerd seed", At: time.Now()}
	return e.untilReachable(ctx, "seed "+TopicRules, func() error {
		return PublishRules(ctx, e.cfg.Brokers, e.cfg.Transport, plan, a)
	})
}

// followRules applies the changes of partition p of offer-rules from
// offset on, swapping in a new rule set after each fetch that changed the
// rules, until ctx ends. Partitions pick the set up at their next batch.
func (e *Engine) followRules(ctx context.Context, s *ruleSync, p int, offset int64) {
	for ctx.Err() == nil {
		var changed *RuleRecord
		next, hwm, err := fetchRules(ctx, e.client, p, offset, followWait, func(rec RuleRecord) {
			if s.apply(rec, true) {
				changed = &rec
			}
		})
		if err == nil && next == offset && hwm > offset {
			// What is at offset reads as no record: a transaction's
			// marker, one record long. Step past it, rather than fetch
			// it again at once (the broker answers without waiting, as
			// the marker is data to it).
			next++
		}
		offset = next
		if changed != nil {
			if err := e.swapRules(s, changed); err != nil {
				e.log.Error("rule set not swapped", zap.Error(err))
			}
		}
		if err == nil || ctx.Err() != nil {
			continue
		}
		if errors.Is(err, kafka.OffsetOutOfRange) {
			// Records were deleted under the follower: go on from the
			// oldest one left.
			if first, ferr := firstOffset(ctx, e.client, p); ferr == nil {
				offset = max(offset, first)
			}
		}
		e.log.Warn("follow "+TopicRules+"; retrying", zap.Int("partition", p), zap.Error(err))
		backoff.Sleep(ctx, time.Second)
	}
}

// firstOffset returns the oldest offset of partition p of offer-rules.
func firstOffset(ctx context.Context, c *kafka.Client, p int) (int64, error) {
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{TopicRules: {kafka.FirstOffsetOf(p)}}})
	if err != nil {
		return 0, err
	}
	for _, po := range resp.Topics[TopicRules] {
		if po.Partition == p && po.Error == nil {
			return po.FirstOffset, nil
		}
	}
	return 0, fmt.Errorf("no offsets for %s partition %d", TopicRules, p)
}

// swapRules builds the set of the live rules and swaps it in. last is the
// record that caused the swap, nil at start.
func (e *Engine) swapRules(s *ruleSync, last *RuleRecord) error {
	rs, err := s.set()
	if err != nil {
		return err
	}
	e.SetRules(rs)
	e.ruleStats.reloads.Add(1)
	fields := []zap.Field{zap.Int("rules", rs.Len())}
	if last != nil {
		// How long the change took from its producer to the swap.
		fields = append(fields, zap.String("rule", last.ID), zap.Duration("since_published", time.Since(last.Time)))
	}
	e.log.Info("rule set swapped", fields...)
	return nil
}
