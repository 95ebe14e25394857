package loyalty_test

import (
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/possim"
)

// BenchmarkApply folds a realistic stream (possim, 2,000 cards, late
// swipes and retries included) into profiles; one op is one swipe.
func BenchmarkApply(b *testing.B) {
	g := possim.New(possim.Config{Seed: 3, Cards: 2000, Start: time.Date(2026, 8, 3, 8, 0, 0, 0, time.UTC)})
	swipes := make([]*loyalty.Swipe, 0, 100_000)
	for len(swipes) < cap(swipes) {
		if m := g.Next(); m.Swipe != nil {
			swipes = append(swipes, m.Swipe)
		}
	}
	profiles := map[string]*loyalty.Profile{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%len(swipes) == 0 {
			clear(profiles) // start over: a replayed swipe would be a duplicate
		}
		s := swipes[i%len(swipes)]
		p := profiles[s.CardID]
		if p == nil {
			p = loyalty.NewProfile(s.CardID)
			profiles[s.CardID] = p
		}
		p.Apply(s)
	}
}
