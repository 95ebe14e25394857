package possim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
)

// faultOf is an independent reference validator: it names the one fault
// of a message the way a strict consumer would see it, or "" when there is
// none. Checks run in the order that keeps each fault alone.
func faultOf(key, value []byte) (string, error) {
	switch {
	case len(value) == 0:
		return FaultEmptyValue, nil
	case len(value) > MaxValueBytes:
		var s loyalty.Swipe
		if err := json.Unmarshal(value, &s); err != nil || validate(key, &s) != nil {
			return "", fmt.Errorf("oversized message carries another fault: %v %v", err, validate(key, &s))
		}
		return FaultOversized, nil
	case !json.Valid(value):
		return FaultMalformedJSON, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(value, &raw); err != nil {
		return "", err
	}
	var ts string
	if err := json.Unmarshal(raw["ts"], &ts); err != nil {
		return "", err
	}
	if _, err := time.Parse(localLayout, ts); err == nil {
		delete(raw, "ts")
		value, _ = json.Marshal(raw)
		var s loyalty.Swipe
		if err := json.Unmarshal(value, &s); err != nil {
			return "", err
		}
		s.TS = time.Date(2026, 11, 2, 0, 0, 0, 0, time.FixedZone("x", -5*3600)) // any valid time
		if p := validate(key, &s); p != nil {
			return "", fmt.Errorf("missing-zone message also has %v", p)
		}
		return FaultMissingZone, nil
	}
	var s loyalty.Swipe
	if err := json.Unmarshal(value, &s); err != nil {
		return "", err
	}
	var found []string
	if s.V != 1 {
		found = append(found, FaultUnknownVersion)
	}
	if s.SwipeID == "" {
		found = append(found, FaultMissingSwipeID)
	}
	if s.CardID == "" {
		found = append(found, FaultMissingCardID)
	} else if string(key) != s.CardID {
		found = append(found, FaultKeyMismatch)
	}
	if !s.Kind.Valid() {
		found = append(found, FaultBadKind)
	}
	var total int64
	negative := false
	for _, it := range s.Items {
		negative = negative || it.Qty < 0 || it.UnitPriceCents < 0
		total += it.LineCents()
	}
	if negative {
		found = append(found, FaultNegativeAmount)
	}
	if total != s.TotalCents {
		found = append(found, FaultTotalMismatch)
	}
	if y := s.TS.Year(); y < 2020 || y > 2030 {
		found = append(found, FaultAbsurdTime)
	}
	switch len(found) {
	case 0:
		if p := validate(key, &s); p != nil {
			return "", fmt.Errorf("unexpected problems %v", p)
		}
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("several faults %v", found)
}

func TestFaults(t *testing.T) {
	const n, bad = 60000, 0.2
	g := New(Config{Seed: 5, Cards: 3000, BadFraction: bad})
	counts := map[string]int{}
	for i := range n {
		m := g.Next()
		got, err := faultOf(m.Key, m.Value)
		if err != nil {
			t.Fatalf("message %d (%q): %v\n%.500s", i, m.Bad, err, m.Value)
		}
		if got != m.Bad {
			t.Fatalf("message %d marked %q looks like %q:\n%.500s", i, m.Bad, got, m.Value)
		}
		if (m.Swipe == nil) != (m.Bad != "") {
			t.Fatalf("message %d marked %q has Swipe %v", i, m.Bad, m.Swipe)
		}
		if m.Bad != "" && (m.Retry || m.Late) {
			t.Fatalf("bad message %d is marked retry or late", i)
		}
		counts[m.Bad]++
	}
	t.Logf("faults in %d messages: %v", n, counts)
	if share := float64(n-counts[""]) / n; share < bad*0.9 || share > bad*1.1 {
		t.Errorf("%.3f of messages bad, want %.2f", share, bad)
	}
	even := bad * n / float64(len(Faults()))
	for _, k := range Faults() {
		switch c := float64(counts[k]); {
		case k == FaultOversized:
			if c < 1 || c > n/OversizedEvery {
				t.Errorf("%d oversized messages, want 1 to %d", counts[k], n/OversizedEvery)
			}
		case c < 0.8*even || c > 1.3*even:
			t.Errorf("%d %s messages, want about %.0f", counts[k], k, even)
		}
	}
}

func TestFaultsConfig(t *testing.T) {
	g := New(Config{Seed: 1, BadFraction: 1, Faults: []string{FaultBadKind, FaultEmptyValue}})
	for range 1000 {
		if m := g.Next(); m.Bad != FaultBadKind && m.Bad != FaultEmptyValue {
			t.Fatalf("message with fault %q, want only %s and %s", m.Bad, FaultBadKind, FaultEmptyValue)
		}
	}
	g = New(Config{Seed: 1, BadFraction: 0.5, Faults: []string{}})
	for range 1000 {
		if m := g.Next(); m.Bad != "" {
			t.Fatalf("fault %q with an empty fault list", m.Bad)
		}
	}
	// Only oversized faults: at most one in OversizedEvery, the rest good.
	g = New(Config{Seed: 1, BadFraction: 1, Faults: []string{FaultOversized}})
	over := 0
	for range 3 * OversizedEvery {
		if g.Next().Bad == FaultOversized {
			over++
		}
	}
	if over != 3 {
		t.Errorf("%d oversized messages in %d, want 3", over, 3*OversizedEvery)
	}

	for _, cfg := range []Config{{Cards: -1}, {BadFraction: 1.5}, {Faults: []string{"nope"}}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%+v) did not panic", cfg)
				}
			}()
			New(cfg)
		}()
	}
}

