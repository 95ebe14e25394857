package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/possim"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Two rules whose outcome an independent oracle below can compute by hand.
const e2eRules = `
id: big-basket
version: 3
priority: 10
when: swipe.kind == "purchase" && swipe.total_cents >= 6000
channels: [mobile, email]
offer:
  title: "Thanks for shopping"
  body: "You spent {{ cents .Swipe.TotalCents }} today."
  coupon: { discount_cents: 500 }
  expires_in: 7d
---
id: coffee-fan
priority: 5
when: inBasket("coffee") && categorySpend("coffee", "30d") > 3000
channels: [pos]
offer:
  title: "Coffee lover"
  coupon: { discount_percent: 10, categories: [coffee] }
`

// badReason maps the simulator's injected faults to the engine's reasons.
var badReason = map[string]string{
	"malformed-json": "malformed", "unknown-version": "version", "missing-swipe-id": "missing-id",
	"missing-card-id": "missing-id", "negative-amount": "amount", "total-mismatch": "amount",
	"bad-kind": "kind", "missing-zone": "time", "absurd-time": "time", "key-mismatch": "key-mismatch",
	"oversized": "oversized", "empty-value": "empty",
}

type fixture struct {
	t       *testing.T
	cluster *kfake.Cluster
	brokers []string
	client  *kafka.Client
	rules   *rules.Set
	msgs    []possim.Message
	// sent is when each of msgs is sent, on the simulated clock: its
	// record's timestamp, by which the engine judges an offer's expiry. A
	// late swipe is sent hours to days after its event time.
	sent  []time.Time
	clock time.Time
	last  *engine.Engine // the engine of the latest run
	// storeDir, when set, keeps the engine's profiles on disk there.
	storeDir string
	// compactOnRestore is Config.CompactOnRestore; with waitCompacted,
	// run stops the engine only once no restored profile is left to
	// compact.
	compactOnRestore, waitCompacted bool
	// midway, if set, is called once while run's engine runs, when it
	// has processed half the swipes it is to process.
	midway func()
	// resends lets check accept an offer published more than once: a
	// partition whose state was dropped is replayed from its last commit,
	// and its offers are sent again with the same ids.
	resends bool
}

// newFixture returns a fixture on a one-broker cluster with n swipes
// generated, a fraction bad of them bad.
func newFixture(t *testing.T, n int, bad float64) *fixture {
	return newFixtureOn(t, 1, n, bad)
}

// newFixtureOn is newFixture on a cluster of brokers brokers.
func newFixtureOn(t *testing.T, brokers, n int, bad float64) *fixture {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	rs, err := rules.Parse("e2e.yaml", []byte(e2eRules))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.NewSet(rs)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, cluster: c, brokers: c.ListenAddrs(), rules: set}
	f.client = &kafka.Client{Addr: kafka.TCP(f.brokers...), Timeout: 10 * time.Second}
	if err := engine.EnsureTopics(context.Background(), f.client, engine.Topics(4), 1); err != nil {
		t.Fatal(err)
	}
	g := possim.New(possim.Config{Seed: 7, Cards: 300, BadFraction: bad})
	for i := 0; i < n; i++ {
		m := g.Next()
		f.msgs, f.sent = append(f.msgs, m), append(f.sent, g.Clock())
		if m.Swipe != nil && m.Swipe.TS.After(f.clock) {
			f.clock = m.Swipe.TS
		}
	}
	return f
}

// produce writes msgs[from:to] to swipes, keyed as generated.
func (f *fixture) produce(from, to int) {
	f.t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(f.brokers...), Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchBytes: 16 << 20}
	defer w.Close()
	var batch []kafka.Message
	for i, m := range f.msgs[from:to] {
		batch = append(batch, kafka.Message{Topic: engine.TopicSwipes, Key: m.Key, Value: m.Value, Time: f.sent[from+i]})
	}
	if err := w.WriteMessages(context.Background(), batch...); err != nil {
		f.t.Fatal(err)
	}
}

