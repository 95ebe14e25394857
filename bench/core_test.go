package bench

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/possim"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
)

// traffic is a realistic stream: 20,000 cards, about ten weeks of
// shopping, 1% bad swipes, with the simulator's late swipes and retries.
func traffic(b *testing.B, n int) ([]kafka.Message, time.Time) {
	b.Helper()
	g := possim.New(possim.Config{Seed: 42, Cards: 20000, BadFraction: 0.01,
		Faults: []string{possim.FaultMalformedJSON, possim.FaultUnknownVersion, possim.FaultTotalMismatch, possim.FaultMissingZone}})
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		m := g.Next()
		msgs[i] = kafka.Message{Topic: engine.TopicSwipes, Offset: int64(i), Key: m.Key, Value: m.Value}
	}
	return msgs, g.Clock()
}

func ruleSet(b *testing.B, n int) *rules.Set {
	b.Helper()
	if n == 0 {
		rs, err := rules.NewSet(nil)
		if err != nil {
			b.Fatal(err)
		}
		return rs
	}
	rs, err := rules.Parse("generated.yaml", []byte(Rules(n, 1)))
	if err != nil {
		b.Fatal(err)
	}
	set, err := rules.NewSet(rs)
	if err != nil {
		b.Fatal(err)
	}
	return set
}

// BenchmarkCore measures the engine core without a broker: decode and
// validate, fold into the profile, evaluate the rules, build and encode the
// offers, and encode changed profiles for the changelog every 500 swipes,
// as the engine does per batch. One op is one swipe. rules=0 is the
// baseline of the same run: everything but rule evaluation and offers.
//
// It measures the steady state: the first coreWarm swipes of the stream
// (ten weeks of a 20,000-card chain under 100 rules) are folded into
// profiles before the clock starts, stored as the engine stores them in
// memory (compact, and decoded on every swipe), and the swipes measured
// are the ones after them, on profiles with their history. A run longer
// than the coreWindow swipes after the warm-up starts again from the warm
// profiles. (Until 2026-11-27 the benchmark started from empty profiles,
// which made every figure about twice as good as the steady state. Until
// the in-memory store stopped caching decoded profiles, later that day,
// the cache was filled here by the swipes just before the window.)
//
// Besides ns/op it prints swipes/s and allocs/swipe (heap objects counted
// by the runtime over the whole run), and out/swipe (offers and dead
// letters published per swipe).
func BenchmarkCore(b *testing.B) {
	msgs, clock := traffic(b, coreWarm+coreWindow)
	now := func() time.Time { return clock }
	warm := warmProfiles(b, msgs[:coreWarm], ruleSet(b, 100), now)
	window := msgs[coreWarm:]
	for _, n := range ruleCounts {
		rs := ruleSet(b, n)
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			newPipeline := func() *engine.Pipeline {
				store := engine.NewMemStore(nil)
				for card, enc := range warm {
					if err := store.Put(card, enc, nil); err != nil {
						b.Fatal(err)
					}
				}
				engine.Compact(store) // as the engine does once a restored partition serves
				return engine.NewPipeline(0, rs, store, engine.DefaultLimits, now, nil)
			}
			p := newPipeline()
			var offers int
			mallocs, cpu := countMallocs(), cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%len(window) == 0 && i > 0 {
					// Again from the warm profiles: the same swipes on
					// the profiles they updated would be skipped as
					// already applied.
					b.StopTimer()
					p = newPipeline()
					b.StartTimer()
				}
				p.Process(&window[i%len(window)])
				if p.Len() == 500 {
					out, _, err := p.EndBatch()
					if err != nil {
						b.Fatal(err)
					}
					offers += len(out)
					p.StartBatch()
				}
			}
			b.StopTimer()
			reportRate(b, cpu, mallocs)
			b.ReportMetric(float64(offers)/float64(b.N), "out/swipe")
		})
	}
}

// The core benchmark's stream: coreWarm swipes to build the profiles,
// then coreWindow measured ones.
const coreWarm, coreWindow = 200_000, 50_000

