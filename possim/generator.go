package possim

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
	_ "time/tzdata" // stores use IANA zones; do not depend on the host's tzdata

	"github.com/aislecast/loyalty"
)

// Defaults of the Config knobs left zero.
const (
	DefaultCards         = 10000
	DefaultStores        = 8
	DefaultLateFraction  = 0.01
	DefaultRetryFraction = 0.005
)

// Config sets up a simulation. The zero value of every field but Seed
// means its default; the same Config always yields the same messages.
type Config struct {
	// Seed selects the simulated population and its behaviour.
	Seed int64
	// Cards is the number of loyalty cards (default DefaultCards).
	Cards int
	// Stores is the number of stores (default DefaultStores). Stores open
	// in New York, Chicago, Denver, Los Angeles, Boston, Dallas, Phoenix,
	// Seattle, ... in that order, so four or more span four time zones.
	Stores int
	// BadFraction is the share of messages, 0 to 1, that carry a fault.
	BadFraction float64
	// Faults lists the fault kinds to inject (see Faults); nil means all.
	// Leave FaultOversized out when the messages go through a writer or
	// broker that cannot carry a value over 1 MiB.
	Faults []string
	// Start is the event time of the first swipe (default 2026-11-02
	// 08:00 in the first store's zone).
	Start time.Time
	// LateFraction is the share of good swipes that reach Kafka hours to
	// days after their event time, as from a store that was offline
	// (default DefaultLateFraction; negative for none).
	LateFraction float64
	// RetryFraction is the share of good swipes that a POS sends twice
	// (default DefaultRetryFraction; negative for none).
	RetryFraction float64
	// RedeemFraction is the share of offers fed back with
	// Generator.Offered that the card redeems at its next purchase
	// (default DefaultRedeemFraction; negative for none).
	RedeemFraction float64
	// Timestamps makes Produce give each message the simulated time it
	// is sent at (Clock after Next) as its Kafka timestamp, as a POS
	// sending live would: a late swipe then reaches Kafka late. False: the
	// writer stamps the wall clock. Keep it false for a broker that
	// deletes old records (Kafka's retention judges by these timestamps).
	Timestamps bool
}

// Message is one Kafka message of the swipes topic.
type Message struct {
	Key, Value []byte
	// Bad is "" for a good swipe, else the fault kind injected (one of
	// the Fault constants).
	Bad string
	// Retry marks a POS retry: the same Key and Value as an earlier
	// message, sent seconds to minutes later. The engine must count it
	// as a duplicate, not apply it twice.
	Retry bool
	// Late marks a swipe sent hours to days after its event time; its ts
	// is older than the swipes around it.
	Late bool
	// Swipe is the decoded content of a good message, nil when Bad is set.
	Swipe *loyalty.Swipe
}

// Generator produces a deterministic stream of swipes: the cards of a
// simulated population visit their stores on their own weekly rhythm and
// the generator interleaves every visit's swipes in event-time order. It
// is not safe for concurrent use.
type Generator struct {
	rng    *rand.Rand
	cat    *catalog
	stores []Store
	cards  []card
	sched  minHeap[visitAt]
	held   minHeap[heldMsg]

	start     int64
	startLoc  *time.Location
	now       int64 // simulated send time of the latest message
	late      float64
	retry     float64
	bad       float64
	faults    []string
	sent      int64 // messages returned by Next
	heldSeq   int64
	oversized int64 // oversized messages returned
	buf       []byte
	idBuf     []byte
	hugeAisle string // the aisle of oversized faults, made once
	redeem    float64
	offers    inbox // offers fed back, for redeemed_offers (redeem.go)
	stamp     bool  // Config.Timestamps
}

// card is the simulated shopper behind one loyalty card.
type card struct {
	id       string
	home     int32
	alt      int32   // another store visited now and then, or -1
	altShare float32 // share of visits to alt
	interval float32 // mean days between visits
	weekly   bool    // visits on the same weekday every week
	hour     float32 // preferred local hour of day
	basket   float32 // mean basket size
	checkin  float32 // probability of checking in on entry
	scan     float32 // probability of scanning items in the aisle
	prefs    [3]pref
	nprefs   uint8
	last     [4]line // lines of the latest purchase, for returns
	nlast    uint8
	plan     [6]step // the swipes of the visit under way
	nplan    uint8
	iplan    uint8
	store    int32 // store of the visit under way
}

// pref is a category the shopper keeps buying, from the same few SKUs, on
// a rhythm of its own.
type pref struct {
	cat   uint16 // index in categories
	skus  [2]uint16
	every float32 // days between purchases
	last  int64   // Unix seconds of the latest purchase
}

