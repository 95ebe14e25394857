package possim

import "github.com/aislecast/loyalty"

// Fold applies the stream's good swipes (POS retries included, as the
// engine sees them) to one profile per card for as long as more reports
// true before each message, and returns the profiles in the order their
// cards first swiped. Benchmarks use it to build realistic profiles
// without a broker.
func (g *Generator) Fold(more func() bool) []*loyalty.Profile {
	byCard := make(map[string]*loyalty.Profile)
	var out []*loyalty.Profile
	for more() {
		m := g.Next()
		if m.Swipe == nil {
			continue
		}
		p := byCard[m.Swipe.CardID]
		if p == nil {
			p = loyalty.NewProfile(m.Swipe.CardID)
			byCard[m.Swipe.CardID] = p
			out = append(out, p)
		}
		p.Apply(m.Swipe)
	}
	return out
}
