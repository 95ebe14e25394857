package loyalty_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
)

var ny = mustZone("America/New_York")

func mustZone(name string) *time.Location {
	z, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return z
}

// purchase is a swipe at local time ts buying the given category→cents.
func purchase(id string, ts time.Time, lines ...any) *loyalty.Swipe {
	s := &loyalty.Swipe{V: 1, SwipeID: id, CardID: "c1", Kind: loyalty.KindPurchase, StoreID: "s1", TS: ts}
	for i := 0; i < len(lines); i += 2 {
		cat, cents := lines[i].(string), int64(lines[i+1].(int))
		s.Items = append(s.Items, loyalty.Item{SKU: cat + "-1", Category: cat, Qty: 1, UnitPriceCents: cents})
		s.TotalCents += cents
	}
	return s
}

func day(d int, hour int) time.Time { return time.Date(2026, 11, d, hour, 0, 0, 0, ny) }

func TestDayIsLocalCalendarDay(t *testing.T) {
	// 23:30 in New York is already the next day in UTC.
	late := time.Date(2026, 11, 2, 23, 30, 0, 0, ny)
	early := time.Date(2026, 11, 2, 0, 30, 0, 0, ny)
	if loyalty.DayOf(late) != loyalty.DayOf(early) {
		t.Fatalf("23:30 and 00:30 local on the same date fall on days %d and %d", loyalty.DayOf(late), loyalty.DayOf(early))
	}
	if got, want := loyalty.DayOf(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)), int32(0); got != want {
		t.Fatalf("epoch day = %d, want %d", got, want)
	}
	if got, want := loyalty.DayOf(time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)), int32(-1); got != want {
		t.Fatalf("day before epoch = %d, want %d", got, want)
	}
}

func TestProfileWindows(t *testing.T) {
	tests := []struct {
		name   string
		swipes []*loyalty.Swipe
		asOf   time.Time
		want   map[int]int64 // window days → spend
		coffee map[int]int64
	}{{
		name: "in order",
		swipes: []*loyalty.Swipe{
			purchase("a", day(1, 10), "coffee", 1000),
			purchase("b", day(20, 10), "coffee", 500, "dairy", 300),
			purchase("c", day(25, 18), "dairy", 200),
		},
		asOf:   day(25, 20),
		want:   map[int]int64{1: 200, 7: 1000, 30: 2000, 90: 2000},
		coffee: map[int]int64{1: 0, 7: 500, 30: 1500},
	}, {
		name: "out of order lands on its own day",
		swipes: []*loyalty.Swipe{
			purchase("c", day(25, 18), "dairy", 200),
			purchase("a", day(1, 10), "coffee", 1000),
			purchase("b", day(20, 10), "coffee", 500, "dairy", 300),
		},
		asOf:   day(25, 20),
		want:   map[int]int64{1: 200, 7: 1000, 30: 2000, 90: 2000},
		coffee: map[int]int64{1: 0, 7: 500, 30: 1500},
	}, {
		name: "same day adds up",
		swipes: []*loyalty.Swipe{
			purchase("a", day(3, 9), "coffee", 100),
			purchase("b", day(3, 21), "coffee", 250),
		},
		asOf:   day(3, 22),
		want:   map[int]int64{1: 350},
		coffee: map[int]int64{1: 350},
	}, {
		name: "late beyond the horizon counts in lifetime only",
		swipes: []*loyalty.Swipe{
			purchase("new", day(25, 10), "coffee", 100),
			purchase("old", day(25, 10).AddDate(0, 0, -120), "coffee", 9999),
		},
		asOf:   day(25, 11),
		want:   map[int]int64{90: 100},
		coffee: map[int]int64{90: 100},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := loyalty.NewProfile("c1")
			for _, s := range tt.swipes {
				if p.Apply(s) != loyalty.Applied {
					t.Fatalf("swipe %s not applied", s.SwipeID)
				}
			}
			d := loyalty.DayOf(tt.asOf)
			for w, want := range tt.want {
				if got := p.SpendWithin(d, w); got != want {
					t.Errorf("spend over %d days = %d, want %d", w, got, want)
				}
			}
			for w, want := range tt.coffee {
				if got := p.CategorySpendWithin("coffee", d, w); got != want {
					t.Errorf("coffee over %d days = %d, want %d", w, got, want)
				}
			}
		})
	}
}

