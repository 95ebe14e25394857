package bench

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"

	"github.com/aislecast/loyalty/possim"
)

// catalog is the simulator's (possim) catalog, so generated rules meet the
// traffic they are benchmarked on, and catalogWeight its categories'
// cumulative popularity: rules name a category as often as the category
// turns up in basket lines, since marketers write campaigns for what
// sells.
var catalog, catalogWeight = func() ([]possim.Category, []int) {
	cats := possim.Categories()
	cum := make([]int, len(cats))
	total := 0
	for i, c := range cats {
		total += c.Popularity
		cum[i] = total
	}
	return cats, cum
}()

// stores is how many stores the simulator opens by default (s001…s008).
const stores = 8

// ruleShape is one kind of condition marketers write, with its share of a
// generated rule set and, for broad rules that no team writes by the
// thousand, a cap on their number (0: none).
type ruleShape struct {
	weight int
	max    int
	when   func(g *ruleGen) string
}

// shapes is the mix of Rules, by weight out of 100. Almost every rule is
// about a category, a SKU or a store, as campaigns are; a few look only at
// the swipe kind and the profile, and a few fire on anything: however many
// rules there are, at most 20 and 10 of those.
var shapes = []ruleShape{
	// Category spend threshold over a window, on a purchase in the category.
	{24, 0, func(g *ruleGen) string {
		c := g.cat()
		return fmt.Sprintf(`swipe.kind == "purchase" && inBasket(%q) && categorySpend(%q, %q) > %d`, c, c, g.window(), 2000+g.rng.Intn(10000))
	}},
	// Replenishment reminder at check-in.
	{14, 0, func(g *ruleGen) string {
		c := g.cat()
		return fmt.Sprintf(`swipe.kind == "checkin" && daysSinceBought(%q) >= %d && categorySpend(%q, "90d") > %d`, c, 7+g.rng.Intn(30), c, 1000+g.rng.Intn(6000))
	}},
	// Store campaign: a big basket in one store.
	{12, 0, func(g *ruleGen) string {
		return fmt.Sprintf(`swipe.kind == "purchase" && swipe.store_id == %q && swipe.total_cents >= %d`, g.store(), 8000+g.rng.Intn(20000))
	}},
	// Regional campaign: a category in some stores.
	{8, 0, func(g *ruleGen) string {
		return fmt.Sprintf(`swipe.store_id in [%q, %q, %q] && inBasket(%q) && profile.visits >= %d`, g.store(), g.store(), g.store(), g.cat(), 1+g.rng.Intn(5))
	}},
	// Cross-sell: a SKU in the basket, another never bought.
	{14, 0, func(g *ruleGen) string {
		return fmt.Sprintf(`basketHas(%q) && !hasBought(%q)`, g.sku(), g.sku())
	}},
	// Basket mix: two categories together in one basket.
	{10, 0, func(g *ruleGen) string {
		return fmt.Sprintf(`inBasket(%q) && inBasket(%q) && swipe.total_cents > %d`, g.cat(), g.cat(), 3000+g.rng.Intn(10000))
	}},
	// Aisle scan of a category by a shopper who buys one of its SKUs.
	{8, 0, func(g *ruleGen) string {
		c := g.cat()
		return fmt.Sprintf(`swipe.kind == "scan" && (inBasket(%q) || basketHas(%q)) && hasBought(%q)`, c, g.sku(), g.sku())
	}},
	// Return of a category the card spends a lot on.
	{5, 0, func(g *ruleGen) string {
		c := g.cat()
		return fmt.Sprintf(`swipe.kind == "return" && inBasket(%q) && categorySpend(%q, "lifetime") > %d`, c, c, 5000+g.rng.Intn(20000))
	}},
	// First purchase in a while: the kind and the profile only.
	{3, 20, func(g *ruleGen) string {
		return fmt.Sprintf(`swipe.kind == "purchase" && profile.visits >= %d && spend(%q) == swipe.total_cents`, 2+g.rng.Intn(4), g.window())
	}},
	// Catch-all: any swipe of a big spender.
	{2, 10, func(g *ruleGen) string {
		return fmt.Sprintf(`spend("30d") > %d && profile.visits > %d`, 20000+g.rng.Intn(40000), 3+g.rng.Intn(10))
	}},
}

// ruleGen draws the parts of generated conditions.
type ruleGen struct{ rng *rand.Rand }

// category draws a category of the catalog by its popularity.
func (g *ruleGen) category() possim.Category {
	i, _ := slices.BinarySearch(catalogWeight, 1+g.rng.Intn(catalogWeight[len(catalogWeight)-1]))
	return catalog[i]
}

func (g *ruleGen) cat() string { return g.category().Name }

// sku is a SKU of a category drawn by popularity, drawn as often as the
// simulator's shoppers buy it: low numbers sell most.
func (g *ruleGen) sku() string { return g.category().SKUAt(g.rng.Float64()) }

func (g *ruleGen) store() string { return fmt.Sprintf("s%03d", 1+g.rng.Intn(stores)) }

func (g *ruleGen) window() string {
	return []string{"7d", "14d", "30d", "60d", "90d", "lifetime"}[g.rng.Intn(6)]
}

// Rules returns n rules in YAML, deterministic for a seed, in the mix of
// shapes: category spend thresholds over windows, replenishment reminders
// at check-in, store and regional campaigns, SKU cross-sells, basket mixes,
// aisle scans, returns, and a few rules on the kind and profile only or on
// anything.
func Rules(n int, seed int64) string {
	g := &ruleGen{rng: rand.New(rand.NewSource(seed))}
	total := 0
	for _, s := range shapes {
		total += s.weight
	}
	var b strings.Builder
	made := make([]int, len(shapes))
	for i := 0; i < n; i++ {
		var when string
		for when == "" {
			pick := g.rng.Intn(total)
			for j, s := range shapes {
				if pick >= s.weight {
					pick -= s.weight
					continue
				}
				if s.max == 0 || made[j] < s.max {
					made[j]++
					when = s.when(g)
				}
				break
			}
		}
		fmt.Fprintf(&b, "---\nid: gen-%05d\npriority: %d\nwhen: '%s'\nchannels: [%s]\noffer:\n  title: \"Offer %d for {{ .Swipe.CardID }}\"\n  coupon: { discount_percent: %d, categories: [%s] }\n",
			i, g.rng.Intn(100), when, []string{"mobile", "pos", "email"}[g.rng.Intn(3)], i, 5+g.rng.Intn(30), g.cat())
	}
	return b.String()
}
