package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
)

// TestAppendEventMatchesEncodingJSON: the hand-written encoder writes what
// encoding/json writes for the same event, so consumers may use any JSON
// library, and DecodeEvent reads it back unchanged.
func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	ny := time.FixedZone("", -5*3600)
	for _, e := range []Event{
		{EventID: "e1", Kind: EventSent, OfferID: "o1", RuleID: "r", RuleVersion: 3, Channels: []string{"mobile", "email"},
			CardID: "card-1", StoreID: "s1", SwipeID: "sw-1", TS: time.Date(2026, 12, 1, 10, 0, 0, 0, ny),
			ExpiresAt: time.Date(2026, 12, 1, 14, 0, 0, 500, ny)},
		{EventID: "e2", Kind: EventHeld, OfferID: "o2", RuleID: "r", RuleVersion: 1, Channels: []string{"pos"},
			CardID: "c\"\\\n\t\r\b\f\x01\x1f<>&é\u2028\u2029", StoreID: "s\xff1", SwipeID: "x", TS: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)},
		{EventID: "e3", Kind: EventRedeemed, OfferID: "o3", CardID: "c", StoreID: "s", SwipeID: "y",
			TS: time.Date(2026, 12, 2, 9, 30, 0, 0, ny), BasketCents: 4210},
	} {
		got := AppendEvent(nil, &e)
		want, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		// encoding/json also escapes <, > and & for HTML; both are valid JSON.
		want = []byte(strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(want)))
		if string(got) != string(want) {
			t.Errorf("AppendEvent\n %s\nencoding/json\n %s", got, want)
		}
		back, err := DecodeEvent(got)
		if err != nil {
			t.Fatal(err)
		}
		// The event's strings are its own.
		clear(got)
		e.StoreID = strings.ToValidUTF8(e.StoreID, "\ufffd") // one invalid byte here
		if !reflect.DeepEqual(fmt.Sprint(back), fmt.Sprint(e)) {
			t.Errorf("round trip\n %+v\nwant\n %+v", back, e)
		}
	}
}

func TestDecodeEventRejects(t *testing.T) {
	for _, in := range []string{`{`, `{"event_id":"e","kind":"lost","offer_id":"o"}`, `{"kind":"sent","offer_id":"o"}`, `{"event_id":"e","kind":"sent"}`,
		`{"event_id":"e","kind":"sent","offer_id":"o"}`, `{"event_id":"e","kind":"sent","offer_id":"o","ts":"2026-12-01"}`,
		`null`, `{"event_id":"e","kind":"sent","offer_id":"o","ts":"2026-12-01T10:00:00Z"} x`} {
		if _, err := DecodeEvent([]byte(in)); err == nil {
			t.Errorf("DecodeEvent(%s) accepted it", in)
		}
	}
}

