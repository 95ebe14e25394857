package rules

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"
)

// env is the typed environment conditions are compiled against and run
// with. Each Evaluator owns one and binds the helper fields to its own
// methods once, so a run passes a pointer and allocates nothing for them.
//
// Conditions see swipe and profile fields by the names of their expr tags,
// the swipe JSON schema's snake_case (swipe.total_cents, profile.visits), so
// a marketer writes what the POS sends; bookkeeping fields are tagged "-".
//
// The fields whose names start with "_" are targets of compile-time
// rewrites (see rewriter): they take the window in days and the kind as a
// plain string, which expr can call without reflection.
type env struct {
	Swipe   *loyalty.Swipe   `expr:"swipe"`
	Profile *loyalty.Profile `expr:"profile"`
	Now     time.Time        `expr:"now"`

	CategorySpend   func(cat, window string) (int, error) `expr:"categorySpend"`
	Spend           func(window string) (int, error)      `expr:"spend"`
	DaysSinceBought func(cat string) int                  `expr:"daysSinceBought"`
	HasBought       func(sku string) bool                 `expr:"hasBought"`
	InBasket        func(cat string) bool                 `expr:"inBasket"`
	BasketHas       func(sku string) bool                 `expr:"basketHas"`

	Visits            func(window string) (int, error)     `expr:"visits"`
	VisitsPerWeek     func(window string) (float64, error) `expr:"visitsPerWeek"`
	DaysSinceVisit    func() int                           `expr:"daysSinceVisit"`
	FavouriteStore    func() string                        `expr:"favouriteStore"`
	FavouriteCategory func() string                        `expr:"favouriteCategory"`
	AvgBasket         func() int                           `expr:"avgBasket"`
	AvgBasketItems    func() float64                       `expr:"avgBasketItems"`
	RepurchaseDays    func(cat string) float64             `expr:"repurchaseDays"`
	DueToBuy          func(cat string) bool                `expr:"dueToBuy"`
	ReturnsRatio      func() float64                       `expr:"returnsRatio"`
	BasketSpend       func(cat string) int                 `expr:"basketSpend"`
	BasketQty         func(cat string) int                 `expr:"basketQty"`

	CategorySpendDays func(cat string, days int) int `expr:"_categorySpendDays"`
	SpendDays         func(days int) int             `expr:"_spendDays"`
	VisitsDays        func(days int) int             `expr:"_visitsDays"`
	VisitsPerWeekDays func(days int) float64         `expr:"_visitsPerWeekDays"`
	IsKind            func(kind string) bool         `expr:"_isKind"`
	Kind              func() string                  `expr:"_kind"`
}

var (
	kindType   = reflect.TypeOf(loyalty.Kind(""))
	stringType = reflect.TypeFor[string]()
)

var domainPkg = reflect.TypeOf(loyalty.Swipe{}).PkgPath()

// isDomainType reports whether t is (a pointer to) a type of the root
// package.
func isDomainType(t reflect.Type) bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t != nil && t.PkgPath() == domainPkg
}

