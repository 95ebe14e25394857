package rules

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aislecast/loyalty"
)

func (nd need) String() string {
	if nd.fact == factRange {
		bound := func(v int) string {
			switch v {
			case math.MinInt, math.MaxInt:
				return ""
			}
			return fmt.Sprint(v)
		}
		return fmt.Sprintf("range[%s %s..%s]", nd.key, bound(nd.lo), bound(nd.hi))
	}
	name := [numFacts]string{"store", "basketCat", "basketSKU", "profileCat", "profileSKU"}[nd.fact]
	return fmt.Sprintf("%s%v", name, nd.vals)
}

func TestNeedsOf(t *testing.T) {
	tests := []struct{ when, want string }{
		{`swipe.store_id == "s1"`, `store[s1]`},
		{`"s1" == swipe.store_id`, `store[s1]`},
		{`swipe.store_id in ["s1", "s2"]`, `store[s1 s2]`},
		{`swipe.store_id != "s1"`, ``},
		{`swipe.store_id in ["s1", "s2"] && swipe.store_id == "s2"`, `store[s2]`},
		{`swipe.store_id == "s1" && swipe.store_id == "s2"`, `store[]`}, // never true
		{`inBasket("coffee") && basketHas("tea-0001")`, `basketCat[coffee] basketSKU[tea-0001]`},
		{`inBasket("coffee") || inBasket("tea")`, `basketCat[coffee tea]`},
		{`inBasket("coffee") || basketHas("tea-0001")`, ``}, // different facts: either may hold
		{`inBasket("coffee") || true`, ``},
		{`!inBasket("coffee")`, ``},
		{`hasBought("tea-0001") and swipe.total_cents > 100`, `profileSKU[tea-0001] range[swipe.total_cents 101..]`},
		{`categorySpend("tea", "30d") > 0`, `profileCat[tea] range[_categorySpendDays("tea", 30) 1..]`},
		{`categorySpend("tea", "lifetime") >= 1`, `profileCat[tea] range[_categorySpendDays("tea", 0) 1..]`},
		{`categorySpend("tea", "30d") >= 0`, `range[_categorySpendDays("tea", 30) 0..]`},   // true for a category never bought
		{`categorySpend("tea", "30d") < 100`, `range[_categorySpendDays("tea", 30) ..99]`}, // likewise
		{`100 < categorySpend("tea", "30d")`, `profileCat[tea] range[_categorySpendDays("tea", 30) 101..]`},
		{`daysSinceBought("tea") >= 12`, `profileCat[tea] range[daysSinceBought("tea") 12..]`},
		{`daysSinceBought("tea") == -1`, `range[daysSinceBought("tea") -1..-1]`},
		{`daysSinceBought("tea") > -1`, `profileCat[tea] range[daysSinceBought("tea") 0..]`},
		{`swipe.total_cents > 10 || swipe.total_cents < -10`, `range[swipe.total_cents ..]`}, // both ways: anything
		{`swipe.total_cents >= 10 || 20 < swipe.total_cents`, `range[swipe.total_cents 10..]`},
		{`profile.visits * 2 != 4`, ``},
		{`swipe.total_cents / 2 > 100`, ``},          // a float term: no native form
		{`any(swipe.items, .category == "tea")`, ``}, // not looked into
		{`swipe.kind == "purchase" && (swipe.store_id == "s1" || swipe.store_id == "s2") && inBasket("tea")`, `store[s1 s2] basketCat[tea]`},
	}
	for _, tt := range tests {
		set := mustSet(t, fmt.Sprintf("id: r\nwhen: '%s'\nchannels: [pos]\noffer: {title: T}\n", tt.when))
		var got []string
		for _, nd := range set.index.needs[0] {
			got = append(got, nd.String())
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("needs of %s = %q, want %q", tt.when, g, tt.want)
		}
	}
}

// TestIndexRunsOnlyWhatCanFire checks that the index saves work: of rules
// on three stores, a swipe in one runs one condition.
func TestIndexRunsOnlyWhatCanFire(t *testing.T) {
	set := mustSet(t, `
id: s1
when: swipe.store_id == "s1" && swipe.total_cents > 0
channels: [pos]
offer: {title: T}
---
id: s2
when: swipe.store_id == "s2" && swipe.total_cents > 0
channels: [pos]
offer: {title: T}
---
id: tea
when: inBasket("tea") && swipe.total_cents > 0
channels: [pos]
offer: {title: T}
`)
	e := set.NewEvaluator()
	s := purchase("p", at(10, 9, 0), item("a", "coffee", 1500))
	s.StoreID = "s1"
	if got := ids(e.Match(s, nil, nil, nil)); got != "s1" {
		t.Errorf("Match = %q, want s1", got)
	}
	if e.Runs() != 1 {
		t.Errorf("ran %d conditions, want 1 (rules of other stores and categories skipped)", e.Runs())
	}
}

