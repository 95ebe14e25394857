package backtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/backtest"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/possim"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// randomRules returns n rules drawn from what marketers write, with every
// kind of policy: cooldowns, caps, schedules, holdouts, groups, shared
// priorities (so arbitration ranks by expected value and id), several
// channels, percent and cents coupons.
func randomRules(rng *rand.Rand, n int) string {
	cats := []string{"coffee", "tea", "dairy", "bakery", "produce", "wine", "beer", "baby", "snacks", "pet"}
	cat := func() string { return cats[rng.IntN(len(cats))] }
	conds := []func() string{
		func() string {
			return fmt.Sprintf(`swipe.kind == "purchase" && swipe.total_cents >= %d`, 1000+rng.IntN(8000))
		},
		func() string { return fmt.Sprintf(`inBasket(%q)`, cat()) },
		func() string {
			c := cat()
			return fmt.Sprintf(`swipe.kind == "checkin" && daysSinceBought(%q) >= %d`, c, rng.IntN(10))
		},
		func() string {
			c := cat()
			return fmt.Sprintf(`inBasket(%q) && categorySpend(%q, "%dd") > %d`, c, c, 1+rng.IntN(60), rng.IntN(4000))
		},
		func() string {
			return fmt.Sprintf(`profile.visits >= %d && spend("30d") > %d`, 1+rng.IntN(4), rng.IntN(10000))
		},
		func() string {
			return fmt.Sprintf(`swipe.kind in ["scan", "checkin"] && now.Hour() >= %d`, 8+rng.IntN(8))
		},
	}
	channels := [][]string{{"mobile"}, {"pos"}, {"email"}, {"mobile", "email"}, {"pos", "mobile", "email"}}
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\nid: r%02d\nversion: %d\npriority: %d\n", i, 1+rng.IntN(3), rng.IntN(3)*10)
		if rng.IntN(4) == 0 {
			fmt.Fprintf(&b, "group: g%d\n", rng.IntN(2))
		}
		fmt.Fprintf(&b, "when: '%s'\nchannels: [%s]\n", conds[rng.IntN(len(conds))](), strings.Join(channels[rng.IntN(len(channels))], ", "))
		coupon := fmt.Sprintf("discount_percent: %d", 5+rng.IntN(30))
		if rng.IntN(2) == 0 {
			coupon = fmt.Sprintf("discount_cents: %d", 100+rng.IntN(900))
		}
		fmt.Fprintf(&b, "offer:\n  title: \"Offer %d for {{ .Swipe.CardID }}\"\n  coupon: { %s }\n", i, coupon)
		var lim []string
		if rng.IntN(2) == 0 {
			lim = append(lim, fmt.Sprintf("cooldown: %dd", 1+rng.IntN(10)))
		}
		if rng.IntN(2) == 0 {
			lim = append(lim, fmt.Sprintf("max_per_card: { count: %d, per: %dd }", 1+rng.IntN(3), 7+rng.IntN(24)))
		}
		if len(lim) > 0 {
			fmt.Fprintf(&b, "limits: { %s }\n", strings.Join(lim, ", "))
		}
		switch rng.IntN(4) {
		case 0:
			fmt.Fprintf(&b, "schedule: { hours: \"%02d:00-%02d:00\" }\n", 8+rng.IntN(6), 14+rng.IntN(8))
		case 1:
			fmt.Fprintf(&b, "schedule: { days: [mon, wed, fri, sat] }\n")
		}
		if rng.IntN(3) == 0 {
			fmt.Fprintf(&b, "holdout: %d%%\n", 10+rng.IntN(40))
		}
	}
	return b.String()
}

// TestBacktestEqualsLiveEngine is the backtest's specification: with random
// rules and random POS traffic (faults, retries and late swipes included),
// replaying the swipes topic, and the same history as a file, gives the
// offers and the counts the live engine produced through the broker.
func TestBacktestEqualsLiveEngine(t *testing.T) {
	seeds := []uint64{1, 2}
	if testing.Short() {
		seeds = seeds[:1]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { checkAgainstLive(t, seed) })
	}
}

func checkAgainstLive(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	src := randomRules(rng, 12)
	rs, err := rules.Parse("random.yaml", []byte(src))
	if err != nil {
		t.Fatalf("generated rules do not compile: %v\n%s", err, src)
	}
	set, err := rules.NewSet(rs)
	if err != nil {
		t.Fatal(err)
	}

	// History of the last weeks, so the live engine, judging event times
	// by the wall clock, finds it plausible.
	const n = 2500
	start := time.Now().UTC().AddDate(0, 0, -120).Truncate(24 * time.Hour)
	g := possim.New(possim.Config{Seed: int64(seed), Cards: 150, BadFraction: 0.05, Start: start,
		Faults: []string{possim.FaultMalformedJSON, possim.FaultUnknownVersion, possim.FaultMissingSwipeID,
			possim.FaultNegativeAmount, possim.FaultTotalMismatch, possim.FaultBadKind, possim.FaultMissingZone,
			possim.FaultAbsurdTime, possim.FaultKeyMismatch, possim.FaultEmptyValue}})
	var msgs []kafka.Message
	var file bytes.Buffer
	enc := json.NewEncoder(&file)
	for i := range n {
		m := g.Next()
		// Each swipe reaches Kafka at the simulated time it is sent, in the
		// topic as in the file: the engine judges offers' expiry by it.
		km := kafka.Message{Topic: engine.TopicSwipes, Key: m.Key, Value: m.Value, Time: g.Clock()}
		msgs = append(msgs, km)
		km.Offset = int64(i)
		if err := enc.Encode(backtest.NewRecord(&km)); err != nil {
			t.Fatal(err)
		}
	}
	if g.Clock().After(time.Now()) {
		t.Fatalf("simulated history reaches %s, past the wall clock: use fewer swipes or an earlier start", g.Clock())
	}

	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	ctx := context.Background()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	if err := engine.EnsureTopics(ctx, client, engine.Topics(4), 1); err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchBytes: 16 << 20}
	err = w.WriteMessages(ctx, msgs...)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}

	live := runLive(t, brokers, set, n)
	liveOffers := readOffers(t, brokers)

	topicSrcs, total, err := backtest.TopicSources(ctx, brokers, engine.TopicSwipes, nil)
	if err != nil {
		t.Fatal(err)
	}
	if total != n {
		t.Fatalf("topic sources hold %d messages, want %d", total, n)
	}
	for _, tc := range []struct {
		name string
		srcs []backtest.Source
	}{
		{"topic", topicSrcs},
		{"file", []backtest.Source{backtest.NewFileSource(bytes.NewReader(file.Bytes()))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]bool{}
			rep, err := backtest.Run(ctx, set, tc.srcs, backtest.Options{OnOffer: func(o *loyalty.Offer) {
				got[o.OfferID+" "+o.Channel] = true
			}})
			if err != nil {
				t.Fatal(err)
			}
			compare(t, live, liveOffers, rep, got)
		})
	}
}

