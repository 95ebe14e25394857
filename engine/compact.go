package engine

import (
	"context"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/aislecast/loyalty/internal/backoff"
	"go.uber.org/zap"
)

// compactChunk is how many restored profiles compact converts between two
// pauses: about 5 ms of work for 90-day profiles.
const compactChunk = 256

// compact converts the profiles a restore put in the changelog's form (see
// memStore.Put) to the at-rest form, about a third of their size, and
// returns how many it converted. The partition serves swipes meanwhile: each
// profile is converted outside the lock and swapped in only if its entry
// is still the one that was read (a swipe's Put in between has stored the
// profile at rest already, and wins). After every chunk it calls pause
// with the time the chunk took; once pause reports false it stops, and
// leaves the rest for a later call.
func (s *memStore) compact(pause func(busy time.Duration) bool) int {
	s.mu.Lock()
	cards := s.raw
	s.raw = nil
	s.mu.Unlock()
	var buf []byte
	n := 0
	for len(cards) > 0 {
		began := time.Now()
		chunk := cards[:min(compactChunk, len(cards))]
		cards = cards[len(chunk):]
		for _, card := range chunk {
			e, ok := s.rawEntry(card)
			if !ok {
				continue
			}
			var err error
			if buf, err = toAtRest(buf[:0], view(e.data), &s.cache.names); err != nil {
				continue // unreadable: kept as it came
			}
			if s.swap(card, e.ver, string(buf)) {
				n++
			}
		}
		clear(chunk) // the card ids of a million profiles need not wait for the end
		if len(cards) > 0 && !pause(time.Since(began)) {
			s.mu.Lock()
			s.raw = append(s.raw, cards...)
			s.mu.Unlock()
			break
		}
	}
	return n
}

// rawEntry returns the card's entry if it is in the changelog's form.
func (s *memStore) rawEntry(card string) (memEntry, bool) {
	s.mu.RLock()
	e, ok := s.m[card]
	s.mu.RUnlock()
	return e, ok && isRaw(e.data)
}

// swap replaces the card's entry, version ver in the changelog's form, by
// data, its at-rest form, unless a Put has replaced the entry since, and
// reports whether it did.
func (s *memStore) swap(card string, ver uint64, data string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.m[card]; !ok || cur.ver != ver {
		return false
	}
	s.set(card, memEntry{ver: ver, data: data}, true)
	return true
}

// uncompacted is the number of the store's profiles still in the
// changelog's form.
func (s *memStore) uncompacted() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nraw
}

// storedBytes is what the store's profiles take as stored.
func (s *memStore) storedBytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bytes
}

// compact converts a restored partition's profiles to the at-rest form
// while the partition serves (see memStore.compact), one partition of the
// instance at a time, paced by compactPause. It returns when done or when
// ctx ends.
func (e *Engine) compact(ctx context.Context, s *memStore, log *zap.Logger) {
	select {
	case e.compactor <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-e.compactor }()
	began := time.Now()
	n := s.compact(e.compactPause(ctx, backoff.Sleep))
	e.stats.Compacted.Add(int64(n))
	if n == 0 || ctx.Err() != nil {
		return
	}
	log.Info("restored profiles compacted", zap.Int("profiles", n), zap.Duration("took", time.Since(began)))
	// The records replaced are garbage now, 2.4 times the bytes of what
	// replaced them. Left to itself, the collector would wait for the heap
	// to double from its size after the restore (about 2.4 times the
	// profiles' compact size) before freeing any; collecting now lets the
	// next partition's compaction reuse the memory, and once no partition
	// has records left, what is free goes back to the system.
	if e.Uncompacted() == 0 {
		debug.FreeOSMemory()
	} else {
		runtime.GC()
	}
}

// compactPause returns what memStore.compact calls after each chunk: a
// pause as long as the chunk took, through sleep, while the instance has
// work of its own (a partition restoring, or swipes read since the chunk
// before), so that compaction takes at most half of one core from it:
// after a restart, the swipes are a backlog to catch up. While the
// instance is idle it does not pause, and compaction takes one core, so
// that the changelog's form, 2.4 times the compact one, is held no
// longer than it must be. It reports false once ctx ends.
func (e *Engine) compactPause(ctx context.Context, sleep func(context.Context, time.Duration) bool) func(time.Duration) bool {
	last := e.stats.Swipes.Load()
	return func(busy time.Duration) bool {
		swipes := e.stats.Swipes.Load()
		idle := swipes == last && e.restoring.Load() == 0
		last = swipes
		if idle {
			return ctx.Err() == nil
		}
		return sleep(ctx, busy)
	}
}

// Uncompacted returns how many of the profiles held across owned
// partitions are still in the changelog's form, as a restore left them:
// they take about 2.4 times the memory of the rest until compacted.
func (e *Engine) Uncompacted() int {
	n := 0
	e.memStores(func(s *memStore) { n += s.uncompacted() })
	return n
}

// ProfileBytes returns the bytes the profiles held in memory across owned
// partitions take as stored: in the compact form, or in the changelog's
// for those not compacted yet. Their map entries and the rounding of
// their allocations (120–150 bytes a profile together) come on top, and
// each partition's room for the profile of the swipe in hand (see
// profileRoom), tens of KB.
func (e *Engine) ProfileBytes() int64 {
	var n int64
	e.memStores(func(s *memStore) { n += s.storedBytes() })
	return n
}

// memStores calls f with the in-memory store of each owned partition.
func (e *Engine) memStores(f func(*memStore)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.owned {
		if ms, ok := s.(*memStore); ok {
			f(ms)
		}
	}
}

// Compact converts at once the profiles a restore put into s, a store
// from NewMemStore, as the engine does in the background once a
// partition serves, and returns how many it converted. Other stores have
// nothing to convert. It is for tools and benchmarks.
func Compact(s Store) int {
	ms, ok := s.(*memStore)
	if !ok {
		return 0
	}
	return ms.compact(func(time.Duration) bool { return true })
}