// TestIndexMatchesBruteForce is the index's proof: over random rules,
// swipes and profiles, Match returns exactly the rules whose condition is
// true when every condition is run.
func TestIndexMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	var hits, runs, total int
	for round := range 40 {
		var b strings.Builder
		for i := range 60 {
			fmt.Fprintf(&b, "---\nid: r%d\npriority: %d\nwhen: '%s'\nchannels: [pos]\noffer: {title: T}\n", i, rng.IntN(5), randCond(rng, 3))
		}
		rs, err := Parse("random.yaml", []byte(b.String()))
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		set, err := NewSet(rs)
		if err != nil {
			t.Fatal(err)
		}
		e, brute := set.NewEvaluator(), set.NewEvaluator()
		for range 50 {
			s, p := randSwipe(rng), randProfile(rng)
			before := e.Runs()
			got := ids(e.Match(s, p, nil, func(r *Rule, err error) { t.Errorf("rule %s: %v", r.ID, err) }))
			want := ids(bruteMatch(t, brute, s, p))
			if got != want {
				t.Fatalf("swipe %+v:\nindexed Match = %s\nevery rule    = %s", s, got, want)
			}
			if ran, allowed := int(e.Runs()-before), allowedRuns(brute, s, p); ran != allowed {
				t.Fatalf("swipe %+v: %d conditions run, but the needs of %d rules of its kind hold", s, ran, allowed)
			}
			hits += len(strings.Fields(got))
			total += set.Len()
		}
		runs += int(e.Runs())
	}
	// Both would hold for a test that matched nothing or pruned nothing.
	if hits == 0 || runs >= total {
		t.Errorf("%d hits and %d of %d conditions run: the test exercises nothing", hits, runs, total)
	}
	t.Logf("%d hits; index ran %d of %d conditions", hits, runs, total)
}

// A swipe that looks up more categories than a quarter of its profile's
// has them all filled in at once (see catStats); one that looks up fewer
// searches for each. Over profiles of 0 to 60 categories and rule sets of
// 5 to 300 category terms, both ways give what running every condition
// gives, and both are taken.
func TestCategoryLookupsMatchBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	cats := make([]string, 80)
	for i := range cats {
		cats[i] = fmt.Sprintf("cat-%02d", i)
	}
	filled, searched := 0, 0
	for round := range 12 {
		nrules := []int{5, 20, 80, 300}[round%4]
		var b strings.Builder
		for i := range nrules {
			c := pick(rng, cats)
			cond := fmt.Sprintf(`categorySpend(%q, "lifetime") > %d`, c, rng.IntN(300))
			if rng.IntN(3) == 0 {
				cond = fmt.Sprintf(`daysSinceBought(%q) < %d`, c, 1+rng.IntN(10))
			}
			fmt.Fprintf(&b, "---\nid: r%d\nwhen: '%s'\nchannels: [pos]\noffer: {title: T}\n", i, cond)
		}
		rs, err := Parse("cats.yaml", []byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		set, err := NewSet(rs)
		if err != nil {
			t.Fatal(err)
		}
		e, brute := set.NewEvaluator(), set.NewEvaluator()
		for range 40 {
			p := loyalty.NewProfile("c")
			for d := range rng.IntN(60) {
				p.Apply(purchase(fmt.Sprint(d), at(1+d%9, 9, 0), item("x", pick(rng, cats), int64(1+rng.IntN(200)))))
			}
			s := purchase("now", at(10, 9, 0), item("y", pick(rng, cats), 100))
			got := ids(e.Match(s, p, nil, func(r *Rule, err error) { t.Errorf("rule %s: %v", r.ID, err) }))
			if want := ids(bruteMatch(t, brute, s, p)); got != want {
				t.Fatalf("round %d, %d categories:\nindexed Match = %s\nevery rule    = %s", round, len(p.Categories), got, want)
			}
			if e.facts.catsAll == e.facts.epoch {
				filled++
			} else if e.facts.catSearches > 0 {
				searched++
			}
		}
	}
	if filled == 0 || searched == 0 {
		t.Errorf("%d swipes filled every category in, %d searched: the test misses a way", filled, searched)
	}
	t.Logf("%d swipes filled every category in, %d searched", filled, searched)
}

// bruteMatch runs every condition of e's set.
func bruteMatch(t *testing.T, e *Evaluator, s *loyalty.Swipe, p *loyalty.Profile) []*Rule {
	t.Helper()
	e.bind(s, p)
	var hits []*Rule
	for _, r := range e.set.rules {
		out, err := e.vm.Run(r.program, &e.env)
		if err != nil {
			t.Fatalf("rule %s: %v", r.ID, err)
		}
		if out.(bool) {
			hits = append(hits, r)
		}
	}
	return hits
}

