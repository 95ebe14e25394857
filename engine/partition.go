package engine

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Topic names of the engine's streams.
const (
	TopicSwipes    = "swipes"
	TopicDLQ       = "swipes.dlq"
	TopicChangelog = "profiles.changelog"
)

// Pipeline is the broker-free core of one partition of the swipes topic:
// decode, fold into the profile, evaluate the rules, build the offers. It
// does no I/O: the caller publishes what EndBatch returns. Only the
// goroutine that owns the partition touches it, so the hot path takes no
// lock. The engine runs one per owned partition; benchmarks and replays
// run it directly.
type Pipeline struct {
	id     int
	store  Store
	rules  *rules.Set
	eval   *rules.Evaluator
	limits Limits
	now    func() time.Time
	log    *zap.Logger
	hits   []int32        // the swipe's hits: ordinals in rules.Rules
	pass   []offers.Hit   // hits whose offer policy lets them send
	built  []builtOffer   // their offers
	awards []offers.Award // arbitration among pass
	chs    []string       // channels an award was published on
	maxCh  int            // offers per channel per swipe
	// sendExpired sends offers that had expired before their swipe
	// arrived (SetSendExpired).
	sendExpired bool
	budget      *Budgets
	b           *batch
	cl          []kafka.Message // the batch's changelog records
	clPos       map[string]int  // card id -> its record in cl
	slab        []byte          // room for the records' keys and values
	storeErr    error           // the first store failure: every EndBatch after it fails, as the state is unknown
	clStale     bool            // cl and clPos are the last batch's
	policy      *Policy         // stores, consent, quiet hours; nil: none
	envBuf      offers.Env      // env's result, reused
	key         []byte          // cardKey of the swipe in hand, nil until needed
	// explain, when set, sees the outcome of every rule hit (explain.go).
	explain func(*Outcome)
	// swipes decodes every swipe into the same buffers: nothing keeps a
	// swipe after Process returns.
	swipes swipeReader
	// ruleChs are the channels of each rule of the set, by ordinal: a hit
	// compares no channel names.
	ruleChs []offers.ChannelSet
	// rooms, when the store can decode into a room (the in-memory store
	// can), is that store, and room the memory every profile is decoded
	// into: a swipe's profile lives there until the next swipe's, and the
	// batch keeps no profiles (batch.dirty stays empty). Otherwise
	// (the disk store, with its decoded-profile cache) the batch keeps
	// the profiles it changed in dirty.
	rooms roomStore
	room  profileRoom
}

// NewPipeline returns the pipeline of partition id over store, evaluating
// rs and judging event times by now. A nil store means a fresh in-memory
// one; a nil log means no logs.
func NewPipeline(id int, rs *rules.Set, store Store, lim Limits, now func() time.Time, log *zap.Logger) *Pipeline {
	if store == nil {
		store = NewMemStore(nil)
	}
	if log == nil {
		log = zap.NewNop()
	}
	p := &Pipeline{id: id, store: store, limits: lim, now: now, log: log, maxCh: DefaultMaxOffersPerChannel, budget: NewBudgets(log), b: newBatch(), clPos: make(map[string]int)}
	var names *nameTable
	if t, ok := store.(interface{ names() *nameTable }); ok {
		names = t.names()
	}
	p.swipes.names = newNameCache(names)
	p.rooms, _ = store.(roomStore)
	p.SetRules(rs)
	return p
}

// DefaultMaxOffersPerChannel is how many offers one swipe may trigger on
// each channel unless configured otherwise.
const DefaultMaxOffersPerChannel = 1

// SetSendExpired makes the pipeline send offers that had expired before
// their swipe arrived (see offers.Env.Arrived), as a replay of history
// standing in for live traffic wants; by default they are suppressed.
// Call it between swipes.
func (p *Pipeline) SetSendExpired(send bool) { p.sendExpired = send }

// SetMaxOffersPerChannel sets how many offers one swipe may trigger on
// each channel (k < 1 means DefaultMaxOffersPerChannel); call it between
// batches.
func (p *Pipeline) SetMaxOffersPerChannel(k int) {
	if k < 1 {
		k = DefaultMaxOffersPerChannel
	}
	p.maxCh = k
}