func TestProfileTotalsAndLateSwipe(t *testing.T) {
	p := loyalty.NewProfile("c1")
	p.Apply(purchase("new", day(25, 10), "coffee", 100))
	p.Apply(purchase("old", day(25, 10).AddDate(0, 0, -120), "coffee", 900))
	ret := purchase("r", day(26, 10), "coffee", 100)
	ret.Kind = loyalty.KindReturn
	p.Apply(ret)
	p.Apply(&loyalty.Swipe{SwipeID: "k", CardID: "c1", Kind: loyalty.KindCheckin, TS: day(27, 9)})
	if p.Visits != 2 || p.SpendCents != 1000 || p.TooOld != 1 {
		t.Errorf("visits %d spend %d tooOld %d, want 2 1000 1", p.Visits, p.SpendCents, p.TooOld)
	}
	if p.Returns != 1 || p.ReturnCents != 100 || p.Checkins != 1 {
		t.Errorf("returns %d/%d checkins %d, want 1/100 1", p.Returns, p.ReturnCents, p.Checkins)
	}
	if c := p.Category("coffee"); c == nil || c.SpendCents != 1000 || c.LastBought != day(25, 10).Unix() {
		t.Errorf("coffee stats %+v", c)
	}
	if p.FirstSeen != day(25, 10).AddDate(0, 0, -120).Unix() || p.LastSeen != day(27, 9).Unix() {
		t.Errorf("first/last seen %d/%d", p.FirstSeen, p.LastSeen)
	}
}

func TestProfileHistoryIsPruned(t *testing.T) {
	p := loyalty.NewProfile("c1")
	for i := 0; i < 200; i++ {
		p.Apply(purchase(fmt.Sprint(i), day(1, 10).AddDate(0, 0, i), "coffee", 100))
	}
	if len(p.Days) != loyalty.HistoryDays || len(p.Categories[0].Days) != loyalty.HistoryDays {
		t.Fatalf("kept %d days (coffee %d), want %d", len(p.Days), len(p.Categories[0].Days), loyalty.HistoryDays)
	}
	if got := p.SpendWithin(p.NewestDay, 90); got != 9000 {
		t.Fatalf("90-day spend %d, want 9000", got)
	}
}

func TestProfileDuplicateSwipeID(t *testing.T) {
	p := loyalty.NewProfile("c1")
	s := purchase("dup", day(5, 10), "coffee", 100)
	if p.Apply(s) != loyalty.Applied || p.Apply(s) != loyalty.Duplicate {
		t.Fatal("a retried swipe id must be a duplicate")
	}
	if p.SpendCents != 100 || p.Visits != 1 {
		t.Fatalf("duplicate changed the profile: spend %d visits %d", p.SpendCents, p.Visits)
	}
	for i := 0; i < loyalty.RecentSwipeIDs; i++ {
		p.Apply(purchase(fmt.Sprint("x", i), day(6, 10), "tea", 1))
	}
	if p.Apply(s) != loyalty.Applied {
		t.Fatal("an id older than the retention window is applied again")
	}
}

func TestTopSKUsEvictsWeakest(t *testing.T) {
	p := loyalty.NewProfile("c1")
	s := &loyalty.Swipe{SwipeID: "big", CardID: "c1", Kind: loyalty.KindPurchase, TS: day(5, 10)}
	for i := 0; i < loyalty.TopSKUs; i++ {
		s.Items = append(s.Items, loyalty.Item{SKU: fmt.Sprintf("sku-%03d", i), Category: "x", Qty: int64(2 + i), UnitPriceCents: 1})
	}
	p.Apply(s)
	p.Apply(&loyalty.Swipe{SwipeID: "one", CardID: "c1", Kind: loyalty.KindPurchase, TS: day(6, 10),
		Items: []loyalty.Item{{SKU: "new", Category: "x", Qty: 1, UnitPriceCents: 1}}})
	if len(p.SKUs) != loyalty.TopSKUs || p.SKU("new") == nil || p.SKU("sku-000") != nil || p.SKU("sku-001") == nil {
		t.Fatalf("after eviction: %d SKUs, new %v, sku-000 %v", len(p.SKUs), p.SKU("new"), p.SKU("sku-000"))
	}
	for i := 1; i < len(p.SKUs); i++ {
		if p.SKUs[i-1].SKU >= p.SKUs[i].SKU {
			t.Fatal("SKUs not sorted")
		}
	}
}