// allowedRuns is how many rules for s's kind have every need hold for s
// and p: the conditions Match runs, since the index must gather every
// such rule (or it would miss hits) and run no other (or its needs would
// prune nothing). Candidates do not check again the need they were
// gathered by (ruleIndex.pack); had one been dropped that gathering does
// not vouch for, more would run.
func allowedRuns(e *Evaluator, s *loyalty.Swipe, p *loyalty.Profile) int {
	e.bind(s, p)
	e.startFacts(s)
	defer e.endFacts()
	_, v1 := e.set.index.byKind[s.Kind]
	n := 0
	for ord, r := range e.set.rules {
		if r.kinds != nil && (!v1 || !containsKind(r.kinds, s.Kind)) {
			continue
		}
		all := true
		for _, nd := range e.set.index.needs[ord] {
			hot := hotNeed{val: nd.val, lo: nd.lo, hi: nd.hi, n: int32(len(nd.ids)), fact: nd.fact}
			all = all && e.needHolds(&hot, nd.ids)
		}
		if all {
			n++
		}
	}
	return n
}

// The small worlds of random rules and swipes, so that they meet often.
var (
	rndStores = []string{"s1", "s2", "s3"}
	rndCats   = []string{"tea", "coffee", "dairy"}
	rndSKUs   = []string{"tea-1", "tea-2", "coffee-1", "dairy-1"}
	rndKinds  = []string{"purchase", "checkin", "scan", "return"}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// randCond returns a random condition of depth at most d, mixing every
// shape the index looks into with shapes it must leave alone.
func randCond(rng *rand.Rand, d int) string {
	if d > 0 && rng.IntN(3) > 0 {
		a, b := randCond(rng, d-1), randCond(rng, d-1)
		switch rng.IntN(5) {
		case 0, 1:
			return "(" + a + " && " + b + ")"
		case 2:
			return "(" + a + " || " + b + ")"
		case 3:
			return a + " and " + b
		default:
			return "!(" + a + ")"
		}
	}
	ops := []string{"<", "<=", ">", ">=", "==", "!="}
	ks := []int{-2, -1, 0, 1, 10, 500}
	terms := []string{"swipe.total_cents", "profile.visits", `daysSinceBought("tea")`, `categorySpend("coffee", "lifetime")`, "-swipe.total_cents"}
	switch rng.IntN(23) {
	case 0:
		return fmt.Sprintf(`swipe.kind == %q`, pick(rng, rndKinds))
	case 1:
		return fmt.Sprintf(`swipe.kind in [%q, %q]`, pick(rng, rndKinds), pick(rng, rndKinds))
	case 2:
		return fmt.Sprintf(`swipe.store_id == %q`, pick(rng, rndStores))
	case 3:
		return fmt.Sprintf(`%q == swipe.store_id`, pick(rng, rndStores))
	case 4:
		return fmt.Sprintf(`swipe.store_id in [%q, %q]`, pick(rng, rndStores), pick(rng, rndStores))
	case 5:
		return fmt.Sprintf(`swipe.store_id != %q`, pick(rng, rndStores))
	case 6:
		return fmt.Sprintf(`inBasket(%q)`, pick(rng, rndCats))
	case 7:
		return fmt.Sprintf(`basketHas(%q)`, pick(rng, rndSKUs))
	case 8:
		return fmt.Sprintf(`hasBought(%q)`, pick(rng, rndSKUs))
	case 9:
		w := pick(rng, []string{"7d", "90d", "lifetime"})
		if rng.IntN(2) == 0 {
			return fmt.Sprintf(`%d %s categorySpend(%q, %q)`, pick(rng, ks), pick(rng, ops), pick(rng, rndCats), w)
		}
		return fmt.Sprintf(`categorySpend(%q, %q) %s %d`, pick(rng, rndCats), w, pick(rng, ops), pick(rng, ks))
	case 10:
		return fmt.Sprintf(`daysSinceBought(%q) %s %d`, pick(rng, rndCats), pick(rng, ops), pick(rng, ks))
	case 11:
		return fmt.Sprintf(`swipe.total_cents > %d`, pick(rng, ks))
	case 12:
		return fmt.Sprintf(`any(swipe.items, .category == %q)`, pick(rng, rndCats))
	case 13:
		return fmt.Sprintf(`swipe.total_cents - profile.spend_cents %s %d`, pick(rng, ops), pick(rng, ks))
	case 14:
		return fmt.Sprintf(`profile.visits * 2 + -swipe.total_cents %s %d`, pick(rng, ops), pick(rng, ks))
	case 15:
		return fmt.Sprintf(`spend(%q) %s swipe.total_cents`, pick(rng, []string{"7d", "lifetime"}), pick(rng, ops))
	case 16:
		return fmt.Sprintf(`swipe.kind != %q`, pick(rng, rndKinds))
	case 17:
		return fmt.Sprintf(`inBasket(%q) == hasBought(%q)`, pick(rng, rndCats), pick(rng, rndSKUs))
	case 18:
		return fmt.Sprintf(`swipe.total_cents / 2 > %d`, pick(rng, ks)) // a float: runs on the VM
	case 19: // a range closed at both ends, filed by its lower bound only
		t, lo := pick(rng, terms), rng.IntN(1200)-200
		return fmt.Sprintf(`(%s >= %d && %s <= %d)`, t, lo, t, lo+rng.IntN(600))
	case 20:
		return fmt.Sprintf(`%s in %d..%d`, pick(rng, terms), rng.IntN(800)-100, rng.IntN(800))
	case 21: // the ends of int64
		return fmt.Sprintf(`%s %s %s`, pick(rng, terms), pick(rng, ops), pick(rng, []string{"-9223372036854775807", "9223372036854775807"}))
	default:
		return pick(rng, []string{"true", "false"})
	}
}

func randSwipe(rng *rand.Rand) *loyalty.Swipe {
	s := &loyalty.Swipe{SwipeID: fmt.Sprint(rng.Uint64()), CardID: "c", Kind: loyalty.Kind(pick(rng, append(rndKinds, "refund"))),
		StoreID: pick(rng, append(rndStores, "s9")), TS: at(10+rng.IntN(5), 9, 0)} // s9: a store no rule names
	for range rng.IntN(4) {
		sku := pick(rng, rndSKUs)
		cat, _, _ := strings.Cut(sku, "-")
		if rng.IntN(4) == 0 {
			cat = pick(rng, rndCats) // a SKU filed in another category
		}
		it := item(sku, cat, int64(1+rng.IntN(1000)))
		s.Items = append(s.Items, it)
		s.TotalCents += it.LineCents()
	}
	return s
}

// randProfile is nil (a new card) or a card with a few random purchases.
func randProfile(rng *rand.Rand) *loyalty.Profile {
	if rng.IntN(5) == 0 {
		return nil
	}
	p := loyalty.NewProfile("c")
	for range rng.IntN(4) {
		s := randSwipe(rng)
		s.Kind = loyalty.KindPurchase
		p.Apply(s)
	}
	return p
}

// TestNativeForms says which conditions run as Go closures; the others run
// on the expr VM. TestIndexMatchesBruteForce checks that both agree.
func TestNativeForms(t *testing.T) {
	tests := []struct {
		when   string
		native bool
	}{
		{`swipe.kind == "checkin" && daysSinceBought("coffee") >= 12 && categorySpend("coffee", "90d") > 2000`, true},
		{`swipe.store_id in ["s1", "s2"] && inBasket("tea") && profile.visits >= 3`, true},
		{`basketHas("tea-1") && !hasBought("tea-2")`, true},
		{`swipe.kind in ["purchase", "scan"] || swipe.total_cents - 100 > spend("lifetime")`, true},
		{`swipe.currency != "USD" and swipe.lane == "3"`, true},
		{`swipe.total_cents / 2 > 100`, false},                       // float division
		{`any(swipe.items, .category == "tea")`, false},              // builtin with a closure
		{`categorySpend("tea", swipe.lane) > 0`, false},              // window known only at run time
		{`len(profile.categories) > 3`, false},                       // builtin
		{`swipe.total_cents > 100 ? inBasket("tea") : false`, false}, // conditional
	}
	for _, tt := range tests {
		set := mustSet(t, fmt.Sprintf("id: r\nwhen: '%s'\nchannels: [pos]\noffer: {title: T}\n", tt.when))
		if got := set.native[0] != nil; got != tt.native {
			t.Errorf("native form of %s: %v, want %v", tt.when, got, tt.native)
		}
	}
}

// TestFactsEpochWrap checks that the per-swipe memo forgets old swipes when
// its epoch counter wraps, after 2³² swipes. The rule is filed under its
// range, so that its inBasket is read from the memo.
func TestFactsEpochWrap(t *testing.T) {
	set := mustSet(t, `
id: tea
when: swipe.total_cents >= 0 && (inBasket("tea") || basketHas("none"))
channels: [pos]
offer: {title: T}
`)
	e := set.NewEvaluator()
	tea := purchase("1", at(10, 9, 0), item("tea-1", "tea", 100))
	if got := ids(e.Match(tea, nil, nil, nil)); got != "tea" {
		t.Fatalf("Match(tea) = %q, want tea", got)
	}
	e.facts.epoch = math.MaxUint32 // the next swipe wraps it to 1, the tea swipe's
	coffee := purchase("2", at(10, 9, 0), item("coffee-1", "coffee", 100))
	if got := ids(e.Match(coffee, nil, nil, nil)); got != "" {
		t.Errorf("Match(coffee) after the epoch wrapped = %q, want none", got)
	}
}
