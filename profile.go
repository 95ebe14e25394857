package loyalty

import (
	"math"
	"sort"
)

// HistoryDays is how far back, in days before the newest swipe of a card,
// the per-day spend history reaches. Windowed figures (7, 30, 90 days) are
// summed from it; older swipes still count in lifetime totals.
const HistoryDays = 90

// TopSKUs is how many distinct SKUs a profile remembers; when full, the
// SKU bought the fewest units (the least recently on a tie) makes room.
const TopSKUs = 64

// RecentSwipeIDs is how many of a card's latest swipe ids are remembered to
// recognise a POS retry of the same swipe. A POS retries within seconds
// to minutes, when a card has made a few swipes at most; 32 is ample and
// keeps the profile small.
const RecentSwipeIDs = 32

// SwipeHashBits is the width of the swipe id hashes a profile remembers.
// With RecentSwipeIDs of them, a new swipe is mistaken for a retry with a
// probability of 32/2^48, about one in ten trillion swipes; each hash takes
// six bytes instead of eight in a stored profile.
const SwipeHashBits = 48

// TopStores is how many stores a profile counts visits to; when full, the
// store visited the fewest times (the least recently on a tie) makes room.
const TopStores = 4

// TopCategories is how many categories a profile keeps figures for; when
// full, the category bought the least recently (the least spent in on a
// tie) makes room. A chain's catalogue has a few hundred categories, so
// only a POS sending made-up ones reaches it; without a bound, such a card's
// profile, encoded on every swipe, would grow past what a record may hold.
const TopCategories = 1024

// MaxOfferSends is how many sends of one rule a profile remembers per card;
// a rule's max_per_card count may not exceed it.
const MaxOfferSends = 16

// Profile is the purchase profile of one card, built only from its swipes
// on event time. Times are Unix seconds; money is integer cents.
type Profile struct {
	CardID      string `expr:"card_id"`
	FirstSeen   int64  `expr:"first_seen"` // earliest event time seen
	LastSeen    int64  `expr:"last_seen"`  // latest event time seen
	Visits      int64  `expr:"visits"`     // purchase swipes
	LastVisit   int64  `expr:"last_visit"` // event time of the latest purchase, or 0
	Checkins    int64  `expr:"checkins"`
	Scans       int64  `expr:"scans"`
	SpendCents  int64  `expr:"spend_cents"`  // lifetime purchase value
	Units       int64  `expr:"units"`        // lifetime quantity bought
	MaxBasket   int64  `expr:"max_basket"`   // largest purchase total, cents
	Returns     int64  `expr:"returns"`      // return swipes
	ReturnCents int64  `expr:"return_cents"` // lifetime refunded value
	// Days is the sparse per-day purchase value and visit count, oldest
	// first, kept for HistoryDays before NewestDay.
	Days []DaySpend `expr:"-"`
	// Categories holds per-category figures, sorted by name.
	Categories []CategoryStats `expr:"categories"`
	// SKUs holds the card's most-bought SKUs (at most TopSKUs), sorted by SKU.
	SKUs []SKUStats `expr:"skus"`
	// Stores holds the purchase visits to the card's most visited stores
	// (at most TopStores), sorted by store id.
	Stores []StoreVisits `expr:"stores"`
	// RecentSwipes holds the SwipeHashBits-bit hashes of the latest swipe
	// ids, oldest first.
	RecentSwipes []uint64 `expr:"-"`
	// NewestDay is the latest event day seen; it anchors the history horizon.
	NewestDay int32 `expr:"-"`
	// TooOld counts swipes that arrived after they had left the history
	// horizon: they count in lifetime totals but in no window.
	TooOld int64 `expr:"-"`
	// LastOffset is the source offset of the last swipe applied, or -1.
	LastOffset int64 `expr:"-"`
	// Offers is the card's offer history per rule with a policy (cooldown,
	// cap or holdout), sorted by rule id. Package offers keeps it; rules do
	// not see it.
	Offers []OfferHistory `expr:"-"`

	// spareDays is room for the first day of the categories Apply adds
	// (see SpareDays).
	spareDays []DaySpend
}

// SpareDays gives p room for the first day of each category Apply adds
// to it, one element of buf each, so that adding a category allocates
// nothing for its days until buf is used up. The caller keeps buf for p
// alone while p is in use.
func (p *Profile) SpareDays(buf []DaySpend) { p.spareDays = buf }

// OfferHistory is what one rule sent to one card, as far as its policy
// needs to remember.
type OfferHistory struct {
	RuleID string
	// Sent holds the event times (Unix seconds, a fraction of a second
	// rounded up) of the swipes the rule sent an offer on, or would have
	// sent one on had the card not been held out, oldest first. Only the
	// sends within the rule's longest period (cooldown or cap period) of
	// the newest one are kept, at most MaxOfferSends.
	Sent []int64
	// Held counts the sends that were held out: recorded, never published.
	Held int64
	// Forgot is the event time of the newest send dropped from Sent, or 0:
	// every send after it is in Sent.
	Forgot int64
}

