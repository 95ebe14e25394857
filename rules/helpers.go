package rules

import "github.com/aislecast/loyalty"

// The helper functions of rule conditions. They read the swipe and profile
// of the Match in progress; windows end with the swipe's local day, and
// "now" is the swipe's event time, so a replay or backtest decides exactly
// as the live run did.

// categorySpend is categorySpend(cat, window) with a window not known at
// compile time.
func (e *Evaluator) categorySpend(cat, window string) (int, error) {
	days, err := parseWindow(window)
	if err != nil {
		return 0, err
	}
	return e.categorySpendDays(cat, days), nil
}

// categorySpendDays is the purchase value in category cat within the last
// days local days including the swipe's, or over the card's lifetime when
// days ≤ 0. It is 0 for a category never bought.
func (e *Evaluator) categorySpendDays(cat string, days int) int {
	p := e.env.Profile
	if days <= 0 {
		if c := p.Category(cat); c != nil {
			return int(c.SpendCents)
		}
		return 0
	}
	return int(p.CategorySpendWithin(cat, e.day, min(days, loyalty.HistoryDays)))
}

// spend is spend(window) with a window not known at compile time.
func (e *Evaluator) spend(window string) (int, error) {
	days, err := parseWindow(window)
	if err != nil {
		return 0, err
	}
	return e.spendDays(days), nil
}

// spendDays is the purchase value of all categories, like
// categorySpendDays.
func (e *Evaluator) spendDays(days int) int {
	p := e.env.Profile
	if days <= 0 {
		return int(p.SpendCents)
	}
	return int(p.SpendWithin(e.day, min(days, loyalty.HistoryDays)))
}

// daysSinceBought is the number of whole days (24-hour periods) from the
// latest purchase in cat to the swipe's event time: 0 on the day of the
// purchase (and for a purchase that is later than this swipe, which
// happens when swipes arrive out of order), -1 when the card never bought
// in cat.
func (e *Evaluator) daysSinceBought(cat string) int {
	return e.daysSince(e.env.Profile.Category(cat))
}

// daysSince is daysSinceBought for the card's figures c of a category, nil
// when it never bought in it.
func (e *Evaluator) daysSince(c *loyalty.CategoryStats) int {
	if c == nil || c.LastBought == 0 {
		return -1
	}
	d := (e.env.Now.Unix() - c.LastBought) / 86400
	return int(max(d, 0))
}

// hasBought reports whether sku is among the card's remembered SKUs (the
// loyalty.TopSKUs most bought).
func (e *Evaluator) hasBought(sku string) bool { return e.env.Profile.SKU(sku) != nil }

// inBasket reports whether the swipe has an item in category cat, whatever
// its kind (a scan or a return has items too).
func (e *Evaluator) inBasket(cat string) bool {
	for i := range e.env.Swipe.Items {
		if e.env.Swipe.Items[i].Category == cat {
			return true
		}
	}
	return false
}

// basketHas reports whether the swipe has an item of sku.
func (e *Evaluator) basketHas(sku string) bool {
	for i := range e.env.Swipe.Items {
		if e.env.Swipe.Items[i].SKU == sku {
			return true
		}
	}
	return false
}

func (e *Evaluator) isKind(k string) bool { return string(e.env.Swipe.Kind) == k }

func (e *Evaluator) kind() string { return string(e.env.Swipe.Kind) }