// Store returns the pipeline's profile store.
func (p *Pipeline) Store() Store { return p.store }

// batch is what a run of swipes produced: the messages to publish before
// the offsets may be committed, and the profiles to write to the changelog.
type batch struct {
	out     []kafka.Message // offers and dead letters
	dirty   map[string]*loyalty.Profile
	next    int64 // offset to commit: one past the last message processed
	n       int   // messages processed
	applied int64
	dups    int64
	replays int64
	offers  int64
	errs    int64
	// unknownStores counts swipes with rule hits from stores the
	// registry does not know, judged on their own UTC offset.
	unknownStores int64

	byRule   map[string]int64
	byReason map[string]int64
	// suppressed counts rule hits that sent nothing, by rule and reason.
	suppressed map[suppression]int64
	hits       hitCounts // suppressed, by rule ordinal until folded in (suppress.go)
	// spent holds the rules whose budget the batch used.
	spent map[string]struct{}
	ev    eventCounts // the decision stream (events.go)
	// arena holds the keys and values of out's offers and decision
	// events, back to back: one buffer, kept from batch to batch, rather
	// than two allocations per message.
	arena []byte
}

// carve returns the bytes appended to the arena since start, capped so
// that appending to them cannot overwrite what follows.
func (b *batch) carve(start int) []byte { return b.arena[start:len(b.arena):len(b.arena)] }

// suppression is a rule that matched but sent no offer, and why.
type suppression struct {
	rule string
	code offers.Code
}

func newBatch() *batch {
	return &batch{
		dirty:      make(map[string]*loyalty.Profile),
		byRule:     make(map[string]int64),
		byReason:   make(map[string]int64),
		suppressed: make(map[suppression]int64),
		spent:      make(map[string]struct{}),
	}
}

func (b *batch) reset() {
	b.foldSuppressed() // zeroes the counts by ordinal; the map is cleared below
	clear(b.out)
	b.out = b.out[:0]
	b.arena = b.arena[:0]
	clear(b.dirty)
	clear(b.byRule)
	clear(b.byReason)
	clear(b.suppressed)
	clear(b.spent)
	b.ev.reset()
	b.next, b.n, b.applied, b.dups, b.replays, b.offers, b.errs, b.unknownStores = 0, 0, 0, 0, 0, 0, 0, 0
}

// SetRules switches to a new rule set; call it between batches.
func (p *Pipeline) SetRules(rs *rules.Set) {
	if rs != p.rules {
		p.rules = rs
		p.eval = rs.NewEvaluator()
		p.b.foldSuppressed()
		p.b.hits.setRules(rs.Rules())
		p.ruleChs = p.ruleChs[:0]
		for _, r := range rs.Rules() {
			p.ruleChs = append(p.ruleChs, offers.ChannelsOf(r.Channels...))
		}
	}
}

// Process runs one swipe message through the pipeline into the current
// batch. A profile the swipe changed is encoded for the changelog and
// stored right away, while it is still in the processor's caches: encoding
// the batch's profiles at its end, after hundreds of others had passed
// through, took twice as long.
func (p *Pipeline) Process(m *kafka.Message) {
	if card, prof := p.process(m); prof != nil {
		p.record(card, prof)
	}
}

