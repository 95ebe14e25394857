package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/offers"
	"github.com/segmentio/kafka-go"
)

// TestPipelineReach: the pipeline judges each hit in the store's zone,
// against the card's consent and the quiet hours, and arbitration sees
// only the channels left: a rule that lost all its channels is counted
// with its reason, one that lost some sends on the others.
func TestPipelineReach(t *testing.T) {
	const src = `
id: big
priority: 20
when: swipe.kind == "checkin"
channels: [mobile]
offer: {title: Big, coupon: {discount_cents: 500}}
---
id: small
priority: 10
when: swipe.kind == "checkin"
channels: [mobile, email]
offer: {title: Small, coupon: {discount_cents: 100}}
`
	stores, err := NewStoreRegistry(StoreRecord{ID: "s1", TimeZone: "America/New_York"})
	if err != nil {
		t.Fatal(err)
	}
	quiet, err := offers.ParseQuietHours("mobile=21:00-08:00")
	if err != nil {
		t.Fatal(err)
	}
	consent := NewConsentTable(offers.AllChannels)
	if err := consent.set("c-1", []byte(`{"card_id":"c-1","consent":{"mobile":false}}`)); err != nil {
		t.Fatal(err)
	}
	p := testPipeline(t, 0, src)
	p.SetPolicy(&Policy{Stores: stores, Consent: consent, Quiet: quiet})
	swipe := func(off int64, card, store, ts string) {
		v := fmt.Sprintf(`{"v":1,"swipe_id":"%s-%d","card_id":"%s","kind":"checkin","store_id":"%s","ts":"%s"}`, card, off, card, store, ts)
		p.Process(&kafka.Message{Topic: TopicSwipes, Offset: off, Key: []byte(card), Value: []byte(v)})
	}
	swipe(0, "c-1", "s1", "2026-12-02T12:00:00-05:00") // opted out of mobile: big sends nothing, small e-mails
	swipe(1, "c-2", "s1", "2026-12-03T03:00:00Z")      // 22:00 in New York: mobile is quiet
	swipe(2, "c-3", "s9", "2026-12-03T01:00:00Z")      // unknown store: 01:00 by its own offset, quiet
	swipe(3, "c-4", "s1", "2026-12-03T01:00:00Z")      // 20:00 in New York: big takes mobile
	got := describeOffers(t, p.b.out)
	want := []string{
		"c-1-0 offers.email small",
		"c-2-1 offers.email small",
		"c-3-2 offers.email small",
		"c-4-3 offers.mobile big", "c-4-3 offers.email small",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("offers\n %q\nwant\n %q", got, want)
	}
	wantSup := map[suppression]int64{{"big", offers.Consent}: 1, {"big", offers.Quiet}: 2}
	if fmt.Sprint(p.b.suppressions()) != fmt.Sprint(wantSup) {
		t.Errorf("suppressed %v, want %v", p.b.suppressions(), wantSup)
	}
	if p.b.unknownStores != 1 {
		t.Errorf("unknown stores %d, want 1 (s9)", p.b.unknownStores)
	}
}

// A swipe is taken on its store's clock when the registry knows the
// store, whatever offset its ts carries: its purchase lands on the
// store's local day in the profile's histories, and the rules' now is the
// store's local time. A store the registry does not know keeps the ts's
// own offset.
func TestPipelineStoreLocalTime(t *testing.T) {
	const src = `
id: late-shopper
when: swipe.kind == "purchase" && now.Hour() == 21
channels: [mobile]
offer: {title: Late, coupon: {discount_cents: 100}}
`
	stores, err := NewStoreRegistry(StoreRecord{ID: "s1", TimeZone: "America/New_York"})
	if err != nil {
		t.Fatal(err)
	}
	p := testPipeline(t, 0, src)
	p.SetPolicy(&Policy{Stores: stores})
	purchase := func(off int64, card, store, ts string) {
		v := fmt.Sprintf(`{"v":1,"swipe_id":"%s-%d","card_id":"%s","kind":"purchase","store_id":"%s","ts":"%s",`+
			`"items":[{"sku":"coffee-0001","category":"coffee","qty":1,"unit_price_cents":500}],"total_cents":500}`, card, off, card, store, ts)
		p.Process(&kafka.Message{Topic: TopicSwipes, Offset: off, Key: []byte(card), Value: []byte(v)})
	}
	// 02:30 UTC on 3 December is 21:30 on 2 December in New York.
	purchase(0, "c-1", "s1", "2026-12-03T02:30:00Z")
	purchase(1, "c-2", "s9", "2026-12-03T02:30:00Z")
	if got, want := describeOffers(t, p.b.out), []string{"c-1-0 offers.mobile late-shopper"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("offers %q, want %q", got, want)
	}
	dec2 := loyalty.DayOf(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	for card, want := range map[string]int32{"c-1": dec2, "c-2": dec2 + 1} {
		prof := storedProfile(t, p, card)
		if prof == nil || len(prof.Days) != 1 || prof.Days[0].Day != want ||
			len(prof.Categories) != 1 || len(prof.Categories[0].Days) != 1 || prof.Categories[0].Days[0].Day != want {
			t.Errorf("card %s: days %+v, want one purchase on day %d", card, prof, want)
		}
	}
}
