package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/rules"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

const reloadRule = `id: reload-thanks
when: swipe.kind == "purchase"
channels: [mobile]
offer:
  title: %q
  coupon: { discount_cents: 100 }
  expires_in: 7d # longer than any swipe of the fixture is late
`

// applyRules does what offerctl apply does: it plans the change of the
// offer-rules topic for rule text (none when empty) and deletes, and
// publishes it. It returns when the brokers acknowledged the records.
func applyRules(t *testing.T, f *fixture, text string, deletes ...string) {
	t.Helper()
	ctx := context.Background()
	var docs []engine.RuleDoc
	if text != "" {
		_, docs = engine.RuleFileForTest(t, text)
	}
	if err := engine.EnsureRulesTopic(ctx, f.client, -1); err != nil {
		t.Fatal(err)
	}
	st, err := engine.ReadRules(ctx, f.client)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := engine.PlanApply(st, docs, deletes)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range plan {
		t.Log("apply: ", c.String())
	}
	a := engine.Applier{By: "tester@e2e", With: "rulesync_e2e_test", At: time.Now()}
	if err := engine.PublishRules(ctx, f.brokers, nil, plan, a); err != nil {
		t.Fatal(err)
	}
}

// TestHotReloadThroughOfferRules runs one engine without restarting it
// while a rule is applied, changed and deleted through offer-rules: the
// swipes produced after each change get offers of exactly the rule's
// version then, an idle partition applying the new rules to its next
// swipe.
func TestHotReloadThroughOfferRules(t *testing.T) {
	f := newFixture(t, 1600, 0)
	empty, err := rules.NewSet(nil)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	e, err := engine.New(engine.Config{Brokers: f.brokers, Group: "reload", Rules: empty, Partitions: 4,
		SyncRules: true, Clock: func() time.Time { return f.clock }, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitFor(t, "the engine to be ready", e.Ready)

	// The swipes of each phase, and the rule version their offers must
	// carry (0: no offer).
	phases := []struct {
		name    string
		change  func()
		version int
		title   string
	}{
		{"no rules yet", func() {}, 0, ""},
		{"rule applied", func() { applyRules(t, f, fmt.Sprintf(reloadRule, "Thanks")) }, 1, "Thanks"},
		{"rule changed", func() { applyRules(t, f, fmt.Sprintf(reloadRule, "Thanks again")) }, 2, "Thanks again"},
		{"rule deleted", func() { applyRules(t, f, "", "reload-thanks") }, 0, ""},
	}
	per := len(f.msgs) / len(phases)
	wantVersion := map[string]int{} // swipe id → rule version of its offer
	wantTitle := map[int]string{}
	applied := map[string]bool{}
	for i, ph := range phases {
		published := time.Now()
		ph.change()
		acked := time.Since(published)
		seen := waitFor(t, ph.name+" to reach the engine", func() bool {
			for _, r := range e.Rules().Rules() {
				if r.ID == "reload-thanks" {
					return r.Version == ph.version
				}
			}
			return ph.version == 0
		}) + acked
		from, to := i*per, (i+1)*per
		f.produce(from, to)
		took := waitFor(t, ph.name+": swipes processed", func() bool { return e.Stats().Swipes.Load() >= int64(to) })
		swap := "-"
		if i > 0 {
			// The engine logs how long after the record's timestamp it
			// swapped the rule set in; the follower may see the record
			// before the producer has its acknowledgement.
			swaps := logs.FilterMessage("rule set swapped").All()
			swap = fmt.Sprint(swaps[len(swaps)-1].ContextMap()["since_published"])
		}
		t.Logf("%s: publish acked after %s, rule set swapped %s after the record's timestamp, seen by the test after %s; %d swipes processed %s after producing them",
			ph.name, acked.Round(time.Microsecond), swap, seen.Round(time.Microsecond), to-from, took.Round(time.Millisecond))
		wantTitle[ph.version] = ph.title
		for _, m := range f.msgs[from:to] {
			if s := m.Swipe; s != nil && !applied[s.SwipeID] {
				applied[s.SwipeID] = true
				if s.Kind == loyalty.KindPurchase && ph.version > 0 {
					wantVersion[s.SwipeID] = ph.version
				}
			}
		}
	}

	got := map[string]int{}
	for _, m := range f.readAll(loyalty.OfferTopic("mobile")) {
		o, err := decodeOffer(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if o.RuleID != "reload-thanks" || o.Title != wantTitle[o.RuleVersion] {
			t.Errorf("offer %s: rule %s v%d titled %q", o.OfferID, o.RuleID, o.RuleVersion, o.Title)
		}
		if _, dup := got[o.TriggerSwipeID]; dup {
			t.Errorf("two offers for swipe %s", o.TriggerSwipeID)
		}
		got[o.TriggerSwipeID] = o.RuleVersion
	}
	byVersion := map[int]int{}
	for id, v := range wantVersion {
		if got[id] != v {
			t.Errorf("swipe %s: offer of v%d, want v%d", id, got[id], v)
		}
		byVersion[v]++
	}
	for id, v := range got {
		if wantVersion[id] == 0 {
			t.Errorf("swipe %s got an offer of v%d while the rule was absent", id, v)
		}
	}
	if byVersion[1] == 0 || byVersion[2] == 0 {
		t.Fatalf("offers per version %v: each version must have fired", byVersion)
	}
	t.Logf("offers per rule version: %v", byVersion)
	if n := e.Stats().Offers.Load(); n != int64(len(wantVersion)) {
		t.Errorf("engine counted %d offers, want %d", n, len(wantVersion))
	}
}

// TestRuleSyncSeedsAndReadsBeforeSwipes starts an engine on an empty
// offer-rules topic with seed rules: it publishes them, and a swipe
// waiting in the topic before the start already meets the topic's rules.
func TestRuleSyncSeedsAndReadsBeforeSwipes(t *testing.T) {
	f := newFixture(t, 400, 0)
	rs, docs := engine.RuleFileForTest(t, fmt.Sprintf(reloadRule, "Seeded")+"---\nid: seeded-new\nwhen: \"false\"\nchannels: [pos]\noffer: { title: New }\n")
	// The topic already has v3 of the rule: the seed must not overwrite it.
	applyRules(t, f, fmt.Sprintf(reloadRule, "From the topic")+"version: 3\n")
	f.produce(0, len(f.msgs))
	e, err := engine.New(engine.Config{Brokers: f.brokers, Group: "seed", Rules: rs, Partitions: 4,
		SyncRules: true, RuleSeed: docs, Clock: func() time.Time { return f.clock }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	waitFor(t, "all swipes processed", func() bool { return e.Stats().Swipes.Load() >= int64(len(f.msgs)) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	offers := f.readAll(loyalty.OfferTopic("mobile"))
	if len(offers) == 0 {
		t.Fatal("no offers")
	}
	for _, m := range offers {
		o, err := decodeOffer(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if o.RuleVersion != 3 || o.Title != "From the topic" {
			t.Fatalf("offer of v%d titled %q, want the topic's v3", o.RuleVersion, o.Title)
		}
	}
	st, err := engine.ReadRules(context.Background(), f.client)
	if err != nil {
		t.Fatal(err)
	}
	if h := st["reload-thanks"]; h == nil || h.Version != 3 {
		t.Fatalf("offer-rules holds %+v, want v3 untouched by the seed", h)
	}
	if h := st["seeded-new"]; h == nil || h.Version != 1 || h.Latest.AppliedBy == "" {
		t.Fatalf("offer-rules holds %+v, want the seeded rule at v1 with who seeded it", h)
	}
	if n := e.Rules().Len(); n != 2 {
		t.Fatalf("engine runs %d rules, want the topic's 2", n)
	}
}