// process runs the swipe and returns the profile it changed, if any, and
// the swipe's card.
func (p *Pipeline) process(m *kafka.Message) (card string, changed *loyalty.Profile) {
	b := p.b
	b.n++
	b.next = m.Offset + 1
	p.key = nil
	s, err := p.swipes.read(m.Key, m.Value, p.now(), p.limits)
	if err != nil {
		p.deadLetter(m, err.(*RejectError), b)
		return "", nil
	}
	// The swipe's instant on its store's clock, when the registry knows
	// the store: the local day it lands on in the profile's histories,
	// the rules' now and the offer policy's schedules are the store's,
	// whatever offset the lane wrote (a POS may well send UTC).
	zone := p.policy.zone(s.StoreID)
	if zone != nil {
		s.TS = s.TS.In(zone)
	}
	prof, err := p.profile(s.CardID, b)
	if err != nil {
		// A profile that cannot be decoded is a bug or a corrupt changelog;
		// dead-letter the swipe rather than build on unknown state.
		p.deadLetter(m, reject("state", "profile of card %s unreadable: %v", s.CardID, err), b)
		return "", nil
	}
	if m.Offset <= prof.LastOffset {
		b.replays++ // applied before a crash or rebalance
		return "", nil
	}
	prof.LastOffset = m.Offset
	if p.rooms == nil {
		b.dirty[s.CardID] = prof
	}
	if prof.Apply(s) == loyalty.Duplicate {
		b.dups++
		return s.CardID, prof
	}
	b.applied++
	if len(s.RedeemedOffers) > 0 {
		p.redemptions(s)
	}
	p.hits = p.eval.MatchOrdinals(s, prof, p.hits[:0], func(r *rules.Rule, err error) { p.ruleFailed(r, s, err) })
	// Every hit is judged on the history before this swipe, then the
	// passing ones compete for the channels; winners and held hits are
	// recorded once each, whatever their number of channels.
	// Arbitration sees only the channels the card consented to that are
	// not in their quiet hours at the store.
	p.pass, p.built = p.pass[:0], p.built[:0]
	var env *offers.Env
	if len(p.hits) > 0 {
		env = p.env(s, zone, m.Time, b)
	}
	all := p.rules.Rules()
	for _, ord := range p.hits {
		r := all[ord]
		v := p.check(env, r, p.ruleChs[ord], s, prof)
		if (v.Code == offers.Pass || v.Code == offers.Holdout) && !p.withinBudget(r, s, v.Code == offers.Pass) {
			v = p.overBudget(r, s) // a spent budget stops the holdout's records too
		}
		if v.Code == offers.Holdout {
			// An offer that cannot be rendered for this swipe would not
			// have been sent: it is not held either. A held hit reserved
			// no budget, so there is none to give back.
			if _, _, err := r.Render(s, prof); err != nil {
				p.ruleFailed(r, s, err)
				continue
			}
		}
		switch v.Code {
		case offers.Pass:
			p.pass = append(p.pass, offers.Hit{Rule: r, Channels: v.Channels, Ord: ord})
		case offers.Holdout:
			offers.Record(r, s, prof, true)
			b.suppress(ord, v.Code)
			p.chs = p.chs[:0]
			for _, ch := range r.Channels {
				if v.Channels.Has(ch) { // not lost to consent or quiet hours
					p.chs = append(p.chs, ch)
				}
			}
			p.decided(EventHeld, r, offers.ID(r.ID, r.Version, s.SwipeID), p.chs, s)
		default:
			b.suppress(ord, v.Code)
		}
		if p.explain != nil && v.Code != offers.Pass {
			p.explain(&Outcome{Rule: r, Code: v.Code, Reason: v.Reason})
		}
	}
	// The winners' offers are rendered once they have won. A winner whose
	// offer cannot be rendered for this swipe is an error and sends
	// nothing, and arbitration runs again without it, so that the
	// channels it took go to the others.
	for {
		p.awards = offers.Arbitrate(p.pass, s, p.maxCh, p.awards[:0])
		if p.renderWinners(s, prof) {
			break
		}
	}
	for i := range p.awards {
		a := &p.awards[i]
		r := a.Rule
		if !a.Won() {
			p.unreserve(r, s)
			b.suppress(p.pass[i].Ord, offers.Arbitration) // awards are in the order of the sorted pass
			if p.explain != nil {
				p.explain(&Outcome{Rule: r, Code: offers.Arbitration, Reason: a.Reason()})
			}
			continue
		}
		p.chs = p.chs[:0]
		// One offer per rule, rendered once; only its channel differs
		// between the channels it won.
		o := p.builtFor(p.pass[i].Ord)
		var buildErr error
		for _, ch := range r.Channels {
			if !a.WonOn(ch) {
				continue
			}
			o.Channel = ch
			if err := p.queueOffer(o); err != nil {
				b.errs++
				buildErr = err
				p.log.Warn("offer not built", zap.String("rule", r.ID), zap.String("swipe_id", s.SwipeID), zap.Error(err))
				continue
			}
			b.offers++
			b.byRule[r.ID]++
			p.chs = append(p.chs, ch)
		}
		if p.explain != nil {
			p.explainWinner(a, p.chs, buildErr)
		}
		if len(p.chs) > 0 {
			offers.Record(r, s, prof, false)
			p.decided(EventSent, r, o.OfferID, p.chs, s)
		} else {
			p.unreserve(r, s) // nothing went out: nothing spent
		}
	}
	return s.CardID, prof
}

