package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/possim"
)

// TestDiskStoreFigures measures the on-disk profile store (Pebble, with
// the decoded-profile cache in front) against the in-memory store: fill N
// realistic profiles, then run the engine's access pattern (get, update,
// put, commit per batch) over power-law card popularity. It prints a
// table and asserts nothing about speed. Set OFFERD_BENCH_DISK to the
// number of profiles (10000000 for the recorded figure); without it the
// test is skipped.
func TestDiskStoreFigures(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("OFFERD_BENCH_DISK"))
	if n <= 0 {
		t.Skip("set OFFERD_BENCH_DISK=<profiles> to measure the disk store")
	}
	const parts, batch, ops = 6, 500, 1_000_000
	tmpl := templateProfiles(t)
	var size int
	encs := make([][]byte, len(tmpl))
	for i, p := range tmpl {
		encs[i] = engine.AppendProfile(nil, p)
		size += len(encs[i])
	}

	type result struct {
		name         string
		fill, access time.Duration
		heap, disk   uint64
	}
	run := func(name string, open func(cache *engine.ProfileCache) ([]engine.Store, func() uint64, func())) result {
		cache, err := engine.NewProfileCache(64 << 20)
		if err != nil {
			t.Fatal(err)
		}
		defer cache.Close()
		stores, diskBytes, closeAll := open(cache)
		defer closeAll()
		r := result{name: name}
		began := time.Now()
		for i := range n {
			s := stores[i%parts]
			enc := encs[i%len(encs)]
			if err := s.Put(cardID(i), enc, nil); err != nil {
				t.Fatal(err)
			}
			if i%batch == batch-1 {
				commitAll(t, stores)
			}
		}
		commitAll(t, stores)
		for _, s := range stores {
			engine.Compact(s) // in memory: the at-rest form, as the engine keeps it
		}
		r.fill = time.Since(began)

		// Zipf over cards: a few regulars swipe often, most cards rarely.
		rng := rand.New(rand.NewPCG(1, 2))
		zipf := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, uint64(n-1))
		began = time.Now()
		for i := range ops {
			c := int(zipf.Uint64())
			c = (c*7919 + int(rng.Uint32()%2)) % n // spread the hot cards over partitions
			s := stores[c%parts]
			p, err := s.Get(cardID(c))
			if err != nil || p == nil {
				t.Fatalf("card %d: %v %v", c, p, err)
			}
			p.Visits++
			if err := s.Put(cardID(c), engine.AppendProfile(nil, p), p); err != nil {
				t.Fatal(err)
			}
			if i%batch == batch-1 {
				commitAll(t, stores)
			}
		}
		commitAll(t, stores)
		r.access = time.Since(began)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		r.heap = ms.HeapAlloc
		r.disk = diskBytes()
		runtime.KeepAlive(stores)
		return r
	}

	var results []result
	results = append(results, run("pebble + 64 MiB cache", func(cache *engine.ProfileCache) ([]engine.Store, func() uint64, func()) {
		dir := t.TempDir()
		d, err := engine.OpenDiskStore(dir, cache)
		if err != nil {
			t.Fatal(err)
		}
		var ss []engine.Store
		for p := range parts {
			ss = append(ss, d.Partition(p))
		}
		return ss, func() uint64 { return dirSize(dir) }, func() { d.Close() }
	}))
	if n <= 2_000_000 { // the baseline needs all profiles in RAM
		results = append(results, run("memory (baseline)", func(cache *engine.ProfileCache) ([]engine.Store, func() uint64, func()) {
			var ss []engine.Store
			for range parts {
				ss = append(ss, engine.NewMemStore(cache))
			}
			return ss, func() uint64 { return 0 }, func() {}
		}))
	}

	fmt.Printf("\n== profile store: %s profiles (%d realistic templates, %d B encoded on average), %s accesses ==\n",
		thousands(float64(n)), len(tmpl), size/len(tmpl), thousands(ops))
	fmt.Printf("date      %s\nmachine   %d cores, %s, %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), cpuModel(), runtime.Version())
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "store\tfill profiles/s\taccess ops/s\theap after\tdisk\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.name, thousands(float64(n)/r.fill.Seconds()),
			thousands(ops/r.access.Seconds()), mib(r.heap), mib(r.disk))
	}
	tw.Flush()
}

func cardID(i int) string { return "card-" + strconv.Itoa(i) }

func commitAll(t *testing.T, stores []engine.Store) {
	t.Helper()
	for _, s := range stores {
		if c, ok := s.(interface{ Commit() error }); ok {
			if err := c.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// templateProfiles folds a simulated feed of 20,000 cards into profiles.
func templateProfiles(t *testing.T) []*loyalty.Profile {
	t.Helper()
	g := possim.New(possim.Config{Seed: 404, Cards: 20_000, Faults: []string{}, LateFraction: -1, RetryFraction: -1})
	n := 0
	return g.Fold(func() bool { n++; return n <= 200_000 })
}

func dirSize(dir string) uint64 {
	var n uint64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += uint64(fi.Size())
		}
		return nil
	})
	return n
}
