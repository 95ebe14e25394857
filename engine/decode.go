package engine

import (
	"fmt"
	"hash/maphash"
	"strings"
	"time"

	"github.com/aislecast/loyalty"
)

// MaxSwipeBytes is the largest swipe message accepted (1 MiB).
const MaxSwipeBytes = 1 << 20

// Limits bound what a plausible swipe looks like. The zero value is not
// useful; start from DefaultLimits.
type Limits struct {
	MaxBytes  int           // larger messages are rejected
	MaxAge    time.Duration // event time further in the past is rejected
	MaxSkew   time.Duration // event time further in the future is rejected
	MaxItems  int
	MaxQty    int64
	MaxPrice  int64 // cents per unit
	MaxIDSize int   // bytes in swipe_id, card_id, store_id, sku, category
}

// DefaultLimits accepts swipes up to 400 days old (late returns and slow
// store uploads) and at most one day ahead (badly set POS clocks).
var DefaultLimits = Limits{
	MaxBytes:  MaxSwipeBytes,
	MaxAge:    400 * 24 * time.Hour,
	MaxSkew:   24 * time.Hour,
	MaxItems:  1000,
	MaxQty:    100000,
	MaxPrice:  100_000_000, // one million in major units
	MaxIDSize: 256,
}

// RejectError says why a swipe message was rejected. Its text goes into the
// dead-letter record's "error" header, so it names the field and the value.
type RejectError struct {
	Reason string // a short stable code, used as a metric label
	Msg    string
}

func (e *RejectError) Error() string { return e.Msg }

