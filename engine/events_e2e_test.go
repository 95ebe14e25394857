package engine_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/possim"
	"github.com/aislecast/loyalty/rules"
)

// Rules for TestDecisionEventsEndToEnd: on different channels, so that no
// arbitration interferes and every hit is either sent or held.
const eventRules = `
id: big-basket
version: 3
when: swipe.kind == "purchase" && swipe.total_cents >= 6000
channels: [mobile, email]
offer: {title: "Thanks", coupon: {discount_cents: 500}, expires_in: 7d}
---
id: hello
when: swipe.kind == "checkin"
channels: [pos]
offer: {title: "Welcome back", expires_in: 7d}
holdout: 30%
`

// TestDecisionEventsEndToEnd: through the broker, offers.events holds one
// sent event for every rule and swipe that published offers (with exactly
// the channels published on), one held event for every hit held out, and,
// once later purchases name some of those offer ids in redeemed_offers, one
// redeemed event per redeemed offer with the basket total. The oracle
// computes all of it from the feed without the engine's code, using only
// the documented holdout assignment (offers.HeldOut).
func TestDecisionEventsEndToEnd(t *testing.T) {
	f := newFixture(t, 3000, 0.02)
	rs, err := rules.Parse("events.yaml", []byte(eventRules))
	if err != nil {
		t.Fatal(err)
	}
	if f.rules, err = rules.NewSet(rs); err != nil {
		t.Fatal(err)
	}
	type key struct{ kind, offer, rule, channels, card, swipe string }
	want := map[key]int64{} // basket cents of redeemed events
	seen := map[string]bool{}
	var sent []key
	for _, m := range f.msgs {
		s := m.Swipe
		if m.Bad != "" || s == nil || seen[s.SwipeID] {
			continue
		}
		seen[s.SwipeID] = true
		if s.Kind == "purchase" && s.TotalCents >= 6000 {
			k := key{"sent", offers.ID("big-basket", 3, s.SwipeID), "big-basket", "mobile,email", s.CardID, s.SwipeID}
			want[k] = 0
			sent = append(sent, k)
		}
		if s.Kind == "checkin" {
			kind := "sent"
			if offers.HeldOut(s.CardID, "hello", 0.3) {
				kind = "held"
			}
			want[key{kind, offers.ID("hello", 1, s.SwipeID), "hello", "pos", s.CardID, s.SwipeID}] = 0
		}
	}
	f.produce(0, len(f.msgs))
	f.run(int64(len(f.msgs)))

	// Later purchases redeem ten of the offers; a scan naming an offer and
	// a purchase naming something that is no offer id are counted, not
	// turned into events.
	n0 := len(f.msgs)
	add := func(card, id string, kind loyalty.Kind, redeemed ...string) {
		f.clock = f.clock.Add(time.Minute)
		s := &loyalty.Swipe{V: 1, SwipeID: id, CardID: card, Kind: kind, StoreID: "s-redeem", TS: f.clock,
			Items: []loyalty.Item{{SKU: "milk-1", Category: "dairy", Qty: 2, UnitPriceCents: 150 + int64(len(f.msgs)-n0)}}, RedeemedOffers: redeemed}
		s.TotalCents = s.Items[0].LineCents()
		v, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		f.msgs, f.sent = append(f.msgs, possim.Message{Key: []byte(card), Value: v, Swipe: s}), append(f.sent, f.clock)
		if kind == loyalty.KindPurchase && len(redeemed) > 0 && redeemed[0] != "no-such-offer" {
			want[key{"redeemed", redeemed[0], "", "", card, id}] = s.TotalCents
		}
	}
	if len(sent) < 10 {
		t.Fatalf("the feed triggered only %d offers", len(sent))
	}
	for i, k := range sent[:10] {
		add(k.card, fmt.Sprintf("redeem-%d", i), loyalty.KindPurchase, k.offer, k.offer)
	}
	add(sent[0].card, "redeem-scan", loyalty.KindScan, sent[0].offer)
	add(sent[0].card, "redeem-bad", loyalty.KindPurchase, "no-such-offer")
	f.produce(n0, len(f.msgs))
	st := f.run(int64(len(f.msgs) - n0))
	if st.Redeemed.Load() != 10 {
		t.Errorf("second engine counted %d redemptions, want 10", st.Redeemed.Load())
	}
	if got := fmt.Sprint(st.RedemptionsIgnored()); got != "[{malformed-id 1} {not-purchase 1}]" {
		t.Errorf("ignored redemptions %s", got)
	}

	got := map[key]int64{}
	byOffer := map[string]engine.Event{}
	for _, m := range f.readAll(engine.TopicEvents) {
		e, err := engine.DecodeEvent(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != e.CardID {
			t.Errorf("event %s keyed %s", e.EventID, m.Key)
		}
		k := key{e.Kind, e.OfferID, e.RuleID, strings.Join(e.Channels, ","), e.CardID, e.SwipeID}
		if _, dup := got[k]; dup {
			continue // at least once: consumers dedupe
		}
		got[k] = e.BasketCents
		if e.Kind == engine.EventSent {
			byOffer[e.OfferID] = e
		}
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("missing event %+v (basket %d)", k, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected event %+v", k)
		}
	}
	// Every published offer has its sent event, naming its channel.
	offersSeen := 0
	for _, ch := range loyalty.Channels {
		for _, m := range f.readAll(loyalty.OfferTopic(ch)) {
			o, err := decodeOffer(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			offersSeen++
			e, ok := byOffer[o.OfferID]
			if !ok || !slices.Contains(e.Channels, ch) || !e.ExpiresAt.Equal(o.ExpiresAt) || e.RuleVersion != o.RuleVersion {
				t.Errorf("offer %s on %s: sent event %+v", o.OfferID, ch, e)
			}
		}
	}
	kinds := map[string]int{}
	for k := range got {
		kinds[k.kind]++
	}
	if kinds["sent"] == 0 || kinds["held"] == 0 || kinds["redeemed"] != 10 || offersSeen == 0 {
		t.Fatalf("the feed must exercise every kind: %v, %d offers", kinds, offersSeen)
	}
	t.Logf("events %v for %d offers", kinds, offersSeen)
}