// isMethod reports whether property p names a method of t or of a pointer
// to t: expr finds the methods of a pointer's element through the
// pointer.
func isMethod(t reflect.Type, p ast.Node) bool {
	name, ok := p.(*ast.StringNode)
	if !ok {
		return false
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	_, ok = reflect.PointerTo(t).MethodByName(name.Value)
	return ok
}

// kinds of schema v1, in the order error messages list them.
var kinds = []loyalty.Kind{loyalty.KindPurchase, loyalty.KindCheckin, loyalty.KindScan, loyalty.KindReturn}

// parseWindow reads a spend window: "<N>d" for the N local days ending with
// the swipe's day (1 ≤ N ≤ loyalty.HistoryDays), or "lifetime", returned as 0.
func parseWindow(w string) (int, error) {
	if w == "lifetime" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(w, "d"); ok {
		if d, err := strconv.Atoi(n); err == nil && d >= 1 && d <= loyalty.HistoryDays {
			return d, nil
		}
	}
	return 0, fmt.Errorf("bad window %q: use \"<N>d\" with N from 1 to %d, or \"lifetime\"", w, loyalty.HistoryDays)
}

// rewriter is an expr patcher, run after a first type check, that
//   - turns comparisons of swipe.kind with string literals into _isKind
//     calls: expr refuses to compare the named type loyalty.Kind with a
//     string, and the call needs no allocation and tells Set which kinds a
//     rule can fire on;
//   - turns helper calls with a literal window into calls taking days, so
//     the window is checked at compile time and not parsed on every swipe.
//
// Problems found on the way are kept with their position in the expression.
type rewriter struct {
	errs []rewriteError
}

type rewriteError struct {
	loc file.Location
	msg string
}

func (w *rewriter) errorf(n ast.Node, format string, args ...any) {
	w.errs = append(w.errs, rewriteError{n.Location(), fmt.Sprintf(format, args...)})
}

func call(name string, args ...ast.Node) *ast.CallNode {
	return &ast.CallNode{Callee: &ast.IdentifierNode{Value: name}, Arguments: args}
}

// isKindCall reports whether n is the _kind() call a swipe.kind became.
func isKindCall(n ast.Node) bool {
	c, ok := n.(*ast.CallNode)
	if !ok || len(c.Arguments) != 0 {
		return false
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	return ok && id.Value == "_kind"
}

func (w *rewriter) kindLiteral(n *ast.StringNode) ast.Node {
	if !loyalty.Kind(n.Value).Valid() {
		w.errorf(n, "unknown swipe kind %q; kinds are %s", n.Value, kindList())
	}
	return call("_isKind", &ast.StringNode{Value: n.Value})
}

func kindList() string {
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// Visit is called bottom-up, so a swipe.kind has become _kind() by the time
// the comparison holding it is visited.
func (w *rewriter) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		// Struct tags hide fields but not methods; a condition must not
		// reach Profile.Apply or Profile.AddOffered (they would change the
		// card's state) or any other method of the domain types, whether
		// it calls the method or only takes it as a value to call later.
		if t := n.Node.Type(); isDomainType(t) && isMethod(t, n.Property) {
			w.errorf(n, "methods of %s are not available in conditions; use its fields or the helper functions", t)
			return
		}
		if n.Type() == kindType {
			ast.Patch(node, call("_kind"))
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "==", "!=":
			var lit *ast.StringNode
			if s, ok := n.Right.(*ast.StringNode); ok && isKindCall(n.Left) {
				lit = s
			} else if s, ok := n.Left.(*ast.StringNode); ok && isKindCall(n.Right) {
				lit = s
			}
			if lit == nil {
				return
			}
			repl := w.kindLiteral(lit)
			if n.Operator == "!=" {
				repl = &ast.UnaryNode{Operator: "not", Node: repl}
			}
			ast.Patch(node, repl)
		case "in":
			arr, ok := n.Right.(*ast.ArrayNode)
			if !ok || !isKindCall(n.Left) {
				return
			}
			for _, el := range arr.Nodes {
				if _, ok := el.(*ast.StringNode); !ok {
					return
				}
			}
			var repl ast.Node = &ast.BoolNode{Value: false}
			for i, el := range arr.Nodes {
				k := w.kindLiteral(el.(*ast.StringNode))
				if i == 0 {
					repl = k
				} else {
					repl = &ast.BinaryNode{Operator: "||", Left: repl, Right: k}
				}
			}
			ast.Patch(node, repl)
		}
	case *ast.CallNode:
		// What a callee of unknown type is, expr finds out when it runs:
		// #.AddOffered("x") over [profile, 1] would call the method on
		// the live profile. Only functions whose type is known are called.
		if n.Callee.Type().Kind() == reflect.Interface {
			w.errorf(n, "cannot call %s: its type is known only when the condition runs (it comes from a mixed list or a conditional, say); call the helper functions, or methods of values of a fixed type", calleeName(n.Callee))
			return
		}
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		switch {
		case id.Value == "categorySpend" && len(n.Arguments) == 2:
			// A category of another type is left to expr, whose error then
			// names categorySpend as written, not _categorySpendDays.
			if t := n.Arguments[0].Type(); t != stringType && t.Kind() != reflect.Interface {
				return
			}
			if days, ok := w.window(n.Arguments[1]); ok {
				ast.Patch(node, call("_categorySpendDays", n.Arguments[0], &ast.IntegerNode{Value: days}))
			}
		case len(n.Arguments) == 1 && (id.Value == "spend" || id.Value == "visits" || id.Value == "visitsPerWeek"):
			if days, ok := w.window(n.Arguments[0]); ok {
				ast.Patch(node, call("_"+id.Value+"Days", &ast.IntegerNode{Value: days}))
			}
		}
	}
}

// calleeName names callee n in an error: "f" or "method M of x".
func calleeName(n ast.Node) string {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		return n.Value
	case *ast.MemberNode:
		if p, ok := n.Property.(*ast.StringNode); ok {
			return "method " + p.Value + " of " + n.Node.String()
		}
	}
	return n.String()
}

// window checks a literal window argument; other arguments are left to be
// checked at run time.
func (w *rewriter) window(arg ast.Node) (int, bool) {
	s, ok := arg.(*ast.StringNode)
	if !ok {
		return 0, false
	}
	days, err := parseWindow(s.Value)
	if err != nil {
		w.errorf(s, "%v", err)
		return 0, false
	}
	return days, true
}

