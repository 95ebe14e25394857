package bench

import (
	"regexp"
	"testing"

	"github.com/aislecast/loyalty/possim"
)

// TestRulesNameTheCatalog holds generated rules to the simulator's
// catalog: every category and SKU they name exists there, the categories
// they name most are the ones that sell most, and they reach well beyond
// the departments' lead categories.
func TestRulesNameTheCatalog(t *testing.T) {
	cats := map[string]possim.Category{}
	skus := map[string]bool{}
	for _, c := range possim.Categories() {
		cats[c.Name] = c
		for n := 1; n <= c.SKUs; n++ {
			skus[c.SKU(n)] = true
		}
	}
	text := Rules(2000, 1)
	named := map[string]int{}
	for _, m := range regexp.MustCompile(`(inBasket|categorySpend|daysSinceBought)\("([^"]+)"`).FindAllStringSubmatch(text, -1) {
		if _, ok := cats[m[2]]; !ok {
			t.Errorf("%s(%q): no such category in the catalog", m[1], m[2])
		}
		named[m[2]]++
	}
	nskus := 0
	for _, m := range regexp.MustCompile(`(basketHas|hasBought)\("([^"]+)"`).FindAllStringSubmatch(text, -1) {
		if !skus[m[2]] {
			t.Errorf("%s(%q): no such SKU in the catalog", m[1], m[2])
		}
		nskus++
	}
	t.Logf("2,000 rules name %d categories and %d SKUs; coffee %d times, coffee-filters %d", len(named), nskus, named["coffee"], named["coffee-filters"])
	if len(named) < 100 || nskus == 0 {
		t.Errorf("2,000 rules name %d categories and %d SKUs, want most of the catalog", len(named), nskus)
	}
	if named["produce"] <= named["cut-fruit"] || named["coffee"] <= named["coffee-filters"] {
		t.Errorf("rules name produce %d times and cut-fruit %d, coffee %d and coffee-filters %d: want the popular ones more",
			named["produce"], named["cut-fruit"], named["coffee"], named["coffee-filters"])
	}
}
