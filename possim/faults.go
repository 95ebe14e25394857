package possim

import (
	"slices"
	"strings"

	"github.com/aislecast/loyalty"
)

// The kinds of fault a bad message carries; Message.Bad names one.
const (
	FaultMalformedJSON   = "malformed-json"   // the JSON is cut short
	FaultUnknownVersion  = "unknown-version"  // "v": 2
	FaultMissingSwipeID  = "missing-swipe-id" // swipe_id absent or ""
	FaultMissingCardID   = "missing-card-id"  // card_id absent or ""; the key is still the card
	FaultNegativeAmount  = "negative-amount"  // a line with a negative qty or unit price; the total matches the lines
	FaultTotalMismatch   = "total-mismatch"   // total_cents differs from the sum of the lines
	FaultBadKind         = "bad-kind"         // kind is not one of schema v1's
	FaultMissingZone     = "missing-zone"     // ts without an offset, e.g. "2026-11-02T10:00:00"
	FaultAbsurdTime      = "absurd-time"      // ts in 1999 or 2099
	FaultKeyMismatch     = "key-mismatch"     // the Kafka key is another card's id
	FaultOversized       = "oversized"        // value over 1 MiB (a huge aisle)
	FaultEmptyValue      = "empty-value"      // zero-length value
	MaxValueBytes        = 1 << 20            // the schema's limit that FaultOversized exceeds
	OversizedEvery       = 2000               // at most one oversized message per this many
	oversizedAisleLength = MaxValueBytes + 1024
)

// Faults returns every fault kind, in a fresh slice.
func Faults() []string {
	return []string{
		FaultMalformedJSON, FaultUnknownVersion, FaultMissingSwipeID, FaultMissingCardID,
		FaultNegativeAmount, FaultTotalMismatch, FaultBadKind, FaultMissingZone,
		FaultAbsurdTime, FaultKeyMismatch, FaultOversized, FaultEmptyValue,
	}
}

func validFault(f string) bool {
	for _, k := range Faults() {
		if f == k {
			return true
		}
	}
	return false
}

// badKinds are the kinds a confused POS sends.
var badKinds = [...]string{"refund", "PURCHASE", "void", "check-in", "sale", "purchase "}

// pickFault draws a fault kind, each equally likely, except that oversized
// messages come at most once every OversizedEvery messages so that a long
// run's memory stays flat. It returns "" when no kind may be used now.
func (g *Generator) pickFault() string {
	for tries := 0; tries < 8*len(g.faults); tries++ {
		k := g.faults[g.rng.IntN(len(g.faults))]
		if k != FaultOversized || g.sent+1 >= (g.oversized+1)*OversizedEvery {
			return k
		}
	}
	return ""
}

// corrupt turns the good swipe s of card c into a message with fault kind.
// Every fault comes alone: the rest of the message is valid, so a
// validator that reports the first problem it finds must report this one.
func (g *Generator) corrupt(s *loyalty.Swipe, c *card, kind string) Message {
	m := Message{Key: []byte(c.id), Bad: kind}
	var o encOpts
	switch kind {
	case FaultMalformedJSON:
		v := g.encode(s, o)
		m.Value = v[:1+g.rng.IntN(len(v)-1)]
	case FaultUnknownVersion:
		s.V = 2
	case FaultMissingSwipeID:
		if g.rng.IntN(2) == 0 {
			o.omitSwipeID = true
		} else {
			s.SwipeID = ""
		}
	case FaultMissingCardID:
		if g.rng.IntN(2) == 0 {
			o.omitCardID = true
		} else {
			s.CardID = ""
		}
	case FaultNegativeAmount:
		g.ensureItems(s, c)
		it := &s.Items[g.rng.IntN(len(s.Items))]
		if g.rng.IntN(2) == 0 {
			it.Qty = -it.Qty
		} else {
			it.UnitPriceCents = -it.UnitPriceCents
		}
		s.TotalCents = sum(s.Items)
	case FaultTotalMismatch:
		g.ensureItems(s, c)
		total := sum(s.Items)
		if g.rng.IntN(2) == 0 && total > 1 {
			s.TotalCents = total - 1 - g.rng.Int64N(min(total-1, 999))
		} else {
			s.TotalCents = total + 1 + g.rng.Int64N(999)
		}
	case FaultBadKind:
		s.Kind = loyalty.Kind(badKinds[g.rng.IntN(len(badKinds))])
	case FaultMissingZone:
		o.localTS = true
	case FaultAbsurdTime:
		year := 1999
		if g.rng.IntN(2) == 0 {
			year = 2099
		}
		s.TS = s.TS.AddDate(year-s.TS.Year(), 0, 0)
	case FaultKeyMismatch:
		other := c.id + "0" // a card id that exists nowhere, when there is no other card
		if n := len(g.cards); n > 1 {
			k := g.rng.IntN(n - 1)
			if &g.cards[k] == c {
				k = n - 1
			}
			other = g.cards[k].id
		}
		m.Key = []byte(other)
	case FaultOversized:
		g.oversized++
		if g.hugeAisle == "" {
			g.hugeAisle = strings.Repeat("aisle 7 ", oversizedAisleLength/8)
		}
		s.Aisle = g.hugeAisle
		g.buf = slices.Grow(g.buf[:0], len(s.Aisle)+4096)
	case FaultEmptyValue:
		m.Value = []byte{}
	}
	if m.Value == nil {
		m.Value = g.encode(s, o)
	}
	return m
}

// ensureItems gives a swipe without lines (a check-in) a small purchase,
// for the faults that live in the lines.
func (g *Generator) ensureItems(s *loyalty.Swipe, c *card) {
	if len(s.Items) > 0 {
		return
	}
	s.Kind = loyalty.KindPurchase
	s.Items = make([]loyalty.Item, 1+g.rng.IntN(3))
	for i := range s.Items {
		cat := g.lineCategory(c)
		s.Items[i] = g.item(cat, drawSKU(g.rng, cat), g.qty(cat))
	}
	s.TotalCents = sum(s.Items)
}