// warmProfiles runs msgs through a pipeline with rs, as the engine would,
// and returns every resulting profile's encoding by card.
func warmProfiles(b *testing.B, msgs []kafka.Message, rs *rules.Set, now func() time.Time) map[string][]byte {
	b.Helper()
	store := engine.NewMemStore(nil)
	p := engine.NewPipeline(0, rs, store, engine.DefaultLimits, now, nil)
	cards := make(map[string]bool)
	for i := range msgs {
		cards[string(msgs[i].Key)] = true
		p.Process(&msgs[i])
		if p.Len() == 500 || i == len(msgs)-1 {
			if _, _, err := p.EndBatch(); err != nil {
				b.Fatal(err)
			}
			p.StartBatch()
		}
	}
	enc := store.(interface {
		Encoded(string) ([]byte, bool, error)
	})
	warm := make(map[string][]byte, len(cards))
	for card := range cards {
		data, ok, err := enc.Encoded(card)
		if err != nil {
			b.Fatal(err)
		}
		if ok {
			warm[card] = data
		}
	}
	return warm
}

// ruleCounts are the rule set sizes the core benchmarks run at; 0 is the
// baseline without rules.
var ruleCounts = []int{0, 100, 1000, 10000}

// cpuTime is the CPU time the process has used so far, garbage collection
// included. Swipes per CPU second is the figure per core that holds on a
// busy machine, where wall time also counts waiting for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportRate prints swipes/s (wall time), swipes/cpu-s and allocs/swipe for
// the b.N swipes since cpu0 and mallocs0.
func reportRate(b *testing.B, cpu0 time.Duration, mallocs0 uint64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "swipes/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "swipes/cpu-s")
	}
	b.ReportMetric(float64(countMallocs()-mallocs0)/float64(b.N), "allocs/swipe")
}

// countMallocs is the number of heap objects allocated so far.
func countMallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// BenchmarkRules measures rule evaluation alone: Evaluator.Match on decoded
// swipes and their cards' profiles, so the cost of the rules shows apart
// from decoding and profile updates. The profiles are built from the whole
// stream first, and the last 20,000 good swipes are matched against them
// (a profile a little ahead of the swipe costs the rules the same). One op
// is one swipe; hits/swipe is the rules that fired, before offer policy,
// and runs/swipe the conditions run: those the rule index did not rule
// out. Unlike timings, both are the same on any machine.
func BenchmarkRules(b *testing.B) {
	const pool, tail = 200_000, 20_000
	msgs, clock := traffic(b, pool)
	profiles := make(map[string]*loyalty.Profile)
	type pair struct {
		s *loyalty.Swipe
		p *loyalty.Profile
	}
	var pairs []pair
	for i := range msgs {
		s, err := engine.Decode(msgs[i].Key, msgs[i].Value, clock, engine.DefaultLimits)
		if err != nil {
			continue // a bad swipe never reaches the rules
		}
		p := profiles[s.CardID]
		if p == nil {
			p = loyalty.NewProfile(s.CardID)
			profiles[s.CardID] = p
		}
		if p.Apply(s) == loyalty.Applied && i >= pool-tail {
			pairs = append(pairs, pair{s, p})
		}
	}
	for _, n := range ruleCounts[1:] {
		rs := ruleSet(b, n)
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			e := rs.NewEvaluator()
			hits := make([]*rules.Rule, 0, rs.Len())
			var fired int
			b.ReportAllocs()
			mallocs, cpu := countMallocs(), cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pp := &pairs[i%len(pairs)]
				hits = e.Match(pp.s, pp.p, hits[:0], nil)
				fired += len(hits)
			}
			b.StopTimer()
			reportRate(b, cpu, mallocs)
			b.ReportMetric(float64(fired)/float64(b.N), "hits/swipe")
			b.ReportMetric(float64(e.Runs())/float64(b.N), "runs/swipe")
		})
	}
}