// run runs an engine until it has processed want swipes, then stops it.
func (f *fixture) run(want int64) *engine.Stats {
	f.t.Helper()
	e, err := engine.New(engine.Config{
		Brokers: f.brokers, Group: "e2e", Rules: f.rules, Partitions: 4, MaxBatch: 64,
		Clock: func() time.Time { return f.clock }, StoreDir: f.storeDir, CompactOnRestore: f.compactOnRestore,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.last = e
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	midway := f.midway
	for e.Stats().Swipes.Load() < want && time.Now().Before(deadline) {
		if midway != nil && e.Stats().Swipes.Load() >= want/2 {
			midway()
			midway = nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	for f.waitCompacted && e.Uncompacted() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := e.Uncompacted(); f.waitCompacted && n > 0 {
		f.t.Errorf("%d restored profiles still not compacted after a minute", n)
	}
	cancel()
	if err := <-done; err != nil {
		f.t.Fatal(err)
	}
	if got := e.Stats().Swipes.Load(); got != want {
		f.t.Fatalf("engine processed %d swipes, want %d", got, want)
	}
	return e.Stats()
}

// readAll returns every record of a topic, partition by partition.
func (f *fixture) readAll(topic string) []kafka.Message {
	f.t.Helper()
	ctx := context.Background()
	meta, err := f.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []kafka.Message
	for _, p := range meta.Topics[0].Partitions {
		offset := int64(0)
		for {
			resp, err := f.client.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: p.ID, Offset: offset, MinBytes: 1, MaxBytes: 32 << 20, MaxWait: 100 * time.Millisecond})
			if err == nil {
				err = resp.Error
			}
			if err != nil {
				f.t.Fatal(err)
			}
			for {
				rec, err := resp.Records.ReadRecord()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					f.t.Fatal(err)
				}
				m := kafka.Message{Topic: topic, Partition: p.ID, Offset: rec.Offset, Headers: rec.Headers}
				if rec.Key != nil {
					m.Key, _ = io.ReadAll(rec.Key)
				}
				if rec.Value != nil {
					m.Value, _ = io.ReadAll(rec.Value)
				}
				out = append(out, m)
				offset = rec.Offset + 1
			}
			if offset >= resp.HighWatermark {
				break
			}
		}
	}
	return out
}

// oracle computes, with none of the engine's code, what the engine must
// have produced from the good swipes: the figures of every card and the
// offers of the two rules above.
type oracleCard struct {
	visits, spend, returns, returnCents int64
	category                            map[string]int64
	coffeeByDay                         map[int32]int64
	seen                                map[string]bool
}

type wantOffer struct{ id, channel, card string }

func (f *fixture) oracle(upTo int) (map[string]*oracleCard, map[wantOffer]bool, int) {
	cards := map[string]*oracleCard{}
	want := map[wantOffer]bool{}
	dups := 0
	for i, m := range f.msgs[:upTo] {
		s := m.Swipe
		if m.Bad != "" || s == nil {
			continue
		}
		c := cards[s.CardID]
		if c == nil {
			c = &oracleCard{category: map[string]int64{}, coffeeByDay: map[int32]int64{}, seen: map[string]bool{}}
			cards[s.CardID] = c
		}
		if c.seen[s.SwipeID] {
			dups++
			continue
		}
		c.seen[s.SwipeID] = true
		_, off := s.TS.Zone()
		day := int32((s.TS.Unix() + int64(off)) / 86400)
		coffeeInBasket := false
		switch s.Kind {
		case "purchase":
			c.visits++
			c.spend += s.TotalCents
			for _, it := range s.Items {
				c.category[it.Category] += it.Qty * it.UnitPriceCents
				if it.Category == "coffee" {
					c.coffeeByDay[day] += it.Qty * it.UnitPriceCents
				}
			}
		case "return":
			c.returns++
			c.returnCents += s.TotalCents
		}
		for _, it := range s.Items {
			coffeeInBasket = coffeeInBasket || it.Category == "coffee"
		}
		var coffee30 int64
		for d, v := range c.coffeeByDay {
			if d > day-30 && d <= day {
				coffee30 += v
			}
		}
		// An offer that would have expired before its swipe was sent is
		// not: big-basket's last 7 days, longer than any swipe is late,
		// coffee-fan's the default day.
		if s.Kind == "purchase" && s.TotalCents >= 6000 {
			want[wantOffer{offers.ID("big-basket", 3, s.SwipeID), "mobile", s.CardID}] = true
			want[wantOffer{offers.ID("big-basket", 3, s.SwipeID), "email", s.CardID}] = true
		}
		if expired := !s.TS.Add(rules.DefaultExpiresIn).After(f.sent[i]); !expired && coffeeInBasket && coffee30 > 3000 {
			want[wantOffer{offers.ID("coffee-fan", 1, s.SwipeID), "pos", s.CardID}] = true
		}
	}
	return cards, want, dups
}

// start runs an engine in group e2e (batches of at most 64 swipes) until
// the returned stop is called; stop fails the test if Run failed.
func (f *fixture) start() (*engine.Engine, func()) {
	e, err := engine.New(engine.Config{Brokers: f.brokers, Group: "e2e", Rules: f.rules, Partitions: 4, MaxBatch: 64,
		Clock: func() time.Time { return f.clock }})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	return e, sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Error(err)
		}
	})
}

