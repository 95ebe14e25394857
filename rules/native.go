package rules

import (
	"slices"

	"github.com/aislecast/loyalty"
	"github.com/expr-lang/expr/ast"
)

// Conditions in the common shapes (comparisons of swipe and profile fields
// and helper results with literals, joined by &&, || and !) also compile
// to a tree of Go closures that Match runs instead of the expr VM: no
// reflection, no values boxed in interfaces, so no allocation and a few
// nanoseconds a node. The compiled program stays the reference: a
// condition with anything else (floats, division, builtins, closures,
// maps, conditionals) has no native form and runs on the VM, and the
// differential tests run both on random conditions. A native condition
// never fails at run time: its parts cannot (windows are literals,
// swipe and profile are never nil, integer arithmetic wraps as in expr).

// native is a compiled condition part: exactly one of b, i and s is set,
// by the type of its value.
type native struct {
	b func(e *Evaluator) bool
	i func(e *Evaluator) int
	s func(e *Evaluator) string
}

// swipeInts and the other field tables are the scalar fields a native
// condition reads, by their expr names; a field not listed runs on the VM.
var (
	swipeInts = map[string]func(e *Evaluator) int{
		"v":           func(e *Evaluator) int { return e.env.Swipe.V },
		"total_cents": func(e *Evaluator) int { return int(e.env.Swipe.TotalCents) },
	}
	swipeStrings = map[string]func(e *Evaluator) string{
		"swipe_id": func(e *Evaluator) string { return e.env.Swipe.SwipeID },
		"card_id":  func(e *Evaluator) string { return e.env.Swipe.CardID },
		"store_id": func(e *Evaluator) string { return e.env.Swipe.StoreID },
		"aisle":    func(e *Evaluator) string { return e.env.Swipe.Aisle },
		"lane":     func(e *Evaluator) string { return e.env.Swipe.Lane },
		"currency": func(e *Evaluator) string { return e.env.Swipe.Currency },
	}
	profileInts = map[string]func(e *Evaluator) int{
		"first_seen":   func(e *Evaluator) int { return int(e.env.Profile.FirstSeen) },
		"last_seen":    func(e *Evaluator) int { return int(e.env.Profile.LastSeen) },
		"visits":       func(e *Evaluator) int { return int(e.env.Profile.Visits) },
		"checkins":     func(e *Evaluator) int { return int(e.env.Profile.Checkins) },
		"scans":        func(e *Evaluator) int { return int(e.env.Profile.Scans) },
		"spend_cents":  func(e *Evaluator) int { return int(e.env.Profile.SpendCents) },
		"returns":      func(e *Evaluator) int { return int(e.env.Profile.Returns) },
		"return_cents": func(e *Evaluator) int { return int(e.env.Profile.ReturnCents) },
	}
	profileStrings = map[string]func(e *Evaluator) string{
		"card_id": func(e *Evaluator) string { return e.env.Profile.CardID },
	}
)

// nativeCompiler compiles conditions to native forms; literal stores,
// categories and SKUs are numbered in stores, cats and skus, for the
// Evaluator's per-swipe memo.
type nativeCompiler struct {
	stores, cats, skus, terms *names
}

// cond returns the native form of condition n, or nil when it has none.
func (nc *nativeCompiler) cond(n ast.Node) func(e *Evaluator) bool {
	c, ok := nc.compile(n)
	if !ok {
		return nil
	}
	return c.b
}

func (nc *nativeCompiler) compile(n ast.Node) (native, bool) {
	switch n := n.(type) {
	case *ast.BoolNode:
		v := n.Value
		return native{b: func(*Evaluator) bool { return v }}, true
	case *ast.IntegerNode:
		v := n.Value
		return native{i: func(*Evaluator) int { return v }}, true
	case *ast.StringNode:
		v := n.Value
		return native{s: func(*Evaluator) string { return v }}, true
	case *ast.MemberNode:
		return nativeField(n)
	case *ast.UnaryNode:
		x, ok := nc.compile(n.Node)
		if !ok {
			return native{}, false
		}
		switch {
		case (n.Operator == "!" || n.Operator == "not") && x.b != nil:
			return native{b: func(e *Evaluator) bool { return !x.b(e) }}, true
		case n.Operator == "-" && x.i != nil:
			return native{i: func(e *Evaluator) int { return -x.i(e) }}, true
		case n.Operator == "+" && x.i != nil:
			return x, true
		}
	case *ast.BinaryNode:
		return nc.binary(n)
	case *ast.CallNode:
		return nc.call(n)
	}
	return native{}, false
}

