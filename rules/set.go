package rules

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/aislecast/loyalty"
	"github.com/expr-lang/expr/vm"
)

// Set is a compiled rule set. It is immutable once built and safe for
// concurrent use; hot reload builds a new Set and swaps it in.
type Set struct {
	rules []*Rule
	// index files the rules by what a swipe must have for them to fire.
	index *ruleIndex
	// native holds, per rule, its condition compiled to Go closures, or
	// nil for a condition that runs on the expr VM.
	native []func(*Evaluator) bool
	// stores, cats, skus and terms number the stores, categories and SKUs
	// conditions name, and the terms of ranges (see index_facts.go).
	stores, cats, skus, terms names
}

// NewSet builds a set from compiled rules (from Parse). Two rules with the
// same id are an error naming both positions; the error is an ErrorList.
func NewSet(rules []*Rule) (*Set, error) {
	rs := slices.Clone(rules)
	slices.SortStableFunc(rs, func(a, b *Rule) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	var errs ErrorList
	seen := make(map[string]*Rule, len(rs))
	for _, r := range rs {
		switch first := seen[r.ID]; {
		case r.program == nil:
			errs = append(errs, &Error{File: r.File, Line: r.Line, Col: 1, RuleID: r.ID, Msg: "rule is not compiled; build rules with Parse or LoadPaths"})
		case first != nil:
			errs = append(errs, &Error{File: r.File, Line: r.Line, Col: 1, RuleID: r.ID,
				Msg: fmt.Sprintf("duplicate id: also defined at %s:%d", first.File, first.Line)})
		default:
			seen[r.ID] = r
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	slices.SortFunc(rs, func(a, b *Rule) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), cmp.Compare(a.ID, b.ID))
	})
	set := &Set{rules: rs, native: make([]func(*Evaluator) bool, len(rs))}
	nc := &nativeCompiler{stores: &set.stores, cats: &set.cats, skus: &set.skus, terms: &set.terms}
	set.index = newIndex(rs, nc)
	for i, r := range rs {
		set.native[i] = nc.cond(r.program.Node())
	}
	return set, nil
}

// Rules returns the rules sorted by priority, highest first, then by id.
// The slice is shared: do not modify it.
func (s *Set) Rules() []*Rule { return s.rules }

// Len is the number of rules.
func (s *Set) Len() int { return len(s.rules) }

// Evaluator runs a Set's conditions. Each worker goroutine needs its own:
// it holds an expr VM and the environment the helpers read, reused from
// swipe to swipe so that evaluation does not allocate them.
type Evaluator struct {
	set   *Set
	vm    vm.VM
	env   env
	day   int32           // the swipe's local day, for windows
	empty loyalty.Profile // stands in for a nil profile
	cand  ruleBits        // candidate rules of the swipe in hand
	ords  []int32         // the same, in Rules order
	// hitOrds is Match's buffer for MatchOrdinals.
	hitOrds []int32
	runs    uint64     // conditions run, see Runs
	facts   swipeFacts // what the swipe in hand has, looked up once
}

// NewEvaluator returns an Evaluator for s.
func (s *Set) NewEvaluator() *Evaluator {
	e := &Evaluator{set: s, empty: loyalty.Profile{LastOffset: -1}, cand: ruleBits{w: make([]uint64, (len(s.rules)+63)/64)},
		facts: newSwipeFacts(len(s.cats.list), len(s.skus.list), len(s.terms.list))}
	e.env = env{
		CategorySpend:     e.categorySpend,
		Spend:             e.spend,
		DaysSinceBought:   e.daysSinceBought,
		HasBought:         e.hasBought,
		InBasket:          e.inBasket,
		BasketHas:         e.basketHas,
		CategorySpendDays: e.categorySpendDays,
		SpendDays:         e.spendDays,
		IsKind:            e.isKind,
		Kind:              e.kind,
	}
	e.bindProfileHelpers()
	return e
}

// Match appends to hits the rules whose condition is true for swipe s and
// profile p, in Rules order, and returns the extended slice. p is the
// card's profile with s already applied; nil stands for an empty profile.
// A condition that fails at run time (a bad window, a nil dereference) or
// does not return a bool is skipped and reported to onErr, which may be nil.
//
// Only the conditions of rules whose needs hold (see the rule index) are
// run; the others are false. A condition that would have failed at run
// time in a part that comes before a failing need is therefore not
// reported for that swipe. Conditions with a native form (see native.go)
// run as Go closures, the others on the Evaluator's expr VM.
func (e *Evaluator) Match(s *loyalty.Swipe, p *loyalty.Profile, hits []*Rule, onErr func(*Rule, error)) []*Rule {
	e.hitOrds = e.MatchOrdinals(s, p, e.hitOrds[:0], onErr)
	for _, ord := range e.hitOrds {
		hits = append(hits, e.set.rules[ord])
	}
	return hits
}

// MatchOrdinals is Match appending the ordinals of the rules that hit, their
// indexes in Rules, rather than the rules: a caller that keeps figures per
// rule of the set reads them by ordinal, without hashing rule ids.
func (e *Evaluator) MatchOrdinals(s *loyalty.Swipe, p *loyalty.Profile, hits []int32, onErr func(*Rule, error)) []int32 {
	e.bind(s, p)
	e.startFacts(s)
	for _, ord := range e.candidates(s, e.env.Profile) {
		if !e.needsHold(ord) {
			continue
		}
		r := e.set.rules[ord]
		e.runs++
		if f := e.set.native[ord]; f != nil {
			if f(e) {
				hits = append(hits, ord)
			}
			continue
		}
		out, err := e.vm.Run(r.program, &e.env)
		if err == nil {
			ok, isBool := out.(bool)
			if isBool {
				if ok {
					hits = append(hits, ord)
				}
				continue
			}
			err = fmt.Errorf("condition returned %T, not bool", out)
		}
		if onErr != nil {
			onErr(r, err)
		}
	}
	// Do not keep the caller's swipe and profile alive.
	e.endFacts()
	e.env.Swipe, e.env.Profile = nil, nil
	return hits
}

// Runs is the number of conditions the Evaluator has run: the rules the
// index could not rule out. Compared with swipes times Set.Len it tells how
// much work the index saves.
func (e *Evaluator) Runs() uint64 { return e.runs }

// bind points the environment at swipe s and profile p.
func (e *Evaluator) bind(s *loyalty.Swipe, p *loyalty.Profile) {
	if p == nil {
		p = &e.empty
	}
	e.env.Swipe, e.env.Profile, e.env.Now, e.day = s, p, s.TS, s.Day()
}
