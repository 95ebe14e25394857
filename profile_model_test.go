package loyalty_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/possim"
)

// topModel is the plain definition of a profile's top lists (SKUs,
// stores): entries in any order, and when the list is full a new id
// takes the place of the entry with the fewest count, then the oldest
// time, then the lowest id. Profile.Apply must agree with it.
type topModel struct {
	limit int
	ids   []string
	count []int64
	last  []int64
}

func (m *topModel) add(id string, n, t int64) {
	i := slices.Index(m.ids, id)
	if i < 0 {
		if len(m.ids) == m.limit {
			w := 0
			for j := range m.ids {
				if c := cmp.Or(cmp.Compare(m.count[j], m.count[w]), cmp.Compare(m.last[j], m.last[w]), cmp.Compare(m.ids[j], m.ids[w])); c < 0 {
					w = j
				}
			}
			m.ids[w], m.count[w], m.last[w] = id, 0, 0
			i = w
		} else {
			m.ids, m.count, m.last = append(m.ids, id), append(m.count, 0), append(m.last, 0)
			i = len(m.ids) - 1
		}
	}
	m.count[i] += n
	m.last[i] = max(m.last[i], t)
}

// cardModel follows one card's SKUs, stores and categories through
// applied swipes.
type cardModel struct {
	skus, stores topModel
	cats         map[string][3]int64 // spend, units, last bought
}

func newCardModel() *cardModel {
	return &cardModel{skus: topModel{limit: loyalty.TopSKUs}, stores: topModel{limit: loyalty.TopStores}, cats: map[string][3]int64{}}
}

func (m *cardModel) apply(s *loyalty.Swipe) {
	if s.Kind != loyalty.KindPurchase {
		return
	}
	t := s.TS.Unix()
	m.stores.add(s.StoreID, 1, t)
	for _, it := range s.Items {
		c := m.cats[it.Category]
		m.cats[it.Category] = [3]int64{c[0] + it.LineCents(), c[1] + it.Qty, max(c[2], t)}
		m.skus.add(it.SKU, it.Qty, t)
	}
}

// check compares p with the model.
func (m *cardModel) check(t *testing.T, p *loyalty.Profile, after string) {
	t.Helper()
	want := func(tm *topModel) []string {
		var out []string
		for i, id := range tm.ids {
			out = append(out, fmt.Sprint(id, " ", tm.count[i], " ", tm.last[i]))
		}
		slices.SortFunc(out, func(a, b string) int { return cmp.Compare(idOf(a), idOf(b)) })
		return out
	}
	var skus, stores []string
	for _, s := range p.SKUs {
		skus = append(skus, fmt.Sprint(s.SKU, " ", s.Units, " ", s.LastBought))
	}
	for _, s := range p.Stores {
		stores = append(stores, fmt.Sprint(s.StoreID, " ", s.Visits, " ", s.LastVisit))
	}
	if w := want(&m.skus); !reflect.DeepEqual(skus, w) {
		t.Fatalf("after %s: SKUs\n%q\nwant\n%q", after, skus, w)
	}
	if w := want(&m.stores); !reflect.DeepEqual(stores, w) {
		t.Fatalf("after %s: stores %q, want %q", after, stores, w)
	}
	if len(p.Categories) != len(m.cats) {
		t.Fatalf("after %s: %d categories, want %d", after, len(p.Categories), len(m.cats))
	}
	for i, c := range p.Categories {
		if i > 0 && p.Categories[i-1].Name >= c.Name {
			t.Fatalf("after %s: categories not sorted: %q before %q", after, p.Categories[i-1].Name, c.Name)
		}
		if got := [3]int64{c.SpendCents, c.Units, c.LastBought}; got != m.cats[c.Name] {
			t.Fatalf("after %s: category %s has %v, want %v", after, c.Name, got, m.cats[c.Name])
		}
		if p.Category(c.Name) != &p.Categories[i] {
			t.Fatalf("after %s: Category(%q) does not find it", after, c.Name)
		}
	}
	for i := range p.SKUs {
		if p.SKU(p.SKUs[i].SKU) != &p.SKUs[i] {
			t.Fatalf("after %s: SKU(%q) does not find it", after, p.SKUs[i].SKU)
		}
	}
}

// idOf is the id of an entry "id count last".
func idOf(entry string) string {
	id, _, _ := strings.Cut(entry, " ")
	return id
}

// Profile.Apply keeps the SKUs, stores and categories the plain model
// says, on a simulated stream (late swipes and POS retries included) and
// on baskets drawn from few SKUs and stores with many ties, which fill
// and churn the top lists.
func TestProfileTopListsMatchModel(t *testing.T) {
	g := possim.New(possim.Config{Seed: 5, Cards: 50, Start: time.Date(2026, 8, 3, 8, 0, 0, 0, time.UTC)})
	var swipes []*loyalty.Swipe
	for len(swipes) < 20000 {
		if m := g.Next(); m.Swipe != nil {
			swipes = append(swipes, m.Swipe)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 8, 3, 8, 0, 0, 0, time.UTC)
	for i := range 5000 {
		s := &loyalty.Swipe{V: 1, SwipeID: fmt.Sprint("tie-", i), CardID: fmt.Sprint("tie-card-", i%3), Kind: loyalty.KindPurchase,
			StoreID: fmt.Sprint("st-", rng.IntN(7)), TS: start.Add(time.Duration(rng.IntN(40)) * time.Hour)}
		for range 1 + rng.IntN(12) {
			it := loyalty.Item{SKU: fmt.Sprintf("sku-%03d", rng.IntN(100)), Category: fmt.Sprint("cat-", rng.IntN(9)), Qty: 1 + int64(rng.IntN(2)), UnitPriceCents: 100}
			s.Items = append(s.Items, it)
			s.TotalCents += it.LineCents()
		}
		swipes = append(swipes, s)
	}
	profiles, models := map[string]*loyalty.Profile{}, map[string]*cardModel{}
	for _, s := range swipes {
		p, m := profiles[s.CardID], models[s.CardID]
		if p == nil {
			p, m = loyalty.NewProfile(s.CardID), newCardModel()
			profiles[s.CardID], models[s.CardID] = p, m
		}
		if p.Apply(s) == loyalty.Applied {
			m.apply(s)
		}
		m.check(t, p, "swipe "+s.SwipeID)
	}
}