// builtOffer is the offer of a hit that won arbitration, by the rule's
// ordinal.
type builtOffer struct {
	ord int32
	o   loyalty.Offer
}

// renderWinners builds the offers of the awards that won, and reports
// true if every one could be. Otherwise it takes the winners that could
// not out of the passing hits, counted as rule errors, for arbitration to
// run again.
func (p *Pipeline) renderWinners(s *loyalty.Swipe, prof *loyalty.Profile) bool {
	p.built = p.built[:0]
	failed := false
	for i := range p.awards {
		if !p.awards[i].Won() {
			continue
		}
		r := p.awards[i].Rule
		o, err := offers.Build(r, "", s, prof)
		if err != nil {
			p.unreserve(r, s)
			p.ruleFailed(r, s, err)
			p.pass[i].Rule, failed = nil, true // awards are in the order of the sorted pass
			continue
		}
		p.built = append(p.built, builtOffer{ord: p.pass[i].Ord, o: o})
	}
	if failed {
		p.pass = slices.DeleteFunc(p.pass, func(h offers.Hit) bool { return h.Rule == nil })
	}
	return !failed
}

// builtFor returns the offer built for the passing hit of rule ordinal
// ord (a rule hits a swipe once, so ordinals tell hits apart).
func (p *Pipeline) builtFor(ord int32) *loyalty.Offer {
	for i := range p.built {
		if p.built[i].ord == ord {
			return &p.built[i].o
		}
	}
	panic("engine: no offer built for a passing hit")
}

// ruleFailed counts and logs a rule that failed on swipe s: its condition
// or its offer's templates.
func (p *Pipeline) ruleFailed(r *rules.Rule, s *loyalty.Swipe, err error) {
	p.b.errs++
	p.log.Warn("rule failed", zap.String("rule", r.ID), zap.String("swipe_id", s.SwipeID), zap.Error(err))
	if p.explain != nil {
		p.explain(&Outcome{Rule: r, Err: err})
	}
}

// queueOffer adds offer o to the batch's output.
func (p *Pipeline) queueOffer(o *loyalty.Offer) error {
	b, key := p.b, p.cardKey(o.CardID)
	start := len(b.arena)
	var err error
	if b.arena, err = offers.AppendOffer(b.arena, o); err != nil {
		return err
	}
	b.out = append(b.out, kafka.Message{Topic: loyalty.OfferTopic(o.Channel), Key: key, Value: b.carve(start)})
	return nil
}

// cardKey is the key of the messages about card, copied into the batch's
// arena once per swipe and shared by the swipe's offers and events (all
// about the swipe's card; another card gets a key of its own).
func (p *Pipeline) cardKey(card string) []byte {
	if p.key == nil || string(p.key) != card {
		start := len(p.b.arena)
		p.b.arena = append(p.b.arena, card...)
		p.key = p.b.carve(start)
	}
	return p.key
}

// profile returns the card's profile as this batch sees it. A store with
// rooms has every profile a swipe changed already (Process stores it), so
// it is decoded into the room again; the previous swipe's profile, which
// the room held, is stored and done with.
func (p *Pipeline) profile(card string, b *batch) (*loyalty.Profile, error) {
	if p.rooms != nil {
		prof, err := p.rooms.getInto(card, &p.room)
		if err != nil || prof != nil {
			return prof, err
		}
		return p.room.fresh(card), nil
	}
	if prof, ok := b.dirty[card]; ok {
		return prof, nil
	}
	prof, err := p.store.Get(card)
	if err != nil || prof != nil {
		return prof, err
	}
	return loyalty.NewProfile(card), nil
}

