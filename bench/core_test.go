package bench

import (
	"fmt"
	"testing"
	"time"

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
func BenchmarkCore(b *testing.B) {
	const pool = 200_000
	msgs, clock := traffic(b, pool)
	now := func() time.Time { return clock }
	for _, n := range []int{0, 100, 1000} {
		rs := ruleSet(b, n)
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			newPipeline := func() *engine.Pipeline {
				// The engine's default: 64 MiB of decoded hot profiles.
				cache, err := engine.NewProfileCache(64 << 20)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(cache.Close)
				return engine.NewPipeline(0, rs, engine.NewMemStore(cache), engine.DefaultLimits, now, nil)
			}
			p := newPipeline()
			var offers int
			for i := 0; i < b.N; i++ {
				if i%pool == 0 && i > 0 {
					// Replay from scratch: the same swipes on an old
					// profile would be skipped as already applied.
					b.StopTimer()
					p = newPipeline()
					b.StartTimer()
				}
				p.Process(&msgs[i%pool])
				if p.Len() == 500 {
					out, _, err := p.EndBatch()
					if err != nil {
						b.Fatal(err)
					}
					offers += len(out)
					p.StartBatch()
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "swipes/s")
			b.ReportMetric(float64(offers)/float64(b.N), "out/swipe")
		})
	}
}