// A profile keeps at most TopCategories categories: a new one evicts the
// category bought the least recently, the least spent in on a tie.
func TestTopCategoriesEvictsLeastRecent(t *testing.T) {
	p := loyalty.NewProfile("c1")
	for n := 0; n < loyalty.TopCategories; n += 500 {
		s := &loyalty.Swipe{SwipeID: fmt.Sprint("s", n), CardID: "c1", Kind: loyalty.KindPurchase, TS: day(5, 10+n/500)}
		for i := n; i < min(n+500, loyalty.TopCategories); i++ {
			s.Items = append(s.Items, loyalty.Item{SKU: "k", Category: fmt.Sprintf("cat-%04d", i), Qty: 1, UnitPriceCents: int64(1 + i%7)})
		}
		p.Apply(s)
	}
	// cat-0000 (1 cent) and cat-0007 (1 cent) were bought first and least.
	p.Apply(purchase("again", day(6, 10), "cat-0000", 5))
	p.Apply(purchase("new", day(7, 10), "new", 5))
	if len(p.Categories) != loyalty.TopCategories || p.Category("new") == nil || p.Category("cat-0007") != nil ||
		p.Category("cat-0000") == nil || p.Category("cat-0001") == nil {
		t.Fatalf("after eviction: %d categories, new %v, cat-0000 %v, cat-0001 %v, cat-0007 %v", len(p.Categories),
			p.Category("new"), p.Category("cat-0000"), p.Category("cat-0001"), p.Category("cat-0007"))
	}
	for i := 1; i < len(p.Categories); i++ {
		if p.Categories[i-1].Name >= p.Categories[i].Name {
			t.Fatal("categories not sorted")
		}
	}
}

func TestProfileVisitsAndBaskets(t *testing.T) {
	p := loyalty.NewProfile("c1")
	p.Apply(purchase("a", day(10, 9), "coffee", 500, "dairy", 300))
	p.Apply(purchase("b", day(10, 18), "coffee", 700))
	p.Apply(purchase("late", day(3, 12), "tea", 2000)) // arrives last, lands on 11-03
	ret := purchase("r", day(11, 9), "tea", 2000)
	ret.Kind = loyalty.KindReturn
	p.Apply(ret)
	p.Apply(&loyalty.Swipe{SwipeID: "k", CardID: "c1", Kind: loyalty.KindCheckin, StoreID: "s9", TS: day(12, 9)})

	if p.Visits != 3 || p.Units != 4 || p.MaxBasket != 2000 || p.LastVisit != day(10, 18).Unix() {
		t.Errorf("visits %d units %d max basket %d last visit %d; want 3 4 2000 %d", p.Visits, p.Units, p.MaxBasket, p.LastVisit, day(10, 18).Unix())
	}
	d := loyalty.DayOf(day(12, 9))
	for w, want := range map[int]int64{1: 0, 3: 2, 10: 3} {
		if got := p.VisitsWithin(d, w); got != want {
			t.Errorf("visits within %d days = %d, want %d", w, got, want)
		}
	}
	// Returns and check-ins are no visits to a store.
	if len(p.Stores) != 1 || p.Stores[0] != (loyalty.StoreVisits{StoreID: "s1", Visits: 3, LastVisit: day(10, 18).Unix()}) {
		t.Errorf("stores %+v", p.Stores)
	}
}

func TestFavouriteStoreKeepsTheMostVisited(t *testing.T) {
	p := loyalty.NewProfile("c1")
	visit := func(id, store string, d int) {
		s := purchase(id, day(d, 10), "coffee", 100)
		s.StoreID = store
		p.Apply(s)
	}
	if p.FavouriteStore() != nil {
		t.Fatal("a card that never bought has a favourite store")
	}
	visit("1", "home", 1)
	visit("2", "home", 2)
	visit("3", "b", 3)
	visit("4", "c", 4)
	visit("5", "d", 5)
	if got := p.FavouriteStore().StoreID; got != "home" {
		t.Fatalf("favourite %s, want home", got)
	}
	visit("6", "e", 6) // full: the least recent of the one-visit stores (b) makes room
	if len(p.Stores) != loyalty.TopStores {
		t.Fatalf("%d stores kept, want %d", len(p.Stores), loyalty.TopStores)
	}
	var ids []string
	for _, s := range p.Stores {
		ids = append(ids, s.StoreID)
	}
	if fmt.Sprint(ids) != "[c d e home]" {
		t.Errorf("stores %v, want [c d e home] (sorted, b evicted)", ids)
	}
	visit("7", "e", 7)
	visit("8", "e", 8) // three visits to e, two to home
	if got := p.FavouriteStore().StoreID; got != "e" {
		t.Errorf("favourite %s, want e", got)
	}
	visit("9", "home", 9) // three each: the most recent wins
	if got := p.FavouriteStore().StoreID; got != "home" {
		t.Errorf("favourite on a tie %s, want home (visited last)", got)
	}
}

