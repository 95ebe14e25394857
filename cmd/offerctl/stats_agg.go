package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
)

// statsFilter selects the offers stats reports on: sent or held in
// [From, To) (zero means unbounded) by Rule ("" for all), with spend
// measured over Window after each card's first (would-be) offer.
type statsFilter struct {
	From, To time.Time
	Rule     string
	Window   time.Duration
}

// aggregator folds the decision stream and, for the holdout comparison,
// the swipes of the exposed cards into per-rule figures. Events may come in
// any order and more than once: it dedupes on event id and joins
// redemptions to offers at the end. It is not safe for concurrent use.
type aggregator struct {
	f       statsFilter
	seen    map[[16]byte]struct{} // event ids
	events  int64                 // distinct events read
	dups    int64                 // repeated event ids skipped
	bad     int64                 // records that are not decision events
	rules   map[string]*ruleAgg
	offers  map[[16]byte]offerRef // every sent or held offer, selected or not
	redeems []redemption
	cards   map[string]int32 // exposed cards
	cardIDs []string
	swipes  [][]spendFact // per exposed card
	horizon int64         // latest plausible swipe event time seen, Unix seconds
	latest  int64         // latest decision event time, Unix seconds
	nSwipes int64         // swipes of exposed cards kept
}

type ruleAgg struct {
	id         string
	version    int // highest version seen
	sent, held int64
	redeemed   int64 // distinct sent offers redeemed
	repeats    int64 // further redemptions of an offer already redeemed
	basket     int64 // cents of the first redeeming swipe of each redeemed offer
	exposed    map[int32]exposure
}

// exposure is a card's first selected event of a rule. A card is either in
// a rule's holdout or not, whatever the swipe, so held never changes.
type exposure struct {
	at   int64 // Unix seconds
	held bool
}

type offerRef struct {
	rule     *ruleAgg
	held     bool
	selected bool
	redeemed bool
}

type redemption struct {
	offer  [16]byte
	at     int64 // Unix nanoseconds of the redeeming swipe
	event  [16]byte
	basket int64
}

type spendFact struct {
	at    int64 // Unix seconds
	cents int64 // purchase total, or minus a return's
	id    uint64
}

func newAggregator(f statsFilter) *aggregator {
	return &aggregator{f: f, seen: map[[16]byte]struct{}{}, rules: map[string]*ruleAgg{},
		offers: map[[16]byte]offerRef{}, cards: map[string]int32{}}
}

// key16 is the 128-bit key of an id: its bytes when it is 32 hex digits,
// as the engine's ids are, else a hash of it.
func key16(id string) (k [16]byte) {
	if len(id) == 32 {
		if _, err := hex.Decode(k[:], []byte(id)); err == nil {
			return k
		}
	}
	sum := sha256.Sum256([]byte(id))
	copy(k[:], sum[:16])
	return k
}

// addEvent folds one decision event.
func (a *aggregator) addEvent(e *engine.Event) {
	id := key16(e.EventID)
	if _, dup := a.seen[id]; dup {
		a.dups++
		return
	}
	a.seen[id] = struct{}{}
	a.events++
	a.latest = max(a.latest, e.TS.Unix())
	if e.Kind == engine.EventRedeemed {
		a.redeems = append(a.redeems, redemption{offer: key16(e.OfferID), at: e.TS.UnixNano(), event: id, basket: e.BasketCents})
		return
	}
	r := a.rules[e.RuleID]
	if r == nil {
		r = &ruleAgg{id: e.RuleID, exposed: map[int32]exposure{}}
		a.rules[e.RuleID] = r
	}
	r.version = max(r.version, e.RuleVersion)
	held := e.Kind == engine.EventHeld
	sel := a.selects(e)
	a.offers[key16(e.OfferID)] = offerRef{rule: r, held: held, selected: sel}
	if !sel {
		return
	}
	if held {
		r.held++
	} else {
		r.sent++
	}
	c, ok := a.cards[e.CardID]
	if !ok {
		c = int32(len(a.cardIDs))
		a.cards[e.CardID] = c
		a.cardIDs = append(a.cardIDs, e.CardID)
		a.swipes = append(a.swipes, nil)
	}
	at := e.TS.Unix()
	if x, ok := r.exposed[c]; !ok || at < x.at {
		r.exposed[c] = exposure{at: at, held: held}
	}
}

func (a *aggregator) selects(e *engine.Event) bool {
	return (a.f.Rule == "" || e.RuleID == a.f.Rule) &&
		(a.f.From.IsZero() || !e.TS.Before(a.f.From)) &&
		(a.f.To.IsZero() || e.TS.Before(a.f.To))
}

