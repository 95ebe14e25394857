//go:build linux

package kafkatest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
)

// record is one Kafka record as read back.
type record struct {
	partition int
	offset    int64
	key       []byte
	value     []byte // nil for a tombstone
	headers   []kafka.Header
}

// readTopic calls fn with every record of topic, partition by partition in
// offset order, up to the end offsets it had when the call began. Without
// values, only keys and headers are read.
func readTopic(ctx context.Context, c *kafka.Client, topic string, values bool, fn func(*record)) error {
	n, err := partitionCount(ctx, c, topic)
	if err != nil {
		return err
	}
	for p := range n {
		first, end, err := bounds(ctx, c, topic, p)
		if err != nil {
			return err
		}
		offset, stalled := first, 0
		for offset < end {
			resp, err := c.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: p, Offset: offset,
				MinBytes: 1, MaxBytes: 32 << 20, MaxWait: 250 * time.Millisecond})
			if err == nil {
				err = resp.Error
			}
			if err != nil {
				return fmt.Errorf("fetch %s[%d] at %d: %w", topic, p, offset, err)
			}
			before := offset
			for {
				rec, err := resp.Records.ReadRecord()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return fmt.Errorf("read %s[%d] at %d: %w", topic, p, offset, err)
				}
				if rec.Offset < offset || rec.Offset >= end {
					continue
				}
				r := record{partition: p, offset: rec.Offset, headers: rec.Headers}
				if r.key, err = readBytes(rec.Key); err == nil && values {
					r.value, err = readBytes(rec.Value)
				} else if rec.Value != nil {
					rec.Value.Close()
				}
				if err != nil {
					return fmt.Errorf("read %s[%d] offset %d: %w", topic, p, rec.Offset, err)
				}
				fn(&r)
				offset = rec.Offset + 1
			}
			if offset == before {
				if stalled++; stalled == 5 {
					return fmt.Errorf("read %s[%d]: no record at offset %d below the end offset %d", topic, p, offset, end)
				}
			}
		}
	}
	return nil
}

func readBytes(b kafka.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	v, err := io.ReadAll(b)
	if v == nil && err == nil {
		v = []byte{}
	}
	return v, err
}

func partitionCount(ctx context.Context, c *kafka.Client, topic string) (int, error) {
	meta, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		return 0, fmt.Errorf("metadata of %s: %+v", topic, meta.Topics)
	}
	return len(meta.Topics[0].Partitions), nil
}

// bounds returns the first and the end offset of a partition.
func bounds(ctx context.Context, c *kafka.Client, topic string, p int) (first, end int64, err error) {
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: {kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p)}},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("list offsets of %s[%d]: %w", topic, p, err)
	}
	for _, po := range resp.Topics[topic] {
		if po.Partition == p {
			return po.FirstOffset, po.LastOffset, po.Error
		}
	}
	return 0, 0, fmt.Errorf("list offsets of %s[%d]: partition missing", topic, p)
}

// groupOffsets returns the group's committed offset (-1: none) and the
// end offset of every partition of topic.
func groupOffsets(ctx context.Context, c *kafka.Client, group, topic string, partitions int) (committed, end []int64, err error) {
	ids := make([]int, partitions)
	reqs := make([]kafka.OffsetRequest, partitions)
	for p := range partitions {
		ids[p] = p
		reqs[p] = kafka.LastOffsetOf(p)
	}
	lo, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	end = make([]int64, partitions)
	for _, po := range lo.Topics[topic] {
		if po.Error != nil {
			return nil, nil, fmt.Errorf("list offsets of %s[%d]: %w", topic, po.Partition, po.Error)
		}
		end[po.Partition] = po.LastOffset
	}
	of, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err == nil {
		err = of.Error
	}
	if err != nil {
		return nil, nil, fmt.Errorf("offsets of group %s: %w", group, err)
	}
	committed = make([]int64, partitions)
	for i := range committed {
		committed[i] = -1
	}
	for _, po := range of.Topics[topic] {
		if po.Error != nil {
			return nil, nil, fmt.Errorf("offsets of group %s on %s[%d]: %w", group, topic, po.Partition, po.Error)
		}
		committed[po.Partition] = po.CommittedOffset
	}
	return committed, end, nil
}

// partitionOf is the partition murmur2 (the Java client's and the engine's
// balancer) gives a key.
func partitionOf(key []byte, partitions int) int {
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	return (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: key}, ids...)
}

// src names a swipe by where it is in the swipes topic.
type src struct {
	partition int
	offset    int64
}

// cardFigures is what the oracle expects of a card's profile.
type cardFigures struct {
	partition                 int
	visits, spend             int64
	returns, returnCents      int64
	checkins, scans           int64
	lastOffset                int64 // offset of the card's latest valid swipe
	categorySpend, categoryQt map[string]int64
	seen                      map[string]bool // swipe ids applied
}

