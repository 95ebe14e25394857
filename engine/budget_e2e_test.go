package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
)

// budgetRule fires on every purchase, on two channels, within a budget of
// offers.
const budgetRule = `
id: budgeted
version: %d
when: swipe.kind == "purchase"
channels: [mobile, email]
offer:
  title: "Thanks"
  coupon: { discount_cents: 100 }
  expires_in: 7d # longer than any swipe of the fixture is late
limits: { budget: { count: %d } }
`

func (f *fixture) setBudget(version, count int) {
	f.t.Helper()
	rs, err := rules.Parse("budget.yaml", []byte(fmt.Sprintf(budgetRule, version, count)))
	if err != nil {
		f.t.Fatal(err)
	}
	if f.rules, err = rules.NewSet(rs); err != nil {
		f.t.Fatal(err)
	}
}

// purchases counts the swipes of msgs[from:to] the rule fires on: good
// purchases whose swipe id was not seen before (POS retries never fire).
func (f *fixture) purchases(from, to int) int {
	seen := map[string]bool{}
	n := 0
	for i, m := range f.msgs[:to] {
		s := m.Swipe
		if m.Bad != "" || s == nil || seen[s.SwipeID] {
			continue
		}
		seen[s.SwipeID] = true
		if i >= from && s.Kind == loyalty.KindPurchase {
			n++
		}
	}
	return n
}

// budgetOffers returns the ids of the rule's offers on the offer topics,
// failing the test unless each is on both of the rule's channels, once.
func (f *fixture) budgetOffers() map[string]bool {
	f.t.Helper()
	channels := map[string][]string{}
	for _, ch := range loyalty.Channels {
		for _, m := range f.readAll(loyalty.OfferTopic(ch)) {
			o, err := decodeOffer(m.Value)
			if err != nil {
				f.t.Fatal(err)
			}
			channels[o.OfferID] = append(channels[o.OfferID], o.Channel)
		}
	}
	ids := map[string]bool{}
	for id, chs := range channels {
		if fmt.Sprint(chs) != "[mobile email]" {
			f.t.Errorf("offer %s sent on %v, want once on mobile and once on email", id, chs)
		}
		ids[id] = true
	}
	return ids
}

// budgetTopic sums the latest spend per key of the offer-budget topic.
func (f *fixture) budgetTopic() offers.Spend {
	f.t.Helper()
	last := map[string]offers.Spend{}
	for _, m := range f.readAll(engine.TopicBudget) {
		var s offers.Spend
		if err := json.Unmarshal(m.Value, &s); err != nil {
			f.t.Fatalf("%s record %s: %v", engine.TopicBudget, m.Key, err)
		}
		last[string(m.Key)] = s
	}
	var total offers.Spend
	for _, s := range last {
		total = total.Add(s)
	}
	return total
}

