package backtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Source yields the messages of one partition of history, in order. Next
// returns io.EOF after the last one.
type Source interface {
	Next(ctx context.Context) (kafka.Message, error)
	Close() error
}

// Options tune a replay. The zero value replays everything with the
// engine's defaults.
type Options struct {
	Limits              engine.Limits // default engine.DefaultLimits
	MaxOffersPerChannel int           // default engine.DefaultMaxOffersPerChannel
	// SendExpired sends the offers the engine would suppress as expired
	// on arrival, as offerd's --send-expired-offers.
	SendExpired bool
	// From and To bound, by the simulated clock, the swipes counted in the
	// report. Swipes before From still build the profiles and the offer
	// histories (cooldowns, caps) but are only counted as Warmup; swipes
	// at or after To are skipped. Zero means unbounded.
	From, To time.Time
	Logger   *zap.Logger // default none
	// OnOffer, when set, sees every offer of a counted swipe, one call at
	// a time.
	OnOffer func(*loyalty.Offer)
	// Read, when set, counts the messages read, for a progress display.
	Read *atomic.Int64
	// Policy is the store registry, consent and quiet hours the offers
	// are judged by, as offerd's --stores, --quiet-hours and
	// --consent-default set them (engine.PolicyFlags). Nil: schedules on
	// each swipe's own offset, every channel allowed, no quiet hours.
	Policy *engine.Policy
}

// Report is what a replay did, in total and per rule.
type Report struct {
	Swipes      int64 `json:"swipes"` // messages replayed and counted
	Applied     int64 `json:"applied"`
	Duplicates  int64 `json:"duplicates"`
	Replayed    int64 `json:"replayed"` // at or below a profile's applied offset
	RuleErrors  int64 `json:"rule_errors"`
	DeadLetters int64 `json:"dead_letters"`
	// DeadLettersByReason counts dead letters by the reason codes of the
	// swipes.dlq "reason" header.
	DeadLettersByReason map[string]int64 `json:"dead_letters_by_reason"`
	Offers              int64            `json:"offers"` // offer messages, one per channel
	Held                int64            `json:"held"`   // offers held out
	Warmup              int64            `json:"warmup"` // messages before From: they built state only
	After               int64            `json:"after"`  // messages at or after To: skipped
	Rules               []RuleReport     `json:"rules"`  // in rule-set order
}

// RuleReport is what one rule would have done.
type RuleReport struct {
	Rule    string `json:"rule"`
	Version int    `json:"version"`
	Offers  int64  `json:"offers"` // offer messages, one per channel
	// Triggers is the number of swipes the rule sent offers on: distinct
	// offer ids, one coupon each, however many channels carried it.
	Triggers int64 `json:"triggers"`
	Cards    int64 `json:"cards"` // distinct cards offered
	// DiscountCents is the discount committed, once per offer id: the
	// coupon's discount_cents, or for a percent coupon an estimate, its
	// percentage of the triggering swipe's total (the figure arbitration
	// ranks by), or of the card's average purchase for a swipe without a
	// total (a check-in or a scan).
	DiscountCents int64 `json:"discount_cents"`
	Estimated     bool  `json:"discount_estimated,omitempty"` // percent coupons
	Held          int64 `json:"held"`                         // hits held out
	// Suppressed counts the hits that sent nothing, by reason (schedule,
	// cooldown, cap, arbitration, and any other code of offers.Decide);
	// held hits are in Held.
	Suppressed map[string]int64 `json:"suppressed,omitempty"`
}