type line struct {
	cat uint16
	sku uint16
	qty int64
}

type step struct {
	at   int64
	kind loyalty.Kind
}

type visitAt struct {
	at   int64
	card int32
}

type heldMsg struct {
	release int64
	seq     int64
	msg     Message
}

// New returns a generator for cfg. It panics on a Config that no default
// can fix (negative counts, a fraction out of range, an unknown fault).
func New(cfg Config) *Generator {
	if cfg.Cards < 0 || cfg.Stores < 0 || cfg.BadFraction < 0 || cfg.BadFraction > 1 ||
		cfg.LateFraction > 1 || cfg.RetryFraction > 1 || cfg.RedeemFraction > 1 {
		panic(fmt.Sprintf("possim: invalid Config %+v", cfg))
	}
	if cfg.Cards == 0 {
		cfg.Cards = DefaultCards
	}
	if cfg.Stores == 0 {
		cfg.Stores = DefaultStores
	}
	g := &Generator{
		rng:    rand.New(rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15)),
		cat:    newCatalog(),
		late:   fraction(cfg.LateFraction, DefaultLateFraction),
		retry:  fraction(cfg.RetryFraction, DefaultRetryFraction),
		redeem: fraction(cfg.RedeemFraction, DefaultRedeemFraction),
		bad:    cfg.BadFraction,
		stamp:  cfg.Timestamps,
	}
	g.faults = Faults()
	if cfg.Faults != nil {
		g.faults = nil
		for _, f := range cfg.Faults {
			if !validFault(f) {
				panic(fmt.Sprintf("possim: unknown fault kind %q", f))
			}
			g.faults = append(g.faults, f)
		}
	}
	if len(g.faults) == 0 {
		g.bad = 0
	}
	g.stores = newStores(cfg.Stores, g.rng)
	start := cfg.Start
	if start.IsZero() {
		start = time.Date(2026, 11, 2, 8, 0, 0, 0, g.stores[0].Zone)
	}
	g.start, g.startLoc = start.Unix(), start.Location()
	g.now = g.start

	g.cards = make([]card, cfg.Cards)
	g.sched.items = make([]visitAt, cfg.Cards)
	g.sched.less = func(a, b *visitAt) bool { return a.at < b.at || a.at == b.at && a.card < b.card }
	g.held.less = func(a, b *heldMsg) bool { return a.release < b.release || a.release == b.release && a.seq < b.seq }
	for i := range g.cards {
		c := &g.cards[i]
		g.newCard(c, i)
		at := g.start
		if i > 0 {
			at = g.firstVisit(c)
		}
		g.sched.items[i] = visitAt{at: at, card: int32(i)}
	}
	g.sched.init()
	return g
}

func fraction(f, def float64) float64 {
	switch {
	case f == 0:
		return def
	case f < 0:
		return 0
	}
	return f
}

// Stores returns the stores of the simulated chain.
func (g *Generator) Stores() []Store {
	return append([]Store(nil), g.stores...)
}

// Clock returns the simulated time at which the latest message was sent:
// the swipe's event time, except for late swipes and retries, which are
// sent after it. It never goes backwards.
func (g *Generator) Clock() time.Time {
	return time.Unix(g.now, 0).In(g.startLoc)
}

// Next returns the next message of the stream.
func (g *Generator) Next() Message {
	for {
		if len(g.held.items) > 0 && g.held.items[0].release <= g.sched.items[0].at {
			h := g.held.pop()
			g.now = max(g.now, h.release)
			g.sent++
			return h.msg
		}
		s, c := g.nextSwipe()
		if g.bad > 0 && g.rng.Float64() < g.bad {
			if kind := g.pickFault(); kind != "" {
				g.sent++
				return g.corrupt(s, c, kind)
			}
		}
		m := Message{Key: []byte(c.id), Value: g.encode(s, encOpts{}), Swipe: s}
		if g.late > 0 && g.rng.Float64() < g.late {
			// A store that lost its uplink uploads hours, now and then
			// days, later.
			delay := 7200 + g.rng.Int64N(10*3600)
			if g.rng.IntN(10) < 3 {
				delay = 86400 + g.rng.Int64N(2*86400)
			}
			m.Late = true
			g.hold(g.now+delay, m)
			continue
		}
		if g.retry > 0 && g.rng.Float64() < g.retry {
			r := m
			r.Key, r.Value, r.Retry = bytes.Clone(m.Key), bytes.Clone(m.Value), true
			g.hold(g.now+3+g.rng.Int64N(600), r)
		}
		g.sent++
		return m
	}
}

