package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

const day = 24 * time.Hour

func ev(kind, offer, rule, card, swipe string, ts time.Time, basket int64) engine.Event {
	return engine.Event{EventID: engine.EventID(kind, offer, swipe), Kind: kind, OfferID: offer, RuleID: rule, RuleVersion: 2,
		CardID: card, StoreID: "s1", SwipeID: swipe, TS: ts, BasketCents: basket}
}

func sw(card, id string, kind loyalty.Kind, ts time.Time, cents int64) *loyalty.Swipe {
	return &loyalty.Swipe{V: 1, SwipeID: id, CardID: card, Kind: kind, StoreID: "s1", TS: ts, TotalCents: cents}
}

// statsTable is a decision stream and swipes whose figures are worked out
// by hand in TestStatsAggregation.
func statsTable() ([]engine.Event, []*loyalty.Swipe) {
	events := []engine.Event{
		ev("sent", "o1", "r1", "T1", "t1-0", at(0), 0),
		ev("sent", "o2", "r1", "T2", "t2-0", at(time.Hour), 0),
		ev("sent", "o3", "r1", "T3", "t3-0", at(2*time.Hour), 0),
		ev("sent", "o4", "r1", "T1", "t1-3", at(3*day), 0), // T1's window starts at its first offer
		ev("held", "h1", "r1", "H1", "h1-0", at(0), 0),
		ev("held", "h2", "r1", "H2", "h2-0", at(time.Hour), 0),
		ev("held", "h3", "r1", "H3", "h3-0", at(2*time.Hour), 0),
		ev("sent", "p1", "r2", "T1", "t1-x", at(-10*day), 0),
		ev("redeemed", "o1", "", "T1", "t1-2", at(2*day), 5000), // a second redemption of o1: a repeat
		ev("redeemed", "o1", "", "T1", "t1-1", at(day), 3000),
		ev("redeemed", "o2", "", "T2", "t2-1", at(25*time.Hour), 1000),
		ev("redeemed", "h1", "", "H1", "h1-1", at(day), 700), // held offers were never sent
		ev("redeemed", "nope", "", "H1", "h1-1", at(day), 700),
	}
	events = append(events, events[0], events[9]) // redelivered
	swipes := []*loyalty.Swipe{
		sw("T1", "t1-0", loyalty.KindPurchase, at(0), 9999), // the offer's own swipe: not after it
		sw("T1", "t1-1", loyalty.KindPurchase, at(day), 3000),
		sw("T1", "t1-1", loyalty.KindPurchase, at(day), 3000), // POS retry
		sw("T1", "t1-r", loyalty.KindReturn, at(2*day), 500),
		sw("T1", "t1-8", loyalty.KindPurchase, at(8*day), 7000), // after the window
		sw("T2", "t2-1", loyalty.KindPurchase, at(25*time.Hour), 4000),
		sw("T3", "t3-6", loyalty.KindPurchase, at(6*day+2*time.Hour), 1500),
		sw("T3", "t3-c", loyalty.KindCheckin, at(6*day+3*time.Hour), 0),
		sw("H1", "h1-1", loyalty.KindPurchase, at(3*day), 2000),
		sw("H3", "h3-7", loyalty.KindPurchase, at(7*day+2*time.Hour), 1000), // the window's last second
		sw("X", "x-30", loyalty.KindCheckin, at(30*day), 0),
		// Written to Kafka a day after the swipe above (see aggregate) and
		// rejected by the engine: it must not count for the horizon.
		sw("X", "x-absurd", loyalty.KindCheckin, at(9000*day), 0),
	}
	return events, swipes
}

func aggregate(f statsFilter, events []engine.Event, swipes []*loyalty.Swipe) *statsReport {
	a := newAggregator(f)
	for i := range events {
		a.addEvent(&events[i])
	}
	if a.needsSwipes() {
		for _, s := range swipes {
			sent := s.TS // POS systems write swipes as they happen
			if s.SwipeID == "x-absurd" {
				sent = at(31 * day)
			}
			a.addSwipe(s, sent)
		}
	}
	return a.report()
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.01 }

