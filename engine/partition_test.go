package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
)

// TestPipelinePolicy: every hit is judged by its policy, the survivors
// compete for the channels, and what sent nothing is counted per rule and
// reason. Card c-2 is in the 4.29% holdout of "coffee-replenish" (see offers'
// TestHeldOutIsStable), c-1 is not.
func TestPipelinePolicy(t *testing.T) {
	const src = `
id: big
priority: 20
when: swipe.kind == "purchase"
channels: [mobile]
offer: {title: Big, coupon: {discount_cents: 500}}
limits: {cooldown: 7d}
---
id: small
priority: 10
when: swipe.kind == "purchase"
channels: [mobile, email]
offer: {title: Small, coupon: {discount_cents: 100}}
---
id: coffee-replenish
priority: 5
when: swipe.kind == "purchase"
channels: [pos]
offer: {title: Measured, coupon: {discount_cents: 100}}
holdout: 4.29%
`
	p := testPipeline(t, 0, src)
	swipe := func(off int64, card, ts string) {
		v := fmt.Sprintf(`{"v":1,"swipe_id":"%s-%d","card_id":"%s","kind":"purchase","store_id":"s1","ts":"%s",`+
			`"items":[{"sku":"a","category":"c","qty":1,"unit_price_cents":100}],"total_cents":100}`, card, off, card, ts)
		p.Process(&kafka.Message{Topic: TopicSwipes, Offset: off, Key: []byte(card), Value: []byte(v)})
	}
	swipe(0, "c-1", "2026-12-01T10:00:00-05:00") // big takes mobile, small gets email, coffee-replenish pos
	swipe(1, "c-1", "2026-12-03T10:00:00-05:00") // big cools down: small takes mobile and email
	swipe(2, "c-2", "2026-12-03T10:00:00-05:00") // coffee-replenish is held for c-2
	got := describeOffers(t, p.b.out)
	want := []string{
		"c-1-0 offers.mobile big", "c-1-0 offers.email small", "c-1-0 offers.pos coffee-replenish",
		"c-1-1 offers.mobile small", "c-1-1 offers.email small", "c-1-1 offers.pos coffee-replenish",
		"c-2-2 offers.mobile big", "c-2-2 offers.email small",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("offers\n %q\nwant\n %q", got, want)
	}
	wantSup := map[suppression]int64{{"big", offers.Cooldown}: 1, {"coffee-replenish", offers.Holdout}: 1}
	if fmt.Sprint(p.b.suppressions()) != fmt.Sprint(wantSup) {
		t.Errorf("suppressed %v, want %v", p.b.suppressions(), wantSup)
	}
	if h := storedProfile(t, p, "c-2").Offered("coffee-replenish"); h == nil || h.Held != 1 {
		t.Errorf("c-2 history of coffee-replenish: %+v, want one held", h)
	}

	// One offer per channel means small loses mobile to big but keeps
	// email; with two per channel it keeps both.
	p.StartBatch()
	p.SetMaxOffersPerChannel(2)
	swipe(3, "c-3", "2026-12-03T10:00:00-05:00")
	if n := len(p.b.out) - int(p.b.ev.events); n != 4 {
		t.Errorf("with 2 offers per channel: %d offers, want 4 (big, small twice, coffee-replenish)", n)
	}
}

// testPipeline returns the pipeline of partition id over the rules of src,
// with a clock on 2026-12-10.
func testPipeline(t testing.TB, id int, src string) *Pipeline {
	t.Helper()
	return testPipelineOn(t, id, src, nil)
}

// testPipelineOn is testPipeline over store (nil: a fresh in-memory one).
func testPipelineOn(t testing.TB, id int, src string, store Store) *Pipeline {
	t.Helper()
	rs, err := rules.Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.NewSet(rs)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)
	return NewPipeline(id, set, store, DefaultLimits, func() time.Time { return now }, nil)
}

// describeOffers describes each offer of out as "<trigger swipe id>
// <topic> <rule id>", skipping messages of other topics.
func describeOffers(t *testing.T, out []kafka.Message) []string {
	t.Helper()
	var got []string
	for _, m := range out {
		if !loyalty.IsOfferTopic(m.Topic) {
			continue
		}
		var o loyalty.Offer
		if err := json.Unmarshal(m.Value, &o); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %s", o.TriggerSwipeID, m.Topic, o.RuleID))
	}
	return got
}

