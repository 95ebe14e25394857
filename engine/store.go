package engine

import (
	"sync"
	"sync/atomic"

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
	Put(card string, encoded []byte, p *loyalty.Profile) error
	// Delete forgets the card (a changelog tombstone: erasure).
	Delete(card string) error
	// Len is the number of profiles held.
	Len() int
}

// ProfileCache keeps decoded profiles of hot cards across all partitions
// of an instance, so a card's next swipe skips decoding. It is a cache in
// the strict sense: ristretto may drop any write, and every entry carries
// the version of the stored bytes it was decoded from, so a stale or
// dropped entry only costs a decode.
type ProfileCache struct {
	c   *ristretto.Cache[string, cachedProfile]
	ver atomic.Uint64
}

type cachedProfile struct {
	ver uint64
	p   *loyalty.Profile
}

// NewProfileCache returns a cache holding about maxBytes of decoded
// profiles. maxBytes 0 disables caching.
func NewProfileCache(maxBytes int64) (*ProfileCache, error) {
	pc := &ProfileCache{}
	if maxBytes <= 0 {
		return pc, nil
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, cachedProfile]{
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

// memStore is the in-memory Store: a map of card id to encoded profile,
// fronted by the shared ProfileCache. Its lock is only ever contended by an
// operator's profile lookup, never by another partition.
type memStore struct {
	mu    sync.RWMutex
	m     map[string]memEntry
	cache *ProfileCache
}

type memEntry struct {
	ver  uint64
	data []byte
}

func newMemStore(cache *ProfileCache) *memStore {
	return &memStore{m: make(map[string]memEntry), cache: cache}
}

func (s *memStore) Get(card string) (*loyalty.Profile, error) {
	s.mu.RLock()
	e, ok := s.m[card]
	s.mu.RUnlock()
	if !ok {
		return nil, nil
	}
	if c := s.cache.c; c != nil {
		if cp, ok := c.Get(card); ok && cp.ver == e.ver {
			return cp.p, nil
		}
	}
	p, err := DecodeProfile(e.data)
	if err != nil {
		return nil, err
	}
	s.remember(card, e.ver, p, len(e.data))
	return p, nil
}

func (s *memStore) Put(card string, encoded []byte, p *loyalty.Profile) error {
	e := memEntry{ver: s.cache.ver.Add(1), data: encoded}
	s.mu.Lock()
	s.m[card] = e
	s.mu.Unlock()
	if p != nil {
		s.remember(card, e.ver, p, len(encoded))
	}
	return nil
}

// remember caches p; decoded profiles take about three times their
// encoding in heap.
func (s *memStore) remember(card string, ver uint64, p *loyalty.Profile, size int) {
	if c := s.cache.c; c != nil {
		c.Set(card, cachedProfile{ver: ver, p: p}, int64(3*size+64))
	}
}

func (s *memStore) Delete(card string) error {
	s.mu.Lock()
	delete(s.m, card)
	s.mu.Unlock()
	if c := s.cache.c; c != nil {
		c.Del(card)
	}
	return nil
}

func (s *memStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

// Encoded returns the stored encoding of the card's profile, safe to call
// from any goroutine: the bytes are never modified once stored.
func (s *memStore) Encoded(card string) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.m[card]
	return e.data, ok
}

// NewMemStore returns an in-memory Store fronted by cache (nil: none).
func NewMemStore(cache *ProfileCache) Store {
	if cache == nil {
		cache = &ProfileCache{}
	}
	return newMemStore(cache)
}