// oracle is what the topics must hold after a run, computed from the swipes
// topic alone.
type oracle struct {
	swipes     int // messages in the swipes topic
	retries    int // valid swipes whose id the card had sent before
	clock      time.Time
	cards      map[string]*cardFigures
	bad        map[src]string // rejected swipes and the engine's reason
	offers     map[offerKey][]byte
	replayed   map[string][]byte // card → encoded profile of a crash-free replay
	partitions int
}

type offerKey struct{ id, channel string }

// buildOracle reads the swipes topic back. It classifies every message with
// engine.Decode (the engine's own validation is the specification of what
// is valid), then computes each card's figures with none of the engine's
// profile code, and replays the topic through engine.Pipeline, partition
// by partition without crashes, for the offers and profiles a crash-free
// run publishes.
func buildOracle(t *testing.T, c *kafka.Client) *oracle {
	t.Helper()
	ctx := context.Background()
	parts, err := partitionCount(ctx, c, engine.TopicSwipes)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([][]kafka.Message, parts)
	err = readTopic(ctx, c, engine.TopicSwipes, true, func(r *record) {
		msgs[r.partition] = append(msgs[r.partition], kafka.Message{Topic: engine.TopicSwipes,
			Partition: r.partition, Offset: r.offset, Key: r.key, Value: r.value})
	})
	if err != nil {
		t.Fatal(err)
	}
	o := &oracle{cards: map[string]*cardFigures{}, bad: map[src]string{}, offers: map[offerKey][]byte{},
		replayed: map[string][]byte{}, partitions: parts}

	// The engine judged event times by the wall clock; the oracle and the
	// replay judge them by the latest event time, so that they decide the
	// same whenever the run is checked. Both must classify alike. Decoding
	// is most of the oracle's cost, so every message is decoded once, by
	// the wall clock, and only the rejected ones again.
	wall := time.Now()
	type verdict struct {
		s   *loyalty.Swipe
		err *engine.RejectError
	}
	verdicts := make([][]verdict, parts)
	for p, ms := range msgs {
		verdicts[p] = make([]verdict, len(ms))
		for i := range ms {
			o.swipes++
			s, err := engine.Decode(ms[i].Key, ms[i].Value, wall, engine.DefaultLimits)
			if err != nil {
				verdicts[p][i].err = err.(*engine.RejectError)
				continue
			}
			verdicts[p][i].s = s
			if s.TS.After(o.clock) {
				o.clock = s.TS
			}
		}
	}
	if o.clock.IsZero() {
		t.Fatal("no valid swipe in the swipes topic")
	}
	if o.clock.After(wall.Add(24 * time.Hour)) {
		t.Fatalf("latest event time %s is more than a day ahead of the wall clock: pick an earlier swipegen --start", o.clock)
	}
	lim := engine.DefaultLimits
	for p, ms := range msgs {
		for i := range ms {
			m, v := &ms[i], verdicts[p][i]
			var byClock error
			if v.s != nil {
				// Valid by the wall clock: only the time checks could differ.
				if age := o.clock.Sub(v.s.TS); age > lim.MaxAge {
					byClock = fmt.Errorf("%d days before the latest event time", int(age.Hours()/24))
				}
			} else if _, err := engine.Decode(m.Key, m.Value, o.clock, lim); err == nil {
				byClock = errors.New("valid")
			} else if err.(*engine.RejectError).Reason != v.err.Reason {
				byClock = err
			}
			if byClock != nil {
				t.Fatalf("swipes[%d] offset %d: by the wall clock %v; by the latest event time %v: the feed's event times must be plausible both ways (pick another swipegen --start)", p, m.Offset, v.err, byClock)
			}
			if v.err != nil {
				o.bad[src{p, m.Offset}] = v.err.Reason
				continue
			}
			o.fold(p, m.Offset, v.s)
		}
	}
	verdicts = nil

	rs, err := rules.LoadPaths(filepath.Join(suite.root, "rules", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return o.clock }
	for p, ms := range msgs {
		cache, err := engine.NewProfileCache(64 << 20)
		if err != nil {
			t.Fatal(err)
		}
		pl := engine.NewPipeline(p, rs, engine.NewMemStore(cache), engine.DefaultLimits, clock, nil)
		pl.SetSendExpired(true) // as offerd is run (see scenario.offerd)
		for i := 0; i < len(ms); i += 500 {
			pl.StartBatch()
			for j := i; j < min(i+500, len(ms)); j++ {
				pl.Process(&ms[j])
			}
			out, _, err := pl.EndBatch()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range out {
				if !loyalty.IsOfferTopic(m.Topic) {
					continue // dead letters, decision events, budget spend
				}
				ch := strings.TrimPrefix(m.Topic, "offers.")
				var head struct {
					OfferID string `json:"offer_id"`
				}
				if err := json.Unmarshal(m.Value, &head); err != nil || head.OfferID == "" {
					t.Fatalf("replay built an offer without id (%v): %s", err, m.Value)
				}
				o.offers[offerKey{head.OfferID, ch}] = bytes.Clone(m.Value)
			}
		}
		for card, f := range o.cards {
			if f.partition != p {
				continue
			}
			prof, err := pl.Store().Get(card)
			if err != nil || prof == nil {
				t.Fatalf("replay has no profile of card %s (%v)", card, err)
			}
			o.replayed[card] = engine.AppendProfile(nil, prof)
		}
		cache.Close()
	}
	return o
}

// fold adds a valid swipe to the oracle's figures of its card. A swipe id
// the card sent before is a POS retry and counts once.
func (o *oracle) fold(p int, offset int64, s *loyalty.Swipe) {
	f := o.cards[s.CardID]
	if f == nil {
		f = &cardFigures{partition: p, categorySpend: map[string]int64{}, categoryQt: map[string]int64{}, seen: map[string]bool{}}
		o.cards[s.CardID] = f
	}
	f.lastOffset = offset
	if f.seen[s.SwipeID] {
		o.retries++
		return
	}
	f.seen[s.SwipeID] = true
	switch s.Kind {
	case loyalty.KindPurchase:
		f.visits++
		f.spend += s.TotalCents
		for _, it := range s.Items {
			f.categorySpend[it.Category] += it.Qty * it.UnitPriceCents
			f.categoryQt[it.Category] += it.Qty
		}
	case loyalty.KindReturn:
		f.returns++
		f.returnCents += s.TotalCents
	case loyalty.KindCheckin:
		f.checkins++
	case loyalty.KindScan:
		f.scans++
	}
}

// differs says how a profile differs from the oracle's figures, "" when
// it does not.
func (f *cardFigures) differs(p *loyalty.Profile) string {
	var d []string
	cmp := func(name string, got, want int64) {
		if got != want {
			d = append(d, fmt.Sprintf("%s %d, want %d", name, got, want))
		}
	}
	cmp("visits", p.Visits, f.visits)
	cmp("spend_cents", p.SpendCents, f.spend)
	cmp("returns", p.Returns, f.returns)
	cmp("return_cents", p.ReturnCents, f.returnCents)
	cmp("checkins", p.Checkins, f.checkins)
	cmp("scans", p.Scans, f.scans)
	cmp("last applied offset", p.LastOffset, f.lastOffset)
	if len(p.Categories) != len(f.categorySpend) {
		d = append(d, fmt.Sprintf("%d categories, want %d", len(p.Categories), len(f.categorySpend)))
	}
	for name, want := range f.categorySpend {
		c := p.Category(name)
		if c == nil {
			d = append(d, "category "+name+" missing")
			continue
		}
		cmp(name+" spend", c.SpendCents, want)
		cmp(name+" units", c.Units, f.categoryQt[name])
	}
	return strings.Join(d, "; ")
}

// report is what checking a run found, for the log.
type report struct {
	changelogRecords, changelogBytes int64
	offers, offerRepeats             int
	deadLetters, deadLetterRepeats   int
	profiles                         map[string][]byte // card → last changelog value
}

// check compares the changelog, offer and dead-letter topics with the
// oracle.
func (o *oracle) check(t *testing.T, c *kafka.Client) *report {
	t.Helper()
	ctx := context.Background()
	rep := &report{profiles: map[string][]byte{}}
	var errs []string
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Sprintf(format, args...))
	}
	defer func() {
		if len(errs) > 0 {
			shown := errs[:min(len(errs), 25)]
			t.Errorf("%d discrepancies, the first %d:\n  %s", len(errs), len(shown), strings.Join(shown, "\n  "))
		}
	}()

	// Profiles: the last changelog value of every card equals the oracle's
	// figures and the crash-free replay's profile, byte for byte.
	err := readTopic(ctx, c, engine.TopicChangelog, true, func(r *record) {
		rep.changelogRecords++
		rep.changelogBytes += int64(len(r.key) + len(r.value))
		if want := partitionOf(r.key, o.partitions); r.partition != want {
			fail("changelog record of card %s in partition %d, its swipes are in %d", r.key, r.partition, want)
		}
		if r.value == nil {
			delete(rep.profiles, string(r.key))
			return
		}
		rep.profiles[string(r.key)] = r.value
	})
	if err != nil {
		t.Fatal(err)
	}
	for card, f := range o.cards {
		data, ok := rep.profiles[card]
		if !ok {
			fail("card %s: no profile in the changelog", card)
			continue
		}
		p, err := engine.DecodeProfile(data)
		if err != nil {
			fail("card %s: changelog value: %v", card, err)
			continue
		}
		if d := f.differs(p); d != "" {
			fail("card %s (partition %d): %s", card, f.partition, d)
		} else if !bytes.Equal(data, o.replayed[card]) {
			fail("card %s: changelog profile differs from the crash-free replay's", card)
		}
	}
	for card := range rep.profiles {
		if o.cards[card] == nil {
			fail("changelog holds card %s, which has no valid swipe", card)
		}
	}

	// Offers: every offer of the replay, on its channel, and nothing else;
	// a re-send must repeat the offer byte for byte.
	seen := map[offerKey]int{}
	for _, ch := range loyalty.Channels {
		err := readTopic(ctx, c, loyalty.OfferTopic(ch), true, func(r *record) {
			var head struct {
				OfferID string `json:"offer_id"`
				CardID  string `json:"card_id"`
				Channel string `json:"channel"`
			}
			if err := json.Unmarshal(r.value, &head); err != nil {
				fail("%s[%d] offset %d: not an offer: %v", loyalty.OfferTopic(ch), r.partition, r.offset, err)
				return
			}
			k := offerKey{head.OfferID, ch}
			want, ok := o.offers[k]
			switch {
			case !ok:
				fail("offer %s on %s was not expected: %.200s", head.OfferID, ch, r.value)
			case !bytes.Equal(want, r.value):
				fail("offer %s on %s differs from the replay's:\n    got  %s\n    want %s", head.OfferID, ch, r.value, want)
			case head.Channel != ch || head.CardID != string(r.key):
				fail("offer %s: channel %q, card %q, on topic %s keyed %q", head.OfferID, head.Channel, head.CardID, loyalty.OfferTopic(ch), r.key)
			}
			seen[k]++
			rep.offers++
			if seen[k] > 1 {
				rep.offerRepeats++
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for k := range o.offers {
		if seen[k] == 0 {
			fail("offer %s on %s is missing", k.id, k.channel)
		}
	}
	if len(o.offers) == 0 {
		t.Error("the example rules fired on nothing: the offer check proves nothing")
	}

	// Dead letters: every rejected swipe, with the reason, at least once.
	dead := map[src]int{}
	err = readTopic(ctx, c, engine.TopicDLQ, false, func(r *record) {
		h := map[string]string{}
		for _, x := range r.headers {
			h[x.Key] = string(x.Value)
		}
		p, err1 := strconv.Atoi(h["source-partition"])
		off, err2 := strconv.ParseInt(h["source-offset"], 10, 64)
		if err1 != nil || err2 != nil || h["source-topic"] != engine.TopicSwipes {
			fail("swipes.dlq[%d] offset %d: bad source headers %v", r.partition, r.offset, h)
			return
		}
		s := src{p, off}
		reason, ok := o.bad[s]
		switch {
		case !ok:
			fail("swipes[%d] offset %d dead-lettered (%s), but it is valid", p, off, h["error"])
		case h["reason"] != reason:
			fail("swipes[%d] offset %d dead-lettered for %q, want %q", p, off, h["reason"], reason)
		}
		dead[s]++
		rep.deadLetters++
		if dead[s] > 1 {
			rep.deadLetterRepeats++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for s := range o.bad {
		if dead[s] == 0 {
			fail("swipes[%d] offset %d (%s) is not in swipes.dlq", s.partition, s.offset, o.bad[s])
		}
	}
	return rep
}

// sampleCards returns n cards of the oracle, chosen by seed.
func (o *oracle) sampleCards(n int, seed uint64) []string {
	cards := slices.Sorted(maps.Keys(o.cards))
	rng := rand.New(rand.NewPCG(seed, 0))
	rng.Shuffle(len(cards), func(i, j int) { cards[i], cards[j] = cards[j], cards[i] })
	return cards[:min(n, len(cards))]
}

// checkServed compares the profile an offerd serves on /profiles/{card}
// with the card's last changelog value, which the oracle checked.
func checkServed(p *proc, card string, changelog []byte) error {
	code, body, err := p.get("/profiles/" + card)
	if err != nil {
		return err
	}
	if code != 200 {
		return fmt.Errorf("GET /profiles/%s: HTTP %d: %s", card, code, bytes.TrimSpace(body))
	}
	var got loyalty.Profile
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Errorf("GET /profiles/%s: %v", card, err)
	}
	want, err := engine.DecodeProfile(changelog)
	if err != nil {
		return fmt.Errorf("card %s: changelog value: %v", card, err)
	}
	if !reflect.DeepEqual(&got, want) {
		return fmt.Errorf("card %s: served profile %+v\n  changelog %+v", card, got, *want)
	}
	return nil
}