// Run replays each source through a pipeline of its own with rule set rs,
// and reports what the live engine would have done. An error of a source
// stops the replay.
//
// Sources are replayed concurrently, unless a rule has a budget: the
// partitions share its spend, so which offers a running-out budget still
// pays for depends on the order in which partitions reach it. Then the
// sources are merged into one sequence by the time each message was sent
// (SentAt; ties go to the lower source), the order the live engine saw
// them in, and replayed one message at a time, so the same history always
// gives the same report.
func Run(ctx context.Context, rs *rules.Set, sources []Source, o Options) (*Report, error) {
	if o.Limits == (engine.Limits{}) {
		o.Limits = engine.DefaultLimits
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Read == nil {
		o.Read = new(atomic.Int64)
	}
	r := &replay{opts: o, rules: rs, byID: make(map[string]*ruleTally, rs.Len()), budgets: engine.NewBudgets(o.Logger)}
	for _, rule := range rs.Rules() {
		r.byID[rule.ID] = &ruleTally{rule: rule, cards: make(map[string]struct{})}
	}
	parts := make([]*partition, len(sources))
	for i, src := range sources {
		defer src.Close()
		parts[i] = r.newPartition(i, src)
	}
	var err error
	if hasBudget(rs) {
		err = r.merged(ctx, parts)
	} else {
		err = r.concurrent(ctx, parts)
	}
	if err != nil {
		return nil, err
	}
	return r.report(), nil
}

// hasBudget reports whether a rule of rs has a budget.
func hasBudget(rs *rules.Set) bool {
	for _, rule := range rs.Rules() {
		if offers.HasBudget(rule) {
			return true
		}
	}
	return false
}

// concurrent replays every partition on a goroutine of its own.
func (r *replay) concurrent(ctx context.Context, parts []*partition) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, pt := range parts {
		wg.Go(func() {
			for errs[i] == nil {
				var m kafka.Message
				if m, errs[i] = pt.src.Next(ctx); errs[i] == nil {
					errs[i] = r.step(pt, &m)
				}
			}
			if errors.Is(errs[i], io.EOF) {
				errs[i] = nil
			} else {
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// merged replays the partitions on one goroutine, always the message sent
// first among the next ones of every partition.
func (r *replay) merged(ctx context.Context, parts []*partition) error {
	heads := make([]*kafka.Message, len(parts))
	at := make([]time.Time, len(parts))
	next := func(i int) error {
		m, err := parts[i].src.Next(ctx)
		if errors.Is(err, io.EOF) {
			heads[i] = nil
			return nil
		}
		if err != nil {
			return err
		}
		heads[i], at[i] = &m, SentAt(&m, parts[i].clock)
		return nil
	}
	for i := range parts {
		if err := next(i); err != nil {
			return err
		}
	}
	for {
		first := -1
		for i, m := range heads {
			if m != nil && (first < 0 || at[i].Before(at[first])) {
				first = i
			}
		}
		if first < 0 {
			return nil
		}
		if err := r.step(parts[first], heads[first]); err != nil {
			return err
		}
		if err := next(first); err != nil {
			return err
		}
	}
}

type replay struct {
	opts          Options
	rules         *rules.Set
	stats         engine.Stats
	warmup, after atomic.Int64
	// budgets is the spend of every rule with a budget, shared by the
	// partitions as the live instances share it through Kafka.
	budgets *engine.Budgets

	mu   sync.Mutex // guards byID and calls of OnOffer
	byID map[string]*ruleTally
}

type ruleTally struct {
	rule                       *rules.Rule
	offers, triggers, discount int64
	cards                      map[string]struct{}
	estimated                  bool
}

// partition is the replay of one source: its pipeline and its simulated
// clock.
type partition struct {
	src   Source
	p     *engine.Pipeline
	clock time.Time
}

func (r *replay) newPartition(id int, src Source) *partition {
	pt := &partition{src: src}
	pt.p = engine.NewPipeline(id, r.rules, nil, r.opts.Limits, func() time.Time { return pt.clock }, r.opts.Logger)
	pt.p.SetMaxOffersPerChannel(r.opts.MaxOffersPerChannel)
	pt.p.SetSendExpired(r.opts.SendExpired)
	pt.p.SetBudgets(r.budgets)
	pt.p.SetPolicy(r.opts.Policy)
	return pt
}

// step replays message m of partition pt. Each message is a batch of its
// own, so the offers it made are known to be its own; batches only group
// the engine's writes and change no decision.
func (r *replay) step(pt *partition, m *kafka.Message) error {
	r.opts.Read.Add(1)
	pt.clock = SentAt(m, pt.clock)
	if !r.opts.To.IsZero() && !pt.clock.Before(r.opts.To) {
		r.after.Add(1)
		return nil
	}
	p := pt.p
	p.StartBatch()
	p.Process(m)
	out, _, err := p.EndBatch()
	if err != nil {
		return fmt.Errorf("partition %d offset %d: %w", m.Partition, m.Offset, err)
	}
	if !r.opts.From.IsZero() && pt.clock.Before(r.opts.From) {
		r.warmup.Add(1)
		return nil
	}
	p.CountBatch(&r.stats)
	return r.tally(out, m, pt.clock, p.Store())
}

// tally adds the offers among out, all made on message m, to their rules.
func (r *replay) tally(out []kafka.Message, m *kafka.Message, clock time.Time, store engine.Store) error {
	var swipe *loyalty.Swipe
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := ""
	for i := range out {
		if !loyalty.IsOfferTopic(out[i].Topic) {
			continue // dead letters, decision events and budget spend
		}
		var o loyalty.Offer
		if err := json.Unmarshal(out[i].Value, &o); err != nil {
			return fmt.Errorf("offer on %s: %w", out[i].Topic, err)
		}
		t := r.byID[o.RuleID]
		if t == nil {
			return fmt.Errorf("offer %s of unknown rule %q", o.OfferID, o.RuleID)
		}
		t.offers++
		t.cards[o.CardID] = struct{}{}
		if r.opts.OnOffer != nil {
			r.opts.OnOffer(&o)
		}
		if o.OfferID == seen { // the same coupon on another channel
			continue
		}
		seen = o.OfferID
		t.triggers++
		switch c := t.rule.Coupon; {
		case c.DiscountCents > 0:
			t.discount += c.DiscountCents
		case c.DiscountPercent > 0:
			if swipe == nil {
				// The offer does not carry the basket's total; the swipe
				// decodes as it did in the pipeline.
				s, err := engine.Decode(m.Key, m.Value, clock, r.opts.Limits)
				if err != nil {
					return fmt.Errorf("offer %s: trigger swipe: %w", o.OfferID, err)
				}
				swipe = s
			}
			est, err := percentBase(swipe, store)
			if err != nil {
				return fmt.Errorf("offer %s: %w", o.OfferID, err)
			}
			t.discount += int64(c.DiscountPercent) * est / 100
			t.estimated = true
		}
	}
	return nil
}

// percentBase is the amount a percent coupon offered on swipe s is
// estimated to apply to: the swipe's total, as offers.ExpectedCents ranks
// offers in arbitration, or, for a swipe without one (a check-in, a scan),
// the card's average purchase so far.
func percentBase(s *loyalty.Swipe, store engine.Store) (int64, error) {
	if s.TotalCents > 0 {
		return s.TotalCents, nil
	}
	p, err := store.Get(s.CardID)
	if err != nil || p == nil || p.Visits == 0 {
		return 0, err
	}
	return p.SpendCents / p.Visits, nil
}

func (r *replay) report() *Report {
	st := &r.stats
	rep := &Report{
		Swipes: st.Swipes.Load(), Applied: st.Applied.Load(), Duplicates: st.Duplicates.Load(),
		Replayed: st.Replayed.Load(), RuleErrors: st.RuleErrors.Load(), DeadLetters: st.DLQ.Load(),
		DeadLettersByReason: map[string]int64{},
		Offers:              st.Offers.Load(), Held: st.Held.Load(),
		Warmup: r.warmup.Load(), After: r.after.Load(),
	}
	for _, c := range st.RejectsByReason() {
		rep.DeadLettersByReason[c.Name] = c.N
	}
	sup := map[string]map[string]int64{}
	held := map[string]int64{}
	for _, s := range st.SuppressedByRule() {
		if s.Reason == offers.Holdout.String() {
			held[s.Rule] += s.N
			continue
		}
		if sup[s.Rule] == nil {
			sup[s.Rule] = map[string]int64{}
		}
		sup[s.Rule][s.Reason] += s.N
	}
	for _, rule := range r.rules.Rules() {
		t := r.byID[rule.ID]
		rep.Rules = append(rep.Rules, RuleReport{
			Rule: rule.ID, Version: rule.Version, Offers: t.offers, Triggers: t.triggers,
			Cards: int64(len(t.cards)), DiscountCents: t.discount, Estimated: t.estimated,
			Held: held[rule.ID], Suppressed: sup[rule.ID],
		})
	}
	return rep
}
