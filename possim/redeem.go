package possim

import (
	"sync"
	"time"

	"github.com/aislecast/loyalty"
)

// DefaultRedeemFraction is the share of offers fed back with Offered that
// their card redeems at its next purchase, unless Config says otherwise.
const DefaultRedeemFraction = 0.25

// inbox holds the offers fed back to the simulated shoppers, per card. It
// is written by whatever reads the offer topics and read by Next, so it
// has a lock of its own.
type inbox struct {
	mu      sync.Mutex
	pending map[string][]pendingOffer
}

type pendingOffer struct {
	id      string
	expires int64 // Unix seconds
}

// Offered tells the simulation that a card received an offer. At the
// card's next purchase before expires, the shopper redeems it with
// probability Config.RedeemFraction: its id goes into the purchase's
// redeemed_offers. Either way the offer gets that one chance. Offered is
// safe to call while another goroutine calls Next. Offers fed back make
// the stream depend on when they arrive, so a run that uses Offered is
// not reproducible byte for byte; one that does not is unchanged.
func (g *Generator) Offered(cardID, offerID string, expires time.Time) {
	if g.redeem <= 0 {
		return
	}
	g.offers.mu.Lock()
	defer g.offers.mu.Unlock()
	if g.offers.pending == nil {
		g.offers.pending = make(map[string][]pendingOffer)
	}
	p := g.offers.pending[cardID]
	for _, o := range p {
		if o.id == offerID {
			return // an offer sent on several channels arrives once per channel
		}
	}
	g.offers.pending[cardID] = append(p, pendingOffer{offerID, expires.Unix()})
}

// redeemOffers fills the redeemed_offers of purchase s with the card's pending
// offers the shopper decides to use, and forgets the card's offers.
func (g *Generator) redeemOffers(s *loyalty.Swipe) {
	if g.redeem <= 0 || s.Kind != loyalty.KindPurchase {
		return
	}
	g.offers.mu.Lock()
	p := g.offers.pending[s.CardID]
	delete(g.offers.pending, s.CardID)
	g.offers.mu.Unlock()
	at := s.TS.Unix()
	for _, o := range p {
		if at <= o.expires && g.rng.Float64() < g.redeem {
			s.RedeemedOffers = append(s.RedeemedOffers, o.id)
		}
	}
}