func nativeField(n *ast.MemberNode) (native, bool) {
	id, ok := n.Node.(*ast.IdentifierNode)
	if !ok {
		return native{}, false
	}
	p, ok := n.Property.(*ast.StringNode)
	if !ok {
		return native{}, false
	}
	switch id.Value {
	case "swipe":
		if f := swipeInts[p.Value]; f != nil {
			return native{i: f}, true
		}
		if f := swipeStrings[p.Value]; f != nil {
			return native{s: f}, true
		}
	case "profile":
		if f := profileInts[p.Value]; f != nil {
			return native{i: f}, true
		}
		if f := profileStrings[p.Value]; f != nil {
			return native{s: f}, true
		}
	}
	return native{}, false
}

func (nc *nativeCompiler) binary(n *ast.BinaryNode) (native, bool) {
	if n.Operator == "in" {
		return nc.in(n)
	}
	if c, ok := nc.storeIs(n); ok {
		return c, true
	}
	l, ok := nc.compile(n.Left)
	if !ok {
		return native{}, false
	}
	r, ok := nc.compile(n.Right)
	if !ok {
		return native{}, false
	}
	lb, rb, li, ri, ls, rs := l.b, r.b, l.i, r.i, l.s, r.s
	switch {
	case lb != nil && rb != nil:
		switch n.Operator {
		case "&&", "and":
			return native{b: func(e *Evaluator) bool { return lb(e) && rb(e) }}, true
		case "||", "or":
			return native{b: func(e *Evaluator) bool { return lb(e) || rb(e) }}, true
		case "==":
			return native{b: func(e *Evaluator) bool { return lb(e) == rb(e) }}, true
		case "!=":
			return native{b: func(e *Evaluator) bool { return lb(e) != rb(e) }}, true
		}
	case li != nil && ri != nil:
		switch n.Operator {
		case "==":
			return native{b: func(e *Evaluator) bool { return li(e) == ri(e) }}, true
		case "!=":
			return native{b: func(e *Evaluator) bool { return li(e) != ri(e) }}, true
		case "<":
			return native{b: func(e *Evaluator) bool { return li(e) < ri(e) }}, true
		case "<=":
			return native{b: func(e *Evaluator) bool { return li(e) <= ri(e) }}, true
		case ">":
			return native{b: func(e *Evaluator) bool { return li(e) > ri(e) }}, true
		case ">=":
			return native{b: func(e *Evaluator) bool { return li(e) >= ri(e) }}, true
		case "+":
			return native{i: func(e *Evaluator) int { return li(e) + ri(e) }}, true
		case "-":
			return native{i: func(e *Evaluator) int { return li(e) - ri(e) }}, true
		case "*":
			return native{i: func(e *Evaluator) int { return li(e) * ri(e) }}, true
		}
	case ls != nil && rs != nil:
		switch n.Operator {
		case "==":
			return native{b: func(e *Evaluator) bool { return ls(e) == rs(e) }}, true
		case "!=":
			return native{b: func(e *Evaluator) bool { return ls(e) != rs(e) }}, true
		}
	}
	return native{}, false
}

// storeIs compiles swipe.store_id == "s1" (or !=) to a test of the
// store's number, which the Evaluator looks up once per swipe.
func (nc *nativeCompiler) storeIs(n *ast.BinaryNode) (native, bool) {
	if n.Operator != "==" && n.Operator != "!=" {
		return native{}, false
	}
	field, lit := n.Left, n.Right
	if _, ok := lit.(*ast.StringNode); !ok {
		field, lit = lit, field
	}
	s, ok := lit.(*ast.StringNode)
	if !ok || !isSwipeField(field, "store_id") {
		return native{}, false
	}
	id := nc.stores.id(s.Value)
	if n.Operator == "!=" {
		return native{b: func(e *Evaluator) bool { return e.facts.store != id }}, true
	}
	return native{b: func(e *Evaluator) bool { return e.facts.store == id }}, true
}

// in compiles a string tested against a literal list.
func (nc *nativeCompiler) in(n *ast.BinaryNode) (native, bool) {
	if vals, ok := stringSet(n.Right); ok && isSwipeField(n.Left, "store_id") {
		ids := make([]int32, len(vals))
		for i, v := range vals {
			ids[i] = nc.stores.id(v)
		}
		return native{b: func(e *Evaluator) bool { return slices.Contains(ids, e.facts.store) }}, true
	}
	l, ok := nc.compile(n.Left)
	if !ok || l.s == nil {
		return native{}, false
	}
	vals, ok := stringSet(n.Right)
	if !ok {
		return native{}, false
	}
	ls := l.s
	return native{b: func(e *Evaluator) bool {
		v := ls(e)
		for _, x := range vals {
			if x == v {
				return true
			}
		}
		return false
	}}, true
}