// deadLetter queues the original message for swipes.dlq with the reason.
func (p *Pipeline) deadLetter(m *kafka.Message, rej *RejectError, b *batch) {
	b.byReason[rej.Reason]++
	b.out = append(b.out, kafka.Message{
		Topic: TopicDLQ,
		Key:   m.Key,
		Value: m.Value,
		Headers: []kafka.Header{
			{Key: "error", Value: []byte(rej.Msg)},
			{Key: "reason", Value: []byte(rej.Reason)},
			{Key: "source-topic", Value: []byte(m.Topic)},
			{Key: "source-partition", Value: strconv.AppendInt(nil, int64(m.Partition), 10)},
			{Key: "source-offset", Value: strconv.AppendInt(nil, m.Offset, 10)},
		},
	})
}

// Len is the number of messages processed in the current batch.
func (p *Pipeline) Len() int { return p.b.n }

// EndBatch closes the current batch and returns what must be published
// before the batch's offsets are committed: out (offers, decision events,
// dead letters and budget spend, to be acked first) and changelog (one
// record per changed card, its last value, to the changelog partition with
// the pipeline's number). The changed profiles are already in the store:
// Process stores each as it changes it. The changelog is valid until the
// next batch's first swipe, and the keys and values of out's offers and
// decision events until the next StartBatch, which reuses their memory.
func (p *Pipeline) EndBatch() (out, changelog []kafka.Message, err error) {
	if err := p.storeErr; err != nil {
		return nil, nil, err
	}
	b := p.b
	b.out = p.appendBudgetRecords(b.out)
	if p.clStale {
		return b.out, nil, nil
	}
	return b.out, p.cl, nil
}

// record encodes the card's changed profile as its changelog record in
// the current batch (replacing the one an earlier swipe of the batch
// made) and stores it.
//
// The changelog keys and values share slabs rather than taking an
// allocation each: a slab is only ever appended to, never rewritten, and
// lives until the writer is done with its last record (the stores copy
// what they keep).
func (p *Pipeline) record(card string, prof *loyalty.Profile) {
	if p.clStale {
		clear(p.cl)
		p.cl = p.cl[:0]
		clear(p.clPos)
		p.clStale = false
	}
	if cap(p.slab)-len(p.slab) < changelogSlab/16 {
		p.slab = make([]byte, 0, changelogSlab)
	}
	start := len(p.slab)
	p.slab = AppendProfile(p.slab, prof)
	enc := p.slab[start:len(p.slab):len(p.slab)]
	if err := p.store.Put(card, enc, prof); err != nil && p.storeErr == nil {
		p.storeErr = fmt.Errorf("store profile of card %s: %w", card, err)
	}
	if i, ok := p.clPos[card]; ok {
		p.cl[i].Value = enc
		return
	}
	start = len(p.slab)
	p.slab = append(p.slab, card...)
	key := p.slab[start:len(p.slab):len(p.slab)]
	p.clPos[card] = len(p.cl)
	p.cl = append(p.cl, kafka.Message{Topic: TopicChangelog, Partition: p.id, Key: key, Value: enc})
}

// StartBatch forgets the last batch; call it after publishing what
// EndBatch returned.
func (p *Pipeline) StartBatch() {
	p.b.reset()
	// The batch may have been another's (flusher.send swaps them).
	p.b.hits.setRules(p.rules.Rules())
	p.clStale = true // the last batch's records stay the caller's until the next one has its first
}

// changelogSlab is the size of the allocations the changelog records are
// encoded into.
const changelogSlab = 64 << 10

// CountBatch adds the current batch's figures (swipes, applied,
// duplicates, replays, rule errors, offers, dead letters by reason, offers
// and suppressed hits by rule) to st, as the engine does once a batch is
// published. Replays and backtests, which run the pipeline without a
// broker, call it between EndBatch and StartBatch.
func (p *Pipeline) CountBatch(st *Stats) { st.add(p.b) }