// needsSwipes reports whether any selected offer was held out, the only
// case in which spend is compared.
func (a *aggregator) needsSwipes() bool {
	for _, r := range a.rules {
		if r.held > 0 {
			return true
		}
	}
	return false
}

// addSwipe folds one swipe the engine would have applied, written to
// Kafka at sent (zero if unknown); call it after every event is in. Only
// purchases and returns of exposed cards are kept; POS retries (the same
// swipe id and time again) are dropped when the figures are computed.
//
// The swipes also tell how far the data reaches (the horizon), counting
// only plausible event times: at most a day after the swipe was written
// (the engine's own limit), or within a window of the latest decision
// event. A swipe with an absurd time must not close windows still open.
func (a *aggregator) addSwipe(s *loyalty.Swipe, sent time.Time) {
	at := s.TS.Unix()
	if sent.IsZero() || at <= sent.Unix()+int64(engine.DefaultLimits.MaxSkew/time.Second) ||
		at <= a.latest+int64(a.f.Window/time.Second) {
		a.horizon = max(a.horizon, at)
	}
	c, ok := a.cards[s.CardID]
	if !ok {
		return
	}
	var cents int64
	switch s.Kind {
	case loyalty.KindPurchase:
		cents = s.TotalCents
	case loyalty.KindReturn:
		cents = -s.TotalCents
	default:
		return
	}
	h := fnv.New64a()
	h.Write([]byte(s.SwipeID))
	a.swipes[c] = append(a.swipes[c], spendFact{at: at, cents: cents, id: h.Sum64()})
	a.nSwipes++
}

// ruleReport is the figures of one rule, as printed and as --json writes
// them. Money is in cents.
type ruleReport struct {
	Rule           string  `json:"rule"`
	Version        int     `json:"version"`
	Sent           int64   `json:"sent"`
	Held           int64   `json:"held"`
	Redeemed       int64   `json:"redeemed"`
	RedemptionRate float64 `json:"redemption_rate"` // redeemed / sent
	// BasketCents sums the baskets of the redeeming swipes, the earliest
	// one per redeemed offer; AvgBasketCents is its mean.
	BasketCents    int64    `json:"basket_cents"`
	AvgBasketCents float64  `json:"avg_basket_cents"`
	Repeats        int64    `json:"repeat_redemptions"`
	Holdout        *holdout `json:"holdout,omitempty"`
}

// holdout compares the net spend (purchases minus returns) per card in the
// window after each card's first selected (would-be) offer, between cards
// that got it and cards held out. Cards whose window reaches past the
// latest swipe are still open and left out.
type holdout struct {
	TreatedCards      int64   `json:"treated_cards"`
	TreatedSpendCents float64 `json:"treated_spend_per_card_cents"`
	HeldCards         int64   `json:"held_cards"`
	HeldSpendCents    float64 `json:"held_spend_per_card_cents"`
	// UpliftCents is treated minus held spend per card: 0 and UpliftKnown
	// false when a group has no cards, since a mean of no cards is not a
	// spend of 0. UpliftSECents is its standard error (Welch), NaN-free: 0
	// and SEKnown false when a group has fewer than two cards.
	UpliftCents   float64 `json:"uplift_per_card_cents"`
	UpliftKnown   bool    `json:"uplift_known"`
	UpliftSECents float64 `json:"uplift_se_cents"`
	SEKnown       bool    `json:"se_known"`
	// UpliftDF is the standard error's degrees of freedom (Welch-
	// Satterthwaite), and UpliftCI95Cents the half-width of the uplift's
	// 95% interval: the standard error times the 97.5% quantile of
	// Student's t at UpliftDF, which is 1.96 only with many cards (4.30 at
	// 2 degrees of freedom). Both are 0 when SEKnown is false or the
	// standard error is 0 (every card of both groups spent the same).
	UpliftDF        float64 `json:"uplift_df"`
	UpliftCI95Cents float64 `json:"uplift_ci95_cents"`
	Open            int64   `json:"open_windows"`
}

// statsReport is the whole result.
type statsReport struct {
	Events     int64        `json:"events"`
	Duplicates int64        `json:"duplicates_skipped"`
	Invalid    int64        `json:"invalid_records"`
	Window     string       `json:"window"`
	Horizon    *time.Time   `json:"swipes_until,omitempty"`
	Swipes     int64        `json:"swipes_of_exposed_cards"`
	Unmatched  int64        `json:"unmatched_redemptions"` // redeemed ids never sent
	Rules      []ruleReport `json:"rules"`
}