// TestStatsAggregation checks the figures against the table above, worked
// out by hand. Net spend in the 7 days after each card's first offer of
// r1: treated T1 3000-500 = 2500, T2 4000, T3 1500 (mean 2666.67, sample
// variance 1583333.33); held H1 2000, H2 0, H3 1000 (mean 1000, variance
// 1e6). Uplift 1666.67 with standard error sqrt(1583333.33/3 + 1e6/3) =
// 927.96 on (1583333.33/3 + 1e6/3)² / ((1583333.33/3)²/2 + (1e6/3)²/2)
// = 3.81 degrees of freedom (Welch-Satterthwaite), whose 97.5% t
// quantile, 2.833, makes the 95% interval ±2629.08.
func TestStatsAggregation(t *testing.T) {
	events, swipes := statsTable()
	rep := aggregate(statsFilter{Window: 7 * day}, events, swipes)
	if rep.Events != 13 || rep.Duplicates != 2 || rep.Unmatched != 2 || len(rep.Rules) != 2 {
		t.Fatalf("report %+v", rep)
	}
	r1 := rep.Rules[0]
	if r1.Rule != "r1" || r1.Version != 2 || r1.Sent != 4 || r1.Held != 3 || r1.Redeemed != 2 || r1.Repeats != 1 ||
		!near(r1.RedemptionRate, 0.5) || r1.BasketCents != 4000 || !near(r1.AvgBasketCents, 2000) {
		t.Errorf("r1 %+v", r1)
	}
	h := r1.Holdout
	if h == nil || h.TreatedCards != 3 || h.HeldCards != 3 || h.Open != 0 || !near(h.TreatedSpendCents, 2666.67) ||
		!near(h.HeldSpendCents, 1000) || !h.UpliftKnown || !near(h.UpliftCents, 1666.67) || !h.SEKnown || !near(h.UpliftSECents, 927.96) ||
		!near(h.UpliftDF, 3.81) || !near(h.UpliftCI95Cents, 2629.08) {
		t.Errorf("r1 holdout %+v", h)
	}
	if r2 := rep.Rules[1]; r2.Rule != "r2" || r2.Sent != 1 || r2.Redeemed != 0 || r2.Holdout != nil {
		t.Errorf("r2 %+v", r2)
	}

	// From 30 minutes in: T1's first offer is o4 at day 3, its window
	// (day 3, day 10] holds the 7000 purchase; o1 and h1 are not selected.
	rep = aggregate(statsFilter{From: at(30 * time.Minute), Window: 7 * day}, events, swipes)
	if len(rep.Rules) != 1 {
		t.Fatalf("rules %+v", rep.Rules)
	}
	r1 = rep.Rules[0]
	if r1.Sent != 3 || r1.Held != 2 || r1.Redeemed != 1 || r1.BasketCents != 1000 || r1.Holdout.TreatedCards != 3 ||
		!near(r1.Holdout.TreatedSpendCents, (7000+4000+1500)/3.0) || !near(r1.Holdout.HeldSpendCents, 500) {
		t.Errorf("from 30m: %+v %+v", r1, r1.Holdout)
	}

	// A 30-day window closes with the last swipe only for T1 (9500) and
	// H1 (2000), whose offers came first; a rule without holdout needs no
	// swipes.
	rep = aggregate(statsFilter{Window: 30 * day}, events, swipes)
	if h := rep.Rules[0].Holdout; h.Open != 4 || h.TreatedCards != 1 || h.HeldCards != 1 || !h.UpliftKnown || !near(h.UpliftCents, 7500) || h.SEKnown {
		t.Errorf("30d: %+v", h)
	}
	rep = aggregate(statsFilter{Rule: "r2", Window: 7 * day}, events, swipes)
	if len(rep.Rules) != 1 || rep.Rules[0].Rule != "r2" || rep.Swipes != 0 {
		t.Errorf("--rule r2: %+v", rep)
	}
}

