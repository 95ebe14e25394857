package possim

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/aislecast/loyalty"
)

// leads are the 30 department names of the original catalog, which the
// demo rules, the examples and many tests use as categories.
var leads = []string{"coffee", "tea", "dairy", "bakery", "produce", "meat", "seafood", "frozen",
	"snacks", "beverages", "beer", "wine", "baby", "pet", "household", "personal-care", "pharmacy",
	"deli", "cereal", "pasta", "breakfast", "condiments", "canned", "cleaning", "paper", "health",
	"beauty", "toys", "garden", "electronics"}

// TestCatalogShape holds the catalog to a chain's size: a few hundred
// categories, several thousand SKUs, every name unique and well formed,
// and each department led by the category named after it, its most
// popular.
func TestCatalogShape(t *testing.T) {
	cats := Categories()
	name := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	seen := map[string]bool{}
	skus := 0
	top := map[string]Category{} // most popular category per department
	for _, c := range cats {
		if !name.MatchString(c.Name) || seen[c.Name] {
			t.Errorf("category %q is malformed or repeated", c.Name)
		}
		seen[c.Name] = true
		skus += c.SKUs
		if c.SKUs < 5 || c.Popularity < 1 {
			t.Errorf("category %+v carries too little", c)
		}
		if best, ok := top[c.Department]; !ok || c.Popularity > best.Popularity {
			top[c.Department] = c
		}
	}
	t.Logf("%d categories in %d departments, %d SKUs", len(cats), len(top), skus)
	if len(cats) < 250 || len(cats) > 350 {
		t.Errorf("%d categories, want a few hundred (250-350)", len(cats))
	}
	if skus < 6000 || skus > 10000 {
		t.Errorf("%d SKUs, want several thousand (6,000-10,000)", skus)
	}
	if len(top) != len(leads) {
		t.Errorf("%d departments, want the %d of the original catalog", len(top), len(leads))
	}
	for _, l := range leads {
		if top[l].Name != l {
			t.Errorf("department %s: most popular category is %q, want %q", l, top[l].Name, l)
		}
	}
	if got := (Category{Name: "coffee"}).SKU(7); got != "coffee-0007" {
		t.Errorf("SKU(7) of coffee is %q", got)
	}
}

// TestCatalogPrices checks every SKU: its id follows the scheme, its price
// ends in 9 and lies in its category's range, and the range in its
// department's.
func TestCatalogPrices(t *testing.T) {
	c := newCatalog()
	for i, cat := range categories {
		dep := departments[cat.dept]
		if cat.minCents < dep.minCents || cat.maxCents > dep.maxCents || cat.minCents >= cat.maxCents {
			t.Errorf("category %s priced %d-%d outside department %s's %d-%d", cat.name, cat.minCents, cat.maxCents, dep.name, dep.minCents, dep.maxCents)
		}
		if len(c.skus[i]) != cat.skus {
			t.Fatalf("category %s: %d SKUs in the table, want %d", cat.name, len(c.skus[i]), cat.skus)
		}
		for j, s := range c.skus[i] {
			if want := fmt.Sprintf("%s-%04d", cat.name, j+1); s.id != want {
				t.Errorf("SKU %d of %s is %q, want %q", j, cat.name, s.id, want)
			}
			if s.cents%10 != 9 || s.cents < cat.minCents || s.cents > cat.maxCents+9 {
				t.Errorf("%s costs %d, want a price ending in 9 in %d-%d", s.id, s.cents, cat.minCents, cat.maxCents)
			}
		}
	}
	if a, b := newCatalog(), New(Config{Seed: 99}).cat; a.skus[0][6] != b.skus[0][6] {
		t.Errorf("coffee-0007 costs %d in one catalog and %d in a generator of another seed", a.skus[0][6].cents, b.skus[0][6].cents)
	}
}

// TestBasketsSpanCatalog checks that traffic uses the catalog as a chain's
// tills do: most categories turn up within a few weeks, a basket touches
// a small share of them, and within a department the lead category sells
// most lines.
func TestBasketsSpanCatalog(t *testing.T) {
	g := New(Config{Seed: 5, Cards: 2000})
	lines := map[string]int{}
	baskets, touched := 0, 0
	for range 30000 {
		s := g.Next().Swipe
		if s == nil || s.Kind != loyalty.KindPurchase {
			continue
		}
		baskets++
		inBasket := map[string]bool{}
		for _, it := range s.Items {
			lines[it.Category]++
			inBasket[it.Category] = true
		}
		touched += len(inBasket)
	}
	perBasket := float64(touched) / float64(baskets)
	t.Logf("%d purchases: %d of %d categories sold, %.1f categories per basket", baskets, len(lines), len(categories), perBasket)
	if len(lines) < len(categories)*9/10 {
		t.Errorf("only %d of %d categories sold in %d purchases", len(lines), len(categories), baskets)
	}
	if share := perBasket / float64(len(categories)); share > 0.05 {
		t.Errorf("a basket touches %.1f%% of the categories, want a small share", 100*share)
	}
	for _, c := range categories {
		if lead := departments[c.dept].name; c.name != lead && lines[c.name] > lines[lead] {
			t.Errorf("%s sold %d lines, more than its department's lead %s (%d)", c.name, lines[c.name], lead, lines[lead])
		}
	}
}

// TestSKUAt checks that SKUAt names SKUs of the category only, the first
// for u = 0, and the low numbers for most of the range of u.
func TestSKUAt(t *testing.T) {
	c := Categories()[0]
	if got := c.SKUAt(0); got != c.SKU(1) {
		t.Errorf("SKUAt(0) = %q, want %q", got, c.SKU(1))
	}
	if got, last := c.SKUAt(0.999999), c.SKU(c.SKUs); got != last {
		t.Errorf("SKUAt(0.999999) = %q, want the last SKU %q", got, last)
	}
	if got, half := c.SKUAt(0.5), c.SKU(c.SKUs/4); got > half {
		t.Errorf("SKUAt(0.5) = %q, want one in the first quarter (up to %q)", got, half)
	}
}
