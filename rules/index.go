package rules

import (
	"maps"
	"math"
	"math/bits"
	"slices"
	"sort"

	"github.com/aislecast/loyalty"
	"github.com/expr-lang/expr/ast"
)

// A rule index keeps Match from running conditions that cannot be true.
// From each compiled condition it derives needs: facts of the swipe or the
// profile that must hold for the condition to be true, found in its
// top-level conjunction, such as the store of swipe.store_id == "s001" or
// the category of inBasket("coffee"). Each rule is filed under one need
// (the one that holds for the fewest swipes), per swipe kind; Match gathers
// the rules filed under what the swipe has (its store, the categories and
// SKUs of its basket, the card's categories and SKUs) plus the rules with
// no need, checks their other needs, which is cheap, and runs only the
// conditions that pass. A need is necessary, never a guess: a condition
// whose need fails is false, so the index changes no result (the
// differential test in index_test.go checks this against running every
// rule, and that exactly the rules whose needs all hold run).

// fact is what a need is about.
type fact uint8

const (
	factStore      fact = iota // swipe.store_id is one of the values
	factBasketCat              // an item of the swipe is in one of the categories
	factBasketSKU              // an item of the swipe is one of the SKUs
	factProfileCat             // the card bought in one of the categories (profile.Category != nil)
	factProfileSKU             // the card's profile remembers one of the SKUs
	factRange                  // an integer term is within [lo, hi]
	numFacts
)

// share is the rough share of swipes a need on one value of each fact
// holds for, to pick the need that files a rule under the fewest swipes.
// It only steers the choice; results do not depend on it.
var share = [numFacts]float64{
	factStore:      0.1,  // a chain has tens of stores
	factBasketCat:  0.03, // a basket touches a few of some hundreds of categories
	factBasketSKU:  0.02, // and a few of thousands of SKUs
	factProfileCat: 0.5,  // rules name popular categories, which regulars buy
	factProfileSKU: 0.1,  // and remembers TopSKUs of the SKUs
	factRange:      0.3,  // a threshold on a figure: a guess
}

// need is a fact the condition of a rule requires: one of vals holds. An
// empty vals never holds. ids numbers vals for the facts about categories
// and SKUs (see Set.cats and Set.skus). A need of factRange has no vals:
// the integer term (its native form val, its text key) is within [lo, hi].
// Match reads only the hotNeed packed from it (see ruleIndex.pack).
type need struct {
	fact   fact
	ids    []int32
	val    func(*Evaluator) int
	lo, hi int
	vals   []string
	term   ast.Node
	key    string
}

// hotNeed is what Match reads of a need: its fact and ids, or its term and
// range. The hot needs of all rules lie back to back in rule order, their
// ids in one array, so checking the needs of thousands of candidates per
// swipe reads a few dense lines rather than a fat need each (strings, an
// AST node, slices).
type hotNeed struct {
	val    func(*Evaluator) int // factRange: the term's value
	lo, hi int                  // factRange: the range it must be in
	ids    int32                // other facts: the ids are ruleIndex.ids[ids : ids+n]
	n      int32
	fact   fact
}

// cost is the rough share of swipes a need holds for.
func (nd *need) cost() float64 {
	if nd.fact == factRange {
		return share[factRange]
	}
	return share[nd.fact] * float64(len(nd.vals))
}

// maxNeeds bounds the needs kept per rule; more add little.
const maxNeeds = 8

// needsOf returns needs that must hold for condition n to be true. It
// looks through && and ||, at helper calls with literal arguments and at
// comparisons with literals; anything else needs nothing.
func needsOf(n ast.Node) []need {
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			return andNeeds(needsOf(n.Left), needsOf(n.Right))
		case "||", "or":
			return orNeeds(needsOf(n.Left), needsOf(n.Right))
		case "in":
			if isSwipeField(n.Left, "store_id") {
				if vals, ok := stringSet(n.Right); ok {
					return []need{{fact: factStore, vals: vals}}
				}
			}
		case "==":
			if s, ok := n.Right.(*ast.StringNode); ok && isSwipeField(n.Left, "store_id") {
				return []need{{fact: factStore, vals: []string{s.Value}}}
			}
			if s, ok := n.Left.(*ast.StringNode); ok && isSwipeField(n.Right, "store_id") {
				return []need{{fact: factStore, vals: []string{s.Value}}}
			}
		}
		var out []need
		if nd, ok := profileCatNeed(n); ok {
			out = append(out, nd)
		}
		if nd, ok := rangeNeed(n); ok {
			out = append(out, nd)
		}
		return out
	case *ast.CallNode:
		name, arg, ok := literalCall(n)
		if !ok {
			return nil
		}
		switch name {
		case "inBasket":
			return []need{{fact: factBasketCat, vals: []string{arg}}}
		case "basketHas":
			return []need{{fact: factBasketSKU, vals: []string{arg}}}
		case "hasBought":
			return []need{{fact: factProfileSKU, vals: []string{arg}}}
		}
	}
	return nil
}

