package rules

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aislecast/loyalty"
)

func mustSet(t *testing.T, src string) *Set {
	t.Helper()
	rs, err := Parse("set.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(rs)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func ids(rs []*Rule) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.ID
	}
	return strings.Join(s, " ")
}

const orderRules = `
id: low
priority: -5
when: "true"
channels: [pos]
offer: {title: T}
---
id: zeta
priority: 50
when: swipe.total_cents > 1000
channels: [pos]
offer: {title: T}
---
id: alpha
priority: 50
when: swipe.kind == "purchase"
channels: [pos]
offer: {title: T}
---
id: mid
when: swipe.kind in ["checkin", "scan"]
channels: [pos]
offer: {title: T}
---
id: never
priority: 99
when: "false"
channels: [pos]
offer: {title: T}
`

func TestMatchOrder(t *testing.T) {
	set := mustSet(t, orderRules)
	if got, want := ids(set.Rules()), "never alpha zeta mid low"; got != want {
		t.Errorf("Rules() = %s, want %s (priority desc, then id)", got, want)
	}
	if set.Len() != 5 {
		t.Errorf("Len() = %d, want 5", set.Len())
	}
	e := set.NewEvaluator()
	tests := []struct {
		swipe *loyalty.Swipe
		want  string
	}{
		{purchase("p", at(10, 9, 0), item("a", "coffee", 1500)), "alpha zeta low"},
		{purchase("p", at(10, 9, 0), item("a", "coffee", 500)), "alpha low"},
		{&loyalty.Swipe{Kind: loyalty.KindCheckin, TS: at(10, 9, 0)}, "mid low"},
		{&loyalty.Swipe{Kind: "refund", TS: at(10, 9, 0)}, "low"}, // a kind outside schema v1
	}
	for _, tt := range tests {
		hits := e.Match(tt.swipe, nil, nil, func(r *Rule, err error) { t.Errorf("rule %s: %v", r.ID, err) })
		if got := ids(hits); got != tt.want {
			t.Errorf("%s swipe of %d cents: hits %q, want %q", tt.swipe.Kind, tt.swipe.TotalCents, got, tt.want)
		}
	}
	// Match appends to hits.
	hits := e.Match(tests[0].swipe, nil, []*Rule{set.Rules()[0]}, nil)
	if got := ids(hits); got != "never alpha zeta low" {
		t.Errorf("appended hits = %q", got)
	}
}

func TestMatchRuntimeError(t *testing.T) {
	set := mustSet(t, `
id: bad-window
priority: 10
when: categorySpend("coffee", swipe.store_id) > 0
channels: [pos]
offer: {title: T}
---
id: bad-index
priority: 5
when: swipe.items[3].qty > 1
channels: [pos]
offer: {title: T}
---
id: checkin-only
when: swipe.kind == "checkin" && swipe.items[3].qty > 1
channels: [pos]
offer: {title: T}
---
id: ok
priority: 1
when: "true"
channels: [pos]
offer: {title: T}
`)
	var failed []string
	onErr := func(r *Rule, err error) {
		failed = append(failed, r.ID)
		if err == nil {
			t.Errorf("rule %s: nil error", r.ID)
		}
	}
	s := purchase("p", at(10, 9, 0), item("a", "coffee", 100))
	hits := set.NewEvaluator().Match(s, nil, nil, onErr)
	if got := ids(hits); got != "ok" {
		t.Errorf("hits = %q, want only ok: failing rules are skipped", got)
	}
	// checkin-only is never run for a purchase, so it cannot fail.
	if got := strings.Join(failed, " "); got != "bad-window bad-index" {
		t.Errorf("onErr called for %q, want bad-window bad-index", got)
	}
	if got := ids(set.NewEvaluator().Match(s, nil, nil, nil)); got != "ok" {
		t.Errorf("with nil onErr: hits = %q", got)
	}
}