// TestStatsCommand runs the engine on the embedded broker over swipes
// worked out by hand, then offerctl stats on the same broker. Rule
// "big-thanks" fires on purchases of 50.00 or more, with a 50% holdout;
// four cards are treated and four held out. Two treated cards redeem their
// offer in a later purchase of 10.00 and 20.00, one held card spends 5.00;
// so 4 sent, 4 held, 2 redeemed (50%, average basket 15.00), spend per
// card in 7 days 7.50 treated against 1.25 held: uplift +6.25.
func TestStatsCommand(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	ctx := context.Background()
	if err := engine.EnsureTopics(ctx, &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}, engine.Topics(3), 1); err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Parse("r.yaml", []byte(`
id: big-thanks
when: swipe.kind == "purchase" && swipe.total_cents >= 5000
channels: [mobile]
offer: {title: Thanks, coupon: {discount_cents: 500}}
holdout: 50%
`))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.NewSet(rs)
	if err != nil {
		t.Fatal(err)
	}
	var treated, held []string
	for i := 0; len(treated) < 4 || len(held) < 4; i++ {
		card := fmt.Sprintf("card-%d", i)
		if offers.HeldOut(card, "big-thanks", 0.5) {
			if len(held) < 4 {
				held = append(held, card)
			}
		} else if len(treated) < 4 {
			treated = append(treated, card)
		}
	}
	var msgs []kafka.Message
	add := func(card, id string, kind loyalty.Kind, ts time.Time, cents int64, redeemed ...string) {
		s := sw(card, id, kind, ts, cents)
		if cents > 0 {
			s.Items = []loyalty.Item{{SKU: "x-1", Category: "x", Qty: 1, UnitPriceCents: cents}}
		}
		s.RedeemedOffers = redeemed
		v, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Topic: engine.TopicSwipes, Key: []byte(card), Value: v, Time: ts})
	}
	for i, card := range append(treated, held...) {
		add(card, card+"-big", loyalty.KindPurchase, at(time.Duration(i)*time.Minute), 6000)
	}
	add(treated[0], "r0", loyalty.KindPurchase, at(day), 1000, offers.ID("big-thanks", 1, treated[0]+"-big"))
	add(treated[1], "r1", loyalty.KindPurchase, at(2*day), 2000, offers.ID("big-thanks", 1, treated[1]+"-big"))
	add(held[0], "h0", loyalty.KindPurchase, at(3*day), 500)
	add("someone-else", "late", loyalty.KindCheckin, at(10*day), 0)
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()

	e, err := engine.New(engine.Config{Brokers: brokers, Group: "stats", Rules: set, Partitions: 3, Clock: func() time.Time { return at(10 * day) }})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	for deadline := time.Now().Add(60 * time.Second); e.Stats().Swipes.Load() < int64(len(msgs)) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := e.Stats().Swipes.Load(); n != int64(len(msgs)) {
		t.Fatalf("engine processed %d of %d swipes", n, len(msgs))
	}

	var out, errb bytes.Buffer
	if code := run([]string{"stats", "--brokers", brokers[0], "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep statsReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if len(rep.Rules) != 1 || rep.Events != 10 || rep.Unmatched != 0 {
		t.Fatalf("report %s", out.String())
	}
	r := rep.Rules[0]
	if r.Rule != "big-thanks" || r.Sent != 4 || r.Held != 4 || r.Redeemed != 2 || !near(r.RedemptionRate, 0.5) || r.BasketCents != 3000 {
		t.Errorf("rule %+v", r)
	}
	if h := r.Holdout; h == nil || h.TreatedCards != 4 || h.HeldCards != 4 || !near(h.TreatedSpendCents, 750) || !near(h.HeldSpendCents, 125) || !near(h.UpliftCents, 625) {
		t.Errorf("holdout %+v", r.Holdout)
	}

	out.Reset()
	if code := run([]string{"stats", "--brokers", brokers[0], "--rule", "big-thanks", "--window", "7d"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	// Standard error of the uplift: treated spends 10, 20, 0, 0 (sample
	// variance 9166.67 in major units), held 5, 0, 0, 0 (625):
	// sqrt(9166.67/4 + 625/4) = 4.95, with (9166.67/4 + 625/4)² /
	// ((9166.67/4)²/3 + (625/4)²/3) = 3.41 degrees of freedom, at which
	// the 97.5% t quantile is 2.98: ±14.73, not the ±9.70 of 1.96 s.e.
	var rows []string
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "big-thanks" {
			rows = append(rows, strings.Join(f, " "))
		}
	}
	if want := []string{"big-thanks 4 4 2 50.0% 15.00", "big-thanks 4 7.50 4 1.25 +6.25 ±14.73 0"}; fmt.Sprint(rows) != fmt.Sprint(want) ||
		!strings.Contains(out.String(), "uplift/card  95% interval") {
		t.Errorf("table rows %q, want %q:\n%s", rows, want, out.String())
	}
	for _, args := range [][]string{{"stats", "--window", "0d"}, {"stats", "--from", "yesterday"}, {"stats", "extra"}} {
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// benchStream is a decision stream of n events over n/10 cards and 20
// rules (80% sent, 10% held, 10% redeemed) and the cards' swipes: two
// purchases per event, spread over 60 days.
func benchStream(n int) ([]engine.Event, []*loyalty.Swipe) {
	events := make([]engine.Event, 0, n)
	var swipes []*loyalty.Swipe
	cards := max(n/10, 1)
	for i := 0; len(events) < n; i++ {
		card := fmt.Sprintf("card-%07d", i%cards)
		rule := fmt.Sprintf("rule-%02d", i%20)
		swipe := fmt.Sprintf("s-%d", i)
		ts := at(time.Duration(i%(60*24*60)) * time.Minute / 24)
		kind := "sent"
		if offers.HeldOut(card, rule, 0.1) {
			kind = "held"
		}
		id := offers.ID(rule, 1, swipe)
		events = append(events, ev(kind, id, rule, card, swipe, ts, 0))
		swipes = append(swipes, sw(card, swipe, loyalty.KindPurchase, ts, 1000+int64(i%5000)),
			sw(card, swipe+"-next", loyalty.KindPurchase, ts.Add(time.Duration(i%7)*day), 2000))
		if kind == "sent" && i%8 == 0 && len(events) < n {
			events = append(events, ev("redeemed", id, "", card, swipe+"-next", ts.Add(day), 2000))
		}
	}
	return events, swipes
}

// BenchmarkStatsAggregate measures the aggregation of one million events
// and two million swipes, without a broker. One op is the whole stream.
func BenchmarkStatsAggregate(b *testing.B) {
	events, swipes := benchStream(1_000_000)
	b.ReportAllocs()
	for b.Loop() {
		aggregate(statsFilter{Window: 7 * day}, events, swipes)
	}
	b.ReportMetric(float64(len(events))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkStatsCommand measures offerctl stats end to end on the embedded
// broker: reading and decoding offers.events and swipes, aggregating and
// printing. One op is the whole stream of OFFERCTL_BENCH_EVENTS events
// (default 200,000; the figure in the README is for 1,000,000).
func BenchmarkStatsCommand(b *testing.B) {
	n := 200_000
	if v := os.Getenv("OFFERCTL_BENCH_EVENTS"); v != "" {
		fmt.Sscan(v, &n)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, engine.TopicEvents, engine.TopicSwipes))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	events, swipes := benchStream(n)
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{}, BatchTimeout: time.Millisecond, BatchSize: 10000, BatchBytes: 16 << 20}
	defer w.Close()
	const chunk = 20000
	msgs := make([]kafka.Message, 0, chunk)
	flush := func() {
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			b.Fatal(err)
		}
		msgs = msgs[:0]
	}
	for i := range events {
		msgs = append(msgs, kafka.Message{Topic: engine.TopicEvents, Key: []byte(events[i].CardID), Value: engine.AppendEvent(nil, &events[i])})
		if len(msgs) == chunk {
			flush()
		}
	}
	for _, s := range swipes {
		s.Items = []loyalty.Item{{SKU: "x-1", Category: "x", Qty: 1, UnitPriceCents: s.TotalCents}}
		v, _ := json.Marshal(s)
		msgs = append(msgs, kafka.Message{Topic: engine.TopicSwipes, Key: []byte(s.CardID), Value: v})
		if len(msgs) == chunk {
			flush()
		}
	}
	flush()
	events, swipes = nil, nil
	b.ResetTimer()
	for b.Loop() {
		var out, errb bytes.Buffer
		if code := run([]string{"stats", "--brokers", brokers[0]}, &out, &errb); code != 0 {
			b.Fatalf("exit %d: %s", code, errb.String())
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestStatsMissingTopic: a broker without the decision stream is an error
// that says what to do.
func TestStatsMissingTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out, errb bytes.Buffer
	if code := run([]string{"stats", "--brokers", c.ListenAddrs()[0]}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "start offerd") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

// TestHoldoutUpliftNeedsBothGroups checks that a comparison with no
// treated card (its only window is still open) has no uplift, in the
// table and in --json, rather than minus the held-out cards' spend.
func TestHoldoutUpliftNeedsBothGroups(t *testing.T) {
	events := []engine.Event{
		ev("held", "h1", "r1", "H1", "h1-0", at(0), 0),
		ev("held", "h2", "r1", "H2", "h2-0", at(0), 0),
		ev("sent", "o1", "r1", "T1", "t1-0", at(20*day), 0), // window still open
	}
	swipes := []*loyalty.Swipe{
		sw("H1", "h1-1", loyalty.KindPurchase, at(day), 5000),
		sw("H2", "h2-1", loyalty.KindPurchase, at(day), 3000),
		sw("T1", "t1-1", loyalty.KindPurchase, at(21*day), 9000),
	}
	rep := aggregate(statsFilter{Window: 7 * day}, events, swipes)
	h := rep.Rules[0].Holdout
	if h == nil {
		t.Fatal("no holdout comparison")
	}
	if h.TreatedCards != 0 || h.HeldCards != 2 || h.Open != 1 || !near(h.HeldSpendCents, 4000) {
		t.Fatalf("holdout %+v", h)
	}
	if h.UpliftKnown || h.UpliftCents != 0 {
		t.Errorf("uplift %.2f cents per card (known %t) computed from 0 treated cards (held mean %.2f)", h.UpliftCents, h.UpliftKnown, h.HeldSpendCents)
	}

	var out bytes.Buffer
	printStats(&out, rep)
	var row string
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) == 8 && f[0] == "r1" {
			row = strings.Join(f, " ")
		}
	}
	if want := "r1 0 0.00 2 40.00 n/a n/a 1"; row != want {
		t.Errorf("holdout row %q, want %q:\n%s", row, want, out.String())
	}
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"uplift_known":false`) {
		t.Errorf("--json does not say the uplift is unknown: %s", js)
	}
}

// TestHoldoutIntervalOfEqualSpends checks that groups whose cards all
// spent the same have an interval of ±0, not the NaN of 0/0 degrees of
// freedom, which --json could not write.
func TestHoldoutIntervalOfEqualSpends(t *testing.T) {
	events := []engine.Event{
		ev("held", "h1", "r1", "H1", "h1-0", at(0), 0),
		ev("held", "h2", "r1", "H2", "h2-0", at(0), 0),
		ev("sent", "o1", "r1", "T1", "t1-0", at(0), 0),
		ev("sent", "o2", "r1", "T2", "t2-0", at(0), 0),
	}
	swipes := []*loyalty.Swipe{sw("X", "x-8", loyalty.KindCheckin, at(8*day), 0)}
	rep := aggregate(statsFilter{Window: 7 * day}, events, swipes)
	h := rep.Rules[0].Holdout
	if h == nil || h.TreatedCards != 2 || h.HeldCards != 2 || !h.UpliftKnown || !h.SEKnown ||
		h.UpliftSECents != 0 || h.UpliftDF != 0 || h.UpliftCI95Cents != 0 {
		t.Errorf("holdout %+v", h)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Error(err)
	}
}
