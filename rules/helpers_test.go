package rules

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York on machines without a zone database

	"github.com/aislecast/loyalty"
)

// est is the shopper's zone: local days, not UTC days, bound the windows.
var est = time.FixedZone("EST", -5*3600)

func at(day int, hour, min int) time.Time { return time.Date(2026, 3, day, hour, min, 0, 0, est) }

func purchase(id string, ts time.Time, items ...loyalty.Item) *loyalty.Swipe {
	s := &loyalty.Swipe{V: 1, SwipeID: id, CardID: "card-1", Kind: loyalty.KindPurchase, StoreID: "s1", TS: ts, Items: items}
	for _, it := range items {
		s.TotalCents += it.LineCents()
	}
	return s
}

func item(sku, cat string, cents int64) loyalty.Item {
	return loyalty.Item{SKU: sku, Category: cat, Qty: 1, UnitPriceCents: cents}
}

// history is a card's purchases before 2026-03-10 10:00 EST, the time of
// the swipes the helpers are evaluated for. The 03-05 purchase arrives last,
// out of order.
func history(t *testing.T) *loyalty.Profile {
	t.Helper()
	p := loyalty.NewProfile("card-1")
	for _, s := range []*loyalty.Swipe{
		purchase("p1", at(1, 12, 0).AddDate(0, -1, 0), item("coffee-1kg", "coffee", 1200), item("milk", "dairy", 300)), // 2026-02-01
		purchase("p2", at(3, 21, 0), item("bread", "bakery", 300)),                                                     // 03-04 02:00 UTC
		purchase("p3", at(8, 9, 0), item("green-tea", "tea", 500)),
		purchase("p4", at(5, 12, 0), item("coffee-1kg", "coffee", 400)),
	} {
		if p.Apply(s) != loyalty.Applied {
			t.Fatalf("swipe %s not applied", s.SwipeID)
		}
	}
	return p
}

// eval runs expression src, which may return anything, as a condition
// would run for swipe s and profile p.
func eval(t *testing.T, s *loyalty.Swipe, p *loyalty.Profile, src string) (any, error) {
	t.Helper()
	prog, w, err := compileExpr(src)
	if err != nil || len(w.errs) > 0 {
		t.Fatalf("compile %s: %v %v", src, err, w.errs)
	}
	e := (&Set{}).NewEvaluator()
	e.bind(s, p)
	return e.vm.Run(prog, &e.env)
}

