package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// DiskStore keeps the profiles of every partition an instance owns in one
// Pebble database on local disk, for chains whose profiles do not fit in
// memory. The changelog stays the only durable copy that matters: the disk
// is a local replica of it that saves most of a restore. Decoded profiles
// of hot cards live in the shared ProfileCache in front of it.
//
// Two rules keep the replica safe:
//
//   - Writes of a batch reach the disk only after the batch's changelog
//     records were acked (Commit), so the disk never holds a profile whose
//     offers might not have been published: after a crash, the swipes of
//     an unfinished batch are applied again, not skipped.
//   - A checkpoint records, per partition, a changelog offset that every
//     record below it had reached the disk. On the next assignment the
//     partition replays the changelog from the checkpoint, which brings in
//     whatever other instances wrote while they owned it. A checkpoint older
//     than MaxCheckpointAge is not trusted, because Kafka may by then have
//     compacted away tombstones (erasures) the replica never saw; the
//     partition is wiped and restored in full.
//
// Keys are the partition number (4 bytes, big-endian) then the card id;
// checkpoints live under a separate prefix.
type DiskStore struct {
	db    *pebble.DB
	cache *ProfileCache
	// ver numbers stored values so a cached decoded profile can be checked
	// against the bytes on disk. It starts at the opening time in
	// nanoseconds so numbers never repeat across restarts.
	ver atomic.Uint64
}

// MaxCheckpointAge is how old a partition's checkpoint may be for a restore
// to start from it. Kafka keeps tombstones for delete.retention.ms (one day
// by default); half of that leaves room for clock skew.
const MaxCheckpointAge = 12 * time.Hour

const (
	prefixProfile    = 'p'
	prefixCheckpoint = 'c'
)

// OpenDiskStore opens (creating if needed) the profile database in dir.
// Writes skip fsync: the changelog, not the disk, is what survives a lost
// machine, and Pebble's write-ahead log keeps a process crash consistent.
func OpenDiskStore(dir string, cache *ProfileCache) (*DiskStore, error) {
	// A Bloom filter on every level keeps the lookups of cards not yet on
	// disk (every new card, and the existence check at Commit) from
	// reading data blocks.
	opts := &pebble.Options{MemTableSize: 64 << 20, Cache: pebble.NewCache(64 << 20)}
	defer opts.Cache.Unref()
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open profile store in %s: %w", dir, err)
	}
	if cache == nil {
		cache = &ProfileCache{}
	}
	d := &DiskStore{db: db, cache: cache}
	d.ver.Store(uint64(time.Now().UnixNano()))
	return d, nil
}

// Close closes the database.
func (d *DiskStore) Close() error { return d.db.Close() }

// Partition returns the Store of one partition. Only one goroutine may
// write through it at a time (the partition's owner).
func (d *DiskStore) Partition(id int) *DiskPartition {
	return &DiskPartition{d: d, id: uint32(id), pending: make(map[string][]byte), onDisk: make(map[string]bool)}
}

// DiskPartition is the Store of one partition in a DiskStore. Puts are
// held in memory until Commit writes them in one batch.
type DiskPartition struct {
	d  *DiskStore
	id uint32

	mu      sync.RWMutex // guards pending and onDisk against operator lookups
	pending map[string][]byte
	// onDisk remembers, for cards read from disk since the last Commit,
	// whether they were there: Commit needs it to keep Len, and the owner
	// reads every card before it writes it, so Commit seldom reads again.
	onDisk map[string]bool
	n      atomic.Int64 // profiles on disk, counted at restore and kept up

	checkpointed time.Time // when the owner last wrote a checkpoint
	// logEnd is the changelog offset below which every record of the
	// partition is on this disk: where the last restore ended, moved on by
	// each record the owner wrote that the broker appended right there.
	// A record appended anywhere else means that records this disk lacks
	// came in before it: those of another writer (an instance the group
	// gave the partition to while this one, cut off from it, still held
	// it), or an attempt of the same write whose ack was lost. logEnd then
	// stays put (foreign) until the next restore, and so do checkpoints.
	logEnd  int64
	foreign bool
	warned  bool // that checkpoints stay put, once per restore
}