// compileExpr compiles src against env with the rewrites applied.
func compileExpr(src string, opts ...expr.Option) (*vm.Program, *rewriter, error) {
	w := &rewriter{}
	prog, err := expr.Compile(src, append([]expr.Option{
		expr.Env(env{}),
		// The wall clock would make replays and backtests differ from live
		// runs; "now" is the swipe's event time.
		expr.DisableBuiltin("now"),
		expr.Patch(w),
	}, opts...)...)
	return prog, w, err
}

// compileWhen compiles r.When, found in YAML node n, recording errors at
// their position in the file.
func (p *parser) compileWhen(r *Rule, n *yaml.Node) {
	prog, w, err := compileExpr(r.When, expr.AsBool())
	if len(w.errs) > 0 {
		// A rejected literal was left unrewritten, so err is a consequence.
		for _, e := range w.errs {
			line, col := offsetPos(r.When, e.loc.From)
			p.exprError(r, n, line, col, e.msg)
		}
		return
	}
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			p.exprError(r, n, fe.Line, fe.Column, fieldHint(fe.Message))
		} else {
			p.errorf(n, r.ID, "when: %v", err)
		}
		return
	}
	r.program = prog
	r.kinds = kindsOf(prog.Node())
}

var noField = regexp.MustCompile(`^type (\S+) has no field (\S+)$`)

// envStructs are the struct types conditions can reach through swipe and
// profile, by the name expr gives them in errors ("loyalty.Swipe").
var envStructs = structsOf(reflect.TypeOf(env{}), map[string]reflect.Type{})

// structsOf adds to seen the loyalty struct types that the visible fields
// of struct t lead to, through pointers and slices, and returns seen.
func structsOf(t reflect.Type, seen map[string]reflect.Type) map[string]reflect.Type {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Tag.Get("expr") == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == kindType.PkgPath() && seen[ft.String()] == nil {
			seen[ft.String()] = ft
			structsOf(ft, seen)
		}
	}
	return seen
}

// fieldHint extends expr's "type T has no field F" for the types of the
// environment: a Go field name (TotalCents) or another spelling of a
// field (totalCents) gets the name to use (total_cents), a bookkeeping
// field is said to be hidden, and anything else gets the list of fields.
func fieldHint(msg string) string {
	m := noField.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	t := envStructs[m[1]]
	if t == nil {
		return msg
	}
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	want := norm(m[2])
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("expr")
		switch {
		case !f.IsExported():
			continue
		case name == "-":
			if norm(f.Name) == want {
				return msg + " (it is internal bookkeeping, not visible to rules)"
			}
			continue
		case name == "":
			name = f.Name
		}
		if norm(name) == want || norm(f.Name) == want {
			return fmt.Sprintf("%s; did you mean %s?", msg, name)
		}
		names = append(names, name)
	}
	return fmt.Sprintf("%s; fields are %s", msg, strings.Join(names, ", "))
}

// exprError records msg at line and 0-based column col of the expression
// held by scalar n.
func (p *parser) exprError(r *Rule, n *yaml.Node, line, col int, msg string) {
	e := &Error{File: p.file, Line: n.Line, Col: n.Column, RuleID: r.ID, Msg: "when: " + msg}
	if line > 0 {
		e.Line, e.Col = p.scalarPos(n, r.When, line, col)
	}
	p.errs = append(p.errs, e)
}

// offsetPos converts a rune offset in src into a 1-based line and a 0-based
// column, as expr counts them.
func offsetPos(src string, off int) (line, col int) {
	line = 1
	i := 0
	for _, r := range src {
		if i == off {
			break
		}
		i++
		if r == '\n' {
			line++
			col = 0
		} else {
			col++
		}
	}
	return line, col
}

// kindsOf returns the swipe kinds condition n can be true for, from
// _isKind calls joined by && and ||; nil means any kind.
func kindsOf(n ast.Node) []loyalty.Kind {
	switch n := n.(type) {
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && id.Value == "_isKind" && len(n.Arguments) == 1 {
			if s, ok := n.Arguments[0].(*ast.StringNode); ok {
				return []loyalty.Kind{loyalty.Kind(s.Value)}
			}
		}
	case *ast.BoolNode:
		if !n.Value {
			return []loyalty.Kind{}
		}
	case *ast.BinaryNode:
		l, r := kindsOf(n.Left), kindsOf(n.Right)
		switch n.Operator {
		case "&&", "and":
			switch {
			case l == nil:
				return r
			case r == nil:
				return l
			}
			out := []loyalty.Kind{}
			for _, k := range l {
				if containsKind(r, k) {
					out = append(out, k)
				}
			}
			return out
		case "||", "or":
			if l == nil || r == nil {
				return nil
			}
			out := append([]loyalty.Kind{}, l...)
			for _, k := range r {
				if !containsKind(out, k) {
					out = append(out, k)
				}
			}
			return out
		}
	}
	return nil
}

func containsKind(ks []loyalty.Kind, k loyalty.Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}
