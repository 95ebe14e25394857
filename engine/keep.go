package engine

import (
	"context"
	"slices"
	"time"

	"go.uber.org/zap"
)

// keptFor is how long a let-go partition's store is kept for the next
// generation. A rebalance takes seconds; much longer, and the broker's
// cleaner may have removed tombstones (after delete.retention.ms, a day by
// default) that replaying from the kept offset would have to see.
const keptFor = 10 * time.Minute

// keptStore is an in-memory store let go cleanly at the end of a
// generation, with the changelog's end offset then (the store holds every
// record below it) and the swipe offset its owner committed last.
type keptStore struct {
	store     *memStore
	end       int64
	committed int64
	at        time.Time
}

// keep holds store, whose partition was let go with its last batch
// written, for the next generation. A rebalance ends every generation, so
// without it an instance restored in full every partition it keeps across
// a rebalance (a member joining or leaving, a rolling deploy): seconds per
// million profiles, for state it already has. If the partition comes back,
// it resumes from the changelog's end offset now and replays only what
// was written since.
//
// The end offset is taken now, so the store is right only if no other
// member wrote the partition's changelog before now. Normally none can:
// the group assigns the partition again only once this member has left
// the generation. But a member the group gave up on (no heartbeat within
// the session timeout) may finish its batch while another owns the
// partition. takeKept therefore uses the store only if the group's
// committed offset is still the one this member committed: then any
// other owner in between committed nothing, and every swipe it may have
// written profiles for is read again from that offset and applied to this
// store, which holds the profiles as they were before it (the changelog's
// later records are the other owner's, of the same swipes).
func (e *Engine) keep(id int, store *memStore, committed int64, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, end, err := bounds(ctx, e.client, TopicChangelog, id)
	if err != nil {
		log.Debug("partition's profiles not kept for the next generation", zap.Error(err))
		return
	}
	e.mu.Lock()
	e.kept[id] = keptStore{store: store, end: end, committed: committed, at: time.Now()}
	e.mu.Unlock()
}

// takeKept returns the kept store of partition id, if there is one young
// enough and the group's committed offset is still the one its owner
// committed, and forgets it.
func (e *Engine) takeKept(id int, committed int64) (keptStore, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k, ok := e.kept[id]
	delete(e.kept, id)
	if ok && k.committed != committed {
		e.log.Info("profiles kept from the last generation not used: the partition's committed offset moved since; restoring in full",
			zap.Int("partition", id), zap.Int64("kept at", k.committed), zap.Int64("committed", committed))
		return k, false
	}
	return k, ok && time.Since(k.at) < keptFor
}

// dropKept forgets the kept stores of every partition but those of
// assigned, so that their memory goes.
func (e *Engine) dropKept(assigned []int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id := range e.kept {
		if !slices.Contains(assigned, id) {
			delete(e.kept, id)
		}
	}
}
