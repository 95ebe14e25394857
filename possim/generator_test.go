package possim

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
)

func TestDeterministic(t *testing.T) {
	a, b := New(Config{Seed: 7, BadFraction: 0.05}), New(Config{Seed: 7, BadFraction: 0.05})
	other := New(Config{Seed: 8, BadFraction: 0.05})
	differs := 0
	for i := range 10000 {
		ma, mb, mo := a.Next(), b.Next(), other.Next()
		if !bytes.Equal(ma.Key, mb.Key) || !bytes.Equal(ma.Value, mb.Value) || ma.Bad != mb.Bad || ma.Retry != mb.Retry || ma.Late != mb.Late {
			t.Fatalf("message %d differs with the same seed:\n%s %s\n%s %s", i, ma.Key, ma.Value, mb.Key, mb.Value)
		}
		if !bytes.Equal(ma.Value, mo.Value) {
			differs++
		}
	}
	if !a.Clock().Equal(b.Clock()) {
		t.Errorf("clocks differ: %v, %v", a.Clock(), b.Clock())
	}
	if differs < 9000 {
		t.Errorf("seeds 7 and 8 gave %d different messages of 10000, want nearly all", differs)
	}
}

func TestFirstSwipeAtStart(t *testing.T) {
	g := New(Config{Seed: 1})
	ny := g.Stores()[0].Zone
	m := g.Next()
	want := time.Date(2026, 11, 2, 8, 0, 0, 0, ny)
	if !m.Swipe.TS.Equal(want) || m.Swipe.StoreID != "s001" {
		t.Errorf("first swipe at %v in %s, want %v in s001", m.Swipe.TS, m.Swipe.StoreID, want)
	}
	if got := string(m.Value); !bytes.Contains(m.Value, []byte(`"ts":"2026-11-02T08:00:00-05:00"`)) {
		t.Errorf("first swipe %s does not carry ts 2026-11-02T08:00:00-05:00", got)
	}

	start := time.Date(2027, 3, 1, 12, 30, 0, 0, time.UTC)
	if m := New(Config{Seed: 1, Start: start}).Next(); !m.Swipe.TS.Equal(start) {
		t.Errorf("with Start %v the first swipe is at %v", start, m.Swipe.TS)
	}
}

// TestGoodSwipes holds every good message to the schema: it decodes into a
// loyalty.Swipe, is what encoding/json makes of it, and is consistent.
func TestGoodSwipes(t *testing.T) {
	g := New(Config{Seed: 3, Cards: 2000, BadFraction: 0.02})
	seen := map[string][]byte{}
	kinds := map[loyalty.Kind]int{}
	good, retries := 0, 0
	for i := range 50000 {
		m := g.Next()
		if m.Bad != "" {
			if m.Swipe != nil {
				t.Fatalf("message %d: bad (%s) with a Swipe", i, m.Bad)
			}
			continue
		}
		good++
		var s loyalty.Swipe
		if err := json.Unmarshal(m.Value, &s); err != nil {
			t.Fatalf("message %d: %v: %s", i, err, m.Value)
		}
		want, err := json.Marshal(m.Swipe)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.Value, want) {
			t.Fatalf("message %d encodes as\n%s\nencoding/json says\n%s", i, m.Value, want)
		}
		if problems := validate(m.Key, &s); len(problems) > 0 {
			t.Fatalf("message %d: %v: %s", i, problems, m.Value)
		}
		if prev, ok := seen[s.SwipeID]; ok {
			if !m.Retry || !bytes.Equal(prev, m.Value) {
				t.Fatalf("message %d: swipe_id %s seen before and not a retry of the same bytes", i, s.SwipeID)
			}
			retries++
		} else if m.Retry {
			t.Fatalf("message %d: retry of unseen swipe %s", i, s.SwipeID)
		}
		seen[s.SwipeID] = m.Value
		kinds[s.Kind]++
	}
	share := func(k loyalty.Kind) float64 { return float64(kinds[k]) / float64(good) }
	t.Logf("kinds of %d good swipes: %v; retries %d", good, kinds, retries)
	if share(loyalty.KindPurchase) < 0.6 || share(loyalty.KindCheckin) < 0.05 || share(loyalty.KindScan) < 0.01 || share(loyalty.KindReturn) < 0.005 {
		t.Errorf("kind mix %v is not mostly purchases with some check-ins, scans and returns", kinds)
	}
	if r := float64(retries) / float64(good); r < 0.002 || r > 0.01 {
		t.Errorf("retries are %.4f of good swipes, want about 0.005", r)
	}
}

// validate returns what is wrong with a decoded swipe sent under key.
func validate(key []byte, s *loyalty.Swipe) []string {
	var p []string
	if s.V != 1 {
		p = append(p, "version")
	}
	if s.SwipeID == "" || s.CardID == "" || s.StoreID == "" {
		p = append(p, "missing id")
	}
	if string(key) != s.CardID {
		p = append(p, "key")
	}
	if !s.Kind.Valid() {
		p = append(p, "kind")
	}
	var total int64
	for _, it := range s.Items {
		if it.Qty <= 0 || it.UnitPriceCents <= 0 || it.SKU == "" || it.Category == "" {
			p = append(p, "line")
		}
		total += it.LineCents()
	}
	if total != s.TotalCents || s.TotalCents < 0 {
		p = append(p, "total")
	}
	switch s.Kind {
	case loyalty.KindCheckin:
		if len(s.Items) > 0 || s.TotalCents != 0 {
			p = append(p, "check-in with items")
		}
	case loyalty.KindPurchase, loyalty.KindReturn, loyalty.KindScan:
		if len(s.Items) == 0 || len(s.Items) > 25 {
			p = append(p, "basket size")
		}
	}
	if s.TS.Location() == time.UTC || s.TS.Year() < 2020 || s.TS.Year() > 2030 {
		p = append(p, "time")
	}
	if s.Currency != "USD" {
		p = append(p, "currency")
	}
	return p
}