// committedToEnd reports whether group e2e has committed every partition
// of swipes up to its end.
func (f *fixture) committedToEnd() bool {
	ctx := context.Background()
	parts := []int{0, 1, 2, 3}
	committed, err := f.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: "e2e", Topics: map[string][]int{engine.TopicSwipes: parts}})
	if err != nil {
		return false
	}
	var reqs []kafka.OffsetRequest
	for _, p := range parts {
		reqs = append(reqs, kafka.LastOffsetOf(p))
	}
	ends, err := f.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{engine.TopicSwipes: reqs}})
	if err != nil {
		return false
	}
	end := map[int]int64{}
	for _, p := range ends.Topics[engine.TopicSwipes] {
		end[p.Partition] = p.LastOffset
	}
	for _, p := range committed.Topics[engine.TopicSwipes] {
		if p.CommittedOffset != end[p.Partition] {
			return false
		}
	}
	return len(committed.Topics[engine.TopicSwipes]) == len(parts)
}

// check compares the topics with the oracle over msgs[:upTo].
func (f *fixture) check(upTo int) {
	t := f.t
	cards, wantOffers, _ := f.oracle(upTo)

	// Profiles: the changelog's last value per card.
	last := map[string][]byte{}
	for _, m := range f.readAll(engine.TopicChangelog) {
		last[string(m.Key)] = m.Value
		if want := (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: m.Key}, 0, 1, 2, 3); want != m.Partition {
			t.Errorf("card %s changelog in partition %d, its swipes are in %d", m.Key, m.Partition, want)
		}
	}
	if len(last) != len(cards) {
		t.Errorf("changelog holds %d cards, oracle %d", len(last), len(cards))
	}
	for id, c := range cards {
		p, err := engine.DecodeProfile(last[id])
		if err != nil {
			t.Fatalf("card %s: %v", id, err)
		}
		if p.Visits != c.visits || p.SpendCents != c.spend || p.Returns != c.returns || p.ReturnCents != c.returnCents {
			t.Errorf("card %s: visits %d spend %d returns %d/%d, want %d %d %d/%d", id,
				p.Visits, p.SpendCents, p.Returns, p.ReturnCents, c.visits, c.spend, c.returns, c.returnCents)
		}
		for cat, v := range c.category {
			if got := p.Category(cat); got == nil || got.SpendCents != v {
				t.Errorf("card %s category %s: %+v, want spend %d", id, cat, got, v)
			}
		}
	}

	// Offers: exactly the oracle's, each on its channel's topic, keyed by
	// card, in the card's murmur2 partition.
	got := map[wantOffer]bool{}
	for _, ch := range loyalty.Channels {
		for _, m := range f.readAll(loyalty.OfferTopic(ch)) {
			o, err := decodeOffer(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			if o.Channel != ch || o.CardID != string(m.Key) {
				t.Errorf("offer %s: channel %s key %s on topic %s", o.OfferID, o.Channel, m.Key, m.Topic)
			}
			if want := (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: m.Key}, 0, 1, 2, 3); want != m.Partition {
				t.Errorf("offer for %s in partition %d, murmur2 says %d", m.Key, m.Partition, want)
			}
			k := wantOffer{o.OfferID, ch, o.CardID}
			if got[k] && !f.resends {
				t.Errorf("offer %s on %s published twice", o.OfferID, ch)
			}
			got[k] = true
		}
	}
	diffOffers(t, got, wantOffers)
	if len(wantOffers) == 0 {
		t.Fatal("the test rules fired on nothing; the oracle proves nothing")
	}

	// Dead letters: every bad swipe, with its reason, original bytes and
	// source coordinates; nothing else.
	type letter struct{ value, reason string }
	wantBad := map[letter]int{}
	nBad := 0
	for _, m := range f.msgs[:upTo] {
		if m.Bad != "" {
			wantBad[letter{string(m.Value), badReason[m.Bad]}]++
			nBad++
		}
	}
	dlq := f.readAll(engine.TopicDLQ)
	if len(dlq) != nBad {
		t.Errorf("dead letters: %d, want %d", len(dlq), nBad)
	}
	for _, m := range dlq {
		h := headers(m)
		k := letter{string(m.Value), h["reason"]}
		if wantBad[k] == 0 {
			t.Errorf("unexpected dead letter (%s: %s): %.80s", h["reason"], h["error"], m.Value)
			continue
		}
		wantBad[k]--
		if h["error"] == "" || h["source-topic"] != engine.TopicSwipes {
			t.Errorf("dead letter headers %v", h)
		}
		if _, err := strconv.Atoi(h["source-partition"]); err != nil {
			t.Errorf("source-partition %q", h["source-partition"])
		}
		if _, err := strconv.ParseInt(h["source-offset"], 10, 64); err != nil {
			t.Errorf("source-offset %q", h["source-offset"])
		}
	}
	t.Logf("checked %d cards, %d offers, %d dead letters", len(cards), len(wantOffers), len(dlq))
}

