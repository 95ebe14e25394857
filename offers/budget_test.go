package offers_test

import (
	"testing"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
)

// TestCost: an offer costs one, whatever its channels, and the discount it
// commits: a cents coupon its amount, a percent coupon its share of the
// triggering basket, nothing without a coupon or a basket.
func TestCost(t *testing.T) {
	parse := func(coupon string) *rules.Rule {
		rs, err := rules.Parse("c.yaml", []byte("id: r\nwhen: \"true\"\nchannels: [mobile, email]\noffer: {title: T"+coupon+"}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return rs[0]
	}
	purchase := &loyalty.Swipe{Kind: loyalty.KindPurchase, TotalCents: 4599}
	checkin := &loyalty.Swipe{Kind: loyalty.KindCheckin}
	tests := []struct {
		name   string
		coupon string
		s      *loyalty.Swipe
		want   offers.Spend
	}{
		{"cents coupon", ", coupon: {discount_cents: 500}", checkin, offers.Spend{Count: 1, Cents: 500}},
		{"percent of the basket, rounded down", ", coupon: {discount_percent: 20}", purchase, offers.Spend{Count: 1, Cents: 919}},
		{"percent without a basket", ", coupon: {discount_percent: 20}", checkin, offers.Spend{Count: 1}},
		{"no coupon", "", purchase, offers.Spend{Count: 1}},
	}
	for _, tt := range tests {
		if got := offers.Cost(parse(tt.coupon), tt.s); got != tt.want {
			t.Errorf("%s: Cost = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// TestAfford: an offer may go while what was spent plus its cost stays
// within every budget of the rule; the reason names the budget spent.
func TestAfford(t *testing.T) {
	tests := []struct {
		name        string
		budget      string
		spent, cost offers.Spend
		send        bool
		reason      string
	}{
		{"no budget", "", offers.Spend{Count: 1 << 40}, offers.Spend{Count: 1, Cents: 100}, true, ""},
		{"last offer of the count", "limits: {budget: {count: 3}}", offers.Spend{Count: 2}, offers.Spend{Count: 1}, true, ""},
		{"count spent", "limits: {budget: {count: 3}}", offers.Spend{Count: 3}, offers.Spend{Count: 1}, false, "budget spent: 3 of 3 offers"},
		{"money exactly enough", "limits: {budget: {discount_cents: 1000}}", offers.Spend{Count: 9, Cents: 900}, offers.Spend{Count: 1, Cents: 100}, true, ""},
		{"money short for this offer", "limits: {budget: {discount_cents: 1000}}", offers.Spend{Count: 9, Cents: 950}, offers.Spend{Count: 1, Cents: 100}, false,
			"budget spent: 950 of 1000 discount cents; this offer commits 100"},
		{"both: count first", "limits: {budget: {count: 5, discount_cents: 1000}}", offers.Spend{Count: 5, Cents: 500}, offers.Spend{Count: 1, Cents: 100}, false, "budget spent: 5 of 5 offers"},
		{"both: money", "limits: {budget: {count: 50, discount_cents: 1000}}", offers.Spend{Count: 10, Cents: 1000}, offers.Spend{Count: 1, Cents: 100}, false,
			"budget spent: 1000 of 1000 discount cents; this offer commits 100"},
		{"other limits only", "limits: {cooldown: 1d}", offers.Spend{Count: 1 << 40}, offers.Spend{Count: 1}, true, ""},
	}
	for _, tt := range tests {
		r := policyRule(t, "r", tt.budget)
		if got := offers.HasBudget(r); got != (tt.budget != "" && tt.name != "other limits only") {
			t.Errorf("%s: HasBudget = %v", tt.name, got)
		}
		v := offers.Afford(r, tt.spent, tt.cost, true)
		if v.Send != tt.send || v.Reason != tt.reason {
			t.Errorf("%s: Afford(%+v, %+v) = %+v, want send %v reason %q", tt.name, tt.spent, tt.cost, v, tt.send, tt.reason)
		}
		if !v.Send && v.Code != offers.Budget {
			t.Errorf("%s: code %s, want budget", tt.name, v.Code)
		}
		if quiet := offers.Afford(r, tt.spent, tt.cost, false); quiet.Send != v.Send || quiet.Code != v.Code || quiet.Reason != "" {
			t.Errorf("%s: without explanation %+v, with %+v", tt.name, quiet, v)
		}
	}
	if offers.Budget.String() != "budget" {
		t.Errorf("Budget.String() = %q, want the metric label budget", offers.Budget.String())
	}
}
