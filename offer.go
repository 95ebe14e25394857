package loyalty

import "time"

// Channels an offer can be sent on; each has a topic "offers.<channel>".
const (
	ChannelMobile = "mobile"
	ChannelPOS    = "pos"
	ChannelEmail  = "email"
)

// Channels lists every channel the engine publishes to.
var Channels = []string{ChannelMobile, ChannelPOS, ChannelEmail}

// ValidChannel reports whether c is a known channel.
func ValidChannel(c string) bool {
	for _, k := range Channels {
		if c == k {
			return true
		}
	}
	return false
}

// OfferTopic is the topic that offers for channel c are published to.
func OfferTopic(c string) string {
	switch c { // the known channels without building a string per offer
	case ChannelMobile:
		return "offers." + ChannelMobile
	case ChannelPOS:
		return "offers." + ChannelPOS
	case ChannelEmail:
		return "offers." + ChannelEmail
	}
	return "offers." + c
}

// IsOfferTopic reports whether topic is the offer topic of a channel (and
// not, say, offers.events).
func IsOfferTopic(topic string) bool {
	for _, c := range Channels {
		if topic == OfferTopic(c) {
			return true
		}
	}
	return false
}

// Offer is a personalised offer for one card, sent on one channel. OfferID
// is the idempotency key: it depends only on the rule, its version and the
// triggering swipe, so a re-sent offer has the same id.
type Offer struct {
	OfferID        string    `json:"offer_id"`
	CardID         string    `json:"card_id"`
	RuleID         string    `json:"rule_id"`
	RuleVersion    int       `json:"rule_version"`
	Channel        string    `json:"channel"`
	Title          string    `json:"title"`
	Body           string    `json:"body"`
	Coupon         Coupon    `json:"coupon"`
	StoreID        string    `json:"store_id"`
	TriggerSwipeID string    `json:"trigger_swipe_id"`
	CreatedAt      time.Time `json:"created_at"`
	ExpiresAt      time.Time `json:"expires_at"`
}

// Coupon is what the offer gives: a percentage or a fixed amount off,
// optionally limited to SKUs or categories.
type Coupon struct {
	Code            string   `json:"code"`
	DiscountPercent int      `json:"discount_percent,omitempty"`
	DiscountCents   int64    `json:"discount_cents,omitempty"`
	SKUs            []string `json:"skus,omitempty"`
	Categories      []string `json:"categories,omitempty"`
}
