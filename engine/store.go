package engine

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/aislecast/loyalty"
	"github.com/dgraph-io/ristretto/v2"
)

// Store holds the profiles of one owned partition. The encoded bytes are
// the state (the same bytes the changelog holds); implementations may keep
// decoded profiles around but must never rely on them alone.
type Store interface {
	// Get returns the card's profile, or nil when the card is unknown. The
	// caller may modify the profile and must then Put it.
	Get(card string) (*loyalty.Profile, error)
	// Put stores the profile's encoding; p is its decoded form or nil.
	// The encoding's bytes stay the caller's (they go on to the changelog
	// writer): a store copies what it keeps.
	Put(card string, encoded []byte, p *loyalty.Profile) error
	// Delete forgets the card (a changelog tombstone: erasure).
	Delete(card string) error
	// Len is the number of profiles held.
	Len() int
}

// ProfileCache keeps decoded profiles of hot cards across all partitions
// of an instance whose profiles are on disk (DiskStore), so a card's next
// swipe skips the read and the decode; the in-memory store uses only its
// name table (see memStore.getInto). It is a cache in the strict sense:
// ristretto may drop any write, and every entry carries the version of
// the stored bytes it was decoded from, so a stale or dropped entry only
// costs a read and a decode.
type ProfileCache struct {
	c   *ristretto.Cache[string, *cachedProfile]
	ver atomic.Uint64
	// names is the instance's table of names for the stores' at-rest
	// form; it lives here because the cache is what the stores of all
	// partitions share.
	names nameTable
}

// cachedProfile is a decoded profile and the version of the stored bytes
// it matches. The version moves when the card's owner stores the profile
// it changed in place (see put); ver is atomic because the cache is
// shared across partitions.
type cachedProfile struct {
	ver  atomic.Uint64
	p    *loyalty.Profile
	cost int64 // what the cache was charged for it
}

// get returns the card's cached profile if it matches version ver of the
// stored bytes, or nil.
func (pc *ProfileCache) get(card string, ver uint64) *loyalty.Profile {
	if pc.c == nil {
		return nil
	}
	if cp, ok := pc.c.Get(card); ok && cp.ver.Load() == ver {
		return cp.p
	}
	return nil
}

// put caches p as version ver of the card's profile, at cost bytes. If p
// is already the cached profile (the owner got it from the cache, changed
// it and stored it), only the entry's version moves: most stores are of
// hot cards, and this spares them ristretto's Set (a channel send and the
// admission policy's work) on every swipe. Once the profile has grown a
// quarter beyond what the cache was charged, it is set again at its new
// cost, so that the cache keeps to its size as hot profiles grow.
func (pc *ProfileCache) put(card string, ver uint64, p *loyalty.Profile, cost int64) {
	if pc.c == nil {
		return
	}
	if cp, ok := pc.c.Get(card); ok && cp.moved(p, ver, cost) {
		return
	}
	cp := &cachedProfile{p: p, cost: cost}
	cp.ver.Store(ver)
	pc.c.Set(card, cp, cost)
}

// moved moves the entry to version ver if it holds p and p has not grown
// past what the cache was charged, and reports whether it did.
func (cp *cachedProfile) moved(p *loyalty.Profile, ver uint64, cost int64) bool {
	if cp.p != p || cost > cp.cost+cp.cost/4 {
		return false
	}
	cp.ver.Store(ver)
	return true
}

// NewProfileCache returns a cache holding about maxBytes of decoded
// profiles. maxBytes 0 disables caching.
func NewProfileCache(maxBytes int64) (*ProfileCache, error) {
	pc := &ProfileCache{}
	if maxBytes <= 0 {
		return pc, nil
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, *cachedProfile]{
		NumCounters: max(maxBytes/100, 1000), // ~10 counters per entry of ~1 KiB
		MaxCost:     maxBytes,
		BufferItems: 64,
	})
	if err != nil {
		return nil, err
	}
	pc.c = c
	return pc, nil
}

// Close releases the cache's goroutines.
func (pc *ProfileCache) Close() {
	if pc.c != nil {
		pc.c.Close()
	}
}

// memStore is the in-memory Store: a map of card id to the profile in
// its at-rest form (see profileAtRest), its names in the name table of
// the instance's ProfileCache, whose decoded profiles it does not use
// (see getInto). Its lock is only ever contended by an operator's profile
// lookup, never by another partition.
type memStore struct {
	mu      sync.RWMutex
	m       map[string]memEntry
	cache   *ProfileCache
	scratch []byte
	// raw lists the cards whose entry a restore put in the changelog's
	// form, for compact to convert (see compact); nraw counts the entries
	// still in that form. Both are guarded by mu.
	raw  []string
	nraw int
	// bytes is the length of every entry's data, guarded by mu: what the
	// profiles take as stored.
	bytes int64
	// compactOnPut converts a restore's records as they are put, as
	// Config.CompactOnRestore asks: a slower restore that never holds
	// more than the compact form.
	compactOnPut bool
	reserved     int // the room reserve made, for fit
}