// group runs n engines in one consumer group until stop is called.
type group struct {
	f       *fixture
	engines []*engine.Engine
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func (f *fixture) startGroup(n, maxBatch int) *group {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g := &group{f: f, cancel: cancel}
	for i := 0; i < n; i++ {
		e, err := engine.New(engine.Config{Brokers: f.brokers, Group: "e2e", Rules: f.rules, Partitions: 4, MaxBatch: maxBatch,
			Clock: func() time.Time { return f.clock }})
		if err != nil {
			f.t.Fatal(err)
		}
		g.engines = append(g.engines, e)
		g.wg.Add(1)
		go func() { defer g.wg.Done(); e.Run(ctx) }()
	}
	g.await("every instance ready", func() bool {
		for _, e := range g.engines {
			if !e.Ready() {
				return false
			}
		}
		return true
	})
	return g
}

func (g *group) stop() { g.cancel(); g.wg.Wait() }

// await polls cond until it holds, failing the test if it does not within a
// minute: a state to reach, not a duration to assert.
func (g *group) await(what string, cond func() bool) {
	g.f.t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); {
		if time.Now().After(deadline) {
			g.f.t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// processed is the number of swipes the group processed, redeliveries after
// a rebalance not counted.
func (g *group) processed() (n int64) {
	for _, e := range g.engines {
		n += e.Stats().Swipes.Load() - e.Stats().Replayed.Load()
	}
	return n
}

// sent is the number of the rule's offers (offer ids) the group published.
func (g *group) sent() (n int64) {
	for _, e := range g.engines {
		n += sentBy(e)
	}
	return n
}

func sentBy(e *engine.Engine) int64 {
	for _, c := range e.Stats().OffersByRule() {
		if c.Name == "budgeted" {
			return c.N / 2 // two channels per offer
		}
	}
	return 0
}

// suppressedByBudget is the number of the rule's hits the budget turned
// down, by the engines whose stats are given.
func suppressedByBudget(sts ...*engine.Stats) (n int64) {
	for _, st := range sts {
		for _, s := range st.SuppressedByRule() {
			if s.Rule == "budgeted" && s.Reason == "budget" {
				n += s.N
			}
		}
	}
	return n
}

// caughtUp waits until every instance has processed the first n swipes
// and knows every offer the group sent.
func (g *group) caughtUp(n int) {
	g.f.t.Helper()
	g.await(fmt.Sprintf("%d swipes processed", n), func() bool { return g.processed() >= int64(n) })
	g.await("every instance to know the group's spend", func() bool {
		sent := g.sent()
		for _, e := range g.engines {
			if e.BudgetSpent("budgeted").Count != sent {
				return false
			}
		}
		return true
	})
}

// TestBudgetSharedByInstances: two instances in one group share a budget
// of 25 offers. Fed one swipe at a time, each instance knows what the other
// sent before the next swipe, so exactly 25 offers go out, from both
// instances, one per offer id whatever the channels; every later hit is
// suppressed with reason budget, and the topic holds the exact spend.
func TestBudgetSharedByInstances(t *testing.T) {
	const budget = 25
	f := newFixture(t, 400, 0.02)
	f.setBudget(1, budget)
	g := f.startGroup(2, 16)
	defer g.stop()
	i := 0
	for ; i < len(f.msgs) && f.purchases(0, i) < budget+20; i++ {
		f.produce(i, i+1)
		g.caughtUp(i + 1)
	}
	hits := f.purchases(0, i)
	a, b := sentBy(g.engines[0]), sentBy(g.engines[1])
	t.Logf("%d swipes, %d hits: instance A sent %d, B sent %d", i, hits, a, b)
	if a == 0 || b == 0 {
		t.Fatalf("one instance sent nothing (A %d, B %d): the test proves no sharing", a, b)
	}
	if got := len(f.budgetOffers()); got != budget {
		t.Errorf("%d offers published, want the budget, %d", got, budget)
	}
	if got := suppressedByBudget(g.engines[0].Stats(), g.engines[1].Stats()); got != int64(hits-budget) {
		t.Errorf("%d hits suppressed by the budget, want %d", got, hits-budget)
	}
	if got := f.budgetTopic(); got != (offers.Spend{Count: budget, Cents: 100 * budget}) {
		t.Errorf("%s sums to %+v, want %d offers and %d cents", engine.TopicBudget, got, budget, 100*budget)
	}
}

// TestBudgetRace: two instances racing through a backlog overspend a
// shared budget by at most what each sends before the other reads it
// (README: Budgets), and never more than the budget each: here at most one
// batch of 16 per partition the other instance owns (2 partitions × 16)
// in the typical case, 2 × budget in the worst. Every hit is sent or
// suppressed, once traffic is ample the budget is reached, and the topic
// and every instance end with the exact spend.
func TestBudgetRace(t *testing.T) {
	const budget, maxBatch = 100, 16
	f := newFixture(t, 3000, 0.02)
	f.setBudget(1, budget)
	g := f.startGroup(2, maxBatch)
	defer g.stop()
	f.produce(0, len(f.msgs))
	g.caughtUp(len(f.msgs))
	sent := int64(len(f.budgetOffers()))
	hits := int64(f.purchases(0, len(f.msgs)))
	t.Logf("%d hits; %d offers sent on a budget of %d: overspent by %d (typical bound %d, hard bound %d); A sent %d, B %d",
		hits, sent, budget, sent-budget, 2*maxBatch, budget, sentBy(g.engines[0]), sentBy(g.engines[1]))
	if sent < budget || sent > 2*budget {
		t.Errorf("%d offers sent, want between the budget %d and twice it", sent, budget)
	}
	if got := suppressedByBudget(g.engines[0].Stats(), g.engines[1].Stats()); got != hits-sent {
		t.Errorf("%d hits suppressed by the budget, %d sent, of %d hits", got, sent, hits)
	}
	if got := f.budgetTopic(); got.Count != sent {
		t.Errorf("%s says %d offers, %d were sent", engine.TopicBudget, got.Count, sent)
	}
}

// TestBudgetSurvivesRestart: a budget spent before a restart stays spent
// after it, when the rule is re-applied with a new version too (spend is
// kept per rule id); raising the budget sends exactly the difference.
func TestBudgetSurvivesRestart(t *testing.T) {
	const budget = 30
	f := newFixture(t, 900, 0.02)
	third := len(f.msgs) / 3
	f.setBudget(1, budget)
	f.produce(0, third)
	st := f.run(int64(third))
	if hits := f.purchases(0, third); hits <= budget {
		t.Fatalf("only %d hits before the restart: the budget of %d is not reached", hits, budget)
	}
	if got := len(f.budgetOffers()); got != budget {
		t.Fatalf("%d offers before the restart, want %d", got, budget)
	}
	before := suppressedByBudget(st)

	f.setBudget(2, budget)
	f.produce(third, 2*third)
	st = f.run(int64(third))
	if got := len(f.budgetOffers()); got != budget {
		t.Errorf("%d offers after the restart, want still %d", got, budget)
	}
	if got, want := suppressedByBudget(st), int64(f.purchases(third, 2*third)); got != want {
		t.Errorf("after the restart %d hits suppressed by the budget, want every one of %d", got, want)
	}

	f.setBudget(3, budget+5)
	f.produce(2*third, len(f.msgs))
	f.run(int64(len(f.msgs) - 2*third))
	if got := len(f.budgetOffers()); got != budget+5 {
		t.Errorf("%d offers after raising the budget to %d", got, budget+5)
	}
	t.Logf("suppressed by the budget before the restart: %d", before)
}