// Offered returns the offer history of a rule, or nil when the card has
// none.
func (p *Profile) Offered(rule string) *OfferHistory {
	i := sort.Search(len(p.Offers), func(i int) bool { return p.Offers[i].RuleID >= rule })
	if i < len(p.Offers) && p.Offers[i].RuleID == rule {
		return &p.Offers[i]
	}
	return nil
}

// AddOffered returns the offer history of a rule, adding an empty one in
// order when missing.
func (p *Profile) AddOffered(rule string) *OfferHistory {
	i := sort.Search(len(p.Offers), func(i int) bool { return p.Offers[i].RuleID >= rule })
	if i == len(p.Offers) || p.Offers[i].RuleID != rule {
		p.Offers = append(p.Offers, OfferHistory{})
		copy(p.Offers[i+1:], p.Offers[i:])
		p.Offers[i] = OfferHistory{RuleID: rule}
	}
	return &p.Offers[i]
}

// DaySpend is the purchase value of one local calendar day. Visits, the
// day's purchase swipes, is kept for the profile's own history only
// (Profile.Days); category histories leave it 0. It fills what would be
// padding, so it costs no memory.
type DaySpend struct {
	Day    int32
	Visits int32
	Cents  int64
}

// CategoryStats is what a card bought in one category.
type CategoryStats struct {
	Name       string `expr:"name"`
	SpendCents int64  `expr:"spend_cents"` // lifetime
	Units      int64  `expr:"units"`       // lifetime quantity
	LastBought int64  `expr:"last_bought"` // event time of the latest purchase, Unix seconds
	// Days is the sparse per-day value bought in the category, like
	// Profile.Days: one entry per local day with a purchase in it.
	Days []DaySpend `expr:"-"`
}

// RepurchaseDays is the card's typical interval between purchases in the
// category: the mean number of days between the distinct local days it
// was bought on within the history (HistoryDays), or -1 when that is fewer
// than two days. Taken from the day history, it follows the shopper's
// recent habit, and a late swipe lands on its own day like everywhere
// else.
func (c *CategoryStats) RepurchaseDays() float64 {
	if c == nil || len(c.Days) < 2 {
		return -1
	}
	return float64(c.Days[len(c.Days)-1].Day-c.Days[0].Day) / float64(len(c.Days)-1)
}

// StoreVisits counts a card's purchase visits to one store.
type StoreVisits struct {
	StoreID   string `expr:"store_id"`
	Visits    int64  `expr:"visits"`
	LastVisit int64  `expr:"last_visit"` // event time of the latest purchase there
}

// SKUStats is what a card bought of one SKU.
type SKUStats struct {
	SKU        string `expr:"sku"`
	Units      int64  `expr:"units"`
	LastBought int64  `expr:"last_bought"`
}

// NewProfile returns the empty profile of a card.
func NewProfile(cardID string) *Profile {
	return &Profile{CardID: cardID, LastOffset: -1}
}

// Outcome is what applying a swipe did to a profile.
type Outcome int

// The outcomes of Profile.Apply.
const (
	Applied   Outcome = iota
	Duplicate         // the swipe id was applied before (a POS retry)
)

// Apply folds s into the profile. A swipe id seen among the latest
// RecentSwipeIDs is a duplicate and changes nothing. Swipes may arrive out
// of order: each lands on its own event day.
func (p *Profile) Apply(s *Swipe) Outcome {
	h := hashID(s.SwipeID)
	for _, r := range p.RecentSwipes {
		if r == h {
			return Duplicate
		}
	}
	if len(p.RecentSwipes) >= RecentSwipeIDs {
		copy(p.RecentSwipes, p.RecentSwipes[1:])
		p.RecentSwipes[len(p.RecentSwipes)-1] = h
	} else {
		p.RecentSwipes = append(p.RecentSwipes, h)
	}

	t := s.TS.Unix()
	if p.FirstSeen == 0 || t < p.FirstSeen {
		p.FirstSeen = t
	}
	if t > p.LastSeen {
		p.LastSeen = t
	}
	day := s.Day()
	if day > p.NewestDay {
		p.NewestDay = day
		p.prune()
	}
	inHorizon := day > p.NewestDay-HistoryDays

	switch s.Kind {
	case KindCheckin:
		p.Checkins++
	case KindScan:
		p.Scans++
	case KindReturn:
		p.Returns++
		p.ReturnCents += s.TotalCents
	case KindPurchase:
		p.Visits++
		p.SpendCents += s.TotalCents
		p.MaxBasket = max(p.MaxBasket, s.TotalCents)
		p.LastVisit = max(p.LastVisit, t)
		p.addStore(s.StoreID, t)
		if !inHorizon {
			p.TooOld++
		} else {
			p.Days = addDay(p.Days, day, s.TotalCents, 1)
		}
		for i := range s.Items {
			it := &s.Items[i]
			p.Units += it.Qty
			c := p.category(it.Category)
			c.SpendCents += it.LineCents()
			c.Units += it.Qty
			c.LastBought = max(c.LastBought, t)
			if inHorizon {
				c.Days = addDay(c.Days, day, it.LineCents(), 0)
			}
			p.addSKU(it.SKU, it.Qty, t)
		}
	}
	return Applied
}

