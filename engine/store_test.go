package engine

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/aislecast/loyalty"
)

// A restore's records are kept as they came until compact converts them
// to the at-rest form, with interned names; either way every profile
// comes back as it went in, and Encoded gives the changelog's format.
func TestMemStoreAtRest(t *testing.T) {
	cache := &ProfileCache{}
	a, b := newMemStore(cache), newMemStore(cache)
	p := sampleProfile()
	if err := a.Put(p.CardID, AppendProfile(nil, p), nil); err != nil {
		t.Fatal(err)
	}
	q := sampleProfile()
	q.CardID = "card-43"
	if err := b.Put(q.CardID, AppendProfile(nil, q), nil); err != nil {
		t.Fatal(err)
	}
	for _, compacted := range []bool{false, true} {
		for _, c := range []struct {
			s *memStore
			p *loyalty.Profile
		}{{a, p}, {b, q}} {
			got, err := c.s.Get(c.p.CardID)
			if err != nil || !reflect.DeepEqual(got, c.p) {
				t.Fatalf("compacted %v: Get(%s) = %+v, %v; want %+v", compacted, c.p.CardID, got, err, c.p)
			}
			enc, ok, err := c.s.Encoded(c.p.CardID)
			if err != nil || !ok || enc[0] != profileFormat {
				t.Fatalf("compacted %v: Encoded(%s) = %x, %v, %v; want format %d", compacted, c.p.CardID, enc, ok, err, profileFormat)
			}
			if dec, err := DecodeProfile(enc); err != nil || !reflect.DeepEqual(dec, c.p) {
				t.Fatalf("compacted %v: Encoded(%s) decodes to %+v, %v", compacted, c.p.CardID, dec, err)
			}
			e := c.s.m[c.p.CardID]
			if atRest := e.data[0] == profileAtRest && len(e.data) < len(enc); atRest != compacted {
				t.Errorf("compacted %v: card %s stored as %d bytes in format %#x", compacted, c.p.CardID, len(e.data), e.data[0])
			}
			if n, want := c.s.uncompacted(), map[bool]int{false: 1, true: 0}[compacted]; n != want {
				t.Errorf("compacted %v: %d profiles uncompacted, want %d", compacted, n, want)
			}
		}
		if !compacted {
			for _, s := range []*memStore{a, b} {
				if n := s.compact(func(time.Duration) bool { return true }); n != 1 {
					t.Fatalf("compact converted %d profiles, want 1", n)
				}
			}
		}
	}
	// The two stores share one copy of each name.
	if n := len(cache.names.names); n != len(p.Categories)+len(p.SKUs)+len(p.Stores) {
		t.Errorf("name table holds %d names", n)
	}
}