func (g *Generator) hold(release int64, m Message) {
	g.heldSeq++
	g.held.push(heldMsg{release: release, seq: g.heldSeq, msg: m})
}

// encode returns the encoding of s in a slice of its own.
func (g *Generator) encode(s *loyalty.Swipe, o encOpts) []byte {
	g.buf = appendSwipe(g.buf[:0], s, o)
	v := bytes.Clone(g.buf)
	if cap(g.buf) > 64<<10 {
		g.buf = nil // do not keep an oversized message's buffer
	}
	return v
}

// nextSwipe takes the earliest pending step of any card, makes its swipe
// and schedules the card's following step or visit.
func (g *Generator) nextSwipe() (*loyalty.Swipe, *card) {
	top := &g.sched.items[0]
	c := &g.cards[top.card]
	g.now = max(g.now, top.at)
	if c.iplan == c.nplan {
		g.planVisit(c, top.at)
	}
	st := c.plan[c.iplan]
	c.iplan++
	s := g.makeSwipe(c, st)
	if c.iplan < c.nplan {
		top.at = c.plan[c.iplan].at
	} else {
		c.iplan, c.nplan = 0, 0
		top.at = g.nextVisit(c, st.at)
	}
	g.sched.fix0()
	return s, c
}

// planVisit lays out the swipes of a visit that starts at t: a check-in
// on entry for app users, a scan or two in the aisle, a return at the
// service desk now and then, and the purchase at a lane.
func (g *Generator) planVisit(c *card, t int64) {
	c.store = c.home
	if c.alt >= 0 && g.rng.Float32() < c.altShare {
		c.store = c.alt
	}
	n := 0
	add := func(k loyalty.Kind, gapMin, gapMax int64) {
		c.plan[n] = step{at: t, kind: k}
		n++
		t += 60*gapMin + g.rng.Int64N(60*(gapMax-gapMin))
	}
	if g.rng.Float32() < c.checkin {
		add(loyalty.KindCheckin, 3, 12)
	}
	if g.rng.Float32() < c.scan {
		for k := 1 + g.rng.IntN(2); k > 0; k-- {
			add(loyalty.KindScan, 2, 8)
		}
	}
	returnOnly := false
	if c.nlast > 0 && g.rng.IntN(100) < 3 {
		add(loyalty.KindReturn, 3, 10)
		returnOnly = g.rng.IntN(2) == 0
	}
	if !returnOnly {
		add(loyalty.KindPurchase, 1, 2)
	}
	c.nplan, c.iplan = uint8(n), 0
}

// makeSwipe builds the swipe of step st.
func (g *Generator) makeSwipe(c *card, st step) *loyalty.Swipe {
	store := &g.stores[c.store]
	store.seq++
	s := &loyalty.Swipe{
		V:        loyalty.SchemaVersion,
		CardID:   c.id,
		Kind:     st.kind,
		StoreID:  store.ID,
		TS:       time.Unix(st.at, 0).In(store.Zone),
		Currency: "USD",
	}
	switch st.kind {
	case loyalty.KindCheckin:
		s.SwipeID = g.swipeID(store, "app")
	case loyalty.KindScan:
		// Shoppers look most closely at what they buy most.
		cat := g.lineCategory(c)
		if c.nprefs > 0 && g.rng.IntN(2) == 0 {
			cat = int(c.prefs[g.rng.IntN(int(c.nprefs))].cat)
		}
		k := drawSKU(g.rng, cat)
		s.Aisle = g.cat.aisleOf[cat]
		s.SwipeID = g.swipeID(store, "aisle")
		s.Items = []loyalty.Item{g.item(cat, k, 1)}
	case loyalty.KindReturn:
		s.Lane = "svc"
		s.SwipeID = g.swipeID(store, s.Lane)
		n := 1 + g.rng.IntN(int(min(c.nlast, 2)))
		s.Items = make([]loyalty.Item, n)
		for i := range s.Items {
			l := c.last[i]
			s.Items[i] = g.item(int(l.cat), int(l.sku), 1+g.rng.Int64N(l.qty))
		}
		c.nlast = 0 // a card returns a basket once at most
	default:
		s.Lane = store.lanes[g.rng.IntN(len(store.lanes))]
		s.SwipeID = g.swipeID(store, s.Lane)
		s.Items = g.basket(c, st.at)
		g.redeemOffers(s)
	}
	s.TotalCents = sum(s.Items)
	return s
}

func sum(items []loyalty.Item) int64 {
	var t int64
	for i := range items {
		t += items[i].LineCents()
	}
	return t
}