// addStore counts a purchase visit at t to store, evicting the weakest
// store when the profile already counts TopStores others.
func (p *Profile) addStore(store string, t int64) {
	i := search(p.Stores, store, func(s *StoreVisits) string { return s.StoreID })
	if i == len(p.Stores) || p.Stores[i].StoreID != store {
		w := -1
		if len(p.Stores) >= TopStores {
			w = weakest(p.Stores, func(s *StoreVisits) (int64, int64) { return s.Visits, s.LastVisit })
		}
		p.Stores, i = insertTop(p.Stores, i, w, StoreVisits{StoreID: store})
	}
	sv := &p.Stores[i]
	sv.Visits++
	sv.LastVisit = max(sv.LastVisit, t)
}

// weakest returns the index of the entry of s that ranks lowest by the
// first of rank's figures (a count, or a time), then by the second, the
// first one on a tie: the entry a full top list drops. The compiler
// inlines it and rank within it, so the generic call costs no closure
// call per entry.
func weakest[T any](s []T, rank func(*T) (first, second int64)) int {
	w, wn, wt := 0, int64(math.MaxInt64), int64(math.MaxInt64)
	for j := range s {
		if n, t := rank(&s[j]); n < wn || (n == wn && t < wt) {
			w, wn, wt = j, n, t
		}
	}
	return w
}

// insertTop inserts fresh at index i of s, which is sorted and where it
// belongs, and returns s and fresh's index. w is the index of the entry to
// drop to make room, or -1 to grow s. Dropping and inserting is one move
// of the entries between w and i.
func insertTop[T any](s []T, i, w int, fresh T) ([]T, int) {
	switch {
	case w < 0:
		s = append(s, fresh)
		copy(s[i+1:], s[i:])
	case w < i:
		i--
		copy(s[w:i], s[w+1:i+1])
	default:
		copy(s[i+1:w+1], s[i:w])
	}
	s[i] = fresh
	return s, i
}

// FavouriteStore returns the store the card made the most purchase visits
// to, the most recently visited on a tie, or nil when it never bought.
func (p *Profile) FavouriteStore() *StoreVisits {
	var best *StoreVisits
	for i := range p.Stores {
		s := &p.Stores[i]
		if best == nil || s.Visits > best.Visits || (s.Visits == best.Visits && s.LastVisit > best.LastVisit) {
			best = s
		}
	}
	return best
}

// FavouriteCategory returns the category bought on the most distinct days
// within the history (HistoryDays), then with the highest lifetime spend,
// then the first by name; nil when the card never bought anything.
func (p *Profile) FavouriteCategory() *CategoryStats {
	var best *CategoryStats
	for i := range p.Categories {
		c := &p.Categories[i]
		if best == nil || len(c.Days) > len(best.Days) || (len(c.Days) == len(best.Days) && c.SpendCents > best.SpendCents) {
			best = c
		}
	}
	return best
}

// prune drops per-day entries that left the history horizon. A category
// has days only where the profile has purchases, so while the profile's
// oldest day is within the horizon, so are all of the categories'.
func (p *Profile) prune() {
	min := p.NewestDay - HistoryDays
	if len(p.Days) > 0 && p.Days[0].Day > min {
		return
	}
	p.Days = dropBefore(p.Days, min)
	for i := range p.Categories {
		p.Categories[i].Days = dropBefore(p.Categories[i].Days, min)
	}
}

func dropBefore(ds []DaySpend, min int32) []DaySpend {
	n := 0
	for n < len(ds) && ds[n].Day <= min {
		n++
	}
	if n == 0 {
		return ds
	}
	return append(ds[:0], ds[n:]...)
}

// addDay adds cents and visits to day in the sorted slice ds. Swipes
// mostly arrive in order, so the newest day is tried first.
func addDay(ds []DaySpend, day int32, cents int64, visits int32) []DaySpend {
	i := len(ds)
	if i > 0 && ds[i-1].Day >= day {
		i = sort.Search(len(ds), func(i int) bool { return ds[i].Day >= day })
	}
	if i < len(ds) && ds[i].Day == day {
		ds[i].Cents += cents
		ds[i].Visits += visits
		return ds
	}
	ds = append(ds, DaySpend{})
	copy(ds[i+1:], ds[i:])
	ds[i] = DaySpend{Day: day, Visits: visits, Cents: cents}
	return ds
}

