package loyalty

import "time"

// SchemaVersion is the swipe schema version this engine reads.
const SchemaVersion = 1

// Kind says what happened at the store.
type Kind string

// The kinds of swipe in schema v1.
const (
	KindPurchase Kind = "purchase" // items bought; counts as a visit
	KindCheckin  Kind = "checkin"  // card shown on entry (app geofence, kiosk)
	KindScan     Kind = "scan"     // items scanned in the aisle, nothing paid
	KindReturn   Kind = "return"   // items brought back; total is the refund
)

// Valid reports whether k is one of the kinds of schema v1.
func (k Kind) Valid() bool {
	switch k {
	case KindPurchase, KindCheckin, KindScan, KindReturn:
		return true
	}
	return false
}

// Swipe is one loyalty-card interaction as sent by a point-of-sale system
// (schema v1). Money is in integer cents of Currency.
type Swipe struct {
	V              int       `json:"v" expr:"v"`
	SwipeID        string    `json:"swipe_id" expr:"swipe_id"`
	CardID         string    `json:"card_id" expr:"card_id"`
	Kind           Kind      `json:"kind" expr:"kind"`
	StoreID        string    `json:"store_id" expr:"store_id"`
	Aisle          string    `json:"aisle,omitempty" expr:"aisle"`
	Lane           string    `json:"lane,omitempty" expr:"lane"`
	TS             time.Time `json:"ts" expr:"ts"`
	Items          []Item    `json:"items,omitempty" expr:"items"`
	TotalCents     int64     `json:"total_cents" expr:"total_cents"`
	Currency       string    `json:"currency,omitempty" expr:"currency"`
	RedeemedOffers []string  `json:"redeemed_offers,omitempty" expr:"redeemed_offers"`
}

// Item is one basket line of a swipe.
type Item struct {
	SKU            string `json:"sku" expr:"sku"`
	Category       string `json:"category" expr:"category"`
	Qty            int64  `json:"qty" expr:"qty"`
	UnitPriceCents int64  `json:"unit_price_cents" expr:"unit_price_cents"`
}

// LineCents is the line's value: quantity times unit price.
func (it Item) LineCents() int64 { return it.Qty * it.UnitPriceCents }

// Day is the swipe's calendar day in the zone of its TS, counted from
// 1970-01-01. Profiles bucket spend by it, so "the last 7 days" means the
// shopper's local days, not UTC ones: the engine puts TS in the store's
// zone first when its store registry knows the store, and otherwise
// keeps the offset the POS wrote.
func (s *Swipe) Day() int32 { return DayOf(s.TS) }

// DayOf is the calendar day of t in t's own zone, counted from 1970-01-01.
func DayOf(t time.Time) int32 {
	_, off := t.Zone()
	secs := t.Unix() + int64(off)
	d := secs / 86400
	if secs < 0 && secs%86400 != 0 {
		d--
	}
	return int32(d)
}
