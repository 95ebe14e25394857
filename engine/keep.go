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
// generation, with the changelog's end offset then: the store holds every
// record below it.
type keptStore struct {
	store *memStore
	end   int64
	at    time.Time
}

// keep holds store, whose partition was let go with its last batch
// committed, for the next generation. A rebalance ends every generation,
// so without it an instance restored in full every partition it keeps
// across a rebalance (a member joining or leaving, a rolling deploy):
// seconds per million profiles, for state it already has. If the
// partition comes back, it resumes from the changelog's end offset now
// and replays only what was written since, by this instance or by another
// that owned the partition in between. The offset is taken as the disk
// store's checkpoint is: no write of this partition is in flight between
// two batches, and no other member can own it before this one has left
// the generation.
func (e *Engine) keep(id int, store *memStore, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, end, err := bounds(ctx, e.client, TopicChangelog, id)
	if err != nil {
		log.Debug("partition's profiles not kept for the next generation", zap.Error(err))
		return
	}
	e.mu.Lock()
	e.kept[id] = keptStore{store: store, end: end, at: time.Now()}
	e.mu.Unlock()
}

// takeKept returns the kept store of partition id, if there is one young
// enough, and forgets it.
func (e *Engine) takeKept(id int) (keptStore, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k, ok := e.kept[id]
	delete(e.kept, id)
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