// memEntry is a stored profile. data is a string, not a slice, to save
// the capacity word on a million entries, and the map's key is the card
// id inside it when the record names its card, to save its allocation.
type memEntry struct {
	ver  uint64
	data string
}

func newMemStore(cache *ProfileCache) *memStore {
	return &memStore{m: make(map[string]memEntry), cache: cache}
}

// reserve makes room for n profiles in an empty store, so that a restore
// of n records does not grow the map step by step (a tenth of a restore's
// work, each step rehashing every entry). A changelog may hold several
// records of a card the broker's cleaner has not compacted away yet; fit
// undoes an overestimate once the restore knows.
func (s *memStore) reserve(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) == 0 && n > 0 {
		s.m = make(map[string]memEntry, n)
		s.reserved = n
	}
}

// clear forgets every profile: a kept store whose changelog was
// recreated.
func (s *memStore) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m, s.raw, s.nraw, s.bytes, s.reserved = make(map[string]memEntry), nil, 0, 0, 0
}

// fit moves the store's entries to a map of their size if reserve made
// room for more than twice as many: a map never gives back its room, and
// each empty slot costs about 40 bytes for as long as the store lives.
func (s *memStore) fit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reserved <= 2*len(s.m)+1024 {
		return
	}
	m := make(map[string]memEntry, len(s.m))
	for k, v := range s.m {
		m[k] = v
	}
	s.m, s.reserved = m, 0
}

// names is the table the store keeps names in at rest, for the
// pipeline's nameCache (see nameCache.table).
func (s *memStore) names() *nameTable { return &s.cache.names }

// Get decodes the card's profile from its stored form, into a profile of
// its own: what an operator's look-up reads. The pipeline decodes into
// its room instead (getInto).
func (s *memStore) Get(card string) (*loyalty.Profile, error) {
	return s.getInto(card, nil)
}

// getInto is Get decoding into room when room is not nil. The store keeps
// no decoded profiles: a profile in memory is decoded on every swipe of
// its card, from the at-rest form (a few hundred bytes, read in order),
// into the pipeline's room. Keeping the decoded profiles of hot cards in
// the ProfileCache, as the store did until 2026-11-27, cost more than
// decoding: ristretto's bookkeeping on every swipe, and the garbage
// collector's scans of tens of MiB of decoded profiles, full of pointers,
// outweighed the decodes it spared even when three swipes in four found
// their profile cached (see bench/README.md).
func (s *memStore) getInto(card string, room *profileRoom) (*loyalty.Profile, error) {
	s.mu.RLock()
	e, ok := s.m[card]
	s.mu.RUnlock()
	if !ok {
		return nil, nil
	}
	return decodeInto(view(e.data), &s.cache.names, room, card)
}

// Put keeps a profile changed by a swipe (p not nil) in the at-rest form,
// made from its changelog record (see nameTable.fromRecord). One without
// its decoded form, a restore's record, is kept as it came, in the
// changelog's form, until compact converts it (unless compactOnPut):
// converting takes a name table look-up per category, SKU and store name
// (and for a format 3 record, a rewrite as a bit stream), and a restore
// that does not convert is done, and the partition serving, sooner, at the
// cost of holding the changelog's bytes, about 2.4 times the compact form
// (three times, in format 3), until compacted. A record that cannot be
// converted stays as it came: reading it fails, and the swipes of its card
// are dead-lettered as unreadable state, as for any corrupt record.
func (s *memStore) Put(card string, encoded []byte, p *loyalty.Profile) error {
	data, ok := s.atRest(encoded, p)
	if !ok {
		data = string(encoded)
	}
	e := memEntry{ver: s.cache.ver.Add(1), data: data}
	s.mu.Lock()
	if wasRaw := s.set(card, e, true); p == nil && isRaw(data) && !wasRaw {
		s.raw = append(s.raw, card)
	}
	s.mu.Unlock()
	return nil
}

// set makes e the card's entry, or with ok false removes the entry, and
// keeps nraw and bytes; it reports whether the entry it replaced was raw.
// The caller holds mu.
func (s *memStore) set(card string, e memEntry, ok bool) (wasRaw bool) {
	if old, had := s.m[card]; had {
		s.bytes -= int64(len(old.data))
		if isRaw(old.data) {
			s.nraw--
			wasRaw = true
		}
	}
	// A map keeps the key it was first given: delete first, so that the
	// entry's key is the one inside e's data and not one inside the data
	// it replaces.
	delete(s.m, card)
	if ok {
		if isRaw(e.data) {
			s.nraw++
		}
		s.bytes += int64(len(e.data))
		s.m[entryKey(card, e.data)] = e
	}
	return wasRaw
}

