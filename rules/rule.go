package rules

import (
	"time"

	"github.com/aislecast/loyalty"
	"github.com/expr-lang/expr/vm"
)

// Rule is one compiled offer rule. Its exported fields are what the rule
// file said (with defaults filled in); the compiled condition and templates
// are shared read-only by every Evaluator.
type Rule struct {
	ID       string
	Version  int // ≥ 1; offers carry it so a changed rule gets new offer ids
	Priority int // higher wins arbitration
	// Group names the rules of which at most one fires per swipe; "" means
	// the rule is in no group.
	Group    string
	When     string
	Channels []string

	// Title and Body are text/template sources; Render executes them.
	Title, Body string
	Coupon      Coupon
	ExpiresIn   time.Duration

	// Limits, Schedule and Holdout are parsed and validated here and
	// enforced by package offers, budgets with the count the engine shares
	// between its instances. Nil (or zero) means none.
	Limits   *Limits
	Schedule *Schedule
	Holdout  float64 // fraction of cards, in [0, 1), that never receive the offer

	// File and Line locate the start of the rule in its file.
	File string
	Line int

	program *vm.Program
	// kinds is the set of swipe kinds the condition can be true for, or nil
	// when the condition does not restrict the kind; Set uses it as an index.
	kinds []loyalty.Kind
	title *offerText
	body  *offerText
}

// Coupon is what an offer gives. Exactly one of DiscountPercent and
// DiscountCents is set, unless the rule has no coupon at all (a thank-you
// message, say). SKUs and Categories restrict what it applies to.
type Coupon struct {
	DiscountPercent int
	DiscountCents   int64
	SKUs            []string
	Categories      []string
}

// Limits caps how often a rule sends offers.
type Limits struct {
	// Cooldown is the least time between two offers of the rule to a card.
	Cooldown time.Duration
	// MaxPerCard is at most Count offers per card in any Per period; nil
	// means no cap.
	MaxPerCard *Cap
	// Budget is the most offers the rule may send in all, counted once per
	// offer id whatever its channels; 0 means unlimited.
	Budget int64
	// BudgetCents is the most discount, in cents, the rule's offers may
	// commit in all (see offers.Cost); 0 means unlimited.
	BudgetCents int64
}

// Cap is a count per period.
type Cap struct {
	Count int
	Per   time.Duration
}

// Schedule restricts when a rule may fire, in the swipe's local time. Zero
// fields do not restrict.
type Schedule struct {
	// From and Until are inclusive local calendar days, counted like
	// loyalty.DayOf; HasFrom and HasUntil say whether they were given.
	From, Until       int32
	HasFrom, HasUntil bool
	// FromMinute and UntilMinute are minutes after local midnight,
	// FromMinute inclusive and UntilMinute exclusive; HasHours says whether
	// the hours were given. UntilMinute < FromMinute wraps past midnight.
	FromMinute, UntilMinute int
	HasHours                bool
	// Days are the weekdays the rule may fire on; empty means every day.
	Days []time.Weekday
}
