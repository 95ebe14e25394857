package rules

import (
	"slices"
	"strings"
	"testing"

	"github.com/aislecast/loyalty"
)

func TestExplain(t *testing.T) {
	checkin := &loyalty.Swipe{V: 1, SwipeID: "c1", CardID: "card-1", Kind: loyalty.KindCheckin, StoreID: "s1", TS: at(10, 10, 0)}
	buy := purchase("p9", at(10, 10, 0), item("wine-1", "wine", 1500))
	tests := []struct {
		name  string
		when  string
		swipe *loyalty.Swipe
		want  string
	}{
		{"comparison shows the helper's value", `daysSinceBought("coffee") >= 12`, checkin, `
daysSinceBought("coffee") >= 12 is false
  daysSinceBought("coffee") = 4`},
		{"first false side of a chain of &&, left to right", `swipe.kind == "checkin" && daysSinceBought("coffee") >= 3 && categorySpend("coffee", "90d") > 2000 && profile.visits > 100`, checkin, `
swipe.kind == "checkin" && daysSinceBought("coffee") >= 3 && categorySpend("coffee", "90d") > 2000 && profile.visits > 100 is false
  categorySpend("coffee", "90d") > 2000 is false
    categorySpend("coffee", "90d") = 1600`},
		{"the kind is shown as the swipe has it", `swipe.kind == "checkin" && inBasket("wine")`, buy, `
swipe.kind == "checkin" && inBasket("wine") is false
  swipe.kind == "checkin" is false
    swipe.kind = "purchase"`},
		{"every side of a false ||, recursively", `(inBasket("wine") && swipe.total_cents > 2000) || basketHas("beer-1")`, buy, `
(inBasket("wine") && swipe.total_cents > 2000) || basketHas("beer-1") is false
  inBasket("wine") && swipe.total_cents > 2000 is false
    swipe.total_cents > 2000 is false
      swipe.total_cents = 1500
  basketHas("beer-1") is false`},
		{"the operand of a not", `!hasBought("coffee-1kg")`, buy, `
!hasBought("coffee-1kg") is false
  hasBought("coffee-1kg") is true`},
		{"the branch a conditional took", `swipe.kind == "purchase" ? swipe.total_cents > 5000 : false`, buy, `
swipe.kind == "purchase" ? swipe.total_cents > 5000 : false is false
  swipe.kind == "purchase" is true
    swipe.kind = "purchase"
  swipe.total_cents > 5000 is false
    swipe.total_cents = 1500`},
		{"a run-time error is reported where it happens", `profile.visits > 0 && categorySpend("coffee", swipe.store_id) > 0`, buy, `
profile.visits > 0 && categorySpend("coffee", swipe.store_id) > 0: bad window "s1": use "<N>d" with N from 1 to 90, or "lifetime" (1:23)
  categorySpend("coffee", swipe.store_id) > 0: bad window "s1": use "<N>d" with N from 1 to 90, or "lifetime" (1:1)`},
		{"a part naming a let variable cannot stand alone", `let c = categorySpend("coffee", "lifetime"); c > 5000`, buy, `
let c = categorySpend("coffee", "lifetime"); c > 5000 is false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := mustSet(t, "id: r\nwhen: '"+strings.ReplaceAll(tt.when, "'", "''")+"'\nchannels: [pos]\noffer: {title: T}\n")
			r := set.Rules()[0]
			p := history(t)
			if p.Apply(tt.swipe) != loyalty.Applied {
				t.Fatal("swipe not applied")
			}
			e := set.NewEvaluator()
			if hits := e.Match(tt.swipe, p, nil, nil); len(hits) != 0 {
				t.Fatalf("test condition is true; Explain is for false ones")
			}
			got := e.Explain(r, tt.swipe, p).String()
			if want := strings.TrimPrefix(tt.want, "\n"); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			if e.env.Swipe != nil || e.env.Profile != nil {
				t.Error("Explain keeps the swipe or profile alive")
			}
		})
	}
}

func TestFiresOn(t *testing.T) {
	set := mustSet(t, orderRules)
	want := map[string][]loyalty.Kind{ // the kinds each rule's condition can hold for
		"low":   {loyalty.KindPurchase, loyalty.KindCheckin, loyalty.KindScan, loyalty.KindReturn},
		"zeta":  {loyalty.KindPurchase, loyalty.KindCheckin, loyalty.KindScan, loyalty.KindReturn},
		"never": nil, // a constant false holds for no kind
		"alpha": {loyalty.KindPurchase},
		"mid":   {loyalty.KindCheckin, loyalty.KindScan},
	}
	for _, r := range set.Rules() {
		for _, k := range []loyalty.Kind{loyalty.KindPurchase, loyalty.KindCheckin, loyalty.KindScan, loyalty.KindReturn} {
			if got, w := r.FiresOn(k), slices.Contains(want[r.ID], k); got != w {
				t.Errorf("rule %s: FiresOn(%s) = %v, want %v", r.ID, k, got, w)
			}
		}
	}
}