func (s *DiskPartition) key(card string) []byte {
	k := make([]byte, 5, 5+len(card))
	k[0] = prefixProfile
	binary.BigEndian.PutUint32(k[1:], s.id)
	return append(k, card...)
}

func (s *DiskPartition) bounds() (lo, hi []byte) {
	lo = []byte{prefixProfile, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(lo[1:], s.id)
	hi = []byte{prefixProfile, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hi[1:], s.id+1)
	return lo, hi
}

func (s *DiskPartition) checkpointKey() []byte {
	k := []byte{prefixCheckpoint, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(k[1:], s.id)
	return k
}

// value is the stored form: an 8-byte version, then the profile encoding.
func (s *DiskPartition) value(encoded []byte) []byte {
	v := make([]byte, 8, 8+len(encoded))
	binary.BigEndian.PutUint64(v, s.d.ver.Add(1))
	return append(v, encoded...)
}

// names is the table of the store's decoded-profile cache, for the
// pipeline's nameCache (see nameCache.table).
func (s *DiskPartition) names() *nameTable { return &s.d.cache.names }

// Get returns the card's profile: an uncommitted Put first, then the disk,
// decoding only when the cache has no profile of that exact version.
func (s *DiskPartition) Get(card string) (*loyalty.Profile, error) {
	s.mu.RLock()
	v, ok := s.pending[card]
	s.mu.RUnlock()
	if !ok {
		var err error
		if v, err = s.read(card); err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.onDisk[card] = v != nil
		s.mu.Unlock()
	}
	if v == nil {
		return nil, nil // unknown, or deleted in this batch
	}
	ver := binary.BigEndian.Uint64(v)
	if p := s.d.cache.get(card, ver); p != nil {
		return p, nil
	}
	p, err := DecodeProfile(v[8:])
	if err != nil {
		return nil, err
	}
	s.d.cache.put(card, ver, p, decodedCost(p, true))
	return p, nil
}

// read returns the stored value of a card, or nil.
func (s *DiskPartition) read(card string) ([]byte, error) {
	v, closer, err := s.d.db.Get(s.key(card))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read profile of card %s: %w", card, err)
	}
	out := append([]byte(nil), v...)
	if err := closer.Close(); err != nil {
		return nil, err
	}
	if len(out) < 8 {
		return nil, fmt.Errorf("profile of card %s on disk: %d bytes, too short for its version", card, len(out))
	}
	return out, nil
}

// Put holds the profile until Commit.
func (s *DiskPartition) Put(card string, encoded []byte, p *loyalty.Profile) error {
	v := s.value(encoded)
	s.mu.Lock()
	s.pending[card] = v
	s.mu.Unlock()
	if p != nil {
		s.d.cache.put(card, binary.BigEndian.Uint64(v), p, decodedCost(p, true))
	}
	return nil
}

// Delete erases the card; like Put it reaches the disk at Commit.
func (s *DiskPartition) Delete(card string) error {
	s.mu.Lock()
	s.pending[card] = nil
	s.mu.Unlock()
	if c := s.d.cache.c; c != nil {
		c.Del(card)
	}
	return nil
}

// Commit writes the held Puts and Deletes to disk in one batch. The engine
// calls it once the batch's changelog records are acked.
func (s *DiskPartition) Commit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return nil
	}
	b := s.d.db.NewBatch()
	defer b.Close()
	var added int64
	for card, v := range s.pending {
		k := s.key(card)
		existed, known := s.onDisk[card]
		if !known { // a restore's write: look
			_, closer, err := s.d.db.Get(k)
			existed = err == nil
			if existed {
				closer.Close()
			} else if !errors.Is(err, pebble.ErrNotFound) {
				return fmt.Errorf("commit partition %d: %w", s.id, err)
			}
		}
		var err error
		if v == nil {
			if existed {
				added--
			}
			err = b.Delete(k, nil)
		} else {
			if !existed {
				added++
			}
			err = b.Set(k, v, nil)
		}
		if err != nil {
			return fmt.Errorf("commit partition %d: %w", s.id, err)
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("commit partition %d: %w", s.id, err)
	}
	s.n.Add(added)
	clear(s.pending)
	clear(s.onDisk)
	return nil
}

