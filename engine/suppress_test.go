package engine

import (
	"fmt"
	"testing"

	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
)

// TestSuppressedAcrossRuleSets: suppressed hits are counted by rule
// ordinal, and ordinals mean other rules in another set. A batch whose
// rules change between two swipes counts each hit under the rule id of
// the set it was judged by, and Stats shows the same figures by rule id,
// batch after batch.
func TestSuppressedAcrossRuleSets(t *testing.T) {
	// Ordinal 1 is "low" in the first set and "top" in the second: both
	// lose arbitration on mobile to the rule above them.
	p := testPipeline(t, 0, `
id: top
priority: 20
when: "true"
channels: [mobile]
offer: {title: Top}
---
id: low
priority: 10
when: "true"
channels: [mobile]
offer: {title: Low}
`)
	second, err := rules.Parse("q.yaml", []byte(`
id: zz
priority: 30
when: "true"
channels: [mobile]
offer: {title: Z}
---
id: top
priority: 20
when: "true"
channels: [mobile]
offer: {title: Top}
`))
	if err != nil {
		t.Fatal(err)
	}
	set2, err := rules.NewSet(second)
	if err != nil {
		t.Fatal(err)
	}
	first := p.rules
	swipe := func(off int64) {
		v := fmt.Sprintf(`{"v":1,"swipe_id":"w-%d","card_id":"c-1","kind":"purchase","store_id":"s1","ts":"2026-12-0%dT10:00:00-05:00",`+
			`"items":[{"sku":"a","category":"c","qty":1,"unit_price_cents":100}],"total_cents":100}`, off, 1+off)
		p.Process(&kafka.Message{Topic: TopicSwipes, Offset: off, Key: []byte("c-1"), Value: []byte(v)})
	}
	var st Stats
	swipe(0)
	p.SetRules(set2)
	swipe(1)
	swipe(2)
	if _, _, err := p.EndBatch(); err != nil {
		t.Fatal(err)
	}
	p.CountBatch(&st)
	p.StartBatch()
	p.SetRules(first)
	swipe(3)
	if _, _, err := p.EndBatch(); err != nil {
		t.Fatal(err)
	}
	p.CountBatch(&st)
	got := fmt.Sprint(st.SuppressedByRule())
	want := "[{low arbitration 2} {top arbitration 2}]"
	if got != want {
		t.Errorf("suppressed %s, want %s", got, want)
	}
	if n := st.Suppressed.Load(); n != 4 {
		t.Errorf("Suppressed = %d, want 4", n)
	}
}