// call compiles a call of a helper with native arguments.
func (nc *nativeCompiler) call(n *ast.CallNode) (native, bool) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		return native{}, false
	}
	if c, ok := nc.literalCall(n); ok {
		return c, true
	}
	args := make([]native, len(n.Arguments))
	for i, a := range n.Arguments {
		if args[i], ok = nc.compile(a); !ok {
			return native{}, false
		}
	}
	// str reports whether the call has the given number of arguments and
	// the first is a string.
	str := func(argc int) bool { return len(args) == argc && args[0].s != nil }
	switch id.Value {
	case "_categorySpendDays":
		if str(2) && args[1].i != nil {
			cat, days := args[0].s, args[1].i
			return native{i: func(e *Evaluator) int { return e.categorySpendDays(cat(e), days(e)) }}, true
		}
	case "_spendDays":
		if len(args) == 1 && args[0].i != nil {
			days := args[0].i
			return native{i: func(e *Evaluator) int { return e.spendDays(days(e)) }}, true
		}
	case "daysSinceBought":
		if str(1) {
			cat := args[0].s
			return native{i: func(e *Evaluator) int { return e.daysSinceBought(cat(e)) }}, true
		}
	case "hasBought":
		if str(1) {
			sku := args[0].s
			return native{b: func(e *Evaluator) bool { return e.hasBought(sku(e)) }}, true
		}
	case "inBasket":
		if str(1) {
			cat := args[0].s
			return native{b: func(e *Evaluator) bool { return e.inBasket(cat(e)) }}, true
		}
	case "basketHas":
		if str(1) {
			sku := args[0].s
			return native{b: func(e *Evaluator) bool { return e.basketHas(sku(e)) }}, true
		}
	case "_isKind":
		if str(1) {
			k := args[0].s
			return native{b: func(e *Evaluator) bool { return e.isKind(k(e)) }}, true
		}
	case "_kind":
		if len(args) == 0 {
			return native{s: func(e *Evaluator) string { return e.kind() }}, true
		}
	}
	return native{}, false
}

// literalCall compiles the calls of helpers about one category or SKU
// named by a literal, which read the Evaluator's per-swipe memo.
func (nc *nativeCompiler) literalCall(n *ast.CallNode) (native, bool) {
	name, arg, ok := literalCall(n)
	if !ok {
		return native{}, false
	}
	switch {
	case name == "_isKind" && len(n.Arguments) == 1:
		k := int8(slices.Index(kinds, loyalty.Kind(arg)))
		if k < 0 {
			return native{}, false // not a kind of schema v1: compared as a string
		}
		return native{b: func(e *Evaluator) bool { return e.facts.kind == k }}, true
	case name == "inBasket" && len(n.Arguments) == 1:
		id := nc.cats.id(arg)
		return native{b: func(e *Evaluator) bool { return e.facts.inBasket[id] == e.facts.epoch }}, true
	case name == "basketHas" && len(n.Arguments) == 1:
		id := nc.skus.id(arg)
		return native{b: func(e *Evaluator) bool { return e.facts.basketHas[id] == e.facts.epoch }}, true
	case name == "hasBought" && len(n.Arguments) == 1:
		id := nc.skus.id(arg)
		return native{b: func(e *Evaluator) bool { return e.skuStats(id) != nil }}, true
	case name == "daysSinceBought" && len(n.Arguments) == 1:
		id := nc.cats.id(arg)
		return native{i: func(e *Evaluator) int { return e.daysSince(e.catStats(id)) }}, true
	case name == "_categorySpendDays" && len(n.Arguments) == 2:
		days, ok := n.Arguments[1].(*ast.IntegerNode)
		if !ok {
			return native{}, false
		}
		id, d := nc.cats.id(arg), days.Value
		return native{i: func(e *Evaluator) int { return e.categorySpendOf(e.catStats(id), d) }}, true
	}
	return native{}, false
}

// rangeTerm sets nd.val to the native form of the term of range need nd,
// and reports whether it has an integer one.
// The value is computed once per swipe for all the needs on the same term.
func (nc *nativeCompiler) rangeTerm(nd *need) bool {
	c, ok := nc.compile(nd.term)
	if !ok || c.i == nil {
		return false
	}
	id, val := nc.terms.id(nd.key), c.i
	nd.val = func(e *Evaluator) int { return e.termValue(id, val) }
	return true
}
