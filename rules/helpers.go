package rules

import (
	"time"

	"github.com/aislecast/loyalty"
)

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
	return e.categorySpendOf(e.env.Profile.Category(cat), days)
}

// categorySpendOf is categorySpendDays for the card's figures c of a
// category, nil when it never bought in it: a caller that has them from
// the per-swipe memo does not search the profile again.
func (e *Evaluator) categorySpendOf(c *loyalty.CategoryStats, days int) int {
	if c == nil {
		return 0
	}
	if days <= 0 {
		return int(c.SpendCents)
	}
	return int(c.SpendWithin(e.day, min(days, loyalty.HistoryDays)))
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

// bindProfileHelpers binds the helpers over visits, stores, baskets,
// repurchase intervals and returns.
func (e *Evaluator) bindProfileHelpers() {
	e.env.Visits = e.visits
	e.env.VisitsPerWeek = e.visitsPerWeek
	e.env.DaysSinceVisit = e.daysSinceVisit
	e.env.FavouriteStore = e.favouriteStore
	e.env.FavouriteCategory = e.favouriteCategory
	e.env.AvgBasket = e.avgBasket
	e.env.AvgBasketItems = e.avgBasketItems
	e.env.RepurchaseDays = e.repurchaseDays
	e.env.DueToBuy = e.dueToBuy
	e.env.ReturnsRatio = e.returnsRatio
	e.env.BasketSpend = e.basketSpend
	e.env.BasketQty = e.basketQty
	e.env.VisitsDays = e.visitsDays
	e.env.VisitsPerWeekDays = e.visitsPerWeekDays
}

// visits is visits(window) with a window not known at compile time.
func (e *Evaluator) visits(window string) (int, error) {
	days, err := parseWindow(window)
	if err != nil {
		return 0, err
	}
	return e.visitsDays(days), nil
}

// visitsDays is the number of purchase swipes within the last days local
// days including the swipe's, or over the card's lifetime when days ≤ 0.
func (e *Evaluator) visitsDays(days int) int {
	p := e.env.Profile
	if days <= 0 {
		return int(p.Visits)
	}
	return int(p.VisitsWithin(e.day, min(days, loyalty.HistoryDays)))
}

// visitsPerWeek is visitsPerWeek(window) with a window not known at
// compile time.
func (e *Evaluator) visitsPerWeek(window string) (float64, error) {
	days, err := parseWindow(window)
	if err != nil {
		return 0, err
	}
	return e.visitsPerWeekDays(days), nil
}

// visitsPerWeekDays is visitsDays spread over the window's weeks. Over the
// lifetime the window runs from the card's first local day to the swipe's,
// both included, and counts the lifetime visits: the window is usually
// longer than the loyalty.HistoryDays that visitsDays can count within.
// The first day is taken in the swipe's zone, not at the swipe's offset,
// so a daylight saving change in between does not move it.
func (e *Evaluator) visitsPerWeekDays(days int) float64 {
	p := e.env.Profile
	if days <= 0 {
		if p.FirstSeen == 0 {
			return 0
		}
		first := loyalty.DayOf(time.Unix(p.FirstSeen, 0).In(e.env.Now.Location()))
		span := max(e.day-first+1, 1)
		return float64(p.Visits) * 7 / float64(span)
	}
	return float64(e.visitsDays(days)) * 7 / float64(days)
}

// daysSinceVisit is the number of whole days (24-hour periods) from the
// card's latest purchase to the swipe's event time; 0 when the swipe is
// that purchase, -1 when the card never bought.
func (e *Evaluator) daysSinceVisit() int {
	p := e.env.Profile
	if p.Visits == 0 {
		return -1
	}
	return int(max((e.env.Now.Unix()-p.LastVisit)/86400, 0))
}

// favouriteStore is the id of the store with the most purchase visits,
// the most recently visited on a tie, or "" when the card never bought.
func (e *Evaluator) favouriteStore() string {
	if s := e.env.Profile.FavouriteStore(); s != nil {
		return s.StoreID
	}
	return ""
}

// favouriteCategory is the name of the category bought on the most days
// within the history, or "" when the card bought nothing in it.
func (e *Evaluator) favouriteCategory() string {
	if c := e.env.Profile.FavouriteCategory(); c != nil {
		return c.Name
	}
	return ""
}

// avgBasket is the mean purchase total in cents, rounded down; 0 before
// the first purchase.
func (e *Evaluator) avgBasket() int {
	p := e.env.Profile
	if p.Visits == 0 {
		return 0
	}
	return int(p.SpendCents / p.Visits)
}

// avgBasketItems is the mean quantity bought per purchase; 0 before the
// first purchase.
func (e *Evaluator) avgBasketItems() float64 {
	p := e.env.Profile
	if p.Visits == 0 {
		return 0
	}
	return float64(p.Units) / float64(p.Visits)
}

// repurchaseDays is the card's typical number of days between purchases
// in cat (see loyalty.CategoryStats.RepurchaseDays), -1 when unknown.
func (e *Evaluator) repurchaseDays(cat string) float64 {
	return e.env.Profile.Category(cat).RepurchaseDays()
}

// dueToBuy reports whether the card's typical repurchase interval in cat
// is known and at least that many days have passed since its latest
// purchase in cat.
func (e *Evaluator) dueToBuy(cat string) bool {
	r := e.repurchaseDays(cat)
	return r > 0 && float64(e.daysSinceBought(cat)) >= r
}

// returnsRatio is the value returned over the value bought, lifetime; 0
// before the first purchase.
func (e *Evaluator) returnsRatio() float64 {
	p := e.env.Profile
	if p.SpendCents <= 0 {
		return 0
	}
	return float64(p.ReturnCents) / float64(p.SpendCents)
}

// basketSpend is the value of the swipe's lines in category cat.
func (e *Evaluator) basketSpend(cat string) int {
	var sum int64
	for i := range e.env.Swipe.Items {
		if it := &e.env.Swipe.Items[i]; it.Category == cat {
			sum += it.LineCents()
		}
	}
	return int(sum)
}

// basketQty is the quantity of the swipe's lines in category cat.
func (e *Evaluator) basketQty(cat string) int {
	var n int64
	for i := range e.env.Swipe.Items {
		if it := &e.env.Swipe.Items[i]; it.Category == cat {
			n += it.Qty
		}
	}
	return int(n)
}
