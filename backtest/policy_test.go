package backtest_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/backtest"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
)

// checkin is a bare swipe line of card at ts in store s1.
func checkin(card, ts string) string {
	return fmt.Sprintf(`{"v": 1, "swipe_id": "%s-%s", "card_id": %q, "kind": "checkin", "store_id": "s1", "ts": %q, "total_cents": 0}`+"\n", card, ts, card, ts)
}

func ruleSet(t *testing.T, src string) *rules.Set {
	t.Helper()
	rs, err := rules.Parse("rules.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.NewSet(rs)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func policy(t *testing.T, quiet, consent string, stores ...engine.StoreRecord) *engine.Policy {
	t.Helper()
	q, err := offers.ParseQuietHours(quiet)
	if err != nil {
		t.Fatal(err)
	}
	c, err := offers.ParseConsentDefault(consent)
	if err != nil {
		t.Fatal(err)
	}
	pol := &engine.Policy{Quiet: q, Consent: engine.NewConsentTable(c)}
	if len(stores) > 0 {
		if pol.Stores, err = engine.NewStoreRegistry(stores...); err != nil {
			t.Fatal(err)
		}
	}
	return pol
}

// TestPolicy: a backtest judges offers by the policy the live engine has
// (offerd's --stores, --quiet-hours, --consent-default) and by budgets.
func TestPolicy(t *testing.T) {
	src, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set := ruleSet(t, string(src))
	// 08:30 on a lane clock on EST, before the spring change (08:30 in the
	// store too) and after it (09:30 in the store).
	history := checkin("c1", "2026-03-06T08:30:00-05:00") + checkin("c2", "2026-03-10T08:30:00-05:00")
	nyc := engine.StoreRecord{ID: "s1", TimeZone: "America/New_York"}
	type counts struct {
		offers     int64
		suppressed map[string]int64
	}
	tests := []struct {
		name   string
		policy *engine.Policy
		want   map[string]counts // by rule
	}{
		{"no policy: the swipes' own offset", nil, map[string]counts{
			"morning": {2, nil}, "push": {2, nil}, "mail": {2, nil},
			"tiny-budget": {0, map[string]int64{"budget": 2}},
		}},
		{"store zone across the DST change", policy(t, "", "", nyc), map[string]counts{
			"morning": {1, map[string]int64{"schedule": 1}}, "push": {2, nil},
		}},
		{"quiet hours", policy(t, "mobile=08:00-09:00", ""), map[string]counts{
			"push": {0, map[string]int64{"quiet_hours": 2}}, "mail": {2, nil},
		}},
		{"quiet hours on the store's clock", policy(t, "mobile=08:00-09:00", "", nyc), map[string]counts{
			"push": {1, map[string]int64{"quiet_hours": 1}},
		}},
		{"consent denied by default", policy(t, "", "email=deny"), map[string]counts{
			"mail": {0, map[string]int64{"consent": 2}}, "push": {2, nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := backtest.Run(context.Background(), set, []backtest.Source{backtest.NewFileSource(strings.NewReader(history))},
				backtest.Options{Policy: tt.policy, MaxOffersPerChannel: 5})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rep.Rules {
				want, ok := tt.want[r.Rule]
				if !ok {
					continue
				}
				if r.Offers != want.offers || fmt.Sprint(r.Suppressed) != fmt.Sprint(want.suppressed) {
					t.Errorf("rule %s: %d offers, suppressed %v; want %d, %v", r.Rule, r.Offers, r.Suppressed, want.offers, want.suppressed)
				}
			}
		})
	}
}

// TestBudgetOrder: when a shared budget runs out, the offers it paid for
// are those of the swipes sent first, whichever partition they are in, on
// every run.
func TestBudgetOrder(t *testing.T) {
	set := ruleSet(t, `
id: two-only
when: swipe.kind == "checkin"
channels: [mobile]
offer: { title: "Two" }
limits: { budget: { count: 2 } }
`)
	// Partition 0 holds the first and the last swipe, partition 1 the
	// second and third: the budget pays for a1 and b1.
	p0 := checkin("a1", "2026-05-04T10:00:00Z") + checkin("a2", "2026-05-04T10:03:00Z")
	p1 := checkin("b1", "2026-05-04T10:01:00Z") + checkin("b2", "2026-05-04T10:02:00Z")
	for run := range 20 {
		var cards []string
		rep, err := backtest.Run(context.Background(), set,
			[]backtest.Source{backtest.NewFileSource(strings.NewReader(p0)), backtest.NewFileSource(strings.NewReader(p1))},
			backtest.Options{OnOffer: func(o *loyalty.Offer) { cards = append(cards, o.CardID) }})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(cards)
		if r := rep.Rules[0]; fmt.Sprint(cards) != "[a1 b1]" || r.Suppressed["budget"] != 2 {
			t.Fatalf("run %d: offers to %v, %d suppressed by the budget; want [a1 b1] and 2", run, cards, r.Suppressed["budget"])
		}
	}
}
