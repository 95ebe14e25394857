package engine

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/aislecast/loyalty/offers"
)

// Stats counts what the engine did. All methods are safe for concurrent use.
type Stats struct {
	Swipes     atomic.Int64 // messages read from the swipes topic
	Applied    atomic.Int64 // swipes folded into a profile
	Duplicates atomic.Int64 // POS retries of an applied swipe id
	Replayed   atomic.Int64 // redelivered messages at or below a profile's applied offset
	DLQ        atomic.Int64 // messages dead-lettered
	Offers     atomic.Int64 // offers published
	RuleErrors atomic.Int64 // rule expressions that failed at run time
	Restored   atomic.Int64 // profiles restored from the changelog
	Changelog  atomic.Int64 // profile records written to the changelog
	ChangeB    atomic.Int64 // bytes of profile records written
	Held       atomic.Int64 // offers held out: recorded, never published
	Suppressed atomic.Int64 // rule hits that sent nothing (held ones included)
	// UnknownStores counts swipes with rule hits from stores the registry
	// does not know: their schedules and quiet hours were judged on the
	// swipe's own UTC offset.
	UnknownStores atomic.Int64
	// BudgetErrors counts records of TopicBudget that could not be read.
	BudgetErrors atomic.Int64
	Events       atomic.Int64 // sent, held and redeemed events published to offers.events
	Redeemed     atomic.Int64 // redemptions: redeemed events published
	// RestoreRecords counts changelog records read by restores; with
	// profiles on disk, a restore reads only what follows the checkpoint.
	RestoreRecords atomic.Int64
	// Resumed counts partitions assigned again to this instance that
	// resumed with the profiles kept from the generation before,
	// replaying only the changelog written since (see Engine.keep).
	Resumed atomic.Int64
	// Compacted counts restored profiles converted from the changelog's
	// form to the at-rest form after their partition began serving.
	Compacted atomic.Int64
	// ProduceRetries counts partitions of the engine's writes that a
	// broker refused with a temporary error, or did not answer, and that
	// were sent again (see produce.Writer).
	ProduceRetries atomic.Int64

	mu         sync.Mutex
	byRule     map[string]int64
	byReason   map[string]int64
	suppressed map[suppression]int64
	ignored    map[string]int64 // redeemed_offers entries that made no event
}

// add counts a published batch: its totals, then its figures by rule and
// reason.
func (s *Stats) add(b *batch) {
	s.Swipes.Add(int64(b.n))
	s.Applied.Add(b.applied)
	s.Duplicates.Add(b.dups)
	s.Replayed.Add(b.replays)
	s.RuleErrors.Add(b.errs)
	s.Offers.Add(b.offers)
	var dlq int64
	for _, n := range b.byReason {
		dlq += n
	}
	s.DLQ.Add(dlq)
	s.merge(b)
}

// merge adds a flushed batch's per-rule offers, per-reason rejects,
// per-rule suppressed hits and decision events.
func (s *Stats) merge(b *batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byRule == nil {
		s.byRule = make(map[string]int64)
		s.byReason = make(map[string]int64)
		s.suppressed = make(map[suppression]int64)
		s.ignored = make(map[string]int64)
	}
	s.Events.Add(b.ev.events)
	s.Redeemed.Add(b.ev.redeemed)
	for k, v := range b.ev.ignored {
		s.ignored[k] += v
	}
	s.UnknownStores.Add(b.unknownStores)
	for k, v := range b.suppressions() {
		s.suppressed[k] += v
		s.Suppressed.Add(v)
		if k.code == offers.Holdout {
			s.Held.Add(v)
		}
	}
	for k, v := range b.byRule {
		s.byRule[k] += v
	}
	for k, v := range b.byReason {
		s.byReason[k] += v
	}
}

// Count is one labelled figure.
type Count struct {
	Name string
	N    int64
}

// OffersByRule is the number of offers published per rule, most first.
func (s *Stats) OffersByRule() []Count { return s.sorted(&s.byRule) }

// RejectsByReason is the number of dead-lettered swipes per reason code.
func (s *Stats) RejectsByReason() []Count { return s.sorted(&s.byReason) }

// RedemptionsIgnored is the number of redeemed_offers entries that made
// no redeemed event, per reason (RedeemMalformedID, RedeemNotPurchase).
func (s *Stats) RedemptionsIgnored() []Count { return s.sorted(&s.ignored) }

// Suppression is how often a rule matched but sent nothing, for one reason.
type Suppression struct {
	Rule   string
	Reason string // schedule, cooldown, cap, holdout, arbitration or budget
	N      int64
}

// SuppressedByRule is the number of rule hits that sent no offer, by rule
// and reason, ordered by rule and reason.
func (s *Stats) SuppressedByRule() []Suppression {
	s.mu.Lock()
	out := make([]Suppression, 0, len(s.suppressed))
	for k, v := range s.suppressed {
		out = append(out, Suppression{k.rule, k.code.String(), v})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Rule != out[j].Rule {
			return out[i].Rule < out[j].Rule
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}

// sorted reads the map *m points to under the lock: merge creates the maps
// while readers may be scraping.
func (s *Stats) sorted(m *map[string]int64) []Count {
	s.mu.Lock()
	out := make([]Count, 0, len(*m))
	for k, v := range *m {
		out = append(out, Count{k, v})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Name < out[j].Name
	})
	return out
}
