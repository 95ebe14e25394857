package engine_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
	"github.com/segmentio/kafka-go"
)

// TestConsentEndToEnd: opt-outs published to the identities topic before
// the swipes stop exactly the offers they name, through the broker: card
// A opted out of mobile gets its e-mails but no push, card B opted out of
// everything gets nothing (counted as consent), a card whose opt-out was
// deleted (tombstone) and a card whose record is garbled get everything,
// and every other card is unaffected.
func TestConsentEndToEnd(t *testing.T) {
	f := newFixture(t, 3000, 0.02)
	_, want, _ := f.oracle(len(f.msgs))

	// Cards ranked by how many offers the oracle gives them.
	count := map[string]int{}
	mobile := map[string]int{}
	for k := range want {
		count[k.card]++
		if k.channel == loyalty.ChannelMobile {
			mobile[k.card]++
		}
	}
	var cards []string
	for c := range count {
		cards = append(cards, c)
	}
	sort.Slice(cards, func(i, j int) bool {
		if mobile[cards[i]] != mobile[cards[j]] {
			return mobile[cards[i]] > mobile[cards[j]]
		}
		return cards[i] < cards[j]
	})
	if len(cards) < 4 || mobile[cards[1]] == 0 {
		t.Fatalf("the feed gives too few cards mobile offers: %v", mobile)
	}
	a, b, tomb, garbled := cards[0], cards[1], cards[2], cards[3]

	w := &kafka.Writer{Addr: kafka.TCP(f.brokers...), Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	rec := func(card, value string) kafka.Message {
		m := kafka.Message{Topic: engine.TopicIdentities, Key: []byte(card)}
		if value != "" {
			m.Value = []byte(value)
		}
		return m
	}
	if err := w.WriteMessages(context.Background(),
		rec(a, `{"card_id":"`+a+`","consent":{"mobile":false,"email":true,"pos":true}}`),
		rec(b, `{"card_id":"`+b+`","consent":{"mobile":false,"email":false,"pos":false}}`),
		rec(tomb, `{"card_id":"`+tomb+`","consent":{"mobile":false,"email":false,"pos":false}}`),
		rec(tomb, ""),
		rec(garbled, `{"card_id":"`+garbled+`","consent":{"mobile":false}}`),
		rec(garbled, `{"card_id":"`+garbled+`","consent":"none"}`),
	); err != nil {
		t.Fatal(err)
	}

	f.produce(0, len(f.msgs))
	st := f.run(int64(len(f.msgs)))

	// What must be published: the oracle's offers without A's mobile ones
	// and without any of B's. B's rule hits are counted as consent.
	hitsOfB := map[string]bool{}
	for k := range want {
		if k.card == b {
			hitsOfB[k.id] = true
		}
		if k.card == b || k.card == a && k.channel == loyalty.ChannelMobile {
			delete(want, k)
		}
	}
	got := map[wantOffer]bool{}
	for _, ch := range loyalty.Channels {
		for _, m := range f.readAll(loyalty.OfferTopic(ch)) {
			o, err := decodeOffer(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			got[wantOffer{o.OfferID, o.Channel, o.CardID}] = true
		}
	}
	diffOffers(t, got, want)
	var consent int64
	for _, s := range st.SuppressedByRule() {
		if s.Reason == "consent" {
			consent += s.N
		}
	}
	if consent != int64(len(hitsOfB)) {
		t.Errorf("%d hits suppressed for consent, want %d (every hit of %s)", consent, len(hitsOfB), b)
	}
	for _, tb := range f.last.Tables() {
		if tb.Topic == engine.TopicIdentities && (tb.Records != 6 || tb.Malformed != 1 || !tb.Loaded) {
			t.Errorf("identities table %+v, want 6 records, 1 malformed, loaded", tb)
		}
	}
	t.Logf("%d offers; %s opted out of mobile (%d pushes withheld), %s of everything (%d hits)", len(want), a, mobile[a], b, len(hitsOfB))
}