// The changelog of a batch holds one record per changed card, its last
// value, as the store holds it; swipes that change nothing (bad ones,
// replays) add none, and the records stay the caller's until the next
// batch changes a profile.
func TestPipelineChangelog(t *testing.T) {
	p := testPipeline(t, 3, "")
	swipe := func(off int64, card string) {
		v := fmt.Sprintf(`{"v":1,"swipe_id":"%s-%d","card_id":"%s","kind":"purchase","store_id":"s1","ts":"2026-12-0%dT10:00:00-05:00",`+
			`"items":[{"sku":"a","category":"c","qty":1,"unit_price_cents":100}],"total_cents":100}`, card, off, card, 1+off)
		p.Process(&kafka.Message{Topic: TopicSwipes, Offset: off, Key: []byte(card), Value: []byte(v)})
	}
	swipe(0, "c-1")
	swipe(1, "c-2")
	swipe(2, "c-1")
	p.Process(&kafka.Message{Topic: TopicSwipes, Offset: 3, Key: []byte("c-3"), Value: []byte("{")})
	swipe(1, "c-2") // a replay: already applied
	_, cl, err := p.EndBatch()
	if err != nil {
		t.Fatal(err)
	}
	check := func(cl []kafka.Message, want map[string]int64) {
		t.Helper()
		if len(cl) != len(want) {
			t.Fatalf("%d changelog records, want %d", len(cl), len(want))
		}
		for _, m := range cl {
			prof, err := DecodeProfile(m.Value)
			if err != nil || m.Topic != TopicChangelog || m.Partition != 3 || prof.CardID != string(m.Key) || prof.LastOffset != want[prof.CardID] {
				t.Fatalf("record %s[%d] %s: %+v, %v; want the card's profile at offset %d", m.Topic, m.Partition, m.Key, prof, err, want[string(m.Key)])
			}
			if stored, err := p.Store().Get(prof.CardID); err != nil || string(AppendProfile(nil, stored)) != string(m.Value) {
				t.Errorf("card %s: the store holds another profile than the changelog record (%v)", m.Key, err)
			}
		}
	}
	check(cl, map[string]int64{"c-1": 2, "c-2": 1})
	kept := fmt.Sprint(cl)

	p.StartBatch()
	if fmt.Sprint(cl) != kept {
		t.Fatal("StartBatch changed the last batch's records")
	}
	if _, next, _ := p.EndBatch(); len(next) != 0 {
		t.Fatalf("an empty batch has %d changelog records", len(next))
	}
	p.StartBatch()
	swipe(4, "c-2")
	_, cl, _ = p.EndBatch()
	check(cl, map[string]int64{"c-2": 4})
}

// offerRules are rules that fire on every purchase, on one channel or
// several, with offer texts as marketers write them: plain fields, and a
// template function.
const offerRules = `
id: thanks
priority: 3
when: swipe.kind == "purchase"
channels: [mobile, email]
offer: {title: "Offer for {{ .Swipe.CardID }}", body: "Thanks for shopping at {{ .Swipe.StoreID }}.", coupon: {discount_percent: 10, categories: [coffee, tea]}}
---
id: big
priority: 2
when: swipe.total_cents > 0
channels: [pos]
offer: {title: "Spent {{ cents .Swipe.TotalCents }}", coupon: {discount_cents: 250, skus: [coffee-1]}}
---
id: held
priority: 1
when: "true"
channels: [mobile]
offer: {title: Measured}
holdout: 50%
`

// purchaseMsg is purchase number i of card, at offset i.
func purchaseMsg(i int, card string) kafka.Message {
	v := fmt.Sprintf(`{"v":1,"swipe_id":"%s-%d","card_id":"%s","kind":"purchase","store_id":"s1","ts":"2026-12-01T10:00:00-05:00",`+
		`"items":[{"sku":"coffee-1","category":"coffee","qty":1,"unit_price_cents":1234}],"total_cents":1234}`, card, i, card)
	return kafka.Message{Topic: TopicSwipes, Offset: int64(i), Key: []byte(card), Value: []byte(v)}
}

