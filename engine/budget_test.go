package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
)

func budgetRule(t *testing.T, src string) *rules.Rule {
	t.Helper()
	rs, err := rules.Parse("b.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return rs[0]
}

// TestBudgetsExactWithinInstance: the partitions of one instance reserve
// under one lock, so however many race for the last offers, exactly the
// budget is spent, each partition's share is its own, and nothing is left
// over.
func TestBudgetsExactWithinInstance(t *testing.T) {
	r := budgetRule(t, "id: r\nwhen: \"true\"\nchannels: [pos]\noffer: {title: T, coupon: {discount_cents: 100}}\nlimits: {budget: {count: 1000}}\n")
	b := NewBudgets(nil)
	var wg sync.WaitGroup
	sent := make([]int64, 8)
	for part := range sent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b.reserve(r, part, offers.Spend{Count: 1, Cents: 100}, true) {
				sent[part]++
			}
		}()
	}
	wg.Wait()
	var total int64
	for part, n := range sent {
		total += n
		if got := b.rules["r"].parts[part]; got != (offers.Spend{Count: n, Cents: 100 * n}) {
			t.Errorf("partition %d: spend %+v, sent %d", part, got, n)
		}
	}
	if total != 1000 || b.Spent("r") != (offers.Spend{Count: 1000, Cents: 100000}) {
		t.Errorf("sent %d offers, spent %+v; want exactly the budget of 1000", total, b.Spent("r"))
	}
}

// TestBudgetsMergeAndRelease: other partitions' spend is what TopicBudget
// said last, except that a lower record (late, or from before a replay)
// never lowers it; a reservation given back leaves nothing behind.
func TestBudgetsMergeAndRelease(t *testing.T) {
	r := budgetRule(t, "id: r\nwhen: \"true\"\nchannels: [pos]\noffer: {title: T, coupon: {discount_percent: 10}}\nlimits: {budget: {count: 10, discount_cents: 5000}}\n")
	b := NewBudgets(nil)
	b.observe("r", 1, offers.Spend{Count: 4, Cents: 1000})
	b.observe("r", 2, offers.Spend{Count: 3, Cents: 2500})
	b.observe("r", 1, offers.Spend{Count: 2, Cents: 1200}) // older count, newer cents: each figure only grows
	if got, want := b.Spent("r"), (offers.Spend{Count: 7, Cents: 3700}); got != want {
		t.Fatalf("spent %+v, want %+v", got, want)
	}
	if b.reserve(r, 0, offers.Spend{Count: 1, Cents: 1301}, true) {
		t.Error("reserved 1301 cents with 1300 left")
	}
	if !b.reserve(r, 0, offers.Spend{Count: 1, Cents: 1300}, false) || b.Spent("r").Count != 7 {
		t.Errorf("a check without reserve must pass and take nothing: spent %+v", b.Spent("r"))
	}
	if !b.reserve(r, 0, offers.Spend{Count: 1, Cents: 1300}, true) {
		t.Fatal("could not reserve the last 1300 cents")
	}
	b.release("r", 0, offers.Spend{Count: 1, Cents: 1300})
	if got, want := b.Spent("r"), (offers.Spend{Count: 7, Cents: 3700}); got != want || b.rules["r"].parts[0] != (offers.Spend{}) {
		t.Errorf("after release: spent %+v (partition 0 %+v), want %+v", got, b.rules["r"].parts[0], want)
	}
	for i := 0; i < 3; i++ {
		if !b.reserve(r, 0, offers.Spend{Count: 1}, true) {
			t.Fatalf("offer %d refused with %+v spent", 8+i, b.Spent("r"))
		}
	}
	if b.reserve(r, 0, offers.Spend{Count: 1}, true) {
		t.Errorf("an 11th offer was reserved on a budget of 10")
	}
}

// TestBudgetRecord: the record of a partition's spend reads back as what
// was written; anything else is an error, never a spend.
func TestBudgetRecord(t *testing.T) {
	b := NewBudgets(nil)
	b.observe("coffee-fan", 3, offers.Spend{Count: 12, Cents: 3456})
	m := b.record("coffee-fan", 3)
	if m.Topic != TopicBudget || string(m.Key) != "coffee-fan/3" || string(m.Value) != `{"count":12,"cents":3456}` {
		t.Fatalf("record %s %s = %s", m.Topic, m.Key, m.Value)
	}
	rule, part, s, err := parseBudgetRecord(m.Key, m.Value)
	if err != nil || rule != "coffee-fan" || part != 3 || s != (offers.Spend{Count: 12, Cents: 3456}) {
		t.Errorf("read back %s %d %+v %v", rule, part, s, err)
	}
	for _, bad := range []struct{ key, value string }{
		{"coffee-fan", `{"count":1}`},
		{"coffee-fan/x", `{"count":1}`},
		{"/1", `{"count":1}`},
		{"coffee-fan/-1", `{"count":1}`},
		{"coffee-fan/1", `not json`},
		{"coffee-fan/1", `{"count":-5}`},
	} {
		if _, _, _, err := parseBudgetRecord([]byte(bad.key), []byte(bad.value)); err == nil {
			t.Errorf("record %s = %s read without error", bad.key, bad.value)
		}
	}
}