// CommitRecords writes to disk the profiles of changelog records that
// were acked, while later batches may already have Put newer profiles of
// the same cards (the engine processes the next batch while the last one
// is written): those stay held for their own CommitRecords.
func (s *DiskPartition) CommitRecords(cl []kafka.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(cl) == 0 {
		return nil
	}
	b := s.d.db.NewBatch()
	defer b.Close()
	var added int64
	for i := range cl {
		card := string(cl[i].Key)
		v, held := s.pending[card]
		if held && v != nil && bytes.Equal(v[8:], cl[i].Value) {
			delete(s.pending, card) // this very profile: no longer held
		} else {
			v = s.value(cl[i].Value) // a newer one is held (or none): write the acked one
		}
		k := s.key(card)
		existed, known := s.onDisk[card]
		if !known {
			_, closer, err := s.d.db.Get(k)
			if existed = err == nil; existed {
				closer.Close()
			} else if !errors.Is(err, pebble.ErrNotFound) {
				return fmt.Errorf("commit partition %d: %w", s.id, err)
			}
		}
		if !existed {
			added++
		}
		if _, newer := s.pending[card]; newer {
			s.onDisk[card] = true // for the newer profile's own commit
		} else {
			delete(s.onDisk, card)
		}
		if err := b.Set(k, v, nil); err != nil {
			return fmt.Errorf("commit partition %d: %w", s.id, err)
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("commit partition %d: %w", s.id, err)
	}
	s.n.Add(added)
	if len(s.pending) == 0 {
		clear(s.onDisk)
	}
	for i := 0; i < len(cl) && !s.foreign; i++ {
		if s.foreign = cl[i].Offset != s.logEnd; !s.foreign {
			s.logEnd++
		}
	}
	return nil
}

// Len is the number of profiles on disk (uncommitted ones not included).
func (s *DiskPartition) Len() int { return int(s.n.Load()) }

// Encoded returns the card's last committed encoding, false when the
// disk has none, or the error reading it; safe from any goroutine.
func (s *DiskPartition) Encoded(card string) ([]byte, bool, error) {
	v, err := s.read(card)
	if err != nil || v == nil {
		return nil, false, err
	}
	return v[8:], true, nil
}

// restored notes that a restore has put every changelog record of the
// partition below end on the disk, and checkpoints there.
func (s *DiskPartition) restored(end int64, at time.Time) error {
	s.logEnd, s.foreign, s.warned = end, false, false
	return s.Checkpoint(end, at)
}

// Checkpoint records that every changelog record of the partition below
// offset has reached the disk.
func (s *DiskPartition) Checkpoint(offset int64, at time.Time) error {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, uint64(offset))
	binary.BigEndian.PutUint64(v[8:], uint64(at.Unix()))
	if err := s.d.db.Set(s.checkpointKey(), v, pebble.NoSync); err != nil {
		return fmt.Errorf("checkpoint partition %d: %w", s.id, err)
	}
	return nil
}

