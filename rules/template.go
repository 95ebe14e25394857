package rules

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/aislecast/loyalty"
	"go.yaml.in/yaml/v3"
)

// TemplateData is what offer title and body templates see.
type TemplateData struct {
	Swipe   *loyalty.Swipe
	Profile *loyalty.Profile
	Rule    *Rule
}

// templateFuncs are the functions templates may use besides the builtins.
var templateFuncs = template.FuncMap{
	"default": defaultValue,
	"cents":   cents,
	"upper":   strings.ToUpper,
	"lower":   strings.ToLower,
}

// defaultValue returns v, or def when v is nil or the zero value of its
// type: {{ .Swipe.Aisle | default "the store" }}.
func defaultValue(def, v any) any {
	if v == nil || reflect.ValueOf(v).IsZero() {
		return def
	}
	return v
}

// cents formats an integer amount of cents as units with two decimals:
// 1234 → "12.34", -5 → "-0.05".
func cents(v any) (string, error) {
	rv := reflect.ValueOf(v)
	var c int64
	switch {
	case rv.CanInt():
		c = rv.Int()
	case rv.CanUint():
		c = int64(rv.Uint())
	default:
		return "", fmt.Errorf("cents: want an integer amount of cents, not %T", v)
	}
	sign := ""
	u := uint64(c)
	if c < 0 {
		sign, u = "-", uint64(-c)
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100), nil
}

// MaxOfferText is the most bytes a rendered title or body may take. An
// offer travels as one Kafka message and lands on a phone's screen or in
// an e-mail; a text that renders longer (a range over an amount, say) is
// an error for that swipe, and its rendering stops there.
const MaxOfferText = 16 << 10

// errTextTooLong is what rendering a text past MaxOfferText fails with.
var errTextTooLong = fmt.Errorf("renders longer than %d bytes", MaxOfferText)

// cappedBuffer is a buffer that refuses to grow past MaxOfferText.
type cappedBuffer struct{ bytes.Buffer }

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > MaxOfferText {
		return 0, errTextTooLong
	}
	return b.Buffer.Write(p)
}

var bufPool = sync.Pool{New: func() any { return new(cappedBuffer) }}

// Render executes the rule's title and body templates for swipe s and
// profile p.
func (r *Rule) Render(s *loyalty.Swipe, p *loyalty.Profile) (title, body string, err error) {
	if title, err = r.title.render(s, p, r); err != nil {
		return "", "", fmt.Errorf("rule %s: title: %w", r.ID, err)
	}
	if body, err = r.body.render(s, p, r); err != nil {
		return "", "", fmt.Errorf("rule %s: body: %w", r.ID, err)
	}
	return title, body, nil
}

// offerText is a compiled offer title or body. Most are literal text with
// plain field references ({{ .Swipe.CardID }}); those also get parts,
// which render renders by appending, without text/template's reflective
// walk of the parse tree. Anything else (functions, pipelines, if, range,
// variables) runs text/template, and so does a field behind a nil pointer,
// which text/template reports as an error. TestOfferTextFastPath holds the
// two to the same output.
type offerText struct {
	t     *template.Template // nil for an empty title or body
	parts []textPart         // nil: execute t
}

// textPart is literal text, or, when path is set, the value of a field
// reached from TemplateData by following path: one FieldByIndex index
// per name in the template's field chain.
type textPart struct {
	text string
	path [][]int
}

// newOfferText compiles t, finding its parts when it has the simple form.
func newOfferText(t *template.Template) *offerText {
	return &offerText{t: t, parts: textParts(t)}
}

