package rules

import (
	"bytes"
	"fmt"
	"io"
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

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

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
			return string(b), nil
		}
	}
	buf := bufPool.Get().(*bytes.Buffer)
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