// Resume prepares the partition for a restore and returns the changelog
// offset to restore from: the checkpoint when it is recent enough (the
// profiles on disk are kept and counted), else 0 after wiping the
// partition's profiles.
func (s *DiskPartition) Resume(now time.Time) (int64, error) {
	s.mu.Lock()
	clear(s.pending)
	clear(s.onDisk)
	s.mu.Unlock()
	s.checkpointed = now
	v, closer, err := s.d.db.Get(s.checkpointKey())
	var from int64
	switch {
	case err == nil:
		if len(v) == 16 {
			at := time.Unix(int64(binary.BigEndian.Uint64(v[8:])), 0)
			if now.Sub(at) <= MaxCheckpointAge {
				from = int64(binary.BigEndian.Uint64(v))
			}
		}
		closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		return 0, fmt.Errorf("read checkpoint of partition %d: %w", s.id, err)
	}
	if from == 0 {
		return 0, s.wipe()
	}
	lo, hi := s.bounds()
	it, err := s.d.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, err
	}
	var n int64
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("count partition %d: %w", s.id, err)
	}
	s.n.Store(n)
	return from, nil
}

// wipe deletes the partition's profiles and checkpoint.
func (s *DiskPartition) wipe() error {
	lo, hi := s.bounds()
	if err := s.d.db.DeleteRange(lo, hi, pebble.NoSync); err != nil {
		return fmt.Errorf("wipe partition %d: %w", s.id, err)
	}
	if err := s.d.db.Delete(s.checkpointKey(), pebble.NoSync); err != nil {
		return fmt.Errorf("wipe partition %d: %w", s.id, err)
	}
	s.n.Store(0)
	return nil
}

// CheckpointEvery is how often a partition on disk records its changelog
// position: a restart replays at most about this much of the changelog.
const CheckpointEvery = 10 * time.Second

// partitionStore returns the store a newly assigned partition restores
// into, the changelog offset to restore from, and whether the store is one
// this instance kept from the generation before (see keep); committed is
// the group's committed swipe offset of the partition.
func (e *Engine) partitionStore(id int, committed int64) (store Store, from int64, kept bool, err error) {
	if e.disk == nil {
		if k, ok := e.takeKept(id, committed); ok {
			return k.store, k.end, true, nil
		}
		s := newMemStore(e.cache)
		s.compactOnPut = e.cfg.CompactOnRestore
		return s, 0, false, nil
	}
	s := e.disk.Partition(id)
	from, err = s.Resume(time.Now())
	return s, from, false, err
}

// committed is called once changelog records cl are acked: a store on
// disk writes them and now and then checkpoints its position.
func (e *Engine) committed(id int, store Store, cl []kafka.Message) error {
	s, ok := store.(*DiskPartition)
	if !ok {
		return nil
	}
	if err := s.CommitRecords(cl); err != nil {
		return err
	}
	if time.Since(s.checkpointed) < CheckpointEvery {
		return nil
	}
	return e.checkpoint(id, s)
}

// release checkpoints a partition on disk whose last batch was committed,
// as its owner lets it go, so the next assignment replays nothing it has;
// a partition in memory is kept for the next generation (see keep), with
// committed, the swipe offset its owner committed last, unless the engine
// is stopping.
func (e *Engine) release(id int, store Store, committed int64, stopping bool, log *zap.Logger) {
	if ms, ok := store.(*memStore); ok {
		if !stopping {
			e.keep(id, ms, committed, log)
		}
		return
	}
	s, ok := store.(*DiskPartition)
	if !ok {
		return
	}
	if err := e.checkpoint(id, s); err != nil {
		log.Warn("checkpoint on release", zap.Error(err))
	}
}

// checkpoint records the partition's position in the changelog: the end
// of what its disk holds (see DiskPartition.logEnd).
func (e *Engine) checkpoint(id int, s *DiskPartition) error {
	now := time.Now()
	s.checkpointed = now
	if s.foreign {
		if !s.warned {
			s.warned = true
			e.log.Warn("records of another writer in the partition's changelog: its checkpoint stays where it was until the partition is next restored",
				zap.Int("partition", id), zap.Int64("checkpoint", s.logEnd))
		}
		return nil
	}
	return s.Checkpoint(s.logEnd, now)
}