// Compaction runs while the partition serves: a profile a swipe stores in
// the meantime is not overwritten by the converted restored one, a card
// restored in several versions is converted once, the rest are converted
// between pauses, a stop leaves the rest for later, and no entry's key
// keeps a replaced record alive.
func TestMemStoreCompact(t *testing.T) {
	s := newMemStore(&ProfileCache{})
	want := make(map[string]*loyalty.Profile)
	for i := range 3*compactChunk + 10 {
		p := sampleProfile()
		p.CardID = fmt.Sprintf("card-%04d", i)
		for v := range 1 + i%3 { // some cards in several versions, as a changelog not compacted yet holds them
			p.Visits = int64(v)
			if err := s.Put(p.CardID, AppendProfile(nil, p), nil); err != nil {
				t.Fatal(err)
			}
		}
		want[p.CardID] = p
	}
	if len(s.raw) != len(want) || s.uncompacted() != len(want) {
		t.Fatalf("%d cards listed for compaction, %d uncompacted; want %d", len(s.raw), s.uncompacted(), len(want))
	}
	// A swipe changes a card of the second chunk while the first pauses.
	changed := fmt.Sprintf("card-%04d", compactChunk+5)
	pauses := 0
	n := s.compact(func(time.Duration) bool {
		if pauses++; pauses == 1 {
			p, err := s.Get(changed)
			if err != nil || p == nil {
				t.Fatalf("Get(%s) = %v, %v", changed, p, err)
			}
			p.Scans = 99
			if err := s.Put(changed, AppendProfile(nil, p), p); err != nil {
				t.Fatal(err)
			}
		}
		return pauses < 2 // stop after the second chunk
	})
	if n != 2*compactChunk-1 || s.uncompacted() != len(want)-2*compactChunk {
		t.Fatalf("first call converted %d, left %d; want %d and %d", n, s.uncompacted(), 2*compactChunk-1, len(want)-2*compactChunk)
	}
	if n := s.compact(func(time.Duration) bool { return true }); n != len(want)-2*compactChunk || s.uncompacted() != 0 || len(s.raw) != 0 {
		t.Fatalf("second call converted %d, left %d (%d listed)", n, s.uncompacted(), len(s.raw))
	}
	want[changed].Scans = 99
	// A Put between reading an entry and swapping in its conversion wins.
	card := "card-0000"
	if err := s.Put(card, AppendProfile(nil, want[card]), nil); err != nil {
		t.Fatal(err)
	}
	e, ok := s.rawEntry(card)
	if !ok {
		t.Fatalf("%s not in the changelog's form after a restore's Put", card)
	}
	converted, err := toAtRest(nil, view(e.data), &s.cache.names)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Get(card)
	if err != nil {
		t.Fatal(err)
	}
	p.Checkins = 7
	if err := s.Put(card, AppendProfile(nil, p), p); err != nil {
		t.Fatal(err)
	}
	if s.swap(card, e.ver, string(converted)) {
		t.Fatal("a stale conversion was swapped in over a newer Put")
	}
	want[card].Checkins = 7
	for card, p := range want {
		got, err := s.Get(card)
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Fatalf("Get(%s) = %+v, %v; want %+v", card, got, err, p)
		}
	}
	for key, e := range s.m {
		if e.data[0] != profileAtRest {
			t.Fatalf("card %s not at rest: format %#x", key, e.data[0])
		}
		k, d := uintptr(unsafe.Pointer(unsafe.StringData(key))), uintptr(unsafe.Pointer(unsafe.StringData(e.data)))
		if k < d || k+uintptr(len(key)) > d+uintptr(len(e.data)) {
			t.Fatalf("card %s: the map's key is not the id inside the entry's data", key)
		}
	}
}

// Compaction and a partition's swipes run at the same time (for the race
// detector): every profile ends at rest, as the last Put left it.
// Compaction pauses as long as each chunk took while the instance has
// swipes to process or partitions to restore, and not while it is idle.
func TestCompactPause(t *testing.T) {
	e := &Engine{}
	ctx, cancel := context.WithCancel(context.Background())
	var slept []time.Duration
	pause := e.compactPause(ctx, func(_ context.Context, d time.Duration) bool {
		slept = append(slept, d)
		return true
	})
	chunk := func(step string, wantSleep bool) {
		t.Helper()
		before := len(slept)
		if !pause(3 * time.Millisecond) {
			t.Fatalf("%s: compaction stopped", step)
		}
		if got := len(slept) > before; got != wantSleep {
			t.Fatalf("%s: paused %v, want %v", step, got, wantSleep)
		}
		if wantSleep && slept[len(slept)-1] != 3*time.Millisecond {
			t.Fatalf("%s: paused %v after a chunk of 3ms", step, slept[len(slept)-1])
		}
	}
	chunk("idle", false)
	e.stats.Swipes.Add(10)
	chunk("swipes read during the chunk", true)
	chunk("idle again", false)
	e.restoring.Add(1)
	chunk("a partition restoring", true)
	e.restoring.Add(-1)
	chunk("restored", false)
	cancel()
	if pause(time.Millisecond) {
		t.Fatal("compaction went on after its context ended")
	}
}

