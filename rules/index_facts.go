package rules

import (
	"slices"

	"github.com/aislecast/loyalty"
)

// Many rules of a set name the same stores, categories, SKUs and terms,
// and a swipe's needs and helper calls would look each one up again in the
// basket and the profile. A Set numbers every store, category and SKU its
// conditions name as literals, and the terms of its ranges; per swipe, an
// Evaluator finds the store and marks the basket's categories and SKUs
// once, and looks each category and SKU up in the profile, and computes
// each term, at most once, on first use.

// names numbers the strings of one kind (categories or SKUs).
type names struct {
	ids  map[string]int32
	list []string
}

func (n *names) id(s string) int32 {
	if id, ok := n.ids[s]; ok {
		return id
	}
	if n.ids == nil {
		n.ids = make(map[string]int32)
	}
	id := int32(len(n.list))
	n.ids[s] = id
	n.list = append(n.list, s)
	return id
}

// swipeFacts is an Evaluator's memo of the swipe in hand. An entry is
// valid when its epoch is the Evaluator's current one, so that starting a
// new swipe clears nothing.
type swipeFacts struct {
	epoch     uint32
	store     int32    // id of the swipe's store, -1 when no rule names it
	kind      int8     // index of the swipe's kind in kinds, -1 outside schema v1
	termSeen  []uint32 // per term id: epoch when termVal is computed
	termVal   []int
	inBasket  []uint32 // per category id: epoch when in the basket
	basketHas []uint32 // per SKU id: epoch when in the basket
	catSeen   []uint32 // per category id: epoch when cat is filled in
	cat       []*loyalty.CategoryStats
	// catsAll is the epoch when every category of the profile that the
	// set names is filled in (see catStats); catSearches counts the
	// searches of the swipe in hand until then.
	catsAll     uint32
	catSearches int
	skuSeen     []uint32
	sku         []*loyalty.SKUStats
	touched     []int32 // ids filled in cat (≥ 0) and sku (as -1-id), to clear
}

func newSwipeFacts(cats, skus, terms int) swipeFacts {
	return swipeFacts{termSeen: make([]uint32, terms), termVal: make([]int, terms),
		inBasket: make([]uint32, cats), basketHas: make([]uint32, skus),
		catSeen: make([]uint32, cats), cat: make([]*loyalty.CategoryStats, cats),
		skuSeen: make([]uint32, skus), sku: make([]*loyalty.SKUStats, skus)}
}

// startFacts begins a new swipe: it marks the categories and SKUs of the basket
// that the set names.
func (e *Evaluator) startFacts(s *loyalty.Swipe) {
	f := &e.facts
	f.epoch++
	if f.epoch == 0 { // wrapped: old marks could look current
		clear(f.inBasket)
		clear(f.basketHas)
		clear(f.catSeen)
		clear(f.skuSeen)
		clear(f.termSeen)
		f.catsAll = 0
		f.epoch = 1
	}
	f.catSearches = 0
	f.store = -1
	if id, ok := e.set.stores.ids[s.StoreID]; ok {
		f.store = id
	}
	f.kind = int8(slices.Index(kinds, s.Kind))
	cats, skus := &e.set.cats, &e.set.skus
	for i := range s.Items {
		if id, ok := cats.ids[s.Items[i].Category]; ok {
			f.inBasket[id] = f.epoch
		}
		if id, ok := skus.ids[s.Items[i].SKU]; ok {
			f.basketHas[id] = f.epoch
		}
	}
}

// endFacts drops the pointers into the profile, so that the Evaluator does
// not keep it alive.
func (e *Evaluator) endFacts() {
	f := &e.facts
	for _, id := range f.touched {
		if id >= 0 {
			f.cat[id] = nil
		} else {
			f.sku[-1-id] = nil
		}
	}
	f.touched = f.touched[:0]
}

// catStats is the profile's figures for category id, nil when the card
// never bought in it.
//
// Each category is searched for in the profile on first use, a binary
// search comparing some six names. A swipe that needs more searches than
// a quarter of the profile's categories (a set of thousands of rules
// computes dozens of category terms a swipe) has every category of the
// profile looked up in the set's numbering instead, one map look-up each,
// after which a category not filled in is one the card never bought in.
// The look-ups of all of a profile's categories cost about what searches
// for a quarter of them do, so the swipe pays at most about twice what
// the better of the two ways would have cost it (as renting skis until
// their price is paid). At 100 generated rules a swipe searches about
// three times, and never fills; at 1,000 about 21 and at 10,000 about 63
// times.
func (e *Evaluator) catStats(id int32) *loyalty.CategoryStats {
	f := &e.facts
	if f.catSeen[id] == f.epoch {
		return f.cat[id]
	}
	if f.catsAll == f.epoch {
		return nil
	}
	if f.catSearches++; f.catSearches > len(e.env.Profile.Categories)/4 {
		e.fillCats()
		if f.catSeen[id] == f.epoch {
			return f.cat[id]
		}
		return nil
	}
	f.catSeen[id] = f.epoch
	f.cat[id] = e.env.Profile.Category(e.set.cats.list[id])
	f.touched = append(f.touched, id)
	return f.cat[id]
}

// fillCats fills in every category of the profile that the set names.
func (e *Evaluator) fillCats() {
	f := &e.facts
	p := e.env.Profile
	for i := range p.Categories {
		if id, ok := e.set.cats.ids[p.Categories[i].Name]; ok && f.catSeen[id] != f.epoch {
			f.catSeen[id] = f.epoch
			f.cat[id] = &p.Categories[i]
			f.touched = append(f.touched, id)
		}
	}
	f.catsAll = f.epoch
}

// termValue is the value of term id, computed by val on first use.
func (e *Evaluator) termValue(id int32, val func(*Evaluator) int) int {
	f := &e.facts
	if f.termSeen[id] != f.epoch {
		f.termSeen[id] = f.epoch
		f.termVal[id] = val(e)
	}
	return f.termVal[id]
}

// skuStats is the profile's figures for SKU id, nil when not remembered.
func (e *Evaluator) skuStats(id int32) *loyalty.SKUStats {
	f := &e.facts
	if f.skuSeen[id] != f.epoch {
		f.skuSeen[id] = f.epoch
		f.sku[id] = e.env.Profile.SKU(e.set.skus.list[id])
		f.touched = append(f.touched, -1-id)
	}
	return f.sku[id]
}
