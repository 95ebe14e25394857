package offers

import (
	"encoding/json"
	"fmt"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/rules"
)

// Build makes the offer of rule r for swipe s on channel ch, rendering the
// rule's title and body against the swipe and the card's profile (which
// already includes s). Times derive from the swipe's event time, so a replay
// builds the identical offer.
func Build(r *rules.Rule, ch string, s *loyalty.Swipe, p *loyalty.Profile) (loyalty.Offer, error) {
	title, body, err := r.Render(s, p)
	if err != nil {
		return loyalty.Offer{}, fmt.Errorf("rule %s: render offer: %w", r.ID, err)
	}
	id := ID(r.ID, r.Version, s.SwipeID)
	return loyalty.Offer{
		OfferID:     id,
		CardID:      s.CardID,
		RuleID:      r.ID,
		RuleVersion: r.Version,
		Channel:     ch,
		Title:       title,
		Body:        body,
		Coupon: loyalty.Coupon{
			Code:            CouponCode(id),
			DiscountPercent: r.Coupon.DiscountPercent,
			DiscountCents:   r.Coupon.DiscountCents,
			SKUs:            r.Coupon.SKUs,
			Categories:      r.Coupon.Categories,
		},
		StoreID:        s.StoreID,
		TriggerSwipeID: s.SwipeID,
		CreatedAt:      s.TS,
		ExpiresAt:      s.TS.Add(r.ExpiresIn),
	}, nil
}

// Encode is the wire form of an offer: one JSON object.
func Encode(o *loyalty.Offer) ([]byte, error) { return json.Marshal(o) }
