package offers

import (
	"fmt"
	"strconv"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/internal/jsonw"
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
	id, code := idAndCode(r.ID, r.Version, s.SwipeID)
	return loyalty.Offer{
		OfferID:     id,
		CardID:      s.CardID,
		RuleID:      r.ID,
		RuleVersion: r.Version,
		Channel:     ch,
		Title:       title,
		Body:        body,
		Coupon: loyalty.Coupon{
			Code:            code,
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

// Encode is the wire form of an offer: one JSON object, as json.Marshal
// writes it.
func Encode(o *loyalty.Offer) ([]byte, error) {
	b, err := AppendOffer(nil, o)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// AppendOffer appends the wire form of o to dst: the bytes json.Marshal
// writes for it (field order, omitted empty coupon fields, HTML escaping
// and all), without reflection, since the engine encodes every offer it
// sends. It fails, as json.Marshal does, on a time RFC 3339 cannot express,
// and then returns dst as it was.
func AppendOffer(dst []byte, o *loyalty.Offer) ([]byte, error) {
	n0 := len(dst)
	dst = append(dst, `{"offer_id":`...)
	dst = jsonw.String(dst, o.OfferID, true)
	dst = append(dst, `,"card_id":`...)
	dst = jsonw.String(dst, o.CardID, true)
	dst = append(dst, `,"rule_id":`...)
	dst = jsonw.String(dst, o.RuleID, true)
	dst = append(dst, `,"rule_version":`...)
	dst = strconv.AppendInt(dst, int64(o.RuleVersion), 10)
	dst = append(dst, `,"channel":`...)
	dst = jsonw.String(dst, o.Channel, true)
	dst = append(dst, `,"title":`...)
	dst = jsonw.String(dst, o.Title, true)
	dst = append(dst, `,"body":`...)
	dst = jsonw.String(dst, o.Body, true)
	c := &o.Coupon
	dst = append(dst, `,"coupon":{"code":`...)
	dst = jsonw.String(dst, c.Code, true)
	if c.DiscountPercent != 0 {
		dst = append(dst, `,"discount_percent":`...)
		dst = strconv.AppendInt(dst, int64(c.DiscountPercent), 10)
	}
	if c.DiscountCents != 0 {
		dst = append(dst, `,"discount_cents":`...)
		dst = strconv.AppendInt(dst, c.DiscountCents, 10)
	}
	if len(c.SKUs) > 0 {
		dst = jsonw.Strings(append(dst, `,"skus":`...), c.SKUs, true)
	}
	if len(c.Categories) > 0 {
		dst = jsonw.Strings(append(dst, `,"categories":`...), c.Categories, true)
	}
	dst = append(dst, `},"store_id":`...)
	dst = jsonw.String(dst, o.StoreID, true)
	dst = append(dst, `,"trigger_swipe_id":`...)
	dst = jsonw.String(dst, o.TriggerSwipeID, true)
	dst = append(dst, `,"created_at":`...)
	dst, err := jsonw.Time(dst, o.CreatedAt)
	if err != nil {
		return dst[:n0], fmt.Errorf("offer %s: created_at: %w", o.OfferID, err)
	}
	dst = append(dst, `,"expires_at":`...)
	if dst, err = jsonw.Time(dst, o.ExpiresAt); err != nil {
		return dst[:n0], fmt.Errorf("offer %s: expires_at: %w", o.OfferID, err)
	}
	return append(dst, '}'), nil
}