func TestLateAndRetryKnobs(t *testing.T) {
	g := New(Config{Seed: 2, Cards: 500, LateFraction: -1, RetryFraction: -1})
	var last time.Time
	for i := range 20000 {
		m := g.Next()
		if m.Late || m.Retry {
			t.Fatalf("message %d late or retried with both knobs off", i)
		}
		if m.Swipe.TS.Before(last) {
			t.Fatalf("message %d at %v before %v with no late swipes", i, m.Swipe.TS, last)
		}
		last = m.Swipe.TS
	}
	g = New(Config{Seed: 2, Cards: 500, LateFraction: 0.1, RetryFraction: 0.1})
	late, retries := 0, 0
	for range 20000 {
		m := g.Next()
		if m.Late {
			late++
			if lag := g.Clock().Sub(m.Swipe.TS); lag < 2*time.Hour || lag > 4*24*time.Hour {
				t.Fatalf("late swipe sent %v after its event time", lag)
			}
		}
		if m.Retry {
			retries++
		}
	}
	if late < 1500 || late > 2500 || retries < 1500 || retries > 2500 {
		t.Errorf("%d late, %d retries in 20000, want about 2000 each", late, retries)
	}
}

func TestEncodeFaultOptions(t *testing.T) {
	s := &loyalty.Swipe{V: 1, SwipeID: "s001-L01-1", CardID: "card-0000001", Kind: loyalty.KindCheckin,
		StoreID: "s001", Aisle: `a"<b>&\` + "\n", TS: time.Date(2026, 11, 2, 9, 30, 0, 0, time.FixedZone("EST", -5*3600))}
	want, _ := json.Marshal(s)
	if got := appendSwipe(nil, s, encOpts{}); !bytes.Equal(got, want) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	var raw map[string]any
	if err := json.Unmarshal(appendSwipe(nil, s, encOpts{omitSwipeID: true, omitCardID: true, localTS: true}), &raw); err != nil {
		t.Fatal(err)
	}
	wantRaw := map[string]any{"v": 1.0, "kind": "checkin", "store_id": "s001", "aisle": s.Aisle, "ts": "2026-11-02T09:30:00", "total_cents": 0.0}
	if !reflect.DeepEqual(raw, wantRaw) {
		t.Errorf("got %v, want %v", raw, wantRaw)
	}
}
