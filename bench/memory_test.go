package bench

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/possim"
)

var profilesFlag = flag.Int("profiles", 100_000, "profiles BenchmarkProfileHeap holds (the figure is taken at 1000000)")

// historyCards is how many simulated cards shop for 90 days to make the
// template profiles the heap benchmark copies.
const historyCards = 5000

// realisticProfiles returns the profiles of historyCards cards after 90
// days of possim shopping (late swipes and POS retries included), folded
// straight from the simulator's decoded swipes.
func realisticProfiles(tb testing.TB) []*loyalty.Profile {
	tb.Helper()
	start := time.Date(2026, 8, 3, 8, 0, 0, 0, time.UTC)
	g := possim.New(possim.Config{Seed: 7, Cards: historyCards, Start: start})
	end := start.AddDate(0, 0, loyalty.HistoryDays)
	ps := g.Fold(func() bool { return g.Clock().Before(end) })
	slices.SortFunc(ps, func(a, b *loyalty.Profile) int { return int(a.FirstSeen - b.FirstSeen) })
	return ps
}

// liveHeap returns the bytes of live heap after two full collections.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkProfileHeap measures what holding profiles costs: -profiles N
// (default 100,000; 10,000 with -short) realistic profiles, copies of
// those of historyCards cards after 90 days of shopping under fresh card
// ids, are put into the engine's in-memory store as the engine stores them
// (encoded), and then a tenth of them, at most 100,000, are decoded as the
// disk store's profile cache holds them. It prints heap bytes per profile
// after a full GC, the encoded size, and what the garbage collector did:
// cycles, pauses and CPU share while the profiles were built, and how long
// one forced full collection takes with all of them live. One op is the whole
// measurement; run it once:
//
//	go test -run XXX -bench ProfileHeap -benchtime 1x ./bench -profiles 1000000
func BenchmarkProfileHeap(b *testing.B) {
	n := *profilesFlag
	if testing.Short() {
		n = min(n, 10_000)
	}
	templates := realisticProfiles(b)
	b.ResetTimer()
	for range b.N {
		measureProfileHeap(b, templates, n)
	}
	reportShape(b, templates)
}

func measureProfileHeap(b *testing.B, templates []*loyalty.Profile, n int) {
	store := engine.NewMemStore(nil)
	base := liveHeap()
	gc0 := readGC()
	var encoded int64
	var scratch []byte
	for i := range n {
		p := *templates[i%len(templates)]
		p.CardID = fmt.Sprintf("card-%07d", i)
		p.LastOffset = int64(i)
		// As Pipeline.EndBatch stores a profile: encoded into scratch,
		// then copied to bytes of their own.
		scratch = engine.AppendProfile(scratch[:0], &p)
		enc := bytes.Clone(scratch)
		encoded += int64(len(enc))
		if err := store.Put(p.CardID, enc, nil); err != nil {
			b.Fatal(err)
		}
	}
	// In the at-rest form, as the engine keeps them once restored
	// profiles are compacted or a swipe has stored them.
	engine.Compact(store)
	built := readGC().since(gc0)
	stored := liveHeap()
	began := time.Now()
	runtime.GC()
	fullGC := time.Since(began)

	// The decoded form, as the disk store's profile cache holds hot cards.
	nd := min(n/10, 100_000)
	decoded := make([]*loyalty.Profile, nd)
	before := liveHeap()
	for i := range decoded {
		p, err := store.Get(fmt.Sprintf("card-%07d", i))
		if err != nil || p == nil {
			b.Fatalf("card %d: %v %v", i, p, err)
		}
		decoded[i] = p
	}
	after := liveHeap()
	runtime.KeepAlive(decoded)
	if store.Len() != n {
		b.Fatalf("store holds %d profiles, want %d", store.Len(), n)
	}

	perStored := float64(stored-base) / float64(n)
	perDecoded := float64(after-before) / float64(nd)
	perEncoded := float64(encoded) / float64(n)
	b.ReportMetric(perStored, "heapB/profile")
	b.ReportMetric(perEncoded, "encB/profile")
	b.ReportMetric(perDecoded, "decodedB/profile")

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "profiles\theap/profile (stored)\tencoded/profile\theap/decoded profile\tbuild GC cycles\tbuild GC pause\tmax pause\tbuild GC CPU\tfull GC, all live\tlive heap\t\n")
	fmt.Fprintf(tw, "%s\t%.0f B\t%.0f B\t%.0f B\t%d\t%s\t%s\t%.1f%%\t%s\t%s\t\n",
		thousands(float64(n)), perStored, perEncoded, perDecoded,
		built.Cycles, ms(built.Pause), ms(built.MaxPause), 100*built.CPU, ms(fullGC), mib(stored))
	tw.Flush()
}

// regularVisits is the purchase visits in the 90 days of realisticProfiles
// that make a card a regular: one purchase a fortnight or more.
const regularVisits = 6

// reportShape prints what the template profiles hold, the figures their
// size follows: swipes, categories and SKUs per card at the median, and
// the medians and means of categories and SKUs over the regulars. The
// regulars' medians are also reported as metrics (cats/regular,
// skus/regular).
func reportShape(b *testing.B, ps []*loyalty.Profile) {
	var swipes, cats, skus, rcats, rskus []int
	for _, p := range ps {
		swipes = append(swipes, int(p.Visits+p.Checkins+p.Scans+p.Returns))
		cats = append(cats, len(p.Categories))
		skus = append(skus, len(p.SKUs))
		if p.Visits >= regularVisits {
			rcats = append(rcats, len(p.Categories))
			rskus = append(rskus, len(p.SKUs))
		}
	}
	if len(rcats) == 0 {
		b.Fatalf("none of %d cards made %d purchases", len(ps), regularVisits)
	}
	median := func(v []int) int { slices.Sort(v); return v[len(v)/2] }
	mean := func(v []int) float64 {
		t := 0
		for _, x := range v {
			t += x
		}
		return float64(t) / float64(len(v))
	}
	fmt.Printf("template profiles: %d cards, median %d swipes, %d categories, %d SKUs; %d regulars (%d+ purchases): categories median %d mean %.1f, SKUs median %d mean %.1f\n",
		len(ps), median(swipes), median(cats), median(skus), len(rcats), regularVisits, median(rcats), mean(rcats), median(rskus), mean(rskus))
	b.ReportMetric(float64(median(rcats)), "cats/regular")
	b.ReportMetric(float64(median(rskus)), "skus/regular")
}