// textParts returns the parts of t, or nil when text/template must run it.
func textParts(t *template.Template) []textPart {
	if t.Tree == nil || t.Root == nil || len(t.Templates()) > 1 {
		return nil
	}
	parts := []textPart{}
	for _, n := range t.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			parts = append(parts, textPart{text: string(n.Text)})
		case *parse.ActionNode:
			pipe := n.Pipe
			if len(pipe.Decl) > 0 || pipe.IsAssign || len(pipe.Cmds) != 1 || len(pipe.Cmds[0].Args) != 1 {
				return nil
			}
			f, ok := pipe.Cmds[0].Args[0].(*parse.FieldNode)
			if !ok {
				return nil
			}
			path, ok := fieldPath(reflect.TypeFor[TemplateData](), f.Ident)
			if !ok {
				return nil
			}
			parts = append(parts, textPart{path: path})
		default:
			return nil
		}
	}
	return parts
}

var (
	errorType     = reflect.TypeFor[error]()
	stringerType  = reflect.TypeFor[fmt.Stringer]()
	formatterType = reflect.TypeFor[fmt.Formatter]()
)

// fieldPath resolves the field chain names from struct type t as
// text/template would, and reports whether it leads, through exported
// fields of structs and pointers to structs, to a string, integer or bool
// that prints as its plain value: no method of the same name on the way
// (text/template would call it) and no String, Error or Format method at
// the end (fmt would call it).
func fieldPath(t reflect.Type, names []string) ([][]int, bool) {
	path := make([][]int, 0, len(names))
	for _, name := range names {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil, false
		}
		if _, ok := reflect.PointerTo(t).MethodByName(name); ok {
			return nil, false
		}
		f, ok := t.FieldByName(name)
		if !ok || !f.IsExported() {
			return nil, false
		}
		path = append(path, f.Index)
		t = f.Type
	}
	for _, it := range []reflect.Type{errorType, stringerType, formatterType} {
		if t.Implements(it) || reflect.PointerTo(t).Implements(it) {
			return nil, false
		}
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return path, len(path) > 0
	}
	return nil, false
}