func TestRealistic(t *testing.T) {
	const cards, n = 2000, 60000
	g := New(Config{Seed: 11, Cards: cards})
	perCard := map[string]int{}
	zones := map[string]int{}
	inHours, late := 0, 0
	var maxTS time.Time
	coffee := map[string][]time.Time{} // coffee purchases per card that favours coffee
	lovers := map[string]bool{}
	for i := range g.cards {
		for _, p := range g.cards[i].prefs[:g.cards[i].nprefs] {
			if categories[p.cat].name == "coffee" {
				lovers[g.cards[i].id] = true
			}
		}
	}
	basketSizes := 0
	purchases := 0
	clock := g.Clock()
	for range n {
		m := g.Next()
		if g.Clock().Before(clock) {
			t.Fatalf("clock went back from %v to %v", clock, g.Clock())
		}
		clock = g.Clock()
		s := m.Swipe
		perCard[s.CardID]++
		name, _ := s.TS.Zone()
		zones[name]++
		if h := s.TS.Hour(); h >= 8 && h < 21 {
			inHours++
		}
		if s.TS.Before(maxTS.Add(-time.Hour)) {
			late++
		}
		if s.TS.After(maxTS) {
			maxTS = s.TS
		}
		if s.Kind == loyalty.KindPurchase && !m.Retry {
			purchases++
			basketSizes += len(s.Items)
			for _, it := range s.Items {
				if it.Category == "coffee" && lovers[s.CardID] {
					coffee[s.CardID] = append(coffee[s.CardID], s.TS)
					break
				}
			}
		}
	}
	counts := make([]int, 0, cards)
	for _, c := range perCard {
		counts = append(counts, c)
	}
	for len(counts) < cards {
		counts = append(counts, 0)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(counts)))
	top := 0
	for _, c := range counts[:cards/10] {
		top += c
	}
	topShare := float64(top) / n
	hoursShare := float64(inHours) / n
	lateShare := float64(late) / n
	days := clock.Sub(time.Date(2026, 11, 2, 13, 0, 0, 0, time.UTC)).Hours() / 24

	// Coffee lovers: the median gap between coffee purchases of cards that
	// favour coffee and bought it at least four times.
	var gaps []float64
	for _, ts := range coffee {
		if len(ts) < 4 {
			continue
		}
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		for i := 1; i < len(ts); i++ {
			gaps = append(gaps, ts[i].Sub(ts[i-1]).Hours()/24)
		}
	}
	sort.Float64s(gaps)
	medianGap := math.NaN()
	if len(gaps) > 0 {
		medianGap = gaps[len(gaps)/2]
	}
	t.Logf("%d swipes over %.1f days from %d of %d cards; top 10%% of cards: %.0f%%; busiest card %d swipes; 08-21 local: %.1f%%; late: %.2f%%; zones %v; mean basket %.1f; coffee lovers %d, median days between their coffee purchases %.1f (%d gaps)",
		n, days, len(perCard), cards, 100*topShare, counts[0], 100*hoursShare, 100*lateShare, zones,
		float64(basketSizes)/float64(purchases), len(lovers), medianGap, len(gaps))

	if topShare < 0.30 {
		t.Errorf("top 10%% of cards make %.0f%% of swipes, want at least 30%%", 100*topShare)
	}
	if hoursShare < 0.9 {
		t.Errorf("%.1f%% of swipes in 08:00-21:00 local time, want most", 100*hoursShare)
	}
	if len(zones) < 4 {
		t.Errorf("swipes in zones %v, want several", zones)
	}
	if lateShare < 0.003 || lateShare > 0.03 {
		t.Errorf("%.2f%% of swipes are late, want about 1%%", 100*lateShare)
	}
	if mean := float64(basketSizes) / float64(purchases); mean < 3 || mean > 12 {
		t.Errorf("mean basket %.1f lines", mean)
	}
	if medianGap < 8 || medianGap > 25 {
		t.Errorf("median gap between coffee purchases %.1f days, want coffee lovers to come back every 10-20 days", medianGap)
	}
}

func TestStores(t *testing.T) {
	g := New(Config{Seed: 1, Stores: 14})
	stores := g.Stores()
	if len(stores) != 14 {
		t.Fatalf("%d stores", len(stores))
	}
	ids, zones := map[string]bool{}, map[string]bool{}
	for _, s := range stores {
		if ids[s.ID] || s.Zone == nil || s.Lanes < 1 {
			t.Errorf("store %+v", s)
		}
		ids[s.ID] = true
		zones[s.Zone.String()] = true
	}
	if len(zones) != 5 {
		t.Errorf("zones %v, want the four contiguous US zones and Phoenix", zones)
	}
	stores[0].ID = "changed"
	if g.Stores()[0].ID == "changed" {
		t.Error("Stores returns the generator's own slice")
	}
}

func BenchmarkNext(b *testing.B) {
	b.Run("good", func(b *testing.B) { benchmarkNext(b, 0) })
	b.Run("bad=0.01", func(b *testing.B) { benchmarkNext(b, 0.01) })
}

func benchmarkNext(b *testing.B, bad float64) {
	g := New(Config{Seed: 1, BadFraction: bad})
	var bytes int
	b.ReportAllocs()
	for b.Loop() {
		bytes += len(g.Next().Value)
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "B/msg")
}
