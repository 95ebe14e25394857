package possim

import (
	"strconv"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/internal/jsonw"
)

// encOpts are the departures from a well-formed encoding that some faults
// need.
type encOpts struct {
	omitSwipeID bool
	omitCardID  bool
	localTS     bool // ts without a zone offset
}

// localLayout is RFC 3339 without the offset: a wall-clock time that
// names no zone.
const localLayout = "2006-01-02T15:04:05"

// appendSwipe appends the JSON encoding of s to b. With zero opts the
// bytes are exactly what encoding/json produces for a loyalty.Swipe (the
// tests hold it to that), but without reflection and with one allocation
// per message instead of a dozen.
func appendSwipe(b []byte, s *loyalty.Swipe, o encOpts) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(s.V), 10)
	if !o.omitSwipeID {
		b = append(b, `,"swipe_id":`...)
		b = appendString(b, s.SwipeID)
	}
	if !o.omitCardID {
		b = append(b, `,"card_id":`...)
		b = appendString(b, s.CardID)
	}
	b = append(b, `,"kind":`...)
	b = appendString(b, string(s.Kind))
	b = append(b, `,"store_id":`...)
	b = appendString(b, s.StoreID)
	if s.Aisle != "" {
		b = append(b, `,"aisle":`...)
		b = appendString(b, s.Aisle)
	}
	if s.Lane != "" {
		b = append(b, `,"lane":`...)
		b = appendString(b, s.Lane)
	}
	b = append(b, `,"ts":"`...)
	if o.localTS {
		b = s.TS.AppendFormat(b, localLayout)
	} else {
		b = s.TS.AppendFormat(b, time.RFC3339Nano)
	}
	b = append(b, '"')
	if len(s.Items) > 0 {
		b = append(b, `,"items":[`...)
		for i := range s.Items {
			it := &s.Items[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"sku":`...)
			b = appendString(b, it.SKU)
			b = append(b, `,"category":`...)
			b = appendString(b, it.Category)
			b = append(b, `,"qty":`...)
			b = strconv.AppendInt(b, it.Qty, 10)
			b = append(b, `,"unit_price_cents":`...)
			b = strconv.AppendInt(b, it.UnitPriceCents, 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"total_cents":`...)
	b = strconv.AppendInt(b, s.TotalCents, 10)
	if s.Currency != "" {
		b = append(b, `,"currency":`...)
		b = appendString(b, s.Currency)
	}
	if len(s.RedeemedOffers) > 0 {
		b = jsonw.Strings(append(b, `,"redeemed_offers":`...), s.RedeemedOffers, true)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string, as json.Marshal writes it.
func appendString(b []byte, s string) []byte { return jsonw.String(b, s, true) }