func TestMemStoreCompactConcurrent(t *testing.T) {
	cache, err := NewProfileCache(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	s := newMemStore(cache)
	const cards = 2000
	for i := range cards {
		p := sampleProfile()
		p.CardID = fmt.Sprintf("card-%04d", i)
		if err := s.Put(p.CardID, AppendProfile(nil, p), nil); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan int)
	go func() { done <- s.compact(func(time.Duration) bool { runtime.Gosched(); return true }) }()
	rng := rand.New(rand.NewPCG(1, 2))
	scans := make(map[string]int64)
	for range 3000 {
		card := fmt.Sprintf("card-%04d", rng.IntN(cards))
		p, err := s.Get(card)
		if err != nil || p == nil {
			t.Fatalf("Get(%s) = %v, %v", card, p, err)
		}
		p.Scans++
		scans[card] = p.Scans
		if err := s.Put(card, AppendProfile(nil, p), p); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	if n := s.uncompacted(); n != 0 {
		t.Fatalf("%d profiles left uncompacted", n)
	}
	for card, n := range scans {
		enc, _, _ := s.Encoded(card)
		p, err := DecodeProfile(enc)
		if err != nil || p.Scans != n {
			t.Fatalf("card %s: scans %d, %v; want %d", card, p.Scans, err, n)
		}
	}
}

// A profile stored with its decoded form is put at rest from the profile
// itself, byte for byte as from its encoding alone, and its names become
// the table's copies, so that storing it again finds them by address.
func TestMemStoreAtRestFromProfile(t *testing.T) {
	cache := &ProfileCache{}
	s := newMemStore(cache)
	p := sampleProfile()
	p.SKUs = append(p.SKUs, loyalty.SKUStats{SKU: "sku-\u00e9", Units: 2, LastBought: p.LastVisit})
	enc := AppendProfile(nil, p)
	want, err := toAtRest(nil, enc, &nameTable{})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		if err := s.Put(p.CardID, enc, p); err != nil {
			t.Fatal(err)
		}
		if got := s.m[p.CardID].data; got != string(want) {
			t.Fatalf("round %d: at rest as %x, want %x", round, got, want)
		}
		var n int
		eachName(p, func(_ int, name *string) bool {
			if id, ok := cache.names.idOf(*name); !ok || cache.names.names[id] != *name {
				t.Errorf("round %d: name %q is not the table's copy", round, *name)
			}
			n++
			return true
		})
		if n != len(cache.names.names) {
			t.Errorf("round %d: %d names in the profile, %d in the table", round, n, len(cache.names.names))
		}
	}
	if got, err := s.Get(p.CardID); err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, p)
	}
}

// eachName calls f on every category, SKU and store name of p, in the
// order of the encodings, with its kind, until f returns false.
func eachName(p *loyalty.Profile, f func(kind int, s *string) bool) {
	for i := range p.Categories {
		if !f(kindCategory, &p.Categories[i].Name) {
			return
		}
	}
	for i := range p.SKUs {
		if !f(kindSKU, &p.SKUs[i].SKU) {
			return
		}
	}
	for i := range p.Stores {
		if !f(kindStore, &p.Stores[i].StoreID) {
			return
		}
	}
}

