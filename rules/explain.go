package rules

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/expr-lang/expr/ast"
	exprparser "github.com/expr-lang/expr/parser"
)

// Explanation says what a condition, or a part of it, came to on one swipe
// and which of its parts decided that: the first false operand of a false
// &&, every operand of a false ||, the true operand of a true ||, the
// operand of a not, and the values of a comparison's operands
// (daysSinceBought("coffee") >= 12 has daysSinceBought("coffee") = 3).
// It is what a marketer's dry run prints; the hot path never builds one.
type Explanation struct {
	Expr  string         `json:"expr"`            // the part, as expr prints it
	Value string         `json:"value,omitempty"` // its value; "" when it could not be evaluated
	Err   string         `json:"error,omitempty"` // why it could not be evaluated
	Parts []*Explanation `json:"parts,omitempty"` // what decided the value

	val any // the value itself, to see which operand decided
}

// FiresOn reports whether r's condition can be true for a swipe of kind k,
// as far as its comparisons of swipe.kind tell; Set only evaluates a rule
// for the kinds it fires on.
func (r *Rule) FiresOn(k loyalty.Kind) bool {
	return r.kinds == nil || containsKind(r.kinds, k)
}

// Explain evaluates r's condition for swipe s and profile p (with s
// applied, as for Match) part by part and returns why it has the value it
// has. It re-parses the condition as the marketer wrote it and compiles
// each part on its own, so it is slow; the parts are evaluated with the
// same helpers and rewrites as Match, so they see what Match saw. A part
// that cannot stand alone (one naming a variable of a let) gets an Err.
func (e *Evaluator) Explain(r *Rule, s *loyalty.Swipe, p *loyalty.Profile) *Explanation {
	tree, err := exprparser.Parse(r.When)
	if err != nil {
		return &Explanation{Expr: r.When, Err: err.Error()}
	}
	e.bind(s, p)
	defer func() { e.env.Swipe, e.env.Profile = nil, nil }()
	return e.explain(tree.Node)
}

func (e *Evaluator) explain(n ast.Node) *Explanation {
	x := e.value(n)
	if b, ok := n.(*ast.BinaryNode); ok && x.Err != "" {
		// Point at the operand that failed.
		switch b.Operator {
		case "&&", "and":
			x.Parts = e.deciding(operands(b, "&&", "and"), false, true)
		case "||", "or":
			x.Parts = e.deciding(operands(b, "||", "or"), true, true)
		}
	}
	if x.Err != "" {
		return x
	}
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			if x.val == false {
				x.Parts = e.deciding(operands(n, "&&", "and"), false, true)
			}
		case "||", "or":
			x.Parts = e.deciding(operands(n, "||", "or"), true, x.val == true)
		case "==", "!=", "<", "<=", ">", ">=", "in", "matches", "contains", "startsWith", "endsWith":
			for _, o := range []ast.Node{n.Left, n.Right} {
				if !isLiteral(o) {
					x.Parts = append(x.Parts, e.value(o))
				}
			}
		}
	case *ast.UnaryNode:
		if n.Operator == "!" || n.Operator == "not" {
			x.Parts = []*Explanation{e.explain(n.Node)}
		}
	case *ast.ConditionalNode:
		c := e.explain(n.Cond)
		x.Parts = []*Explanation{c}
		switch c.val {
		case true:
			x.Parts = append(x.Parts, e.explain(n.Exp1))
		case false:
			x.Parts = append(x.Parts, e.explain(n.Exp2))
		}
	}
	return x
}

// deciding explains the operands of a chain of one logical operator, in
// order, and keeps those that decided its value: the first one equal to
// stop (or failing) when first is set, else all of them.
func (e *Evaluator) deciding(ops []ast.Node, stop, first bool) []*Explanation {
	var out []*Explanation
	for _, o := range ops {
		x := e.explain(o)
		if !first {
			out = append(out, x)
			continue
		}
		if x.Err != "" || x.val == stop {
			return []*Explanation{x}
		}
	}
	return out
}

// operands flattens a chain of one logical operator (a && b && c parses as
// (a && b) && c) into its operands, left to right.
func operands(n ast.Node, ops ...string) []ast.Node {
	if b, ok := n.(*ast.BinaryNode); ok && slices.Contains(ops, b.Operator) {
		return append(operands(b.Left, ops...), operands(b.Right, ops...)...)
	}
	return []ast.Node{n}
}

func isLiteral(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.IntegerNode, *ast.FloatNode, *ast.StringNode, *ast.BoolNode, *ast.NilNode, *ast.ConstantNode:
		return true
	case *ast.UnaryNode: // -5
		return n.Operator == "-" && isLiteral(n.Node)
	case *ast.ArrayNode:
		for _, el := range n.Nodes {
			if !isLiteral(el) {
				return false
			}
		}
		return true
	}
	return false
}

// value compiles part n on its own, with the rewrites of compileExpr, and
// runs it against the bound swipe and profile.
func (e *Evaluator) value(n ast.Node) *Explanation {
	src := n.String()
	x := &Explanation{Expr: src}
	prog, w, err := compileExpr(src)
	if err == nil && len(w.errs) > 0 {
		err = fmt.Errorf("%s", w.errs[0].msg)
	}
	if err != nil {
		x.Err = "cannot be evaluated on its own: " + firstLine(err.Error())
		return x
	}
	out, err := e.vm.Run(prog, &e.env)
	if err != nil {
		x.Err = firstLine(err.Error())
		return x
	}
	x.val, x.Value = out, formatValue(out)
	return x
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// maxValueLen bounds a printed value: a basket or a profile's categories
// can be long, and the point is to see the figure that decided.
const maxValueLen = 120

func formatValue(v any) string {
	var s string
	switch v := v.(type) {
	case nil:
		return "nil"
	case string:
		s = strconv.Quote(v)
	case loyalty.Kind:
		s = strconv.Quote(string(v))
	case time.Time:
		s = v.Format(time.RFC3339)
	case fmt.Stringer:
		s = v.String()
	default:
		rv := reflect.ValueOf(v)
		for rv.Kind() == reflect.Pointer && !rv.IsNil() {
			rv = rv.Elem()
		}
		s = fmt.Sprintf("%+v", rv.Interface())
	}
	if len(s) > maxValueLen {
		s = s[:maxValueLen] + "…"
	}
	return s
}

// String prints the explanation as indented lines: a boolean part as
// "EXPR is true|false", any other as "EXPR = VALUE", each followed by the
// parts that decided it, two spaces further in.
func (x *Explanation) String() string {
	var b strings.Builder
	x.write(&b, "")
	return strings.TrimSuffix(b.String(), "\n")
}

func (x *Explanation) write(b *strings.Builder, indent string) {
	b.WriteString(indent)
	b.WriteString(x.Expr)
	switch {
	case x.Err != "":
		b.WriteString(": ")
		b.WriteString(x.Err)
	case x.val == true || x.val == false:
		b.WriteString(" is ")
		b.WriteString(x.Value)
	default:
		b.WriteString(" = ")
		b.WriteString(x.Value)
	}
	b.WriteByte('\n')
	for _, p := range x.Parts {
		p.write(b, indent+"  ")
	}
}