func TestNewSetDuplicate(t *testing.T) {
	a, err := Parse("a.yaml", []byte("id: x\nwhen: \"true\"\nchannels: [pos]\noffer: {title: T}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("b.yaml", []byte("# same id\n\nid: x\nwhen: \"false\"\nchannels: [pos]\noffer: {title: T}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewSet(append(b, a...))
	var el ErrorList
	if !errors.As(err, &el) {
		t.Fatalf("err = %v, want ErrorList", err)
	}
	if want := "b.yaml:3:1: rule x: duplicate id: also defined at a.yaml:1"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if _, err := NewSet([]*Rule{{ID: "hand-made", When: "true"}}); err == nil {
		t.Error("NewSet accepted a rule that was not compiled")
	}
}

func TestRender(t *testing.T) {
	set := mustSet(t, `
id: thanks
when: "true"
channels: [mobile]
offer:
  title: 'Thanks for shopping in aisle {{ .Swipe.Aisle | default "any" }}, {{ .Profile.CardID | upper }}'
  body: |-
    You spent {{ cents .Swipe.TotalCents }} {{ .Swipe.Currency | lower }}; rule {{ .Rule.ID }} v{{ .Rule.Version }}.
    First item: {{ (index .Swipe.Items 0).SKU }}
`)
	r := set.Rules()[0]
	s := purchase("p", at(10, 9, 0), item("sku-1", "coffee", 1234))
	s.Currency = "EUR"
	p := loyalty.NewProfile("card-1")
	title, body, err := r.Render(s, p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Thanks for shopping in aisle any, CARD-1"; title != want {
		t.Errorf("title = %q, want %q", title, want)
	}
	if want := "You spent 12.34 eur; rule thanks v1.\nFirst item: sku-1"; body != want {
		t.Errorf("body = %q, want %q", body, want)
	}
	s.Aisle = "7"
	if title, _, _ := r.Render(s, p); !strings.Contains(title, "aisle 7,") {
		t.Errorf("title = %q, want the aisle when there is one", title)
	}
	s.Items = nil
	if _, _, err := r.Render(s, p); err == nil || !strings.HasPrefix(err.Error(), "rule thanks: body: ") {
		t.Errorf("err = %v, want a body error for a swipe without items", err)
	}
}

func TestCents(t *testing.T) {
	for in, want := range map[any]string{0: "0.00", 5: "0.05", 1234: "12.34", int64(-5): "-0.05", int64(-123456): "-1234.56", uint(100): "1.00"} {
		if got, err := cents(in); err != nil || got != want {
			t.Errorf("cents(%v) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := cents("12"); err == nil {
		t.Error("cents accepted a string")
	}
}

// TestMatchAllocs holds the hot path to its promise: conditions built from
// kinds, baskets and SKUs allocate nothing. (Integers outside 0..255 that expr
// boxes, such as spend figures, cost one small allocation each.)
func TestMatchAllocs(t *testing.T) {
	set := mustSet(t, `
id: a
when: swipe.kind == "scan" && inBasket("baby") && !hasBought("diapers-m")
channels: [mobile]
offer: {title: T}
---
id: b
when: swipe.kind in ["scan", "purchase"] && basketHas("diapers-m") && swipe.kind != "return"
channels: [mobile]
offer: {title: T}
`)
	s := &loyalty.Swipe{Kind: loyalty.KindScan, TS: at(10, 9, 0), Items: []loyalty.Item{item("diapers-m", "baby", 1500)}}
	p := history(t)
	e := set.NewEvaluator()
	hits := make([]*Rule, 0, 2)
	allocs := testing.AllocsPerRun(100, func() { hits = e.Match(s, p, hits[:0], nil) })
	if len(hits) != 2 || allocs != 0 {
		t.Errorf("%d hits with %v allocations per Match; want 2 hits and 0 allocations", len(hits), allocs)
	}
}

func TestSetConcurrentEvaluators(t *testing.T) {
	set := mustSet(t, orderRules)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			e := set.NewEvaluator()
			for i := range 500 {
				s := purchase("p", at(10, 9, 0), item("a", "coffee", int64(i*w)))
				hits := e.Match(s, nil, nil, nil)
				if len(hits) < 2 || hits[0].ID != "alpha" {
					t.Errorf("hits = %s", ids(hits))
					return
				}
			}
		})
	}
	wg.Wait()
}