func (g *Generator) swipeID(st *Store, lane string) string {
	b := append(g.idBuf[:0], st.ID...)
	b = append(b, '-')
	b = append(b, lane...)
	b = append(b, '-')
	b = strconv.AppendInt(b, st.seq, 10)
	g.idBuf = b
	return string(b)
}

func (g *Generator) item(cat, k int, qty int64) loyalty.Item {
	p := &g.cat.skus[cat][k]
	return loyalty.Item{SKU: p.id, Category: categories[cat].name, Qty: qty, UnitPriceCents: p.cents}
}

// lineCategory draws the category of a random basket line. It avoids the
// card's favourite categories, which it buys on their own rhythm (see
// basket), so that a coffee lover's coffee shows up every couple of weeks
// and not in every basket.
func (g *Generator) lineCategory(c *card) int {
	for tries := 0; ; tries++ {
		cat := drawCategory(g.rng, g.cat.cumPop, g.cat.popTotal)
		if tries == 3 || !c.favours(cat) {
			return cat
		}
	}
}

func (c *card) favours(cat int) bool {
	for _, p := range c.prefs[:c.nprefs] {
		if int(p.cat) == cat {
			return true
		}
	}
	return false
}

// basket fills the purchase of card c at t: its favourites that are due,
// then random lines up to a size drawn around the card's habit.
func (g *Generator) basket(c *card, t int64) []loyalty.Item {
	n := 1 + int(g.rng.ExpFloat64()*float64(c.basket-1)+0.5)
	n = min(n, 25)
	items := make([]loyalty.Item, 0, n+int(c.nprefs))
	c.nlast = 0
	add := func(cat, k int) {
		q := g.qty(cat)
		for i := range items {
			if items[i].SKU == g.cat.skus[cat][k].id {
				items[i].Qty += q
				return
			}
		}
		items = append(items, g.item(cat, k, q))
		if c.nlast < uint8(len(c.last)) {
			c.last[c.nlast] = line{cat: uint16(cat), sku: uint16(k), qty: q}
			c.nlast++
		}
	}
	for i := range c.prefs[:c.nprefs] {
		p := &c.prefs[i]
		// Due when the usual interval has passed, give or take 15%.
		if float64(t-p.last) >= float64(p.every)*86400*(0.85+0.3*g.rng.Float64()) {
			add(int(p.cat), int(p.skus[g.rng.IntN(2)]))
			p.last = t
		}
	}
	for tries := 0; len(items) < n && tries < 3*n; tries++ {
		cat := g.lineCategory(c)
		add(cat, drawSKU(g.rng, cat))
	}
	return items
}

func (g *Generator) qty(cat int) int64 {
	m := categories[cat].maxQty
	if m == 1 || g.rng.IntN(5) > 0 {
		return 1
	}
	return 2 + g.rng.Int64N(m-1)
}

// newCard draws the habits of card i.
func (g *Generator) newCard(c *card, i int) {
	rng := g.rng
	c.id = fmt.Sprintf("card-%07d", i+1)
	if i > 0 {
		c.home = int32(g.drawStore())
	}
	c.alt = -1
	if len(g.stores) > 1 && rng.IntN(10) < 3 {
		c.alt = int32(g.altStore(int(c.home)))
		c.altShare = 0.1 + 0.3*rng.Float32()
	}
	// Activity follows a Pareto law (alpha 1.16, the 80/20 rule): most
	// cards come by every week or two, a few several times a day.
	a := math.Min(math.Pow(1-rng.Float64(), -1/1.16), 40)
	c.interval = float32(math.Min(16/a, 60))
	if c.interval >= 5 && c.interval <= 10 && rng.IntN(10) < 7 {
		c.interval, c.weekly = 7, true
	}
	switch x := rng.IntN(100); {
	case x < 20: // on the way to work
		c.hour = 8 + 2*rng.Float32()
	case x < 40: // lunch break
		c.hour = 11.5 + 2*rng.Float32()
	case x < 75: // after work
		c.hour = 17 + 2.5*rng.Float32()
	default: // daytime
		c.hour = 10 + 6*rng.Float32()
	}
	u := rng.Float32()
	c.basket = 3 + 14*u*u
	if c.interval < 2 {
		c.basket = 1.5 + 3*u // top-up shoppers
	}
	if rng.IntN(10) < 4 { // app users
		c.checkin = 0.5 + 0.4*rng.Float32()
		c.scan = 0.05 + 0.1*rng.Float32()
	} else {
		c.scan = 0.01
	}
	switch x := rng.IntN(100); {
	case x < 25:
		c.nprefs = 0
	case x < 65:
		c.nprefs = 1
	case x < 90:
		c.nprefs = 2
	default:
		c.nprefs = 3
	}
	for k := 0; k < int(c.nprefs); k++ {
		p := &c.prefs[k]
		for taken := true; taken; {
			p.cat = uint16(drawCategory(rng, g.cat.cumFav, g.cat.favTotal))
			taken = false
			for j := range c.prefs[:k] {
				taken = taken || c.prefs[j].cat == p.cat
			}
		}
		cat := categories[p.cat]
		p.skus = [2]uint16{uint16(drawSKU(rng, int(p.cat))), uint16(drawSKU(rng, int(p.cat)))}
		p.every = float32(cat.everyMin + (cat.everyMax-cat.everyMin)*rng.Float64())
		p.last = g.start - int64(float64(p.every)*86400*rng.Float64())
	}
}