// report joins redemptions to their offers and computes every selected
// rule's figures, ordered by rule id.
func (a *aggregator) report() *statsReport {
	rep := &statsReport{Events: a.events, Duplicates: a.dups, Invalid: a.bad, Window: formatWindow(a.f.Window), Swipes: a.nSwipes}
	// The earliest redemption of an offer is the one that counts, whatever
	// order the partitions were read in.
	sort.Slice(a.redeems, func(i, j int) bool {
		x, y := &a.redeems[i], &a.redeems[j]
		return x.at < y.at || x.at == y.at && bytes.Compare(x.event[:], y.event[:]) < 0
	})
	for _, rd := range a.redeems {
		o, ok := a.offers[rd.offer]
		switch {
		case !ok || o.held:
			rep.Unmatched++ // never sent: a typo at the POS, or another system's id
		case !o.selected:
		case o.redeemed:
			o.rule.repeats++
		default:
			o.redeemed = true
			a.offers[rd.offer] = o
			o.rule.redeemed++
			o.rule.basket += rd.basket
		}
	}
	for c, s := range a.swipes {
		// A POS retry repeats the swipe's bytes, so its copies sort together.
		sort.Slice(s, func(i, j int) bool { return s[i].at < s[j].at || s[i].at == s[j].at && s[i].id < s[j].id })
		a.swipes[c] = slices.Compact(s)
	}
	if a.horizon > 0 {
		t := time.Unix(a.horizon, 0).UTC()
		rep.Horizon = &t
	}
	for _, r := range a.rules {
		if r.sent == 0 && r.held == 0 {
			continue
		}
		rr := ruleReport{Rule: r.id, Version: r.version, Sent: r.sent, Held: r.held, Redeemed: r.redeemed,
			BasketCents: r.basket, Repeats: r.repeats}
		if r.sent > 0 {
			rr.RedemptionRate = float64(r.redeemed) / float64(r.sent)
		}
		if r.redeemed > 0 {
			rr.AvgBasketCents = float64(r.basket) / float64(r.redeemed)
		}
		if r.held > 0 {
			rr.Holdout = a.compare(r)
		}
		rep.Rules = append(rep.Rules, rr)
	}
	sort.Slice(rep.Rules, func(i, j int) bool { return rep.Rules[i].Rule < rep.Rules[j].Rule })
	return rep
}

// compare computes a rule's holdout comparison.
func (a *aggregator) compare(r *ruleAgg) *holdout {
	var treated, held moments
	h := &holdout{}
	window := int64(a.f.Window / time.Second)
	for c, x := range r.exposed {
		end := x.at + window
		if end > a.horizon {
			h.Open++
			continue
		}
		spend := spendIn(a.swipes[c], x.at, end)
		if x.held {
			held.add(float64(spend))
		} else {
			treated.add(float64(spend))
		}
	}
	h.TreatedCards, h.TreatedSpendCents = treated.n, treated.mean()
	h.HeldCards, h.HeldSpendCents = held.n, held.mean()
	if treated.n > 0 && held.n > 0 {
		h.UpliftCents = h.TreatedSpendCents - h.HeldSpendCents
		h.UpliftKnown = true
	}
	if treated.n >= 2 && held.n >= 2 {
		vt, vh := treated.variance()/float64(treated.n), held.variance()/float64(held.n)
		h.UpliftSECents = math.Sqrt(vt + vh)
		h.SEKnown = true
		if vt+vh > 0 {
			h.UpliftDF = (vt + vh) * (vt + vh) / (vt*vt/float64(treated.n-1) + vh*vh/float64(held.n-1))
			h.UpliftCI95Cents = tQuantile(0.975, h.UpliftDF) * h.UpliftSECents
		}
	}
	return h
}

// spendIn is the net spend of a card's swipes (sorted by time) with event
// time in (from, to]: after the offer's own swipe, within the window.
func spendIn(s []spendFact, from, to int64) int64 {
	var sum int64
	for j := sort.Search(len(s), func(i int) bool { return s[i].at > from }); j < len(s) && s[j].at <= to; j++ {
		sum += s[j].cents
	}
	return sum
}

// moments accumulates count, mean and the sum of squared deviations
// (Welford), stable for large sums of cents.
type moments struct {
	n       int64
	mu, ssd float64
}

func (m *moments) add(x float64) {
	m.n++
	d := x - m.mu
	m.mu += d / float64(m.n)
	m.ssd += d * (x - m.mu)
}

func (m *moments) mean() float64 { return m.mu }

// variance is the sample variance (n-1).
func (m *moments) variance() float64 {
	if m.n < 2 {
		return 0
	}
	return m.ssd / float64(m.n-1)
}

// formatWindow writes whole days as rules do ("7d"), else a Go duration.
func formatWindow(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}
