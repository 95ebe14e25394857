package engine

// wireEvent is a decision event as sent, with times kept as text.
type wireEvent struct {
	EventID     string   `json:"event_id"`
	Kind        string   `json:"kind"`
	OfferID     string   `json:"offer_id"`
	RuleID      string   `json:"rule_id"`
	RuleVersion int64    `json:"rule_version"`
	Channels    []string `json:"channels"`
	CardID      string   `json:"card_id"`
	StoreID     string   `json:"store_id"`
	SwipeID     string   `json:"swipe_id"`
	TS          string   `json:"ts"`
	ExpiresAt   string   `json:"expires_at"`
	BasketCents int64    `json:"basket_cents"`
}

var eventFields = [...]string{"event_id", "kind", "offer_id", "rule_id", "rule_version", "channels",
	"card_id", "store_id", "swipe_id", "ts", "expires_at", "basket_cents"}

// decodeEventJSON parses a decision event into w with the swipe parser's
// pieces, for offerctl stats, which reads millions of events: it accepts
// the objects json.Unmarshal accepts into a wireEvent, with the same
// result (FuzzEventJSON checks this), but not a top-level null.
func decodeEventJSON(data []byte, w *wireEvent) error {
	d := swipeDecoder{data: data}
	d.skipSpace()
	if d.pos >= len(d.data) || d.data[d.pos] != '{' {
		return d.typeError("an event object")
	}
	more, err := d.openObject(1)
	for more && err == nil {
		var key []byte
		if key, err = d.key(); err != nil {
			return err
		}
		d.field, d.index, d.sub = fieldName(key, eventFields[:]), -1, ""
		switch d.field {
		case "event_id":
			err = d.str(&w.EventID)
		case "kind":
			err = d.str(&w.Kind)
		case "offer_id":
			err = d.str(&w.OfferID)
		case "rule_id":
			err = d.str(&w.RuleID)
		case "rule_version":
			err = d.int(&w.RuleVersion)
		case "channels":
			err = d.offers(&w.Channels)
		case "card_id":
			err = d.str(&w.CardID)
		case "store_id":
			err = d.str(&w.StoreID)
		case "swipe_id":
			err = d.str(&w.SwipeID)
		case "ts":
			err = d.str(&w.TS)
		case "expires_at":
			err = d.str(&w.ExpiresAt)
		case "basket_cents":
			err = d.int(&w.BasketCents)
		default:
			err = d.skipValue(1)
		}
		if err != nil {
			return err
		}
		d.field = ""
		more, err = d.nextMember()
	}
	if err != nil {
		return err
	}
	d.skipSpace()
	if d.pos < len(d.data) {
		return d.errorf("unexpected %s after the event object", quoteByte(d.data[d.pos]))
	}
	return nil
}