// TestPipelineEvents: every offer sent and every offer held out makes one
// event per rule and swipe (not per channel), with the offer's id; a
// purchase naming offer ids in redeemed_offers makes one redeemed event per
// distinct well-formed id, and everything else in redeemed_offers is
// counted by reason. POS retries and replays make no events.
func TestPipelineEvents(t *testing.T) {
	const src = `
id: thanks
version: 2
when: swipe.kind == "purchase"
channels: [mobile, email]
offer: {title: Thanks, expires_in: 4h}
---
id: coffee-replenish
when: swipe.kind == "purchase"
channels: [pos]
offer: {title: Measured}
holdout: 4.29%
`
	rs, err := rules.Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.NewSet(rs)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)
	p := NewPipeline(0, set, nil, DefaultLimits, func() time.Time { return now }, nil)
	swipe := func(off int64, card, id, kind, redeemed string) {
		items, total := `"items":[{"sku":"a","category":"c","qty":3,"unit_price_cents":700}],`, 2100
		if kind == "checkin" {
			items, total = "", 0
		}
		v := fmt.Sprintf(`{"v":1,"swipe_id":"%s","card_id":"%s","kind":"%s","store_id":"s1","ts":"2026-12-01T10:00:%02d-05:00",%s"total_cents":%d,"redeemed_offers":[%s]}`,
			id, card, kind, off, items, total, redeemed)
		p.Process(&kafka.Message{Topic: TopicSwipes, Offset: off, Key: []byte(card), Value: []byte(v)})
	}
	// c-2 is in the 4.29% holdout of "coffee-replenish" (see offers' TestHeldOutIsStable), c-1 is not.
	swipe(0, "c-1", "a", "purchase", "")
	swipe(1, "c-2", "b", "purchase", "")
	o1 := offers.ID("thanks", 2, "a")
	swipe(2, "c-1", "c", "purchase", fmt.Sprintf("%q,%q,%q,%q", o1, "not-an-id", o1, strings.ToUpper(o1)))
	swipe(3, "c-1", "d", "checkin", fmt.Sprintf("%q", o1))
	swipe(2, "c-1", "c", "purchase", fmt.Sprintf("%q", o1)) // replayed offset
	swipe(4, "c-1", "c", "purchase", fmt.Sprintf("%q", o1)) // POS retry of swipe c

	var got []string
	for _, m := range p.b.out {
		if m.Topic != TopicEvents {
			continue
		}
		e, err := DecodeEvent(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != e.CardID || e.EventID != EventID(e.Kind, e.OfferID, e.SwipeID) {
			t.Errorf("event %+v: key %s", e, m.Key)
		}
		line := fmt.Sprintf("%s %s %s v%d %v %s %s", e.Kind, e.OfferID, e.RuleID, e.RuleVersion, e.Channels, e.CardID, e.SwipeID)
		switch e.Kind {
		case EventRedeemed:
			line += fmt.Sprintf(" basket %d", e.BasketCents)
		default:
			line += " expires " + e.ExpiresAt.Sub(e.TS).String()
		}
		got = append(got, line)
	}
	// Arbitration orders equal rules by id.
	want := []string{
		"sent " + offers.ID("coffee-replenish", 1, "a") + " coffee-replenish v1 [pos] c-1 a expires 24h0m0s",
		"sent " + o1 + " thanks v2 [mobile email] c-1 a expires 4h0m0s",
		"held " + offers.ID("coffee-replenish", 1, "b") + " coffee-replenish v1 [pos] c-2 b expires 24h0m0s",
		"sent " + offers.ID("thanks", 2, "b") + " thanks v2 [mobile email] c-2 b expires 4h0m0s",
		"redeemed " + o1 + "  v0 [] c-1 c basket 2100",
		"sent " + offers.ID("coffee-replenish", 1, "c") + " coffee-replenish v1 [pos] c-1 c expires 24h0m0s",
		"sent " + offers.ID("thanks", 2, "c") + " thanks v2 [mobile email] c-1 c expires 4h0m0s",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p.b.ev.events != int64(len(want)) || p.b.ev.redeemed != 1 {
		t.Errorf("counted %d events, %d redeemed; want %d, 1", p.b.ev.events, p.b.ev.redeemed, len(want))
	}
	wantIgnored := map[string]int64{RedeemMalformedID: 2, RedeemNotPurchase: 1}
	if !reflect.DeepEqual(p.b.ev.ignored, wantIgnored) {
		t.Errorf("ignored %v, want %v", p.b.ev.ignored, wantIgnored)
	}
	p.StartBatch()
	if p.b.ev.events != 0 || p.b.ev.redeemed != 0 || len(p.b.ev.ignored) != 0 {
		t.Errorf("StartBatch kept event counts %+v", p.b.ev)
	}
}

// FuzzEventJSON: the event parser agrees with encoding/json on every
// object, valid or not.
func FuzzEventJSON(f *testing.F) {
	e := Event{EventID: "e1", Kind: EventSent, OfferID: "o1", RuleID: "r", RuleVersion: 3, Channels: []string{"mobile", "pos"},
		CardID: "c", StoreID: "s", SwipeID: "w", TS: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), BasketCents: 12}
	f.Add(AppendEvent(nil, &e))
	for _, s := range []string{`{}`, `{"channels":null}`, `{"channels":[]}`, `{"channels":["a",null],"channels":["b"]}`,
		`{"KIND":"held","kind":"sent"}`, `{"rule_version":1.5}`, `{"basket_cents":"1"}`, `{"x":[{"y":{}}],"ts":"t"}`, ` {"ſwipe_id":"a"} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var hand, lib wireEvent
		herr := decodeEventJSON(data, &hand)
		lerr := json.Unmarshal(data, &lib)
		object := len(bytes.TrimLeft(data, " \t\r\n")) > 0 && bytes.TrimLeft(data, " \t\r\n")[0] == '{'
		switch {
		case herr == nil && lerr != nil:
			t.Fatalf("%q: accepted, encoding/json says %v", data, lerr)
		case herr != nil && lerr == nil && object:
			t.Fatalf("%q: %v, encoding/json accepts it", data, herr)
		case herr == nil && !reflect.DeepEqual(hand, lib):
			t.Fatalf("%q:\n got %#v\nwant %#v", data, hand, lib)
		}
	})
}

func BenchmarkDecodeEvent(b *testing.B) {
	e := Event{EventID: EventID("sent", "d5c4bf35dd607caa539d1ecfb87fa24b", "s002-app-2921"), Kind: EventSent,
		OfferID: "d5c4bf35dd607caa539d1ecfb87fa24b", RuleID: "coffee-replenish", RuleVersion: 1, Channels: []string{"mobile"},
		CardID: "card-0001587", StoreID: "s002", SwipeID: "s002-app-2921", TS: time.Date(2026, 12, 7, 10, 8, 2, 0, time.FixedZone("", -6*3600)),
		ExpiresAt: time.Date(2026, 12, 7, 14, 8, 2, 0, time.FixedZone("", -6*3600))}
	data := AppendEvent(nil, &e)
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeEvent(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var e Event
			if err := json.Unmarshal(data, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