// render renders the text for swipe s, profile p and rule r. The
// TemplateData text/template needs is only made when it runs.
func (o *offerText) render(s *loyalty.Swipe, p *loyalty.Profile, r *Rule) (string, error) {
	switch {
	case o == nil || o.t == nil:
		return "", nil
	case len(o.parts) == 1 && o.parts[0].path == nil:
		return o.parts[0].text, nil // literal text: nothing to build
	case o.parts != nil:
		var buf [256]byte
		if b, ok := o.appendParts(buf[:0], s, p, r); ok {
			if len(b) > MaxOfferText {
				return "", errTextTooLong
			}
			return string(b), nil
		}
	}
	buf := bufPool.Get().(*cappedBuffer)
	defer bufPool.Put(buf)
	buf.Reset()
	if err := o.t.Execute(buf, &TemplateData{Swipe: s, Profile: p, Rule: r}); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// appendParts appends the parts rendered for s, p and r to dst; it
// reports false when a field lies behind a nil pointer.
func (o *offerText) appendParts(dst []byte, s *loyalty.Swipe, p *loyalty.Profile, r *Rule) ([]byte, bool) {
	d := TemplateData{Swipe: s, Profile: p, Rule: r}
	root := reflect.ValueOf(&d).Elem()
	for i := range o.parts {
		pt := &o.parts[i]
		if pt.path == nil {
			dst = append(dst, pt.text...)
			continue
		}
		v := root
		for _, index := range pt.path {
			if v.Kind() == reflect.Pointer {
				if v.IsNil() {
					return dst, false
				}
				v = v.Elem()
			}
			var err error
			if v, err = v.FieldByIndexErr(index); err != nil {
				return dst, false
			}
		}
		switch v.Kind() {
		case reflect.String:
			dst = append(dst, v.String()...)
		case reflect.Bool:
			dst = strconv.AppendBool(dst, v.Bool())
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			dst = strconv.AppendInt(dst, v.Int(), 10)
		default:
			dst = strconv.AppendUint(dst, v.Uint(), 10)
		}
	}
	return dst, true
}

// template parses the offer text src of rule r, found in YAML node n. It
// is tried later, by tryTemplates, once the whole rule is read.
func (p *parser) template(r *Rule, n *yaml.Node, name, src string) *offerText {
	t, err := template.New(name).Funcs(templateFuncs).Option("missingkey=error").Parse(src)
	if err != nil {
		p.errorf(n, r.ID, "offer.%s: %s", name, templateMessage(err))
		return nil
	}
	if err := checkTemplate(t); err != nil {
		p.errorf(n, r.ID, "offer.%s: %v", name, err)
		return nil
	}
	o := newOfferText(t)
	p.untried = append(p.untried, untriedTemplate{o, n, name})
	return o
}

// untriedTemplate is an offer text parsed but not yet tried, with the
// YAML node and the name of the field it was found in.
type untriedTemplate struct {
	text *offerText
	node *yaml.Node
	name string
}

// tryTemplates executes the templates parsed for rule r on a sample swipe
// and profile, so that a misspelt field is a compile error instead of a
// failure for every shopper. It runs after the whole rule is read: a
// template may show the rule's limits or schedule, which the file may
// give after the offer.
func (p *parser) tryTemplates(r *Rule) {
	for _, u := range p.untried {
		if err := u.text.t.Execute(io.Discard, sampleData(r)); err != nil {
			p.errorf(u.node, r.ID, "offer.%s: %s", u.name, templateMessage(err))
		}
	}
	p.untried = p.untried[:0]
}

var templateError = regexp.MustCompile(`^template: \w+:\d+(?::\d+)?: (?:executing "\w+" at <(.*?)>: )?`)

// templateMessage shortens a text/template error, whose position repeats
// the node's, to what went wrong and where.
func templateMessage(err error) string {
	msg := err.Error()
	m := templateError.FindStringSubmatchIndex(msg)
	if m == nil {
		return msg
	}
	rest := msg[m[1]:]
	if m[2] >= 0 {
		rest += " (at " + msg[m[2]:m[3]] + ")"
	}
	return rest
}

// sampleData is a realistic swipe and profile to try templates on.
func sampleData(r *Rule) *TemplateData {
	s := &loyalty.Swipe{
		V: loyalty.SchemaVersion, SwipeID: "sample-1", CardID: "card-sample",
		Kind: loyalty.KindPurchase, StoreID: "store-1", Aisle: "7", Lane: "3",
		TS: time.Date(2026, 3, 14, 10, 30, 0, 0, time.UTC),
		Items: []loyalty.Item{
			{SKU: "coffee-beans-1kg", Category: "coffee", Qty: 1, UnitPriceCents: 1499},
			{SKU: "milk-1l", Category: "dairy", Qty: 2, UnitPriceCents: 129},
		},
		TotalCents: 1757, Currency: "EUR", RedeemedOffers: []string{"offer-sample"},
	}
	p := loyalty.NewProfile(s.CardID)
	p.Apply(s)
	return &TemplateData{Swipe: s, Profile: p, Rule: r}
}

// templateChecker finds the methods an offer text would call. text/template
// calls a method wherever a field chain names one, with the live swipe and
// profile as receivers: {{ .Profile.AddOffered "x" }} would change the
// card's offer history on every render. The checker follows the static
// type of every value the text reaches, from TemplateData through fields,
// variables, with, range, template calls and the functions' results, and
// refuses a method of a type of this project (or one that needs a pointer
// receiver, such as time.Time.UnmarshalText), and any name looked up on a
// value whose type is known only when the text runs.
type templateChecker struct {
	t        *template.Template
	checked  map[string]map[reflect.Type]bool // defined templates, by the type of their dot
	assigned map[string]bool                  // variables assigned with = somewhere
	err      error
}

// fails is the type of a value text/template never produces: its
// evaluation stops with an error first (a name a struct does not have,
// say). It has no fields and no methods, so whatever follows it fails too.
var fails = reflect.TypeFor[struct{}]()

var rulesPkg = reflect.TypeFor[Rule]().PkgPath()

// checkTemplate returns an error naming the first method t would call
// that offer texts may not call. The first pass finds the variables
// assigned with =: such a variable may hold values of several types, even
// before the assignment (in a range), so the second pass takes their type
// as unknown.
func checkTemplate(t *template.Template) error {
	c := &templateChecker{t: t, assigned: map[string]bool{}}
	for range 2 {
		c.checked, c.err = map[string]map[reflect.Type]bool{}, nil
		c.tree(t.Name(), reflect.TypeFor[*TemplateData]())
	}
	return c.err
}

// tree checks the template called name for a dot of type dot.
func (c *templateChecker) tree(name string, dot reflect.Type) {
	if c.checked[name][dot] {
		return
	}
	if c.checked[name] == nil {
		c.checked[name] = map[reflect.Type]bool{}
	}
	c.checked[name][dot] = true
	if t := c.t.Lookup(name); t != nil && t.Tree != nil {
		c.list(t.Root, dot, map[string]reflect.Type{"$": dot})
	}
}

func (c *templateChecker) list(l *parse.ListNode, dot reflect.Type, vars map[string]reflect.Type) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			c.pipe(n.Pipe, dot, vars)
		case *parse.IfNode:
			c.branch(&n.BranchNode, dot, vars, func(reflect.Type) reflect.Type { return dot })
		case *parse.WithNode:
			c.branch(&n.BranchNode, dot, vars, func(t reflect.Type) reflect.Type { return t })
		case *parse.RangeNode:
			c.branch(&n.BranchNode, dot, vars, elemType)
		case *parse.TemplateNode:
			t := fails // {{ template "x" }} runs x with a nil dot
			if n.Pipe != nil {
				t = c.pipe(n.Pipe, dot, vars)
			}
			c.tree(n.Name, t)
		}
	}
}