// atRest returns the at-rest form of a profile Put is given, if Put keeps
// it in that form.
func (s *memStore) atRest(encoded []byte, p *loyalty.Profile) (string, bool) {
	var err error
	switch {
	case p != nil:
		s.scratch = s.cache.names.fromRecord(s.scratch[:0], encoded, p)
	case s.compactOnPut:
		s.scratch, err = toAtRest(s.scratch[:0], encoded, &s.cache.names)
	default:
		return "", false
	}
	if err != nil {
		return "", false
	}
	return string(s.scratch), true
}

// view returns the bytes of s without copying them, for the decoder,
// which only reads: a stored profile is decoded on every cache miss, and
// copying it first would double the cost of the miss.
func view(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// isRaw reports whether a stored profile is not in the at-rest form: a
// restore's record not converted yet, or one that could not be.
func isRaw(data string) bool { return len(data) == 0 || data[0] != profileAtRest }

// entryKey is the map key for a card's entry holding data: the card id
// inside data when it has one, so that the key costs no allocation of its
// own.
func entryKey(card, data string) string {
	if id, ok := cardOf(data); ok && id == card {
		return id
	}
	return card
}

// cardOf returns the card id a record starts with.
func cardOf(data string) (string, bool) {
	if len(data) < 2 {
		return "", false
	}
	n, k := binary.Uvarint([]byte(data[1:min(len(data), 11)]))
	if k <= 0 || n > uint64(len(data)-1-k) {
		return "", false
	}
	return data[1+k : 1+k+int(n)], true
}

// decodedCost is what caching p is charged: the heap its decoded form
// takes, from the capacities of its lists, and with names the bytes of its
// names, which a profile decoded from the changelog's format holds (one
// decoded from the at-rest form holds the name table's copies, shared by
// every profile). It was a multiple of the encoded size, which missed by
// far: the at-rest form is a third of the size of the changelog's, and
// the same profile was charged less when read than when stored.
func decodedCost(p *loyalty.Profile, names bool) int64 {
	n := int(unsafe.Sizeof(profileBlock{})) + len(p.CardID)
	n += cap(p.Categories) * int(unsafe.Sizeof(loyalty.CategoryStats{}))
	n += cap(p.SKUs) * int(unsafe.Sizeof(loyalty.SKUStats{}))
	if cap(p.Stores) > loyalty.TopStores {
		n += cap(p.Stores) * int(unsafe.Sizeof(loyalty.StoreVisits{}))
	}
	if cap(p.RecentSwipes) > loyalty.RecentSwipeIDs {
		n += cap(p.RecentSwipes) * 8
	}
	n += cap(p.Offers) * int(unsafe.Sizeof(loyalty.OfferHistory{}))
	for i := range p.Offers {
		n += len(p.Offers[i].RuleID) + 8*cap(p.Offers[i].Sent)
	}
	days := cap(p.Days)
	for i := range p.Categories {
		days += cap(p.Categories[i].Days)
	}
	n += days * int(unsafe.Sizeof(loyalty.DaySpend{}))
	if names {
		for i := range p.Categories {
			n += len(p.Categories[i].Name)
		}
		for i := range p.SKUs {
			n += len(p.SKUs[i].SKU)
		}
		for i := range p.Stores {
			n += len(p.Stores[i].StoreID)
		}
	}
	return int64(n)
}

func (s *memStore) Delete(card string) error {
	s.mu.Lock()
	s.set(card, memEntry{}, false)
	s.mu.Unlock()
	return nil
}

func (s *memStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

// Encoded returns the card's profile as the changelog holds it, false
// when the store has none, or the error decoding it; safe to call from
// any goroutine.
func (s *memStore) Encoded(card string) ([]byte, bool, error) {
	s.mu.RLock()
	e, ok := s.m[card]
	s.mu.RUnlock()
	if !ok {
		return nil, false, nil
	}
	if len(e.data) > 0 && e.data[0] == profileFormat {
		return []byte(e.data), true, nil // a restore's record, not converted yet
	}
	p, err := decodeAtRest(view(e.data), &s.cache.names)
	if err != nil {
		return nil, false, fmt.Errorf("profile of card %s: %w", card, err)
	}
	return AppendProfile(nil, p), true, nil
}

// NewMemStore returns an in-memory Store keeping names in cache's name
// table, shared by the stores of an instance (nil: one of its own).
func NewMemStore(cache *ProfileCache) Store {
	if cache == nil {
		cache = &ProfileCache{}
	}
	return newMemStore(cache)
}