func reject(reason, format string, args ...any) *RejectError {
	return &RejectError{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// wireSwipe is schema v1 as sent, with ts kept as text so that a missing
// zone can be told apart from other time errors.
type wireSwipe struct {
	V              *int           `json:"v"`
	SwipeID        string         `json:"swipe_id"`
	CardID         string         `json:"card_id"`
	Kind           loyalty.Kind   `json:"kind"`
	StoreID        string         `json:"store_id"`
	Aisle          string         `json:"aisle"`
	Lane           string         `json:"lane"`
	TS             string         `json:"ts"`
	Items          []loyalty.Item `json:"items"`
	TotalCents     int64          `json:"total_cents"`
	Currency       string         `json:"currency"`
	RedeemedOffers []string       `json:"redeemed_offers"`
}

// Decode parses and validates one swipe message. key is the Kafka key, which
// must equal card_id so that a card's swipes stay on one partition. now is
// the wall clock, used only to reject implausible event times. The error is
// always a *RejectError. The swipe shares no memory with key or value.
func Decode(key, value []byte, now time.Time, lim Limits) (*loyalty.Swipe, error) {
	r := new(swipeReader)
	return r.read(key, value, now, lim)
}

// swipeReader decodes swipe messages as Decode does, into a Swipe and item
// and offer slices it reuses: what read returns is valid until the next
// read. The pipeline keeps one, as nothing holds a swipe after Process
// returns. The swipe's strings are its own, as profiles and batches keep
// some of them: names from the names cache when it has one, the rest in
// one allocation per swipe.
type swipeReader struct {
	swipe  loyalty.Swipe
	wire   wireSwipe
	items  []loyalty.Item
	offers []string
	v      int
	names  *nameCache // nil: names are copied like the other strings
}

// read decodes and validates one message; see Decode.
func (r *swipeReader) read(key, value []byte, now time.Time, lim Limits) (*loyalty.Swipe, error) {
	if len(value) == 0 {
		return nil, reject("empty", "empty message: a swipe must be a JSON object")
	}
	if len(value) > lim.MaxBytes {
		return nil, reject("oversized", "oversized message: %d bytes, limit %d", len(value), lim.MaxBytes)
	}
	// The buffers keep the last swipe's strings alive: forget them first.
	clear(r.items[:cap(r.items)])
	clear(r.offers[:cap(r.offers)])
	r.wire = wireSwipe{}
	w := &r.wire
	d := swipeDecoder{data: value, itemBuf: r.items, offerBuf: r.offers, v: &r.v}
	err := d.decode(w)
	r.items, r.offers = d.itemBuf, d.offerBuf
	if err != nil {
		return nil, reject("malformed", "malformed JSON: %v", err)
	}
	if d.null {
		return nil, reject("malformed", "a swipe must be a JSON object, not null")
	}
	// encoding/json reads such strings as U+FFFD, and two distinct swipe
	// ids, say, would read as the same one.
	if d.replaced {
		return nil, reject("malformed", "a string is not valid UTF-8 (or escapes half a surrogate pair)")
	}
	if w.V == nil {
		return nil, reject("version", "missing schema version \"v\" (this engine reads v=%d)", loyalty.SchemaVersion)
	}
	if *w.V != loyalty.SchemaVersion {
		return nil, reject("version", "unknown schema version v=%d (this engine reads v=%d)", *w.V, loyalty.SchemaVersion)
	}
	for _, f := range [...]struct{ name, val string }{
		{"swipe_id", w.SwipeID}, {"card_id", w.CardID}, {"store_id", w.StoreID},
	} {
		if strings.TrimSpace(f.val) == "" {
			return nil, reject("missing-id", "missing %s", f.name)
		}
		if len(f.val) > lim.MaxIDSize {
			return nil, reject("oversized", "%s is %d bytes, limit %d", f.name, len(f.val), lim.MaxIDSize)
		}
	}
	if string(key) != w.CardID {
		return nil, reject("key-mismatch", "Kafka key %q does not match card_id %q: POS systems must key swipes by card_id", truncate(key, 64), w.CardID)
	}
	if !w.Kind.Valid() {
		return nil, reject("kind", "unknown kind %q (want purchase, checkin, scan or return)", w.Kind)
	}
	ts, err := parseTS(w.TS)
	if err != nil {
		return nil, err
	}
	if age := now.Sub(ts); age > lim.MaxAge {
		return nil, reject("time", "ts %s is implausible: %d days in the past (limit %d days)", w.TS, int(age.Hours()/24), int(lim.MaxAge.Hours()/24))
	}
	if ahead := ts.Sub(now); ahead > lim.MaxSkew {
		return nil, reject("time", "ts %s is implausible: %s in the future (limit %s)", w.TS, ahead.Round(time.Minute), lim.MaxSkew)
	}
	if err := checkAmounts(w, lim); err != nil {
		return nil, err
	}
	r.swipe = loyalty.Swipe{
		V: *w.V, SwipeID: w.SwipeID, CardID: w.CardID, Kind: w.Kind, StoreID: w.StoreID,
		Aisle: w.Aisle, Lane: w.Lane, TS: ts, Items: w.Items, TotalCents: w.TotalCents,
		Currency: w.Currency, RedeemedOffers: w.RedeemedOffers,
	}
	ownStrings(&r.swipe, r.names)
	return &r.swipe, nil
}

// ownStrings gives s, whose strings alias the message it was decoded from,
// strings of its own: the names (store, SKUs, categories) from names, if
// not nil, and the rest copied into one allocation.
func ownStrings(s *loyalty.Swipe, names *nameCache) {
	n := len(s.SwipeID) + len(s.CardID) + len(s.Aisle) + len(s.Lane) + len(s.Currency)
	if names == nil {
		n += len(s.StoreID)
		for i := range s.Items {
			n += len(s.Items[i].SKU) + len(s.Items[i].Category)
		}
	}
	for _, o := range s.RedeemedOffers {
		n += len(o)
	}
	var c stringCopies
	c.Grow(n)
	name := c.own
	if names != nil {
		name = func(p *string) { *p = names.intern(*p) }
	}
	c.own(&s.SwipeID)
	c.own(&s.CardID)
	c.own(&s.Aisle)
	c.own(&s.Lane)
	c.own(&s.Currency)
	name(&s.StoreID)
	for i := range s.Items {
		name(&s.Items[i].SKU)
		name(&s.Items[i].Category)
	}
	for i := range s.RedeemedOffers {
		c.own(&s.RedeemedOffers[i])
	}
}

// stringCopies copies strings into one allocation: Grow it by their total
// length first, then own each.
type stringCopies struct{ strings.Builder }

// own makes *p a copy of itself in c.
func (c *stringCopies) own(p *string) {
	start := c.Len()
	c.WriteString(*p)
	*p = c.String()[start:]
}

// nameCache interns the names that swipes bring into profiles: store ids,
// SKUs and categories. Without it every new SKU a profile remembers would
// keep its whole swipe's strings alive for as long as the profile is
// cached, and every swipe would allocate its names again; a few thousand
// names make up most of the stream. It is direct-mapped, so its memory is
// fixed (nameSlots strings and the names in them) however large the
// catalogue: a name whose slot holds another one is copied and takes the
// slot. It belongs to one pipeline and takes no lock.
//
// With table set (the store's nameTable), a name the table already holds
// is interned as the table's own copy: storing a profile then finds each
// name's id by its address (nameTable.idOf) instead of hashing it, which
// on the chain-sized catalogue cost about a tenth of a swipe with no
// rules. Names enter the table only when a profile is stored, so a
// dead-lettered swipe never grows it.
type nameCache struct {
	seed  maphash.Seed
	table *nameTable
	slots [nameSlots]nameSlot
}

// nameSlot is one name of a nameCache, and whether it is the nameTable's
// copy.
type nameSlot struct {
	s      string
	shared bool
}

// nameSlots is the size of a nameCache: 32,768 slots, 768 KiB per
// pipeline, for catalogues of about ten thousand names (the simulator's
// chain sells 9,048 SKUs in 347 categories) with few collisions among the
// names that sell most.
const nameSlots = 1 << 15

func newNameCache(table *nameTable) *nameCache {
	return &nameCache{seed: maphash.MakeSeed(), table: table}
}

// intern returns a string equal to s that does not alias s's memory,
// shared with earlier swipes when the cache has it, and the nameTable's
// copy once the table has the name.
func (c *nameCache) intern(s string) string {
	slot := &c.slots[maphash.String(c.seed, s)&(nameSlots-1)]
	if slot.s == s && (slot.shared || c.table == nil) {
		return slot.s
	}
	if c.table != nil {
		if t, ok := c.table.known(s); ok {
			*slot = nameSlot{t, true}
			return t
		}
	}
	if slot.s != s {
		*slot = nameSlot{strings.Clone(s), false}
	}
	return slot.s
}

// parseTS reads an RFC 3339 time that must carry a zone ("Z" or an offset).
func parseTS(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, reject("time", "missing ts")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err == nil {
		return t, nil
	}
	if _, err2 := time.Parse("2006-01-02T15:04:05.999999999", s); err2 == nil {
		return time.Time{}, reject("time", "ts %q has no time zone: send RFC 3339 with Z or an offset such as -05:00", s)
	}
	return time.Time{}, reject("time", "ts %q is not an RFC 3339 time", s)
}

// checkAmounts rejects negative, absurd or inconsistent money: the items
// always sum to total_cents, and purchases and returns carry items.
func checkAmounts(w *wireSwipe, lim Limits) error {
	if w.TotalCents < 0 {
		return reject("amount", "negative total_cents %d", w.TotalCents)
	}
	if len(w.Items) > lim.MaxItems {
		return reject("oversized", "%d items, limit %d", len(w.Items), lim.MaxItems)
	}
	// Each redeemed offer becomes a decision event: a basket cannot
	// redeem more coupons than it may hold items.
	if len(w.RedeemedOffers) > lim.MaxItems {
		return reject("oversized", "%d redeemed_offers, limit %d", len(w.RedeemedOffers), lim.MaxItems)
	}
	var sum int64
	for i, it := range w.Items {
		switch {
		case it.SKU == "":
			return reject("item", "item %d: missing sku", i+1)
		case it.Category == "":
			return reject("item", "item %d (sku %s): missing category", i+1, it.SKU)
		case len(it.SKU) > lim.MaxIDSize || len(it.Category) > lim.MaxIDSize:
			return reject("oversized", "item %d: sku or category longer than %d bytes", i+1, lim.MaxIDSize)
		case it.Qty <= 0:
			return reject("amount", "item %d (sku %s): qty %d must be positive", i+1, it.SKU, it.Qty)
		case it.Qty > lim.MaxQty:
			return reject("amount", "item %d (sku %s): qty %d is implausible (limit %d)", i+1, it.SKU, it.Qty, lim.MaxQty)
		case it.UnitPriceCents < 0:
			return reject("amount", "item %d (sku %s): negative unit_price_cents %d", i+1, it.SKU, it.UnitPriceCents)
		case it.UnitPriceCents > lim.MaxPrice:
			return reject("amount", "item %d (sku %s): unit_price_cents %d is implausible (limit %d)", i+1, it.SKU, it.UnitPriceCents, lim.MaxPrice)
		}
		sum += it.LineCents()
	}
	if len(w.Items) == 0 && (w.Kind == loyalty.KindPurchase || w.Kind == loyalty.KindReturn) {
		return reject("amount", "%s without items", w.Kind)
	}
	if sum != w.TotalCents {
		return reject("amount", "items sum to %d cents but total_cents is %d", sum, w.TotalCents)
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
