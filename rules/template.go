package rules

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"text/template"
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
	d := &TemplateData{Swipe: s, Profile: p, Rule: r}
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	if title, err = execute(buf, r.title, d); err != nil {
		return "", "", fmt.Errorf("rule %s: title: %w", r.ID, err)
	}
	if body, err = execute(buf, r.body, d); err != nil {
		return "", "", fmt.Errorf("rule %s: body: %w", r.ID, err)
	}
	return title, body, nil
}

// execute runs t, which is nil for an empty template.
func execute(buf *bytes.Buffer, t *template.Template, d *TemplateData) (string, error) {
	if t == nil {
		return "", nil
	}
	buf.Reset()
	if err := t.Execute(buf, d); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// template parses the offer text src of rule r, found in YAML node n, and
// tries it on a sample swipe and profile so that a misspelt field is a
// compile error instead of a failure for every shopper.
func (p *parser) template(r *Rule, n *yaml.Node, name, src string) *template.Template {
	t, err := template.New(name).Funcs(templateFuncs).Option("missingkey=error").Parse(src)
	if err == nil {
		err = t.Execute(io.Discard, sampleData(r))
	}
	if err != nil {
		p.errorf(n, r.ID, "offer.%s: %s", name, templateMessage(err))
		return nil
	}
	return t
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