// andNeeds is the needs of a && b: both sides' needs. Two needs on the
// store, which has one value, become one on the values they share.
func andNeeds(a, b []need) []need {
	out := slices.Clip(a)
	for _, y := range b {
		merged := false
		if y.fact == factStore {
			for i, x := range out {
				if x.fact == factStore {
					out[i].vals = intersect(x.vals, y.vals)
					merged = true
					break
				}
			}
		}
		if !merged && len(out) < maxNeeds {
			out = append(out, y)
		}
	}
	return out
}

// orNeeds is the needs of a || b: for a fact both sides need, one of
// either side's values.
func orNeeds(a, b []need) []need {
	var out []need
	for _, x := range a {
		for _, y := range b {
			switch {
			case x.fact != y.fact || len(out) == maxNeeds:
			case x.fact == factRange:
				if x.key == y.key {
					out = append(out, need{fact: factRange, term: x.term, key: x.key, lo: min(x.lo, y.lo), hi: max(x.hi, y.hi)})
				}
			default:
				out = append(out, need{fact: x.fact, vals: union(x.vals, y.vals)})
			}
		}
	}
	return out
}

func intersect(a, b []string) []string {
	out := []string{}
	for _, v := range a {
		if slices.Contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// isSwipeField reports whether n is swipe.<name>.
func isSwipeField(n ast.Node, name string) bool {
	m, ok := n.(*ast.MemberNode)
	if !ok {
		return false
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "swipe" {
		return false
	}
	p, ok := m.Property.(*ast.StringNode)
	return ok && p.Value == name
}

// stringSet returns the strings of a literal list: as written, or as the
// set expr's optimizer turns a literal list after "in" into.
func stringSet(n ast.Node) ([]string, bool) {
	switch n := n.(type) {
	case *ast.ArrayNode:
		vals := make([]string, 0, len(n.Nodes))
		for _, el := range n.Nodes {
			s, ok := el.(*ast.StringNode)
			if !ok {
				return nil, false
			}
			vals = append(vals, s.Value)
		}
		return vals, true
	case *ast.ConstantNode:
		m, ok := n.Value.(map[string]struct{})
		if !ok {
			return nil, false
		}
		vals := make([]string, 0, len(m))
		for v := range m {
			vals = append(vals, v)
		}
		slices.Sort(vals)
		return vals, true
	}
	return nil, false
}

// literalCall returns the name and first argument of a helper call whose
// first argument is a string literal.
func literalCall(n *ast.CallNode) (name, arg string, ok bool) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok || len(n.Arguments) == 0 {
		return "", "", false
	}
	s, ok := n.Arguments[0].(*ast.StringNode)
	if !ok {
		return "", "", false
	}
	return id.Value, s.Value, true
}

// flipped maps a comparison operator to the one that holds with its
// operands swapped.
var flipped = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}

// rangeNeed finds the range a comparison of a term with an integer literal
// needs the term in, as in swipe.total_cents >= 8000 or
// daysSinceBought("tea") > 12.
func rangeNeed(n *ast.BinaryNode) (need, bool) {
	term, op := n.Left, n.Operator
	lit, ok := n.Right.(*ast.IntegerNode)
	if !ok {
		term, op = n.Right, flipped[op]
		if lit, ok = n.Left.(*ast.IntegerNode); !ok {
			return need{}, false
		}
	}
	if _, ok := term.(*ast.IntegerNode); ok {
		return need{}, false
	}
	k := lit.Value
	lo, hi := math.MinInt, math.MaxInt
	switch {
	case op == ">" && k < math.MaxInt:
		lo = k + 1
	case op == ">=":
		lo = k
	case op == "<" && k > math.MinInt:
		hi = k - 1
	case op == "<=":
		hi = k
	case op == "==":
		lo, hi = k, k
	default:
		return need{}, false
	}
	return need{fact: factRange, term: term, key: term.String(), lo: lo, hi: hi}, true
}

// profileCatNeed finds the category a comparison of a per-category helper
// with an integer literal needs: categorySpend(c, window) is 0 and
// daysSinceBought(c) is -1 for a category the card never bought in, so a
// comparison false for that value needs c among the card's categories.
func profileCatNeed(n *ast.BinaryNode) (need, bool) {
	op := n.Operator
	call, okc := n.Left.(*ast.CallNode)
	lit, okl := n.Right.(*ast.IntegerNode)
	if !okc || !okl {
		// The literal on the left: flip the comparison.
		call, okc = n.Right.(*ast.CallNode)
		lit, okl = n.Left.(*ast.IntegerNode)
		if !okc || !okl {
			return need{}, false
		}
		op = flipped[op]
	}
	name, cat, ok := literalCall(call)
	if !ok {
		return need{}, false
	}
	var absent int
	switch {
	case name == "_categorySpendDays" && len(call.Arguments) == 2:
		absent = 0
	case name == "daysSinceBought" && len(call.Arguments) == 1:
		absent = -1
	default:
		return need{}, false
	}
	k := lit.Value
	var holds bool
	switch op {
	case "<":
		holds = absent < k
	case "<=":
		holds = absent <= k
	case ">":
		holds = absent > k
	case ">=":
		holds = absent >= k
	case "==":
		holds = absent == k
	case "!=":
		holds = absent != k
	default:
		return need{}, false
	}
	if holds {
		return need{}, false
	}
	return need{fact: factProfileCat, vals: []string{cat}}, true
}

// ruleIndex files the rules of a Set, by ordinal in Set.rules.
type ruleIndex struct {
	needs   [][]need // per rule
	filedBy []int    // per rule: the index in needs of the need it is filed under, or -1
	// hot holds the needs of rule ord as hot[at[ord]:at[ord+1]], and ids
	// their ids (see pack).
	hot    []hotNeed
	at     []int32
	ids    []int32
	byKind map[loyalty.Kind]*kindIndex
	// other serves kinds outside schema v1: the rules that do not
	// restrict the kind.
	other *kindIndex
}

// kindIndex files the rules that can fire for one swipe kind, each under
// its most selective need. A candidate's other needs are checked one by
// one (needsHold). Until 2026-11-27 a rule with a second selective need
// was also filed under it, and was a candidate only when both filings had
// it; gathering that second filing scanned the rules of every range group
// for one among the first's, and at 10,000 rules the core benchmark ran
// about a tenth faster without it (bench/README.md).
type kindIndex struct {
	always []int32 // rules with no need worth filing under
	filed  filing
}

// filing holds rules filed under needs: by value of a fact, or by range of
// a term.
type filing struct {
	filed [numFacts]map[string][]int32
	// keys holds the ids of the keys of filed[factProfileCat] and
	// filed[factProfileSKU], to walk whichever is shorter: the keys or the
	// card's own list.
	keys [numFacts][]int32
	// ranges holds the rules filed under a range of a term, one group per
	// term and direction; byTerm finds them while filing.
	ranges []*rangeGroup
	byTerm map[string]*rangeGroup
}

// rangeGroup holds the rules filed under a range of one term: sorted by
// lo, those whose term must be at least lo (up), or sorted by hi, those
// whose term must be at most hi (down). The term is computed once per
// swipe and the rules in range are a prefix (up) or a suffix (down).
type rangeGroup struct {
	val    func(*Evaluator) int
	up     bool
	bounds []int
	ords   []int32
}

func (g *rangeGroup) Len() int           { return len(g.ords) }
func (g *rangeGroup) Less(i, j int) bool { return g.bounds[i] < g.bounds[j] }
func (g *rangeGroup) Swap(i, j int) {
	g.bounds[i], g.bounds[j] = g.bounds[j], g.bounds[i]
	g.ords[i], g.ords[j] = g.ords[j], g.ords[i]
}

// inRange returns the rules of g whose range can hold v.
func (g *rangeGroup) inRange(v int) []int32 {
	if g.up {
		return g.ords[:sort.Search(len(g.bounds), func(i int) bool { return g.bounds[i] > v })]
	}
	return g.ords[sort.Search(len(g.bounds), func(i int) bool { return g.bounds[i] >= v }):]
}

func (f *filing) fileRange(ord int32, nd *need) {
	up := nd.hi == math.MaxInt || nd.lo != math.MinInt
	key := "down " + nd.key
	if up {
		key = "up " + nd.key
	}
	g := f.byTerm[key]
	if g == nil {
		if f.byTerm == nil {
			f.byTerm = make(map[string]*rangeGroup)
		}
		g = &rangeGroup{val: nd.val, up: up}
		f.byTerm[key] = g
		f.ranges = append(f.ranges, g)
	}
	bound := nd.hi
	if up {
		bound = nd.lo
	}
	g.bounds = append(g.bounds, bound)
	g.ords = append(g.ords, ord)
}

// bestNeed returns the index of the most selective of needs, the one its
// rule is filed under, or -1 if none is worth filing under.
func bestNeed(needs []need) int {
	best := -1
	for i := range needs {
		if c := needs[i].cost(); c < 1 && (best < 0 || c < needs[best].cost()) {
			best = i
		}
	}
	return best
}

// add files rule ord under needs[best], or with best -1 with the rules
// that have no need worth filing under.
func (ki *kindIndex) add(ord int32, needs []need, best int) {
	if best < 0 {
		ki.always = append(ki.always, ord)
		return
	}
	ki.filed.add(ord, &needs[best])
}

// gathered reports whether a rule filed under nd is gathered only when nd
// holds, so that its candidates need not check it again: a need on a
// value always, and a range with one open end, whose group is sorted by
// the other; a range closed at both ends is filed by its lower bound
// alone (see fileRange).
func (nd *need) gathered() bool {
	return nd.fact != factRange || nd.lo == math.MinInt || nd.hi == math.MaxInt
}

func (f *filing) add(ord int32, nd *need) {
	if nd.fact == factRange {
		f.fileRange(ord, nd)
		return
	}
	m := f.filed[nd.fact]
	if m == nil {
		m = make(map[string][]int32)
		f.filed[nd.fact] = m
	}
	for i, v := range nd.vals {
		if _, ok := m[v]; !ok && (nd.fact == factProfileCat || nd.fact == factProfileSKU) {
			f.keys[nd.fact] = append(f.keys[nd.fact], nd.ids[i])
		}
		m[v] = append(m[v], ord)
	}
}

// newIndex files rs, sorted as Set.rules, numbering the stores,
// categories and SKUs of needs in nc's names, and compiling
// the terms of ranges with nc; a range whose term has no native form is
// dropped.
func newIndex(rs []*Rule, nc *nativeCompiler) *ruleIndex {
	ix := &ruleIndex{needs: make([][]need, len(rs)), byKind: make(map[loyalty.Kind]*kindIndex, len(kinds)), other: &kindIndex{}}
	for _, k := range kinds {
		ix.byKind[k] = &kindIndex{}
	}
	for i, r := range rs {
		ord := int32(i)
		needs := needsOf(r.program.Node())
		for j := range needs {
			if needs[j].fact == factRange && !nc.rangeTerm(&needs[j]) {
				needs[j].fact = numFacts // no native form: drop it
			}
		}
		ix.needs[i] = slices.DeleteFunc(needs, func(nd need) bool { return nd.fact == numFacts })
		for j := range ix.needs[i] {
			nd := &ix.needs[i][j]
			var n *names
			switch nd.fact {
			case factStore:
				n = nc.stores
			case factBasketCat, factProfileCat:
				n = nc.cats
			case factBasketSKU, factProfileSKU:
				n = nc.skus
			default:
				continue
			}
			nd.ids = make([]int32, len(nd.vals))
			for k, v := range nd.vals {
				nd.ids[k] = n.id(v)
			}
		}
		best := bestNeed(ix.needs[i])
		ix.filedBy = append(ix.filedBy, best)
		if r.kinds == nil {
			ix.other.add(ord, ix.needs[i], best)
		}
		for _, k := range kinds {
			if r.kinds == nil || containsKind(r.kinds, k) {
				ix.byKind[k].add(ord, ix.needs[i], best)
			}
		}
	}
	ix.pack()
	for _, ki := range append(slices.Collect(maps.Values(ix.byKind)), ix.other) {
		for _, g := range ki.filed.ranges {
			sort.Stable(g)
		}
		ki.filed.byTerm = nil
	}
	return ix
}

// pack lays the needs that Match checks out, in rule order: what it reads
// of each in hot, their ids in ids. Match checks the needs of thousands of
// candidates per swipe in that order; in one place they cost far fewer
// cache misses. The need a rule is filed under is left out when gathering
// the rule already means it holds (see need.gathered): every candidate
// comes from its filing or has no need filed.
func (ix *ruleIndex) pack() {
	var n, nids int
	for _, nds := range ix.needs {
		n += len(nds)
		for _, nd := range nds {
			nids += len(nd.ids)
		}
	}
	ix.hot, ix.ids, ix.at = make([]hotNeed, 0, n), make([]int32, 0, nids), make([]int32, 0, len(ix.needs)+1)
	for r, nds := range ix.needs {
		ix.at = append(ix.at, int32(len(ix.hot)))
		for j, nd := range nds {
			if j == ix.filedBy[r] && nd.gathered() {
				continue
			}
			ix.hot = append(ix.hot, hotNeed{val: nd.val, lo: nd.lo, hi: nd.hi, ids: int32(len(ix.ids)), n: int32(len(nd.ids)), fact: nd.fact})
			ix.ids = append(ix.ids, nd.ids...)
		}
	}
	ix.at = append(ix.at, int32(len(ix.hot)))
}

// needsHold reports whether every need of rule ord that its gathering
// does not already vouch for holds for the swipe in hand.
func (e *Evaluator) needsHold(ord int32) bool {
	ix := e.set.index
	for i := ix.at[ord]; i < ix.at[ord+1]; i++ {
		if !e.needHolds(&ix.hot[i], ix.ids) {
			return false
		}
	}
	return true
}

func (ix *ruleIndex) forKind(k loyalty.Kind) *kindIndex {
	if ki, ok := ix.byKind[k]; ok {
		return ki
	}
	return ix.other
}

// ruleBits is a set of rule ordinals, kept by an Evaluator between swipes
// so that gathering candidates allocates nothing. lo and hi bound the words
// in use.
type ruleBits struct {
	w      []uint64
	lo, hi int
}

func (b *ruleBits) addAll(ords []int32) {
	for _, o := range ords {
		i := int(o >> 6)
		b.w[i] |= 1 << (o & 63)
		b.lo, b.hi = min(b.lo, i), max(b.hi, i)
	}
}

// candidates returns, in Rules order, the ordinals of the rules filed
// under what swipe s and profile p have, and those with no need. The slice
// is reused by the next call.
func (e *Evaluator) candidates(s *loyalty.Swipe, p *loyalty.Profile) []int32 {
	ki := e.set.index.forKind(s.Kind)
	b := &e.cand
	b.lo, b.hi = len(b.w), -1
	b.addAll(ki.always)
	ki.filed.gather(e, s, p, b)
	ords := e.ords[:0]
	for i := b.lo; i <= b.hi; i++ {
		for w := b.w[i]; w != 0; w &= w - 1 {
			ords = append(ords, int32(i<<6+bits.TrailingZeros64(w)))
		}
		b.w[i] = 0
	}
	e.ords = ords
	return ords
}

// gather adds to b the rules of f filed under what swipe s and profile p
// have.
func (f *filing) gather(e *Evaluator, s *loyalty.Swipe, p *loyalty.Profile, b *ruleBits) {
	if m := f.filed[factStore]; m != nil {
		b.addAll(m[s.StoreID])
	}
	if m := f.filed[factBasketCat]; m != nil {
		for i := range s.Items {
			b.addAll(m[s.Items[i].Category])
		}
	}
	if m := f.filed[factBasketSKU]; m != nil {
		for i := range s.Items {
			b.addAll(m[s.Items[i].SKU])
		}
	}
	if m := f.filed[factProfileCat]; m != nil {
		if keys := f.keys[factProfileCat]; len(keys) < len(p.Categories) {
			for _, id := range keys {
				if e.catStats(id) != nil {
					b.addAll(m[e.set.cats.list[id]])
				}
			}
		} else {
			for i := range p.Categories {
				b.addAll(m[p.Categories[i].Name])
			}
		}
	}
	if m := f.filed[factProfileSKU]; m != nil {
		if keys := f.keys[factProfileSKU]; len(keys) < len(p.SKUs) {
			for _, id := range keys {
				if e.skuStats(id) != nil {
					b.addAll(m[e.set.skus.list[id]])
				}
			}
		} else {
			for i := range p.SKUs {
				b.addAll(m[p.SKUs[i].SKU])
			}
		}
	}
	for _, g := range f.ranges {
		b.addAll(g.inRange(g.val(e)))
	}
}

// needHolds reports whether need nd, whose ids are in ids, holds for the
// swipe in hand.
func (e *Evaluator) needHolds(nd *hotNeed, ids []int32) bool {
	f := &e.facts
	if nd.fact == factRange {
		v := nd.val(e)
		return nd.lo <= v && v <= nd.hi
	}
	ids = ids[nd.ids : nd.ids+nd.n]
	switch nd.fact {
	case factStore:
		return slices.Contains(ids, f.store)
	case factBasketCat:
		for _, id := range ids {
			if f.inBasket[id] == f.epoch {
				return true
			}
		}
	case factBasketSKU:
		for _, id := range ids {
			if f.basketHas[id] == f.epoch {
				return true
			}
		}
	case factProfileCat:
		for _, id := range ids {
			if e.catStats(id) != nil {
				return true
			}
		}
	case factProfileSKU:
		for _, id := range ids {
			if e.skuStats(id) != nil {
				return true
			}
		}
	}
	return false
}
