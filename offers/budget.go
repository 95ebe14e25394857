package offers

import (
	"fmt"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/rules"
)

// Spend is what a rule's offers have used of its budget: how many offers
// and how much discount they committed, in cents.
type Spend struct {
	Count int64 `json:"count"`
	Cents int64 `json:"cents"`
}

// Add returns s plus t.
func (s Spend) Add(t Spend) Spend { return Spend{s.Count + t.Count, s.Cents + t.Cents} }

// Cost is what one offer of rule r on swipe s takes from the rule's
// budget: one offer, whatever its number of channels (they share one offer
// id and one coupon), and the discount it commits, ExpectedCents. A
// discount_cents coupon commits its amount. A percent coupon's cost is
// known only when it is redeemed, so it commits its percentage of the
// basket that triggered it, the same estimate arbitration ranks by; a swipe
// without a total (a checkin, a scan) commits nothing, which is why such
// rules should have a count budget too.
func Cost(r *rules.Rule, s *loyalty.Swipe) Spend {
	return Spend{Count: 1, Cents: ExpectedCents(r, s)}
}

// HasBudget reports whether rule r has a budget to judge with Afford.
func HasBudget(r *rules.Rule) bool {
	return r.Limits != nil && (r.Limits.Budget > 0 || r.Limits.BudgetCents > 0)
}

// Afford judges whether rule r may send one more offer costing cost when
// its offers have spent spent so far: spent plus cost must stay within
// every budget the rule has. When it may not, the verdict's Code is Budget
// and, when explain is set, its Reason says which budget is spent, as
// "budget spent: 50000 of 50000 offers".
func Afford(r *rules.Rule, spent, cost Spend, explain bool) Verdict {
	l := r.Limits
	if l == nil {
		return Verdict{Send: true}
	}
	if l.Budget > 0 && spent.Count+cost.Count > l.Budget {
		v := Verdict{Code: Budget}
		if explain {
			v.Reason = fmt.Sprintf("budget spent: %d of %d offers", spent.Count, l.Budget)
		}
		return v
	}
	if l.BudgetCents > 0 && spent.Cents+cost.Cents > l.BudgetCents {
		v := Verdict{Code: Budget}
		if explain {
			v.Reason = fmt.Sprintf("budget spent: %d of %d discount cents; this offer commits %d", spent.Cents, l.BudgetCents, cost.Cents)
		}
		return v
	}
	return Verdict{Send: true}
}