// diffOffers reports every offer missing from got and every one got has
// that want does not.
func diffOffers(t *testing.T, got, want map[wantOffer]bool) {
	t.Helper()
	for k := range want {
		if !got[k] {
			t.Errorf("missing offer %+v", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("unexpected offer %+v", k)
		}
	}
}

func headers(m kafka.Message) map[string]string {
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

func TestEndToEnd(t *testing.T) {
	f := newFixture(t, 4000, 0.05)
	f.produce(0, len(f.msgs))
	st := f.run(int64(len(f.msgs)))
	_, _, dups := f.oracle(len(f.msgs))
	if st.Duplicates.Load() != int64(dups) || dups == 0 {
		t.Errorf("duplicates counted %d, oracle %d (and the feed must hold some)", st.Duplicates.Load(), dups)
	}
	var reasons []string
	for _, r := range st.RejectsByReason() {
		reasons = append(reasons, fmt.Sprint(r.Name, "=", r.N))
	}
	sort.Strings(reasons)
	t.Logf("stats: swipes %d applied %d dups %d dlq %d %v offers %d", st.Swipes.Load(), st.Applied.Load(), st.Duplicates.Load(), st.DLQ.Load(), reasons, st.Offers.Load())
	f.check(len(f.msgs))
}

// TestLeadersMove runs the engine on a three-broker cluster and moves the
// leader of every partition of every topic to another broker halfway
// through: the partitions' writes are refused by the brokers that no
// longer lead them, and must reach the new leaders with nothing lost or
// counted twice (the oracle's check), as in a broker's rolling restart.
func TestLeadersMove(t *testing.T) {
	f := newFixtureOn(t, 3, 4000, 0.05)
	f.produce(0, len(f.msgs))
	f.midway = func() {
		for _, ts := range engine.Topics(4) {
			for p := range int32(ts.Partitions) {
				if err := f.cluster.MoveTopicPartition(ts.Name, p, (f.cluster.LeaderFor(ts.Name, p)+1)%3); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	start := time.Now()
	st := f.run(int64(len(f.msgs)))
	t.Logf("%d swipes in %v, %d partitions of writes sent again", len(f.msgs), time.Since(start).Round(time.Millisecond), st.ProduceRetries.Load())
	if st.ProduceRetries.Load() == 0 {
		t.Error("no write was refused: the moves test nothing")
	}
	f.check(len(f.msgs))
}

// TestRestartRestoresProfiles stops the engine halfway; a new engine in
// the same group must restore the profiles from the changelog, resume at
// the committed offsets and end with the same figures as one run. The
// restored profiles that no swipe of the second half touched are compacted
// in the background, or, with CompactOnRestore, as they are read.
func TestRestartRestoresProfiles(t *testing.T) {
	for _, onRestore := range []bool{false, true} {
		t.Run(fmt.Sprintf("compact-on-restore=%v", onRestore), func(t *testing.T) {
			f := newFixture(t, 3000, 0.02)
			half := len(f.msgs) / 2
			f.produce(0, half)
			f.run(int64(half))
			f.produce(half, len(f.msgs))
			f.compactOnRestore, f.waitCompacted = onRestore, true
			st := f.run(int64(len(f.msgs) - half))
			if st.Restored.Load() == 0 {
				t.Fatal("second engine restored no profiles")
			}
			if n := st.Compacted.Load(); (n > 0) == onRestore {
				t.Errorf("%d restored profiles compacted in the background", n)
			}
			f.check(len(f.msgs))
		})
	}
}

// TestRestartOnDiskStore is the restart with profiles on disk: the second
// engine resumes each partition from its checkpoint and must end with the
// same figures as one run.
func TestRestartOnDiskStore(t *testing.T) {
	f := newFixture(t, 3000, 0.02)
	f.storeDir = t.TempDir()
	half := len(f.msgs) / 2
	f.produce(0, half)
	first := f.run(int64(half))
	f.produce(half, len(f.msgs))
	st := f.run(int64(len(f.msgs) - half))
	if st.RestoreRecords.Load() >= first.Changelog.Load() {
		t.Errorf("second engine read %d changelog records to restore; the first wrote %d, and the disk held them", st.RestoreRecords.Load(), first.Changelog.Load())
	}
	if st.Restored.Load() == 0 {
		t.Fatal("second engine found no profiles")
	}
	f.check(len(f.msgs))
}

// TestConcurrentInstancesShareWork runs two instances in one group.
func TestConcurrentInstancesShareWork(t *testing.T) {
	f := newFixture(t, 3000, 0.02)
	f.produce(0, len(f.msgs))
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	var engines []*engine.Engine
	for i := 0; i < 2; i++ {
		e, err := engine.New(engine.Config{Brokers: f.brokers, Group: "e2e", Rules: f.rules, Partitions: 4, Clock: func() time.Time { return f.clock }})
		if err != nil {
			t.Fatal(err)
		}
		engines = append(engines, e)
		wg.Add(1)
		go func() { defer wg.Done(); e.Run(ctx) }()
	}
	deadline := time.Now().Add(60 * time.Second)
	total := func() (n int64) {
		for _, e := range engines {
			n += e.Stats().Swipes.Load() - e.Stats().Replayed.Load()
		}
		return n
	}
	for total() < int64(len(f.msgs)) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	f.check(len(f.msgs))
}

// TestRebalanceKeepsProfiles: an instance that keeps partitions across a
// rebalance (a second instance joins, later leaves) resumes them with the
// profiles it has instead of restoring them in full, and every profile
// ends as one instance alone would have left it.
func TestRebalanceKeepsProfiles(t *testing.T) {
	f := newFixture(t, 3000, 0.02)
	start := f.start
	var engines []*engine.Engine
	processed := func() (n int64) {
		for _, e := range engines {
			n += e.Stats().Swipes.Load() - e.Stats().Replayed.Load()
		}
		return n
	}
	third := len(f.msgs) / 3
	a, stopA := start()
	defer stopA()
	engines = append(engines, a)
	f.produce(0, third)
	waitFor(t, "the first third", func() bool { return processed() >= int64(third) })

	b, stopB := start()
	engines = append(engines, b)
	waitFor(t, "the first rebalance", func() bool { return a.Stats().Resumed.Load() >= 1 && b.Ready() && a.Ready() })
	f.produce(third, 2*third)
	waitFor(t, "the second third", func() bool { return processed() >= int64(2*third) })
	stopB()
	resumed := a.Stats().Resumed.Load()
	waitFor(t, "the second rebalance", func() bool { return a.Stats().Resumed.Load() > resumed && a.Ready() })
	f.produce(2*third, len(f.msgs))
	waitFor(t, "the rest", func() bool { return processed() >= int64(len(f.msgs)) })
	stopA()
	st := a.Stats()
	t.Logf("instance A: %d partitions resumed, %d profiles restored in full, %d changelog records read", st.Resumed.Load(), st.Restored.Load(), st.RestoreRecords.Load())
	if st.Resumed.Load() < 2 {
		t.Errorf("instance A resumed %d partitions; it kept two across each of two rebalances", st.Resumed.Load())
	}
	f.check(len(f.msgs))
}

// A rule with a cooldown, for TestCooldownEndToEnd.
const cooldownRules = `
id: weekly-thanks
when: swipe.kind == "purchase"
channels: [mobile]
offer:
  title: "Thanks again"
  coupon: { discount_cents: 100 }
  expires_in: 7d # longer than any swipe of the fixture is late
limits: { cooldown: 7d }
`

// TestCooldownEndToEnd: through the broker, a rule with a 7-day cooldown
// sends each card at most one offer per 7 days of event time, late swipes
// included. The oracle replays the feed in partition order (a card's
// swipes keep their order): a purchase sends unless it is less than 7 days
// after the latest send to the card in event time, which a late swipe
// always is.
func TestCooldownEndToEnd(t *testing.T) {
	f := newFixture(t, 3000, 0.02)
	rs, err := rules.Parse("cooldown.yaml", []byte(cooldownRules))
	if err != nil {
		t.Fatal(err)
	}
	if f.rules, err = rules.NewSet(rs); err != nil {
		t.Fatal(err)
	}
	f.produce(0, len(f.msgs))
	st := f.run(int64(len(f.msgs)))

	const cooldown = 7 * 24 * time.Hour
	want := map[wantOffer]bool{}
	latest := map[string]time.Time{}
	seen := map[string]bool{}
	suppressed, late := 0, 0
	for _, m := range f.msgs {
		s := m.Swipe
		if m.Bad != "" || s == nil || seen[s.SwipeID] {
			continue
		}
		seen[s.SwipeID] = true
		if s.Kind != "purchase" {
			continue
		}
		last, sent := latest[s.CardID]
		if sent && s.TS.Before(last.Add(cooldown)) {
			suppressed++
			if s.TS.Before(last) {
				late++
			}
			continue
		}
		want[wantOffer{offers.ID("weekly-thanks", 1, s.SwipeID), "mobile", s.CardID}] = true
		latest[s.CardID] = s.TS
	}

	byCard := map[string][]time.Time{}
	got := map[wantOffer]bool{}
	for _, m := range f.readAll(loyalty.OfferTopic("mobile")) {
		o, err := decodeOffer(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		got[wantOffer{o.OfferID, o.Channel, o.CardID}] = true
		byCard[o.CardID] = append(byCard[o.CardID], o.CreatedAt)
	}
	diffOffers(t, got, want)
	repeat := 0
	for card, ts := range byCard {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		for i := 1; i < len(ts); i++ {
			if d := ts[i].Sub(ts[i-1]); d < cooldown {
				t.Errorf("card %s got offers %s apart: %s and %s", card, d, ts[i-1], ts[i])
			}
		}
		if len(ts) > 1 {
			repeat++
		}
	}
	var counted int64
	for _, c := range st.SuppressedByRule() {
		if c.Rule != "weekly-thanks" || c.Reason != "cooldown" {
			t.Errorf("unexpected suppression %+v", c)
		}
		counted += c.N
	}
	if counted != int64(suppressed) || st.Suppressed.Load() != counted {
		t.Errorf("suppressed counted %d (total %d), oracle %d", counted, st.Suppressed.Load(), suppressed)
	}
	if suppressed == 0 || late == 0 || repeat == 0 {
		t.Fatalf("the feed must exercise the cooldown: %d suppressed (%d late), %d cards with several offers", suppressed, late, repeat)
	}
	t.Logf("%d offers, %d suppressed by the cooldown (%d late swipes), %d cards with several offers", len(want), suppressed, late, repeat)
}

// TestCoordinatorMoves moves the group's coordinator to another broker
// halfway through, as a broker's restart does: the engine's heartbeats and
// commits are refused by the old one, the group is joined again through
// the new one, and the second half is processed with nothing lost or
// counted twice.
func TestCoordinatorMoves(t *testing.T) {
	f := newFixtureOn(t, 3, 4000, 0.05)
	half := len(f.msgs) / 2
	f.produce(0, half)
	var before int32
	f.midway = func() {
		before = f.cluster.CoordinatorFor("e2e")
		for f.cluster.CoordinatorFor("e2e") == before {
			f.cluster.RehashCoordinators()
		}
		// The next heartbeat (every 3 s) is refused, and the group is
		// joined again through the new coordinator: the partitions
		// resume with the profiles they hold.
		waitFor(t, "the group joined again through its new coordinator", func() bool { return f.last.Stats().Resumed.Load() > 0 })
		f.produce(half, len(f.msgs))
	}
	st := f.run(int64(len(f.msgs)))
	t.Logf("coordinator %d -> %d; partitions resumed %d", before, f.cluster.CoordinatorFor("e2e"), st.Resumed.Load())
	f.check(len(f.msgs))
}