// runLive runs an engine on the broker until it has processed want swipes.
func runLive(t *testing.T, brokers []string, set *rules.Set, want int64) *engine.Stats {
	t.Helper()
	e, err := engine.New(engine.Config{Brokers: brokers, Group: "live", Rules: set, Partitions: 4, MaxBatch: 64})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	deadline := time.Now().Add(2 * time.Minute)
	for e.Stats().Swipes.Load() < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := e.Stats().Swipes.Load(); got != want {
		t.Fatalf("live engine processed %d swipes, want %d", got, want)
	}
	return e.Stats()
}

// readOffers returns "offer_id channel" of every offer on the offer topics.
func readOffers(t *testing.T, brokers []string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, ch := range loyalty.Channels {
		srcs, _, err := backtest.TopicSources(context.Background(), brokers, loyalty.OfferTopic(ch), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range srcs {
			for {
				m, err := s.Next(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				var o loyalty.Offer
				if err := json.Unmarshal(m.Value, &o); err != nil {
					t.Fatal(err)
				}
				out[o.OfferID+" "+o.Channel] = true
			}
			s.Close()
		}
	}
	return out
}

func compare(t *testing.T, live *engine.Stats, liveOffers map[string]bool, rep *backtest.Report, got map[string]bool) {
	t.Helper()
	for k := range liveOffers {
		if !got[k] {
			t.Errorf("live offer %s missing from the backtest", k)
		}
	}
	for k := range got {
		if !liveOffers[k] {
			t.Errorf("backtest offer %s was not made live", k)
		}
	}
	totals := []struct {
		name       string
		live, back int64
	}{
		{"swipes", live.Swipes.Load(), rep.Swipes},
		{"applied", live.Applied.Load(), rep.Applied},
		{"duplicates", live.Duplicates.Load(), rep.Duplicates},
		{"dead letters", live.DLQ.Load(), rep.DeadLetters},
		{"offers", live.Offers.Load(), rep.Offers},
		{"held", live.Held.Load(), rep.Held},
		{"rule errors", live.RuleErrors.Load(), rep.RuleErrors},
	}
	for _, c := range totals {
		if c.live != c.back {
			t.Errorf("%s: live %d, backtest %d", c.name, c.live, c.back)
		}
	}
	for _, c := range live.RejectsByReason() {
		if rep.DeadLettersByReason[c.Name] != c.N {
			t.Errorf("dead letters %s: live %d, backtest %d", c.Name, c.N, rep.DeadLettersByReason[c.Name])
		}
	}
	if len(live.RejectsByReason()) != len(rep.DeadLettersByReason) {
		t.Errorf("dead letter reasons: live %v, backtest %v", live.RejectsByReason(), rep.DeadLettersByReason)
	}

	// Per rule: offers, and suppressed hits by reason.
	want := map[string]int64{}
	for _, c := range live.OffersByRule() {
		want[c.Name+" offers"] = c.N
	}
	for _, s := range live.SuppressedByRule() {
		want[s.Rule+" "+s.Reason] = s.N
	}
	have := map[string]int64{}
	reasons := map[string]bool{}
	for _, r := range rep.Rules {
		if r.Offers > 0 {
			have[r.Rule+" offers"] = r.Offers
		}
		if r.Held > 0 {
			have[r.Rule+" "+offers.Holdout.String()] = r.Held
			reasons[offers.Holdout.String()] = true
		}
		for k, v := range r.Suppressed {
			have[r.Rule+" "+k] = v
			reasons[k] = true
		}
	}
	for k, v := range want {
		if have[k] != v {
			t.Errorf("%s: live %d, backtest %d", k, v, have[k])
		}
	}
	for k, v := range have {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: backtest %d, live none", k, v)
		}
	}

	// The comparison means something only if the traffic exercised the
	// policy, arbitration and the dead-letter queue.
	if len(liveOffers) == 0 || rep.DeadLetters == 0 || rep.Duplicates == 0 {
		t.Errorf("traffic too tame: %d offers, %d dead letters, %d duplicates", len(liveOffers), rep.DeadLetters, rep.Duplicates)
	}
	for _, r := range []string{"cooldown", "cap", "holdout", "arbitration", "schedule"} {
		if !reasons[r] {
			t.Errorf("no hit was suppressed for %s: the random rules do not exercise it", r)
		}
	}
}