func (g *Generator) drawStore() int {
	total := 0
	for i := range g.stores {
		total += g.stores[i].size
	}
	x := g.rng.IntN(total)
	for i := range g.stores {
		if x < g.stores[i].size {
			return i
		}
		x -= g.stores[i].size
	}
	return len(g.stores) - 1
}

// altStore picks a second store for a card living near home: one in the
// same zone when there is one, for one card in ten any other store (a
// commuter or a traveller).
func (g *Generator) altStore(home int) int {
	if g.rng.IntN(10) > 0 {
		var same []int
		for i := range g.stores {
			if i != home && g.stores[i].Zone == g.stores[home].Zone {
				same = append(same, i)
			}
		}
		if len(same) > 0 {
			return same[g.rng.IntN(len(same))]
		}
	}
	k := g.rng.IntN(len(g.stores) - 1)
	if k >= home {
		k++
	}
	return k
}

// firstVisit is a card's first visit after the start: somewhere within
// its usual interval, at its usual hour.
func (g *Generator) firstVisit(c *card) int64 {
	days := int(g.rng.Float64() * float64(max(c.interval, 1)))
	return g.visitOn(c, g.start, days, g.start)
}

// nextVisit schedules the visit after the one whose last swipe was at t.
func (g *Generator) nextVisit(c *card, t int64) int64 {
	var days int
	switch {
	case c.interval < 1:
		gap := int64(g.rng.ExpFloat64() * float64(c.interval) * 86400)
		next := t + max(gap, 7200)
		h := time.Unix(next, 0).In(g.stores[c.home].Zone).Hour()
		if h >= 8 && h < 21 {
			return next
		}
		return g.visitOn(c, next, 0, t+7200)
	case c.weekly:
		days = 7
		if g.rng.IntN(100) < 15 {
			days += g.rng.IntN(5) - 2
		}
		if g.rng.IntN(100) < 8 {
			days += 7 // skipped a week
		}
	default:
		days = int(math.Round(float64(c.interval) * (0.6 + 0.8*g.rng.Float64())))
		days = max(days, 1)
	}
	return g.visitOn(c, t, days, t+1800)
}

// visitOn returns the time, at the card's usual hour, of the day that is
// days after the local day of from; or of a later day if that time is not
// after notBefore.
func (g *Generator) visitOn(c *card, from int64, days int, notBefore int64) int64 {
	zone := g.stores[c.home].Zone
	y, m, d := time.Unix(from, 0).In(zone).Date()
	for {
		day := time.Date(y, m, d+days, 0, 0, 0, 0, zone)
		secs := g.hourOf(c, day.Weekday())
		at := time.Date(y, m, d+days, secs/3600, secs/60%60, secs%60, 0, zone).Unix()
		if at >= notBefore {
			return at
		}
		days++
	}
}

// hourOf draws the local time of day, in seconds, of a visit: the card's
// usual hour give or take 45 minutes, shifted to midday on weekends for
// many commuters, and outside 8:00-21:00 for one visit in fifty.
func (g *Generator) hourOf(c *card, wd time.Weekday) int {
	rng := g.rng
	if rng.IntN(50) == 0 {
		if rng.IntN(2) == 0 {
			return 6*3600 + rng.IntN(2*3600)
		}
		return 21*3600 + rng.IntN(2*3600)
	}
	h := float64(c.hour)
	if (wd == time.Saturday || wd == time.Sunday) && (h < 10 || h > 17) && rng.IntN(10) < 6 {
		h = 10 + 6*rng.Float64()
	}
	h += 0.75 * rng.NormFloat64()
	h = math.Max(8, math.Min(h, 20.95))
	return int(h * 3600)
}
