package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/internal/jsonw"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// TopicEvents is the decision stream: one event per offer sent, per offer
// held out and per redemption, keyed by card, so that offers can be
// measured afterwards (offerctl stats) without the engine's state.
const TopicEvents = "offers.events"

// Kinds of Event.
const (
	// EventSent: a rule's offer was published, on Channels.
	EventSent = "sent"
	// EventHeld: a rule's offer would have been sent but the card is in the
	// rule's holdout; nothing was published. OfferID is the id it would
	// have had.
	EventHeld = "held"
	// EventRedeemed: a purchase swipe named OfferID in redeemed_offers.
	EventRedeemed = "redeemed"
)

// Event is one record of the decision stream. Sent and held events carry
// the rule, the channels and the triggering swipe; redeemed events carry
// the redeeming swipe and its basket. The stream is at least once: after a
// crash an event may appear again with the same EventID, so consumers
// dedupe on it.
type Event struct {
	// EventID is derived from Kind, OfferID and SwipeID, so a replay
	// produces the same id.
	EventID string `json:"event_id"`
	Kind    string `json:"kind"`
	// OfferID is the offer's deterministic id (offers.ID): the one the app
	// received, or for a held event the one it would have received.
	OfferID     string   `json:"offer_id"`
	RuleID      string   `json:"rule_id,omitempty"`
	RuleVersion int      `json:"rule_version,omitempty"`
	Channels    []string `json:"channels,omitempty"`
	CardID      string   `json:"card_id"`
	StoreID     string   `json:"store_id"`
	// SwipeID is the triggering swipe of a sent or held event, the
	// redeeming swipe of a redeemed one; TS is that swipe's event time.
	SwipeID   string    `json:"swipe_id"`
	TS        time.Time `json:"ts"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// BasketCents is the redeeming swipe's total_cents (redeemed only).
	BasketCents int64 `json:"basket_cents,omitempty"`
}

// EventID is the id of the event of the given kind about an offer and a
// swipe: the first 128 bits of SHA-256 over the three, in hex.
func EventID(kind, offerID, swipeID string) string {
	id := eventID(kind, offerID, swipeID)
	return string(id[:])
}

// eventID is EventID in an array, which the hot path turns into a string
// that need not leave the stack.
func eventID(kind, offerID, swipeID string) (id [32]byte) {
	var buf [128]byte
	b := append(buf[:0], kind...)
	b = append(b, 0)
	b = append(b, offerID...)
	b = append(b, 0)
	b = append(b, swipeID...)
	sum := sha256.Sum256(b)
	hex.Encode(id[:], sum[:16])
	return id
}

// DecodeEvent parses one record of the decision stream. It takes what
// encoding/json would take into an Event, several times faster. The
// event's strings are its own: data may be reused.
func DecodeEvent(data []byte) (Event, error) {
	var w wireEvent
	if err := decodeEventJSON(data, &w); err != nil {
		return Event{}, fmt.Errorf("decision event: %w", err)
	}
	switch w.Kind {
	case EventSent:
		w.Kind = EventSent
	case EventHeld:
		w.Kind = EventHeld
	case EventRedeemed:
		w.Kind = EventRedeemed
	default:
		return Event{}, fmt.Errorf("decision event %s: unknown kind %q", w.EventID, w.Kind)
	}
	if w.EventID == "" || w.OfferID == "" {
		return Event{}, fmt.Errorf("decision event %q: missing event_id or offer_id", w.EventID)
	}
	e := Event{EventID: w.EventID, Kind: w.Kind, OfferID: w.OfferID, RuleID: w.RuleID, RuleVersion: int(w.RuleVersion),
		Channels: w.Channels, CardID: w.CardID, StoreID: w.StoreID, SwipeID: w.SwipeID, BasketCents: w.BasketCents}
	var err error
	if e.TS, err = time.Parse(time.RFC3339Nano, w.TS); err != nil {
		return Event{}, fmt.Errorf("decision event %s: ts: %w", w.EventID, err)
	}
	if w.ExpiresAt != "" {
		if e.ExpiresAt, err = time.Parse(time.RFC3339Nano, w.ExpiresAt); err != nil {
			return Event{}, fmt.Errorf("decision event %s: expires_at: %w", w.EventID, err)
		}
	}
	ownEventStrings(&e)
	return e, nil
}

// ownEventStrings copies the strings of e, which the decoder left as views
// of its input, into one allocation of their own.
func ownEventStrings(e *Event) {
	n := len(e.EventID) + len(e.OfferID) + len(e.RuleID) + len(e.CardID) + len(e.StoreID) + len(e.SwipeID)
	for _, ch := range e.Channels {
		n += len(ch)
	}
	var c stringCopies
	c.Grow(n)
	for _, p := range []*string{&e.EventID, &e.OfferID, &e.RuleID, &e.CardID, &e.StoreID, &e.SwipeID} {
		c.own(p)
	}
	if e.Channels != nil {
		chs := make([]string, len(e.Channels))
		for i := range e.Channels {
			chs[i] = e.Channels[i]
			c.own(&chs[i])
		}
		e.Channels = chs
	}
}

// AppendEvent appends the JSON encoding of e to dst. It writes the fields
// encoding/json would, in the same order, without reflection and without
// HTML escaping: the engine emits an event for every offer and redemption.
func AppendEvent(dst []byte, e *Event) []byte {
	dst = append(dst, `{"event_id":`...)
	dst = jsonString(dst, e.EventID)
	dst = append(dst, `,"kind":`...)
	dst = jsonString(dst, e.Kind)
	dst = append(dst, `,"offer_id":`...)
	dst = jsonString(dst, e.OfferID)
	if e.RuleID != "" {
		dst = append(dst, `,"rule_id":`...)
		dst = jsonString(dst, e.RuleID)
	}
	if e.RuleVersion != 0 {
		dst = append(dst, `,"rule_version":`...)
		dst = strconv.AppendInt(dst, int64(e.RuleVersion), 10)
	}
	if len(e.Channels) > 0 {
		dst = jsonw.Strings(append(dst, `,"channels":`...), e.Channels, false)
	}
	dst = append(dst, `,"card_id":`...)
	dst = jsonString(dst, e.CardID)
	dst = append(dst, `,"store_id":`...)
	dst = jsonString(dst, e.StoreID)
	dst = append(dst, `,"swipe_id":`...)
	dst = jsonString(dst, e.SwipeID)
	dst = append(dst, `,"ts":`...)
	dst, _ = jsonw.Time(dst, e.TS) // a time RFC 3339 cannot hold is written as is
	if !e.ExpiresAt.IsZero() {
		dst = append(dst, `,"expires_at":`...)
		dst, _ = jsonw.Time(dst, e.ExpiresAt)
	}
	if e.BasketCents != 0 {
		dst = append(dst, `,"basket_cents":`...)
		dst = strconv.AppendInt(dst, e.BasketCents, 10)
	}
	return append(dst, '}')
}

// jsonString appends s as a JSON string without HTML escaping.
func jsonString(dst []byte, s string) []byte { return jsonw.String(dst, s, false) }

// eventCounts is what a batch added to the decision stream.
type eventCounts struct {
	events   int64 // sent, held and redeemed events queued
	redeemed int64 // redeemed events queued
	// ignored counts redeemed_offers entries that made no event, by
	// reason: "malformed-id" (not an offer id) or "not-purchase" (only a
	// purchase redeems).
	ignored map[string]int64
}

func (c *eventCounts) reset() {
	c.events, c.redeemed = 0, 0
	clear(c.ignored)
}

// Reasons a redeemed_offers entry makes no event.
const (
	RedeemMalformedID = "malformed-id"
	RedeemNotPurchase = "not-purchase"
)

// decided queues the sent or held event of rule r's offer for swipe s.
// channels are those published on (sent) or that would have been (held).
func (p *Pipeline) decided(kind string, r *rules.Rule, offerID string, channels []string, s *loyalty.Swipe) {
	id := eventID(kind, offerID, s.SwipeID)
	p.queueEvent(&Event{
		EventID: string(id[:]), Kind: kind, OfferID: offerID,
		RuleID: r.ID, RuleVersion: r.Version, Channels: channels,
		CardID: s.CardID, StoreID: s.StoreID, SwipeID: s.SwipeID, TS: s.TS, ExpiresAt: s.TS.Add(r.ExpiresIn),
	})
}

// redemptions queues a redeemed event for every distinct offer id in the
// redeemed_offers of an applied swipe. Only purchases redeem; entries that
// are not offer ids, or on other kinds of swipe, are counted by reason and
// logged, never silently dropped.
func (p *Pipeline) redemptions(s *loyalty.Swipe) {
	ev := &p.b.ev
	for i, id := range s.RedeemedOffers {
		reason := ""
		switch {
		case s.Kind != loyalty.KindPurchase:
			reason = RedeemNotPurchase
		case !isOfferID(id):
			reason = RedeemMalformedID
		}
		if reason != "" {
			if ev.ignored == nil {
				ev.ignored = make(map[string]int64)
			}
			ev.ignored[reason]++
			p.log.Debug("redemption ignored", zap.String("reason", reason), zap.String("swipe_id", s.SwipeID), zap.String("offer_id", truncate([]byte(id), 64)))
			continue
		}
		if seenBefore(s.RedeemedOffers[:i], id) {
			continue
		}
		p.queueEvent(&Event{
			EventID: EventID(EventRedeemed, id, s.SwipeID), Kind: EventRedeemed, OfferID: id,
			CardID: s.CardID, StoreID: s.StoreID, SwipeID: s.SwipeID, TS: s.TS, BasketCents: s.TotalCents,
		})
		ev.redeemed++
	}
}

func seenBefore(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// isOfferID reports whether id has the form of offers.ID: 32 lower-case
// hex digits.
func isOfferID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// queueEvent adds e to the batch's output, published with the offers.
func (p *Pipeline) queueEvent(e *Event) {
	b, key := p.b, p.cardKey(e.CardID)
	start := len(b.arena)
	b.arena = AppendEvent(b.arena, e)
	b.out = append(b.out, kafka.Message{Topic: TopicEvents, Key: key, Value: b.carve(start)})
	p.b.ev.events++
}
