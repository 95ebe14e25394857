package possim

import (
	"testing"

	"github.com/aislecast/loyalty"
)

// Fold keeps one profile per card, in the order the cards first swiped,
// and counts each purchase once however often the POS retried it.
func TestFold(t *testing.T) {
	ref := New(Config{Seed: 3, Cards: 50})
	var order []string
	seen := map[string]bool{}
	purchases := map[string]bool{}
	for range 3000 {
		m := ref.Next()
		if m.Swipe == nil {
			continue
		}
		if !seen[m.Swipe.CardID] {
			seen[m.Swipe.CardID] = true
			order = append(order, m.Swipe.CardID)
		}
		if m.Swipe.Kind == loyalty.KindPurchase {
			purchases[m.Swipe.SwipeID] = true
		}
	}

	g := New(Config{Seed: 3, Cards: 50})
	n := 0
	ps := g.Fold(func() bool { n++; return n <= 3000 })
	if len(ps) != len(order) {
		t.Fatalf("%d profiles, want one per card: %d", len(ps), len(order))
	}
	var visits int64
	for i, p := range ps {
		if p.CardID != order[i] {
			t.Fatalf("profile %d is card %s, want %s (order of first swipe)", i, p.CardID, order[i])
		}
		visits += p.Visits
	}
	if visits != int64(len(purchases)) {
		t.Errorf("%d visits folded, want %d distinct purchases", visits, len(purchases))
	}
}