func TestHelpers(t *testing.T) {
	checkin := &loyalty.Swipe{V: 1, SwipeID: "c1", CardID: "card-1", Kind: loyalty.KindCheckin, StoreID: "s1", TS: at(10, 10, 0)}
	scan := &loyalty.Swipe{V: 1, SwipeID: "s1", CardID: "card-1", Kind: loyalty.KindScan, StoreID: "s1", TS: at(10, 10, 5),
		Items: []loyalty.Item{item("diapers-m", "baby", 1500)}}
	buy := purchase("p5", at(10, 10, 30), item("coffee-1kg", "coffee", 1300))

	tests := []struct {
		swipe *loyalty.Swipe
		expr  string
		want  any
	}{
		// Windows are local days ending with the swipe's day, inclusive.
		{checkin, `categorySpend("coffee", "7d")`, 400},   // 03-05 only (the late swipe)
		{checkin, `categorySpend("coffee", "30d")`, 400},  // 02-01 is 37 days back
		{checkin, `categorySpend("coffee", "40d")`, 1600}, // both
		{checkin, `categorySpend("coffee", "lifetime")`, 1600},
		{checkin, `categorySpend("bakery", "7d")`, 0},   // 03-03 21:00 EST is 03-04 in UTC, but 03-03 locally
		{checkin, `categorySpend("bakery", "8d")`, 300}, // 03-03..03-10
		{checkin, `categorySpend("pet", "90d")`, 0},     // never bought
		{checkin, `categorySpend("pet", "lifetime")`, 0},
		{checkin, `categorySpend("tea", "1d")`, 0},
		{checkin, `categorySpend("tea", "3d")`, 500},
		{checkin, `categorySpend("tea", swipe.store_id == "s1" ? "7d" : "1d")`, 500}, // window known only at run time
		{checkin, `spend("7d")`, 900},                                                // 03-05 coffee + 03-08 tea
		{checkin, `spend("lifetime")`, 2700},
		{buy, `categorySpend("coffee", "7d")`, 1700}, // the profile includes the current swipe
		{buy, `spend("1d")`, 1300},

		// daysSinceBought counts whole 24-hour periods up to the event time.
		{checkin, `daysSinceBought("coffee")`, 4}, // 03-05 12:00 → 03-10 10:00 is 4 days 22 hours
		{checkin, `daysSinceBought("tea")`, 2},
		{checkin, `daysSinceBought("dairy")`, 36},
		{checkin, `daysSinceBought("pet")`, -1},
		{buy, `daysSinceBought("coffee")`, 0},
		{purchase("late", at(4, 8, 0)), `daysSinceBought("tea")`, 0}, // bought after this (late) swipe: not negative

		{checkin, `hasBought("coffee-1kg")`, true},
		{checkin, `hasBought("diapers-m")`, false},
		{scan, `inBasket("baby")`, true},
		{scan, `inBasket("coffee")`, false},
		{checkin, `inBasket("baby")`, false},
		{scan, `basketHas("diapers-m")`, true},
		{scan, `basketHas("coffee-1kg")`, false},

		// now is the event time, in the swipe's zone.
		{checkin, `now.Hour()`, 10},
		{checkin, `now == swipe.ts`, true},
		{checkin, `swipe.kind == "checkin"`, true},
		{checkin, `swipe.kind != "checkin"`, false},
		{scan, `"scan" == swipe.kind`, true},
		{scan, `swipe.kind in ["purchase", "scan"]`, true},
		{scan, `swipe.kind not in ["purchase", "scan"]`, false},
		{scan, `swipe.kind in []`, false},
		{scan, `swipe.kind + "!"`, "scan!"},
		{scan, `profile.scans`, int64(0)}, // the profile passed in, unchanged

		// Fields go by the swipe schema's names, profile fields by snake_case.
		{buy, `swipe.store_id + "/" + swipe.card_id + "/" + swipe.swipe_id`, "s1/card-1/p5"},
		{buy, `swipe.total_cents == sum(swipe.items, .qty * .unit_price_cents)`, true},
		{buy, `swipe.items[0].sku + " " + swipe.items[0].category`, "coffee-1kg coffee"},
		{buy, `swipe.v`, 1},
		{buy, `[profile.card_id, profile.visits, profile.spend_cents]`, []any{"card-1", int64(5), int64(4000)}},
		{buy, `profile.first_seen`, at(1, 12, 0).AddDate(0, -1, 0).Unix()},
		{buy, `profile.last_seen == swipe.ts.Unix()`, true},
		{checkin, `[profile.checkins, profile.returns, profile.return_cents]`, []any{int64(0), int64(0), int64(0)}},
		{buy, `map(profile.categories, .name)`, []any{"bakery", "coffee", "dairy", "tea"}},
		{buy, `one(profile.categories, .name == "coffee" && .spend_cents == 2900 && .units == 3 && .last_bought == swipe.ts.Unix())`, true},
		{buy, `map(filter(profile.skus, .units > 1), .sku)`, []any{"coffee-1kg"}},
		{buy, `profile.skus[0].last_bought > 0`, true},
	}
	// Match is called with the profile that includes the swipe.
	before, after := history(t), history(t)
	after.Apply(buy)
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.swipe.SwipeID, tt.expr), func(t *testing.T) {
			p := before
			if tt.swipe == buy {
				p = after
			}
			got, err := eval(t, tt.swipe, p, tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("= %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestHelpersNilProfile(t *testing.T) {
	s := &loyalty.Swipe{SwipeID: "c1", Kind: loyalty.KindCheckin, TS: at(10, 10, 0)}
	for src, want := range map[string]any{
		`categorySpend("coffee", "7d")`: 0,
		`spend("lifetime")`:             0,
		`daysSinceBought("coffee")`:     -1,
		`hasBought("x")`:                false,
		`profile.visits`:                int64(0),
	} {
		if got, err := eval(t, s, nil, src); err != nil || got != want {
			t.Errorf("%s = %#v, %v; want %#v", src, got, err, want)
		}
	}
}

func TestHelperRuntimeWindowError(t *testing.T) {
	s := &loyalty.Swipe{SwipeID: "c1", Kind: loyalty.KindCheckin, StoreID: "s1", TS: at(10, 10, 0)}
	_, err := eval(t, s, nil, `categorySpend("coffee", swipe.store_id) > 0`)
	if err == nil {
		t.Fatal("want an error for window \"s1\"")
	}
	if want := `bad window "s1"`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

// TestProfileHelpers specifies the helpers over visits, stores, baskets,
// repurchase intervals and returns, on a card that bought coffee on
// 03-01, 03-11 and 03-21 and dairy on the first and last of those days.
func TestProfileHelpers(t *testing.T) {
	p := loyalty.NewProfile("card-1")
	for _, s := range []*loyalty.Swipe{
		purchase("b1", at(1, 12, 0), item("coffee-1kg", "coffee", 1200), item("milk", "dairy", 300)),
		purchase("b3", at(21, 12, 0), item("coffee-1kg", "coffee", 1200), item("milk", "dairy", 300), item("milk", "dairy", 300)),
		purchase("b2", at(11, 12, 0), item("coffee-1kg", "coffee", 1300)), // late: lands on its own day
	} {
		if s.SwipeID != "b1" {
			s.StoreID = "s2"
		}
		p.Apply(s)
	}
	ret := purchase("r1", at(22, 9, 0), item("milk", "dairy", 300))
	ret.Kind = loyalty.KindReturn
	p.Apply(ret)

	checkin := &loyalty.Swipe{V: 1, SwipeID: "c1", CardID: "card-1", Kind: loyalty.KindCheckin, StoreID: "s1", TS: at(30, 10, 0)}
	later := &loyalty.Swipe{V: 1, SwipeID: "c2", CardID: "card-1", Kind: loyalty.KindCheckin, StoreID: "s1", TS: at(31, 12, 0)}
	scan := &loyalty.Swipe{V: 1, SwipeID: "s1", CardID: "card-1", Kind: loyalty.KindScan, StoreID: "s1", TS: at(30, 10, 5),
		Items: []loyalty.Item{item("milk", "dairy", 300), {SKU: "yogurt", Category: "dairy", Qty: 3, UnitPriceCents: 99}, item("bread", "bakery", 250)}}
	tests := []struct {
		swipe *loyalty.Swipe
		expr  string
		want  any
	}{
		{checkin, `visits("lifetime")`, 3},
		{checkin, `visits("7d")`, 0},  // 03-24..03-30
		{checkin, `visits("10d")`, 1}, // 03-21..03-30
		{checkin, `visits("30d")`, 3},
		{checkin, `visits(swipe.store_id == "s1" ? "20d" : "1d")`, 2}, // window known only at run time
		{checkin, `visitsPerWeek("28d")`, 0.5},                        // 2 visits in 4 weeks
		{checkin, `visitsPerWeek("lifetime")`, 0.7},                   // 3 visits in the 30 days 03-01..03-30
		{checkin, `daysSinceVisit()`, 8},                              // 03-21 12:00 → 03-30 10:00
		{checkin, `favouriteStore()`, "s2"},                           // two visits against one
		{checkin, `favouriteCategory()`, "coffee"},                    // bought on three days, dairy on two
		{checkin, `repurchaseDays("coffee")`, 10.0},
		{checkin, `repurchaseDays("dairy")`, 20.0},
		{checkin, `repurchaseDays("tea")`, -1.0},
		{checkin, `dueToBuy("coffee")`, false}, // 8 days since, typically 10
		{later, `dueToBuy("coffee")`, true},    // 10 days since
		{later, `dueToBuy("dairy")`, false},
		{later, `dueToBuy("tea")`, false}, // never bought: no interval
		{checkin, `avgBasket()`, 1533},    // 4600 over 3 purchases, rounded down
		{checkin, `avgBasketItems()`, 2.0},
		{checkin, `profile.max_basket`, int64(1800)},
		{checkin, `returnsRatio()`, 300.0 / 4600},
		{scan, `basketSpend("dairy")`, 597},
		{scan, `basketQty("dairy")`, 4},
		{scan, `basketSpend("coffee")`, 0},
		{checkin, `basketQty("dairy")`, 0},
		{checkin, `map(profile.stores, .store_id + ":" + string(.visits))`, []any{"s1:1", "s2:2"}},
		{checkin, `profile.last_visit == profile.stores[1].last_visit`, true},
		{checkin, `profile.units`, int64(6)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.swipe.SwipeID, tt.expr), func(t *testing.T) {
			got, err := eval(t, tt.swipe, p, tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("= %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestProfileHelpersNoPurchase(t *testing.T) {
	s := &loyalty.Swipe{SwipeID: "c1", Kind: loyalty.KindCheckin, TS: at(10, 10, 0)}
	for src, want := range map[string]any{
		`visits("lifetime")`:        0,
		`visitsPerWeek("lifetime")`: 0.0,
		`visitsPerWeek("7d")`:       0.0,
		`daysSinceVisit()`:          -1,
		`favouriteStore()`:          "",
		`favouriteCategory()`:       "",
		`avgBasket()`:               0,
		`avgBasketItems()`:          0.0,
		`returnsRatio()`:            0.0,
		`dueToBuy("coffee")`:        false,
	} {
		if got, err := eval(t, s, nil, src); err != nil || got != want {
			t.Errorf("%s = %#v, %v; want %#v", src, got, err, want)
		}
	}
}

// TestVisitsPerWeekLifetimeOlderThanHistory checks that "lifetime" spans
// the card's whole life, not only the days its history keeps: a card
// that bought twice a week for a year visits twice a week.
func TestVisitsPerWeekLifetimeOlderThanHistory(t *testing.T) {
	p := loyalty.NewProfile("card-1")
	start := time.Date(2025, 3, 10, 10, 0, 0, 0, est)
	for w := range 52 {
		for _, d := range []int{0, 3} {
			s := purchase(fmt.Sprintf("p%d-%d", w, d), start.AddDate(0, 0, 7*w+d), item("bread", "bakery", 300))
			if p.Apply(s) != loyalty.Applied {
				t.Fatalf("swipe %s not applied", s.SwipeID)
			}
		}
	}
	checkin := &loyalty.Swipe{V: 1, SwipeID: "c1", CardID: "card-1", Kind: loyalty.KindCheckin, StoreID: "s1",
		TS: start.AddDate(0, 0, 364)}
	p.Apply(checkin)
	got, err := eval(t, checkin, p, `visitsPerWeek("lifetime")`)
	if err != nil {
		t.Fatal(err)
	}
	want := float64(p.Visits) * 7 / 365
	if math.Abs(got.(float64)-want) > 0.01 {
		t.Errorf(`visitsPerWeek("lifetime") = %.3f, want %.3f (%d visits over 365 days)`, got, want, p.Visits)
	}
	set := mustSet(t, "id: regular\nwhen: 'visitsPerWeek(\"lifetime\") >= 1.5'\nchannels: [pos]\noffer: {title: T}\n")
	if hits := set.NewEvaluator().Match(checkin, p, nil, nil); len(hits) != 1 {
		t.Errorf(`rule visitsPerWeek("lifetime") >= 1.5 did not fire for a card with %.2f visits a week`, want)
	}
}

// TestVisitsPerWeekLifetimeAcrossDST checks that the card's first day is
// its day in the store's zone when daylight saving time began since: a
// purchase at 23:30 EST is on that day, though 23:30 EST is 00:30 EDT of
// the next.
func TestVisitsPerWeekLifetimeAcrossDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	p := loyalty.NewProfile("card-1")
	p.Apply(purchase("p1", time.Date(2026, 1, 10, 23, 30, 0, 0, ny), item("bread", "bakery", 300)))
	checkin := &loyalty.Swipe{V: 1, SwipeID: "c1", CardID: "card-1", Kind: loyalty.KindCheckin, StoreID: "s1",
		TS: time.Date(2026, 3, 30, 10, 0, 0, 0, ny)}
	got, err := eval(t, checkin, p, `visitsPerWeek("lifetime")`)
	if err != nil {
		t.Fatal(err)
	}
	if want := 7.0 / 80; got != want { // 01-10..03-30
		t.Errorf(`visitsPerWeek("lifetime") = %v, want %v (1 visit over 80 days)`, got, want)
	}
}

func TestWindowLiteralsCheckedAtCompile(t *testing.T) {
	for _, src := range []string{`visits("91d") > 0`, `visitsPerWeek("week") > 1`, `spend("0d") > 0`} {
		if _, w, _ := compileExpr(src); len(w.errs) == 0 {
			t.Errorf("%s: no error for a bad literal window", src)
		}
	}
}

// TestTypeErrorNamesHelperAsWritten: a helper called with an argument of
// the wrong type is named as the condition wrote it, not as the rewrite
// that takes the window in days.
func TestTypeErrorNamesHelperAsWritten(t *testing.T) {
	for _, when := range []string{
		`categorySpend(5, "30d") > 0`,
		`categorySpend(swipe.total_cents, "lifetime") > 0`,
	} {
		_, err := Parse("f.yaml", []byte("id: r\nwhen: '"+when+"'\nchannels: [pos]\noffer: {title: T}\n"))
		if err == nil {
			t.Fatalf("%s compiled", when)
		}
		if strings.Contains(err.Error(), "_categorySpendDays") || !strings.Contains(err.Error(), "categorySpend") {
			t.Errorf("%s: %v\nwant a message about categorySpend, as written", when, err)
		}
	}
}
