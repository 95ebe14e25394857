package offers

import (
	"math/bits"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/rules"
)

// Award is the outcome of arbitration for one rule whose policy let it
// send: the channels it won, or, when it won none, the rule that beat it
// and where.
type Award struct {
	Rule   *rules.Rule
	won    uint32 // bit i: the rule won loyalty.Channels[i]
	LostTo *rules.Rule
	// LostOn is the channel whose slots LostTo took last, or the group
	// LostTo claimed when InGroup is set.
	LostOn  string
	InGroup bool
}

// Won reports whether the rule won at least one channel.
func (a *Award) Won() bool { return a.won != 0 }

// WonOn reports whether the rule won channel ch.
func (a *Award) WonOn(ch string) bool {
	i := channelIndex(ch)
	return i >= 0 && a.won&(1<<i) != 0
}

// Reason explains a lost arbitration; it is "" for a winner. It is built
// on demand, so arbitration itself does not allocate.
func (a *Award) Reason() string {
	switch {
	case a.Won() || a.LostTo == nil:
		return ""
	case a.InGroup:
		return "lost arbitration to rule " + a.LostTo.ID + " in group " + a.LostOn
	default:
		return "lost arbitration to rule " + a.LostTo.ID + " on channel " + a.LostOn
	}
}

// Hit is a rule whose policy lets it send on a swipe, and the channels it
// may send on (Verdict.Channels): those the card accepts and that are not
// quiet. Arbitration sees only those channels; they must be among the
// rule's own, as a Verdict's are.
type Hit struct {
	Rule     *rules.Rule
	Channels ChannelSet
	// Ord is the caller's number for the rule, carried along as Arbitrate
	// sorts the hits (the engine's: the rule's ordinal in its rules.Set,
	// to count per rule in arrays). Arbitrate does not read it.
	Ord int32
}

// Arbitrate decides which of the rules that may send on swipe s do: at
// most k offers per channel (k < 1 counts as 1) and at most one rule per
// group. A hit competes only on its Channels. Rules are ranked by priority (higher first), then expected value
// (ExpectedCents, higher first), then rule id; each takes every channel of
// its own that still has a free slot, so a rule may win some of its
// channels and lose others. The first rule of a group to win a channel
// claims the group: later rules of it lose. Arbitrate sorts hits into that
// order in place and appends one Award per hit, in that order, to awards.
func Arbitrate(hits []Hit, s *loyalty.Swipe, k int, awards []Award) []Award {
	k = max(k, 1)
	sortHits(hits, s)
	var taken [32]int        // slots taken per channel index
	var last [32]*rules.Rule // the rule that took a channel's latest slot
	first := len(awards)
	for _, h := range hits {
		r := h.Rule
		a := Award{Rule: r}
		if r.Group != "" {
			for i := first; i < len(awards); i++ {
				if w := &awards[i]; w.Won() && w.Rule.Group == r.Group {
					a.LostTo, a.LostOn, a.InGroup = w.Rule, r.Group, true
					break
				}
			}
		}
		if a.LostTo == nil {
			take := func(i int, ch string) {
				if taken[i] < k {
					taken[i]++
					last[i] = r
					a.won |= 1 << i
				} else if a.LostTo == nil {
					a.LostTo, a.LostOn = last[i], ch
				}
			}
			if h.Channels&(h.Channels-1) == 0 {
				// One channel or none: no order to keep, no channel
				// names to read.
				if h.Channels != 0 {
					i := bits.TrailingZeros32(uint32(h.Channels))
					take(i, loyalty.Channels[i])
				}
			} else {
				// In the rule's order: the first channel lost names LostOn.
				for _, ch := range r.Channels {
					if i := channelIndex(ch); i >= 0 && h.Channels&(1<<i) != 0 {
						take(i, ch)
					}
				}
			}
			if a.Won() {
				a.LostTo, a.LostOn = nil, ""
			}
		}
		awards = append(awards, a)
	}
	return awards
}

// ExpectedCents estimates what an offer of r is worth to the shopper of
// swipe s: its discount in cents, or its percentage of the swipe's total.
func ExpectedCents(r *rules.Rule, s *loyalty.Swipe) int64 {
	if r.Coupon.DiscountCents > 0 {
		return r.Coupon.DiscountCents
	}
	return int64(r.Coupon.DiscountPercent) * s.TotalCents / 100
}

// before reports whether a ranks before b in arbitration.
func before(a, b *rules.Rule, s *loyalty.Swipe) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if ea, eb := ExpectedCents(a, s), ExpectedCents(b, s); ea != eb {
		return ea > eb
	}
	return a.ID < b.ID
}

// sortHits is an insertion sort: a swipe hits few rules, and it needs no
// closure or allocation.
func sortHits(hits []Hit, s *loyalty.Swipe) {
	for i := 1; i < len(hits); i++ {
		for j := i; j > 0 && before(hits[j].Rule, hits[j-1].Rule, s); j-- {
			hits[j], hits[j-1] = hits[j-1], hits[j]
		}
	}
}

// channelIndex is ch's index in loyalty.Channels, or -1; arbitration
// tracks at most 32 channels.
func channelIndex(ch string) int {
	for i, c := range loyalty.Channels {
		if c == ch && i < 32 {
			return i
		}
	}
	return -1
}