// category returns the stats of name, adding them in order when missing
// and evicting the weakest category when the profile already keeps
// TopCategories others.
func (p *Profile) category(name string) *CategoryStats {
	i, found := searchCategory(p.Categories, name)
	if !found {
		w := -1
		if len(p.Categories) >= TopCategories {
			w = weakest(p.Categories, func(c *CategoryStats) (int64, int64) { return c.LastBought, c.SpendCents })
		}
		p.Categories, i = insertTop(p.Categories, i, w, CategoryStats{Name: name})
		if len(p.spareDays) > 0 {
			p.Categories[i].Days = p.spareDays[:0:1]
			p.spareDays = p.spareDays[1:]
		}
	}
	return &p.Categories[i]
}

// addSKU counts units of sku bought at t, evicting the weakest SKU when
// the profile already remembers TopSKUs others.
func (p *Profile) addSKU(sku string, units, t int64) {
	i, found := searchSKU(p.SKUs, sku)
	if !found {
		w := -1
		if len(p.SKUs) >= TopSKUs {
			w = weakest(p.SKUs, func(s *SKUStats) (int64, int64) { return s.Units, s.LastBought })
		}
		p.SKUs, i = insertTop(p.SKUs, i, w, SKUStats{SKU: sku})
	}
	st := &p.SKUs[i]
	st.Units += units
	st.LastBought = max(st.LastBought, t)
}

// searchSKU returns the index of sku in s, sorted by SKU, or where it
// belongs, and whether it is there.
func searchSKU(s []SKUStats, sku string) (int, bool) {
	i := search(s, sku, func(st *SKUStats) string { return st.SKU })
	return i, i < len(s) && s[i].SKU == sku
}

// searchCategory is searchSKU for categories.
func searchCategory(s []CategoryStats, name string) (int, bool) {
	i := search(s, name, func(c *CategoryStats) string { return c.Name })
	return i, i < len(s) && s[i].Name == name
}

// search returns the first index of s, sorted by idOf, whose id is not
// less than id. Unlike sort.Search it is inlined, idOf with it, into the
// lookups that run for every basket line and for rules.
func search[T any](s []T, id string, idOf func(*T) string) int {
	i, j := 0, len(s)
	for i < j {
		if h := int(uint(i+j) >> 1); idOf(&s[h]) < id {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}

// SKU returns the stats of a SKU, or nil when it is not among the card's
// remembered SKUs.
func (p *Profile) SKU(sku string) *SKUStats {
	if i, ok := searchSKU(p.SKUs, sku); ok {
		return &p.SKUs[i]
	}
	return nil
}

// Category returns the stats of a category, or nil when the card never
// bought in it.
func (p *Profile) Category(name string) *CategoryStats {
	if i, ok := searchCategory(p.Categories, name); ok {
		return &p.Categories[i]
	}
	return nil
}

// SpendWithin is the purchase value of the days days ending with day
// (inclusive). days must be at most HistoryDays.
func (p *Profile) SpendWithin(day int32, days int) int64 {
	return sumWindow(p.Days, day, days)
}

// CategorySpendWithin is SpendWithin for one category.
func (p *Profile) CategorySpendWithin(name string, day int32, days int) int64 {
	return p.Category(name).SpendWithin(day, days)
}

// SpendWithin is the category's purchase value over the days days ending
// with day (inclusive), 0 for a nil c (a category never bought). days
// must be at most HistoryDays.
func (c *CategoryStats) SpendWithin(day int32, days int) int64 {
	if c == nil {
		return 0
	}
	return sumWindow(c.Days, day, days)
}

// VisitsWithin is the number of purchase swipes of the days days ending
// with day (inclusive). days must be at most HistoryDays.
func (p *Profile) VisitsWithin(day int32, days int) int64 {
	lo := day - int32(days)
	var n int64
	for _, d := range p.Days {
		if d.Day > lo && d.Day <= day {
			n += int64(d.Visits)
		}
	}
	return n
}

func sumWindow(ds []DaySpend, day int32, days int) int64 {
	lo := day - int32(days)
	var sum int64
	for _, d := range ds {
		if d.Day > lo && d.Day <= day {
			sum += d.Cents
		}
	}
	return sum
}

// hashID is the 64-bit FNV-1a hash of a swipe id cut to SwipeHashBits,
// written out so that the hot path does not allocate a hash.Hash.
func hashID(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h & (1<<SwipeHashBits - 1)
}
