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
	// byKind holds, per swipe kind, the rules whose condition can be true
	// for it, in Rules order; anyKind holds the rules that do not restrict
	// the kind, for kinds outside schema v1.
	byKind  map[loyalty.Kind][]*Rule
	anyKind []*Rule
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
	s := &Set{rules: rs, byKind: make(map[loyalty.Kind][]*Rule, len(kinds))}
	for _, r := range rs {
		if r.kinds == nil {
			s.anyKind = append(s.anyKind, r)
		}
		for _, k := range kinds {
			if r.kinds == nil || containsKind(r.kinds, k) {
				s.byKind[k] = append(s.byKind[k], r)
			}
		}
	}
	return s, nil
}

// Rules returns the rules sorted by priority, highest first, then by id.
// The slice is shared: do not modify it.
func (s *Set) Rules() []*Rule { return s.rules }

// Len is the number of rules.
func (s *Set) Len() int { return len(s.rules) }

// candidates returns the rules that can fire for a swipe of kind k.
func (s *Set) candidates(k loyalty.Kind) []*Rule {
	if rs, ok := s.byKind[k]; ok {
		return rs
	}
	return s.anyKind
}

// Evaluator runs a Set's conditions. Each worker goroutine needs its own:
// it holds an expr VM and the environment the helpers read, reused from
// swipe to swipe so that evaluation does not allocate them.
type Evaluator struct {
	set   *Set
	vm    vm.VM
	env   env
	day   int32           // the swipe's local day, for windows
	empty loyalty.Profile // stands in for a nil profile
}

// NewEvaluator returns an Evaluator for s.
func (s *Set) NewEvaluator() *Evaluator {
	e := &Evaluator{set: s, empty: loyalty.Profile{LastOffset: -1}}
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
func (e *Evaluator) Match(s *loyalty.Swipe, p *loyalty.Profile, hits []*Rule, onErr func(*Rule, error)) []*Rule {
	e.bind(s, p)
	for _, r := range e.set.candidates(s.Kind) {
		out, err := e.vm.Run(r.program, &e.env)
		if err == nil {
			ok, isBool := out.(bool)
			if isBool {
				if ok {
					hits = append(hits, r)
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
	e.env.Swipe, e.env.Profile = nil, nil
	return hits
}

// bind points the environment at swipe s and profile p.
func (e *Evaluator) bind(s *loyalty.Swipe, p *loyalty.Profile) {
	if p == nil {
		p = &e.empty
	}
	e.env.Swipe, e.env.Profile, e.env.Now, e.day = s, p, s.TS, s.Day()
}