func TestMemStoreOldFormatsAndCorruption(t *testing.T) {
	s := newMemStore(&ProfileCache{})
	v1 := mustHex(format1)
	if err := s.Put("card-7", v1, nil); err != nil {
		t.Fatal(err)
	}
	want, _ := DecodeProfile(v1)
	if got, err := s.Get("card-7"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("format 1 record read back as %+v, %v", got, err)
	}
	// A corrupt record is kept, and reading it fails, as it always did: the
	// card's swipes are dead-lettered, the partition goes on. Format 3's
	// is found corrupt when compacted; format 4's body is copied, not
	// read, then, so it is found when read.
	bad3 := appendFormat3(nil, sampleProfile())
	bad3 = bad3[:len(bad3)-3]
	bad4 := AppendProfile(nil, sampleProfile())
	bad4 = bad4[:len(bad4)-3]
	for card, bad := range map[string][]byte{"card-3": bad3, "card-4": bad4} {
		if err := s.Put(card, bad, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(card); err == nil {
			t.Fatalf("a truncated record (%s) was read", card)
		}
	}
	if s.Len() != 3 {
		t.Errorf("Len = %d, want 3", s.Len())
	}
	// Compaction converts the old format and the format 4 record; the
	// format 3 one, which it cannot read, stays as it came.
	if n := s.compact(func(time.Duration) bool { return true }); n != 2 || s.uncompacted() != 1 {
		t.Errorf("compact converted %d, left %d; want 2 and 1", n, s.uncompacted())
	}
	if got, err := s.Get("card-7"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("format 1 record read back after compaction as %+v, %v", got, err)
	}
	for _, card := range []string{"card-3", "card-4"} {
		if _, err := s.Get(card); err == nil {
			t.Fatalf("a truncated record (%s) was read after compaction", card)
		}
	}
}

// What a store counts as its profiles' bytes is the length of what it
// holds, through puts of both kinds, replacements, compaction, deletes and
// clear.
func TestMemStoreBytes(t *testing.T) {
	s := newMemStore(&ProfileCache{})
	check := func(step string) {
		t.Helper()
		var n int64
		for _, e := range s.m {
			n += int64(len(e.data))
		}
		if got := s.storedBytes(); got != n || (n == 0) != (len(s.m) == 0) {
			t.Fatalf("%s: %d bytes counted, %d held by %d profiles", step, got, n, len(s.m))
		}
	}
	p := sampleProfile()
	for i := range 5 {
		p.CardID = fmt.Sprintf("card-%d", i)
		if err := s.Put(p.CardID, AppendProfile(nil, p), nil); err != nil {
			t.Fatal(err)
		}
	}
	check("restored")
	p.CardID = "card-1"
	p.Visits++
	if err := s.Put(p.CardID, AppendProfile(nil, p), p); err != nil {
		t.Fatal(err)
	}
	check("one stored by a swipe")
	if n := s.compact(func(time.Duration) bool { return true }); n != 4 {
		t.Fatalf("compacted %d, want 4", n)
	}
	check("compacted")
	if err := s.Delete("card-3"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("card-never"); err != nil {
		t.Fatal(err)
	}
	check("deleted")
	s.clear()
	check("cleared")
}

// Stores of different partitions intern names concurrently.
func TestMemStoreConcurrentPartitions(t *testing.T) {
	cache := &ProfileCache{}
	var wg sync.WaitGroup
	for part := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newMemStore(cache)
			for i := range 50 {
				p := sampleProfile()
				p.CardID = fmt.Sprintf("card-%d-%d", part, i)
				p.SKUs[i%len(p.SKUs)].SKU = fmt.Sprintf("only-%d-%d", part, i)
				if err := s.Put(p.CardID, AppendProfile(nil, p), nil); err != nil {
					t.Error(err)
					return
				}
				s.compact(func(time.Duration) bool { return true })
				if got, err := s.Get(p.CardID); err != nil || !reflect.DeepEqual(got, p) {
					t.Errorf("card %s read back as %+v, %v", p.CardID, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// A name is known by address only if it is the table's own copy: a copy
// elsewhere, a piece of a name, or an empty name is looked up by its bytes.
func TestNameTableIDOf(t *testing.T) {
	var nt nameTable
	for i := range 5000 { // several arena chunks
		nt.add(fmt.Sprintf("sku-%06d-%s", i, strings.Repeat("x", i%40)))
	}
	if len(nt.chunks) < 2 {
		t.Fatalf("%d arena chunks, want several", len(nt.chunks))
	}
	for id, name := range nt.names {
		if got, ok := nt.idOf(name); !ok || got != uint32(id) {
			t.Fatalf("idOf(table's %q) = %d, %v; want %d", name, got, ok, id)
		}
		if _, ok := nt.idOf(strings.Clone(name)); ok {
			t.Fatalf("a copy of %q was known by address", name)
		}
		if _, ok := nt.idOf(name[:len(name)-1]); ok {
			t.Fatalf("a piece of %q was known by address", name)
		}
		if _, ok := nt.idOf(name[1:]); ok {
			t.Fatalf("the tail of %q was known by address", name)
		}
	}
	if _, ok := nt.idOf(""); ok {
		t.Fatal("the empty name was known by address")
	}
}

// A cached profile that grows is charged again once it has grown a
// quarter, so the cache keeps to its size; a store that does not grow it
// that much only moves the entry's version.
func TestProfileCacheRechargesGrowth(t *testing.T) {
	pc, err := NewProfileCache(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	p := sampleProfile()
	charged := func() int64 {
		t.Helper()
		pc.c.Wait()
		cp, ok := pc.c.Get(p.CardID)
		if !ok || cp.p != p {
			t.Fatal("the profile is not cached")
		}
		return cp.cost
	}
	pc.put(p.CardID, 1, p, 1000)
	if got := charged(); got != 1000 {
		t.Fatalf("charged %d, want 1000", got)
	}
	pc.put(p.CardID, 2, p, 1200)
	if got := charged(); got != 1000 || pc.get(p.CardID, 2) != p {
		t.Fatalf("after growing a fifth: charged %d, version 2 cached: %v; want 1000, true", got, pc.get(p.CardID, 2) == p)
	}
	pc.put(p.CardID, 3, p, 1300)
	if got := charged(); got != 1300 || pc.get(p.CardID, 3) != p {
		t.Fatalf("after growing 30%%: charged %d; want 1300", got)
	}
}

// Many profiles, with names of every length, prefixes shared over more
// bytes than are left in the record, names used both as a category and
// as a SKU, and names new to the table, come back from the at-rest form
// as they went in, and the table holds each distinct name once.
func TestNameTableManyNames(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(n int) []string {
		set := map[string]bool{}
		for len(set) < n {
			// Few stems, so that sorted names share prefixes, and
			// lengths from 1 to over 300 bytes.
			name := []string{"a", "dairy", "dairy-milk", "z" + strings.Repeat("y", 300)}[rng.IntN(4)]
			if rng.IntN(3) > 0 {
				name += fmt.Sprintf("-%04d", rng.IntN(400))
			}
			set[name] = true
		}
		out := make([]string, 0, n)
		for s := range set {
			out = append(out, s)
		}
		slices.Sort(out)
		return out
	}
	table := &nameTable{}
	distinct := map[string]bool{}
	for i := range 300 {
		p := loyalty.NewProfile(fmt.Sprintf("card-%d", i))
		p.FirstSeen, p.LastSeen, p.NewestDay = 1_780_000_000, 1_780_000_000, 1_780_000_000/86400
		for _, name := range pick(1 + rng.IntN(120)) {
			p.Categories = append(p.Categories, loyalty.CategoryStats{Name: name, SpendCents: 1, Units: 1, LastBought: p.LastSeen})
			distinct[name] = true
		}
		for _, name := range pick(rng.IntN(loyalty.TopSKUs + 1)) {
			p.SKUs = append(p.SKUs, loyalty.SKUStats{SKU: name, Units: 1, LastBought: p.LastSeen})
			distinct[name] = true
		}
		for _, name := range pick(rng.IntN(loyalty.TopStores + 1)) {
			p.Stores = append(p.Stores, loyalty.StoreVisits{StoreID: name, Visits: 1, LastVisit: p.LastSeen})
			distinct[name] = true
		}
		enc := AppendProfile(nil, p)
		if got, err := DecodeProfile(enc); err != nil || !reflect.DeepEqual(got, p) {
			t.Fatalf("profile %d: encoded and decoded: %+v, %v; want %+v", i, got, err, p)
		}
		rest, err := toAtRest(nil, enc, table)
		if err != nil {
			t.Fatalf("profile %d: %v", i, err)
		}
		got, err := decodeAtRest(rest, table)
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Fatalf("profile %d: at rest and back: %+v, %v; want %+v", i, got, err, p)
		}
		if len(table.names) != len(distinct) {
			t.Fatalf("profile %d: the table holds %d names for %d distinct ones", i, len(table.names), len(distinct))
		}
	}
	for name := range distinct {
		id, ok := table.ids[name]
		if !ok || table.names[id] != name {
			t.Errorf("table id of %q: %d, %v", name, id, ok)
		}
	}
	if _, ok := table.ids["never-seen"]; ok {
		t.Error("the table has a name it was never given")
	}
}

// What the cache is charged for a decoded profile is the heap decoding it
// takes, within the rounding of allocation sizes, for profiles decoded
// from the at-rest form (names shared) and from the changelog's format
// (names their own).
func TestDecodedCost(t *testing.T) {
	ps := []*loyalty.Profile{sampleProfile()}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 50 {
		p := loyalty.NewProfile(fmt.Sprintf("card-%04d", i))
		p.FirstSeen, p.LastSeen, p.NewestDay = 1_780_000_000, 1_780_000_000, 1_780_000_000/86400
		for c := range 1 + rng.IntN(80) {
			cat := loyalty.CategoryStats{Name: fmt.Sprintf("category-%03d", c), SpendCents: 100, Units: 1, LastBought: p.LastSeen}
			for d := range 1 + rng.IntN(4) {
				cat.Days = append(cat.Days, loyalty.DaySpend{Day: p.NewestDay - int32(3-d), Cents: 25})
			}
			p.Categories = append(p.Categories, cat)
		}
		for k := range rng.IntN(loyalty.TopSKUs + 1) {
			p.SKUs = append(p.SKUs, loyalty.SKUStats{SKU: fmt.Sprintf("sku-%05d", k), Units: 1, LastBought: p.LastSeen})
		}
		ps = append(ps, p)
	}
	table := &nameTable{}
	var rest, enc [][]byte
	for _, p := range ps {
		e := AppendProfile(nil, p)
		r, err := toAtRest(nil, e, table)
		if err != nil {
			t.Fatal(err)
		}
		enc, rest = append(enc, e), append(rest, r)
	}
	for _, c := range []struct {
		name   string
		names  bool
		decode func(i int) (*loyalty.Profile, error)
	}{
		{"at rest", false, func(i int) (*loyalty.Profile, error) { return decodeAtRest(rest[i], table) }},
		{"changelog", true, func(i int) (*loyalty.Profile, error) { return DecodeProfile(enc[i]) }},
	} {
		// The least of three rounds: another goroutine's allocations
		// can only add to a round's.
		var charged int64
		heap := int64(math.MaxInt64)
		decoded := make([]*loyalty.Profile, len(ps))
		for range 3 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for i := range ps {
				p, err := c.decode(i)
				if err != nil {
					t.Fatal(err)
				}
				decoded[i] = p
			}
			runtime.ReadMemStats(&after)
			heap = min(heap, int64(after.TotalAlloc-before.TotalAlloc))
		}
		for _, p := range decoded {
			charged += decodedCost(p, c.names)
		}
		if r := float64(charged) / float64(heap); r < 0.8 || r > 1.05 {
			t.Errorf("%s: charged %d B for %d profiles whose decoding allocated %d B (%.2f)", c.name, charged, len(ps), heap, r)
		}
	}
}

// A restore keeps records in the changelog's form only while the heap is
// under half the runtime's memory limit, and always without a limit.
func TestMemoryTight(t *testing.T) {
	for _, c := range []struct {
		heap, limit int64
		want        bool
	}{
		{1 << 40, math.MaxInt64, false},
		{400, 1000, false},
		{500, 1000, false},
		{501, 1000, true},
	} {
		if got := memoryTight(c.heap, c.limit); got != c.want {
			t.Errorf("memoryTight(%d, %d) = %v, want %v", c.heap, c.limit, got, c.want)
		}
	}
	if heapObjects() <= 0 {
		t.Error("no heap objects measured")
	}
}

// A restore sizes the map for the records it will read, and if most were
// older records of the same cards, the room is given back once it is done.
func TestMemStoreReserveFit(t *testing.T) {
	s := newMemStore(&ProfileCache{})
	s.reserve(10_000)
	p := sampleProfile()
	for v := range 10_000 {
		p.CardID = fmt.Sprintf("card-%d", v%100) // a hundred cards, a hundred records each
		p.Visits = int64(v)
		if err := s.Put(p.CardID, AppendProfile(nil, p), nil); err != nil {
			t.Fatal(err)
		}
	}
	room := func() int64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	before := room()
	s.fit()
	after := room()
	if s.Len() != 100 || s.reserved != 0 {
		t.Fatalf("after fit: %d profiles, %d reserved", s.Len(), s.reserved)
	}
	if before-after < 200_000 { // 9,900 empty slots of about 40 bytes
		t.Errorf("fit freed %d bytes, want the room of 9,900 slots", before-after)
	}
	for v := range 100 {
		card := fmt.Sprintf("card-%d", v)
		got, err := s.Get(card)
		if err != nil || got == nil || got.Visits != int64(9_900+v) {
			t.Fatalf("Get(%s) after fit = %+v, %v", card, got, err)
		}
	}
	// A store the restore sized right keeps its map.
	s.reserve(100) // not empty: no effect
	m := s.m
	s.fit()
	if reflect.ValueOf(s.m).UnsafePointer() != reflect.ValueOf(m).UnsafePointer() {
		t.Error("fit rebuilt a map that was not too big")
	}
}
