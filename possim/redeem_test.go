package possim

import (
	"slices"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
)

// TestOfferedIsRedeemed: an offer fed back goes into the card's next
// purchase while it is valid, once; an expired one never does; other
// kinds of swipe never carry it.
func TestOfferedIsRedeemed(t *testing.T) {
	g := New(Config{Seed: 3, Cards: 50, LateFraction: -1, RetryFraction: -1, RedeemFraction: 1})
	first := g.Next().Swipe
	g.Offered(first.CardID, "valid", first.TS.Add(365*24*time.Hour))
	g.Offered(first.CardID, "valid", first.TS.Add(365*24*time.Hour)) // again, on another channel
	g.Offered(first.CardID, "expired", first.TS.Add(-time.Hour))
	purchases := 0
	for i := 0; i < 20000 && purchases < 2; i++ {
		s := g.Next().Swipe
		if s == nil || s.CardID != first.CardID {
			continue
		}
		if s.Kind != loyalty.KindPurchase {
			if len(s.RedeemedOffers) > 0 {
				t.Fatalf("%s swipe redeems %v", s.Kind, s.RedeemedOffers)
			}
			continue
		}
		purchases++
		want := []string{"valid"}
		if purchases > 1 {
			want = nil
		}
		if !slices.Equal(s.RedeemedOffers, want) {
			t.Fatalf("purchase %d of the card redeems %q, want %q", purchases, s.RedeemedOffers, want)
		}
	}
	if purchases < 2 {
		t.Fatal("the card made fewer than two purchases")
	}

	none := New(Config{Seed: 3, Cards: 50, RedeemFraction: -1})
	none.Offered(first.CardID, "valid", first.TS.Add(time.Hour))
	if len(none.offers.pending) != 0 {
		t.Error("RedeemFraction < 0 must ignore offers")
	}
}

// TestOfferedWhileGenerating: offers may be fed back from another
// goroutine while Next runs (run with -race).
func TestOfferedWhileGenerating(t *testing.T) {
	g := New(Config{Seed: 4, Cards: 20, RedeemFraction: 1})
	ids := make(chan string, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for card := range ids {
			g.Offered(card, "offer-for-"+card, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		}
	}()
	redeemed := 0
	for i := 0; i < 3000; i++ {
		m := g.Next()
		if m.Swipe == nil {
			continue
		}
		redeemed += len(m.Swipe.RedeemedOffers)
		select {
		case ids <- m.Swipe.CardID:
		default:
		}
	}
	close(ids)
	<-done
	if redeemed == 0 {
		t.Error("no purchase redeemed an offer fed back")
	}
}