func TestRepurchaseDaysAndFavouriteCategory(t *testing.T) {
	p := loyalty.NewProfile("c1")
	if p.Category("coffee").RepurchaseDays() != -1 || p.FavouriteCategory() != nil {
		t.Fatal("a card that never bought has a repurchase interval or a favourite category")
	}
	p.Apply(purchase("1", day(2, 10), "coffee", 100, "wine", 5000))
	p.Apply(purchase("2", day(2, 19), "coffee", 100)) // the same day counts once
	p.Apply(purchase("3", day(16, 10), "coffee", 100, "wine", 5000))
	p.Apply(purchase("4", day(9, 10), "coffee", 100)) // late
	if got := p.Category("coffee").RepurchaseDays(); got != 7 {
		t.Errorf("coffee every %v days, want 7 (11-02, 11-09, 11-16)", got)
	}
	if got := p.Category("wine").RepurchaseDays(); got != 14 {
		t.Errorf("wine every %v days, want 14", got)
	}
	if got := p.FavouriteCategory().Name; got != "coffee" {
		t.Errorf("favourite %s, want coffee (three days against two)", got)
	}
	p.Apply(purchase("5", day(17, 10), "wine", 100))
	if got := p.FavouriteCategory().Name; got != "wine" {
		t.Errorf("favourite %s, want wine (three days each, more spend)", got)
	}
}

func TestSwipeHashesAreBounded(t *testing.T) {
	p := loyalty.NewProfile("c1")
	for i := 0; i < 3*loyalty.RecentSwipeIDs; i++ {
		p.Apply(purchase(fmt.Sprint("id-", i), day(5, 10), "tea", 1))
	}
	if len(p.RecentSwipes) != loyalty.RecentSwipeIDs {
		t.Fatalf("%d swipe hashes kept, want %d", len(p.RecentSwipes), loyalty.RecentSwipeIDs)
	}
	for _, h := range p.RecentSwipes {
		if h>>loyalty.SwipeHashBits != 0 {
			t.Fatalf("hash %x wider than %d bits", h, loyalty.SwipeHashBits)
		}
	}
}

// SpareDays: the categories Apply adds take their first day from the
// spare room while it lasts, and the profile comes out the same as
// without it; a second day in such a category moves out of the room.
func TestSpareDays(t *testing.T) {
	plain := loyalty.NewProfile("c1")
	spared := loyalty.NewProfile("c1")
	var room [2]loyalty.DaySpend
	spared.SpareDays(room[:])
	same := func(after string) {
		t.Helper()
		// Printed whole, once the room is used up (printing shows the
		// unexported room too).
		if a, b := fmt.Sprintf("%+v", *plain), fmt.Sprintf("%+v", *spared); a != b {
			t.Fatalf("after %s:\n without spare days %s\n with them          %s", after, a, b)
		}
	}
	first := purchase("a", day(1, 10), "coffee", 1000, "dairy", 300, "bakery", 250)
	plain.Apply(first)
	spared.Apply(first)
	same("three categories added")
	if room[0].Cents != 1000 || room[1].Cents != 300 {
		t.Fatalf("room holds %+v: want the first day of the first two categories added (coffee, dairy)", room)
	}
	second := purchase("b", day(2, 10), "coffee", 500, "dairy", 200)
	plain.Apply(second)
	spared.Apply(second)
	same("a second day in two of them")
	for _, c := range spared.Categories {
		if &c.Days[0] == &room[0] || &c.Days[0] == &room[1] {
			t.Errorf("%s has %d days and still the room's", c.Name, len(c.Days))
		}
	}
}