// branch checks an if, with or range, whose list sees as dot the type
// inner gives for the type of the pipeline.
func (c *templateChecker) branch(b *parse.BranchNode, dot reflect.Type, vars map[string]reflect.Type, inner func(reflect.Type) reflect.Type) {
	scope := maps.Clone(vars)
	t := c.pipe(b.Pipe, dot, scope)
	if d := b.Pipe.Decl; b.NodeType == parse.NodeRange && len(d) > 0 {
		scope[d[len(d)-1].Ident[0]] = elemType(t)
		if len(d) == 2 {
			scope[d[0].Ident[0]] = keyType(t)
		}
	}
	c.list(b.List, inner(t), scope)
	c.list(b.ElseList, dot, maps.Clone(vars))
}

// pipe checks a pipeline, declares its variables in vars and returns the
// type of its value.
func (c *templateChecker) pipe(p *parse.PipeNode, dot reflect.Type, vars map[string]reflect.Type) reflect.Type {
	var t reflect.Type
	for i, cmd := range p.Cmds {
		t = c.command(cmd, dot, vars, t, i > 0)
	}
	for _, v := range p.Decl {
		if p.IsAssign {
			c.assigned[v.Ident[0]] = true
		}
		vars[v.Ident[0]] = t
	}
	return t
}

