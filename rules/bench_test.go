package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
)

// benchRules returns n rules cycling through typical condition shapes.
func benchRules(n int) string {
	conds := []string{
		`swipe.kind == "checkin" && daysSinceBought("CAT") >= 12 && categorySpend("CAT", "90d") > 2000`,
		`swipe.kind == "purchase" && swipe.total_cents >= 15000`,
		`swipe.kind in ["purchase", "scan"] && inBasket("CAT") && !hasBought("sku-N")`,
		`swipe.kind == "scan" && basketHas("sku-N")`,
		`swipe.kind == "purchase" && inBasket("CAT") && spend("30d") > 5000`,
	}
	cats := []string{"coffee", "tea", "dairy", "bakery", "produce", "baby", "pet", "snacks"}
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\nid: r%d\npriority: %d\nwhen: '%s'\nchannels: [mobile]\noffer: {title: \"t\", coupon: {discount_percent: 10}}\n",
			i, i%7, strings.NewReplacer("CAT", cats[i%len(cats)], "N", fmt.Sprint(i)).Replace(conds[i%len(conds)]))
	}
	return b.String()
}

func BenchmarkMatch100Rules(b *testing.B) {
	rs, err := Parse("bench.yaml", []byte(benchRules(100)))
	if err != nil {
		b.Fatal(err)
	}
	set, err := NewSet(rs)
	if err != nil {
		b.Fatal(err)
	}
	p, swipes := shopper(b)
	e := set.NewEvaluator()
	hits := make([]*Rule, 0, set.Len())
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		hits = e.Match(swipes[i%len(swipes)], p, hits[:0], nil)
	}
}

// shopper returns a profile with two months of weekly shopping and a swipe
// of each kind to evaluate against it.
func shopper(tb testing.TB) (*loyalty.Profile, []*loyalty.Swipe) {
	tb.Helper()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	p := loyalty.NewProfile("card-1")
	for w := range 8 {
		p.Apply(&loyalty.Swipe{SwipeID: fmt.Sprint("w", w), CardID: "card-1", Kind: loyalty.KindPurchase, StoreID: "s1",
			TS: t0.AddDate(0, 0, 7*w), TotalCents: 4500, Items: []loyalty.Item{
				{SKU: "sku-1", Category: "coffee", Qty: 1, UnitPriceCents: 1500},
				{SKU: "sku-2", Category: "dairy", Qty: 2, UnitPriceCents: 500},
				{SKU: "sku-3", Category: "bakery", Qty: 4, UnitPriceCents: 500},
			}})
	}
	now := t0.AddDate(0, 0, 7*8)
	items := []loyalty.Item{{SKU: "sku-2", Category: "dairy", Qty: 1, UnitPriceCents: 500}, {SKU: "sku-9", Category: "baby", Qty: 1, UnitPriceCents: 2000}}
	return p, []*loyalty.Swipe{
		{SwipeID: "c", CardID: "card-1", Kind: loyalty.KindCheckin, StoreID: "s1", TS: now},
		{SwipeID: "p", CardID: "card-1", Kind: loyalty.KindPurchase, StoreID: "s1", TS: now, Items: items, TotalCents: 2500},
		{SwipeID: "s", CardID: "card-1", Kind: loyalty.KindScan, StoreID: "s1", TS: now, Items: items[1:]},
	}
}