// TestBatchMessagesKeepTheirBytes: the offers and events of a batch share
// one growing buffer; every message still holds its own key and value when
// the batch ends, however often the buffer moved.
func TestBatchMessagesKeepTheirBytes(t *testing.T) {
	p := testPipeline(t, 0, offerRules)
	for round := 0; round < 2; round++ {
		p.StartBatch()
		for i := 0; i < 300; i++ {
			m := purchaseMsg(round*300+i, fmt.Sprintf("c-%d", i))
			p.Process(&m)
		}
		out, _, err := p.EndBatch()
		if err != nil {
			t.Fatal(err)
		}
		offers, events := 0, 0
		for _, m := range out {
			var head struct {
				CardID         string `json:"card_id"`
				Channel        string `json:"channel"`
				TriggerSwipeID string `json:"trigger_swipe_id"`
				SwipeID        string `json:"swipe_id"`
			}
			if err := json.Unmarshal(m.Value, &head); err != nil {
				t.Fatalf("%s: %v: %s", m.Topic, err, m.Value)
			}
			switch {
			case loyalty.IsOfferTopic(m.Topic):
				offers++
				if m.Topic != loyalty.OfferTopic(head.Channel) || head.TriggerSwipeID == "" {
					t.Errorf("offer on %s: %s", m.Topic, m.Value)
				}
			case m.Topic == TopicEvents:
				events++
			default:
				continue
			}
			if string(m.Key) != head.CardID || !strings.HasPrefix(head.TriggerSwipeID+head.SwipeID, head.CardID+"-") {
				t.Errorf("key %q on %s: %s", m.Key, m.Topic, m.Value)
			}
		}
		if offers != 900 || events < 600 {
			t.Errorf("round %d: %d offers and %d events, want 900 (3 per swipe) and sent events, plus held", round, offers, events)
		}
	}
}

// BenchmarkProcessOffers measures Process on swipes that every rule of
// offerRules hits: policy, arbitration, building and encoding three offers
// and their decision events, the holdout's records. One op is one swipe;
// batches end every 500 swipes, as in the engine.
func BenchmarkProcessOffers(b *testing.B) {
	msgs := make([]kafka.Message, 100_000)
	for i := range msgs {
		msgs[i] = purchaseMsg(i, fmt.Sprintf("c-%d", i%1000))
	}
	p := testPipeline(b, 0, offerRules)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(msgs) {
			b.StopTimer()
			p, i = testPipeline(b, 0, offerRules), 0
			b.StartTimer()
		}
		p.Process(&msgs[i])
		i++
		if p.Len() == 500 {
			if _, _, err := p.EndBatch(); err != nil {
				b.Fatal(err)
			}
			p.StartBatch()
		}
	}
}

// storedProfile is the card's profile as p's store holds it, or nil.
func storedProfile(t testing.TB, p *Pipeline, card string) *loyalty.Profile {
	t.Helper()
	prof, err := p.Store().Get(card)
	if err != nil {
		t.Fatalf("profile of %s: %v", card, err)
	}
	return prof
}

// A rule whose offer cannot be rendered for a swipe sends nothing: it
// neither starts its cooldown for the card nor keeps a lower-priority
// rule off the channel, and the failure is counted as a rule error.
func TestOfferThatFailsToRenderSpendsNothing(t *testing.T) {
	const src = `
id: first-item
priority: 20
when: swipe.kind == "checkin" || swipe.kind == "purchase"
channels: [mobile]
offer: {title: "About {{ (index .Swipe.Items 0).SKU }}", coupon: {discount_cents: 100}}
limits: {cooldown: 7d}
---
id: fallback
priority: 10
when: swipe.kind == "checkin"
channels: [mobile]
offer: {title: Welcome, coupon: {discount_cents: 50}}
`
	p := testPipeline(t, 0, src)
	// A check-in has no items: first-item's title cannot be rendered.
	checkin := `{"v":1,"swipe_id":"c-1-0","card_id":"c-1","kind":"checkin","store_id":"s1","ts":"2026-12-09T10:00:00-05:00"}`
	p.Process(&kafka.Message{Topic: TopicSwipes, Offset: 0, Key: []byte("c-1"), Value: []byte(checkin)})
	// An hour later a purchase, on which first-item renders.
	purchase := `{"v":1,"swipe_id":"c-1-1","card_id":"c-1","kind":"purchase","store_id":"s1","ts":"2026-12-09T11:00:00-05:00",` +
		`"items":[{"sku":"a","category":"c","qty":1,"unit_price_cents":100}],"total_cents":100}`
	p.Process(&kafka.Message{Topic: TopicSwipes, Offset: 1, Key: []byte("c-1"), Value: []byte(purchase)})

	got := fmt.Sprint(describeOffers(t, p.b.out))
	if want := fmt.Sprint([]string{"c-1-0 offers.mobile fallback", "c-1-1 offers.mobile first-item"}); got != want {
		t.Errorf("offers\n got %s\nwant %s", got, want)
	}
	if p.b.errs != 1 {
		t.Errorf("%d rule errors counted, want 1", p.b.errs)
	}
	if h := storedProfile(t, p, "c-1").Offered("first-item"); h == nil || len(h.Sent) != 1 || h.Held != 0 {
		t.Errorf("first-item's history %+v, want the purchase's send alone", h)
	}
}