// TestBudgetsCaughtUp: a partition waits for the budget topic to be read
// up to the end it saw, and no longer.
func TestBudgetsCaughtUp(t *testing.T) {
	b := NewBudgets(nil)
	if err := b.caughtUp(context.Background(), 0); err != nil {
		t.Fatalf("empty topic: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- b.caughtUp(context.Background(), 5) }()
	b.advance(3)
	select {
	case err := <-done:
		t.Fatalf("caught up at offset 3 of 5: %v", err)
	default:
	}
	b.advance(5)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.caughtUp(ctx, 9); err == nil {
		t.Error("caughtUp returned nil for a cancelled wait")
	}
}

// TestPipelineBudget: a rule stops at its budget, counting an offer once
// whatever its channels; a rule that loses arbitration spends nothing; a
// spent budget stops the holdout too; the batch carries the partition's
// spend of each rule it used.
func TestPipelineBudget(t *testing.T) {
	const src = `
id: top
priority: 20
when: swipe.kind == "purchase" && swipe.total_cents >= 500
channels: [mobile]
offer: {title: Top, coupon: {discount_cents: 300}}
---
id: thanks
priority: 10
when: swipe.kind == "purchase"
channels: [mobile, email]
offer: {title: Thanks, coupon: {discount_percent: 10}}
limits: {budget: {count: 3}}
---
id: coffee-replenish
when: swipe.kind == "purchase"
channels: [pos]
offer: {title: Measured, coupon: {discount_cents: 100}}
holdout: 4.29%
limits: {budget: {discount_cents: 200}}
`
	p := testPipeline(t, 2, src)
	off := int64(0)
	swipe := func(card string, cents int) {
		v := fmt.Sprintf(`{"v":1,"swipe_id":"%s-%d","card_id":"%s","kind":"purchase","store_id":"s1","ts":"2026-12-03T10:00:00-05:00",`+
			`"items":[{"sku":"a","category":"c","qty":1,"unit_price_cents":%d}],"total_cents":%d}`, card, off, card, cents, cents)
		p.Process(&kafka.Message{Topic: TopicSwipes, Offset: off, Key: []byte(card), Value: []byte(v)})
		off++
	}
	swipe("c-1", 100) // thanks (both channels, 10 cents), coffee-replenish
	swipe("c-1", 900) // top takes mobile; thanks keeps email; coffee-replenish: its 200 cents are spent
	swipe("c-2", 100) // thanks; c-2 is in coffee-replenish's holdout, but its budget is spent
	swipe("c-3", 100) // thanks: budget spent
	out, _, err := p.EndBatch()
	if err != nil {
		t.Fatal(err)
	}
	got := describeOffers(t, out)
	spend := map[string]string{}
	for _, m := range out {
		if m.Topic == TopicBudget {
			spend[string(m.Key)] = string(m.Value)
		}
	}
	want := []string{
		"c-1-0 offers.mobile thanks", "c-1-0 offers.email thanks", "c-1-0 offers.pos coffee-replenish",
		"c-1-1 offers.mobile top", "c-1-1 offers.email thanks", "c-1-1 offers.pos coffee-replenish",
		"c-2-2 offers.mobile thanks", "c-2-2 offers.email thanks",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("offers\n %q\nwant\n %q", got, want)
	}
	wantSpend := map[string]string{"thanks/2": `{"count":3,"cents":110}`, "coffee-replenish/2": `{"count":2,"cents":200}`}
	if fmt.Sprint(spend) != fmt.Sprint(wantSpend) {
		t.Errorf("budget records %v, want %v", spend, wantSpend)
	}
	wantSup := map[suppression]int64{{"coffee-replenish", offers.Budget}: 2, {"thanks", offers.Budget}: 1}
	if fmt.Sprint(p.b.suppressions()) != fmt.Sprint(wantSup) {
		t.Errorf("suppressed %v, want %v", p.b.suppressions(), wantSup)
	}
	if h := storedProfile(t, p, "c-2").Offered("coffee-replenish"); h != nil {
		t.Errorf("c-2 recorded in the holdout of a spent budget: %+v", h)
	}

	// A rule that loses arbitration gives its reservation back.
	p.StartBatch()
	p.SetBudgets(NewBudgets(nil))
	lose, err := rules.Parse("l.yaml", []byte("id: top\npriority: 20\nwhen: \"true\"\nchannels: [mobile]\noffer: {title: Top}\n---\n"+
		"id: thanks\nwhen: \"true\"\nchannels: [mobile]\noffer: {title: T}\nlimits: {budget: {count: 1}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := rules.NewSet(lose)
	if err != nil {
		t.Fatal(err)
	}
	p.SetRules(ls)
	swipe("c-4", 100)
	if s := p.budget.Spent("thanks"); s != (offers.Spend{}) || p.b.suppressions()[suppression{"thanks", offers.Arbitration}] != 1 {
		t.Errorf("a rule that lost arbitration spent %+v (suppressed %v)", s, p.b.suppressions())
	}
	out, _, _ = p.EndBatch()
	var topics []string
	for _, m := range out {
		topics = append(topics, m.Topic)
	}
	if len(out) != 3 || out[0].Topic != loyalty.OfferTopic("mobile") || out[1].Topic != TopicEvents ||
		out[2].Topic != TopicBudget || string(out[2].Value) != `{"count":0,"cents":0}` {
		t.Errorf("batch out %v, want top's offer, its sent event and thanks' unchanged spend", topics)
	}
}