// command checks a command of a pipeline and returns the type of its
// value. When piped says so, the previous command's value, of type prev,
// is its last argument.
func (c *templateChecker) command(cmd *parse.CommandNode, dot reflect.Type, vars map[string]reflect.Type, prev reflect.Type, piped bool) reflect.Type {
	args := make([]reflect.Type, len(cmd.Args))
	for i, a := range cmd.Args {
		args[i] = c.arg(a, dot, vars)
	}
	f, ok := cmd.Args[0].(*parse.IdentifierNode)
	if !ok {
		return args[0] // a field chain: a method's arguments are checked above
	}
	args = args[1:]
	if piped {
		args = append(args, prev)
	}
	switch f.Ident {
	case "index", "slice":
		if len(args) == 0 {
			return fails
		}
		t := args[0]
		if f.Ident == "index" {
			for range args[1:] {
				t = elemType(t)
			}
		}
		return t
	case "call":
		c.fail(fmt.Errorf("%s: call is not available in offer texts", cmd))
		return nil
	case "and", "or":
		return nil // one of the arguments
	}
	if fn, ok := templateFuncs[f.Ident]; ok {
		return reflect.TypeOf(fn).Out(0)
	}
	return reflect.TypeFor[string]() // the other builtins give strings, bools and ints: no fields, no methods
}

// arg checks an argument of a command and returns its type.
func (c *templateChecker) arg(n parse.Node, dot reflect.Type, vars map[string]reflect.Type) reflect.Type {
	switch n := n.(type) {
	case *parse.DotNode:
		return dot
	case *parse.FieldNode:
		return c.fields(dot, n.Ident, n)
	case *parse.VariableNode:
		t := vars[n.Ident[0]]
		if c.assigned[n.Ident[0]] {
			t = nil
		}
		return c.fields(t, n.Ident[1:], n)
	case *parse.ChainNode:
		return c.fields(c.arg(n.Node, dot, vars), n.Field, n)
	case *parse.PipeNode:
		return c.pipe(n, dot, maps.Clone(vars))
	case *parse.StringNode:
		return reflect.TypeFor[string]()
	case *parse.BoolNode:
		return reflect.TypeFor[bool]()
	case *parse.NumberNode:
		return reflect.TypeFor[int]() // or a float: no fields, no methods
	case *parse.IdentifierNode:
		return nil // a function, called without arguments; command checks it at the head of a command
	}
	return fails // nil
}

// fields follows the field chain names from a value of type t, as
// text/template's evalField does, and returns the type it reaches.
func (c *templateChecker) fields(t reflect.Type, names []string, n parse.Node) reflect.Type {
	for _, name := range names {
		if t == fails {
			return fails
		}
		if t == nil || t.Kind() == reflect.Interface {
			c.fail(fmt.Errorf("%s: the value before .%s has a type known only when the text is rendered; use fields of the swipe, profile and rule", n, name))
			return nil
		}
		base := t
		for base.Kind() == reflect.Pointer {
			base = base.Elem()
		}
		if m, ok := reflect.PointerTo(base).MethodByName(name); ok {
			_, byValue := base.MethodByName(name)
			if pkg := base.PkgPath(); pkg == domainPkg || pkg == rulesPkg || !byValue {
				c.fail(fmt.Errorf("%s: method %s of %s is not available in offer texts; use its fields", n, name, base))
				return nil
			}
			if m.Type.NumOut() == 0 {
				return fails
			}
			t = m.Type.Out(0)
			continue
		}
		switch base.Kind() {
		case reflect.Struct:
			f, ok := base.FieldByName(name)
			if !ok || !f.IsExported() {
				return fails
			}
			t = f.Type
		case reflect.Map:
			t = base.Elem()
		default:
			return fails
		}
	}
	return t
}

func (c *templateChecker) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// elemType is the type of the elements range gives for a value of type t,
// or nil when it is known only at run time.
func elemType(t reflect.Type) reflect.Type {
	for t != nil && t != fails && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == nil || t == fails:
		return t
	case t.Kind() == reflect.Slice, t.Kind() == reflect.Array, t.Kind() == reflect.Map, t.Kind() == reflect.Chan:
		return t.Elem()
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return t
	}
	return nil
}

// keyType is the type of the keys or indexes range gives for a value of
// type t.
func keyType(t reflect.Type) reflect.Type {
	for t != nil && t != fails && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == nil || t == fails:
		return t
	case t.Kind() == reflect.Map:
		return t.Key()
	}
	return reflect.TypeFor[int]()
}