// A swipe that reaches Kafka after its offer would have expired (a lane
// that was offline uploads its backlog) publishes no offer, spends no
// budget and starts no cooldown: the hit is suppressed as expired. With
// SetSendExpired, as a replay of history standing in for live traffic
// wants, the offer goes out.
func TestLateSwipeSendsNoExpiredOffer(t *testing.T) {
	const src = `
id: quick
when: swipe.kind == "checkin"
channels: [mobile]
offer: {title: Now, coupon: {discount_cents: 100}, expires_in: 4h}
limits: {cooldown: 7d, budget: {count: 1000}}
`
	// Written at the till at 15:00 UTC, delivered 29 hours later; and a
	// swipe delivered within the 4 hours.
	late := `{"v":1,"swipe_id":"late-1","card_id":"c-1","kind":"checkin","store_id":"s1","ts":"2026-12-08T10:00:00-05:00"}`
	timely := `{"v":1,"swipe_id":"on-time-1","card_id":"c-2","kind":"checkin","store_id":"s1","ts":"2026-12-08T10:00:00-05:00"}`
	arrived := time.Date(2026, 12, 9, 20, 0, 0, 0, time.UTC)
	for _, send := range []bool{false, true} {
		p := testPipeline(t, 0, src)
		p.SetSendExpired(send)
		p.Process(&kafka.Message{Topic: TopicSwipes, Offset: 0, Key: []byte("c-1"), Value: []byte(late), Time: arrived})
		p.Process(&kafka.Message{Topic: TopicSwipes, Offset: 1, Key: []byte("c-2"), Value: []byte(timely), Time: arrived.Add(-26 * time.Hour)})
		want := []string{"on-time-1 offers.mobile quick"}
		if send {
			want = []string{"late-1 offers.mobile quick", "on-time-1 offers.mobile quick"}
		}
		if got := describeOffers(t, p.b.out); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("send expired %v: offers %v, want %v", send, got, want)
		}
		if got := p.budget.Spent("quick").Count; got != int64(len(want)) {
			t.Errorf("send expired %v: budget spent on %d offers, want %d", send, got, len(want))
		}
		if h := storedProfile(t, p, "c-1").Offered("quick"); (h != nil && len(h.Sent) > 0) != send {
			t.Errorf("send expired %v: c-1's history of quick %+v", send, h)
		}
		if !send {
			if got := p.b.suppressions()[suppression{"quick", offers.Expired}]; got != 1 {
				t.Errorf("%d hits suppressed as expired, want 1", got)
			}
		}
	}
}

// A held hit reserves no budget, so one whose offer cannot be rendered
// has none to give back: the rule's spend stays what the sent offers
// took, and the budget holds.
func TestHeldHitThatFailsToRenderKeepsBudget(t *testing.T) {
	long := strings.Repeat("x", 1000)
	src := "id: r\nwhen: swipe.kind == \"purchase\"\nchannels: [pos]\nholdout: 50%\n" +
		"offer: {title: T, body: \"{{ range .Swipe.Items }}" + long + "{{ end }}\"}\nlimits: {budget: {count: 2}}\n"
	p := testPipeline(t, 0, src)
	var held, sent []string
	for i := 0; len(held) < 5 || len(sent) < 10; i++ {
		c := fmt.Sprintf("c-%d", i)
		if offers.HeldOut(c, "r", 0.5) {
			held = append(held, c)
		} else {
			sent = append(sent, c)
		}
	}
	off := int64(0)
	swipe := func(card string, items int) {
		its := make([]string, items)
		for i := range its {
			its[i] = `{"sku":"a","category":"c","qty":1,"unit_price_cents":100}`
		}
		v := fmt.Sprintf(`{"v":1,"swipe_id":"%s-%d","card_id":"%s","kind":"purchase","store_id":"s1","ts":"2026-12-03T10:00:00-05:00",`+
			`"items":[%s],"total_cents":%d}`, card, off, card, strings.Join(its, ","), 100*items)
		p.Process(&kafka.Message{Topic: TopicSwipes, Offset: off, Key: []byte(card), Value: []byte(v)})
		off++
	}
	for _, c := range held[:5] {
		swipe(c, 20) // held, and its body of 20 KB cannot be rendered
	}
	if s := p.budget.Spent("r"); s.Count != 0 {
		t.Errorf("after held hits that could not be rendered, spent %+v, want nothing", s)
	}
	for _, c := range sent[:10] {
		swipe(c, 1)
	}
	if n := len(describeOffers(t, p.b.out)); n != 2 {
		t.Errorf("sent %d offers of a rule with a budget of 2 (spent %+v)", n, p.budget.Spent("r"))
	}
}
