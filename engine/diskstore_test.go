package engine

import (
	"testing"
	"time"

	"github.com/aislecast/loyalty"
)

func openDisk(t *testing.T, dir string, cacheBytes int64) *DiskStore {
	t.Helper()
	cache, err := NewProfileCache(cacheBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Close)
	d, err := OpenDiskStore(dir, cache)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func putProfile(t *testing.T, s Store, card string, visits int64) {
	t.Helper()
	p := loyalty.NewProfile(card)
	p.Visits = visits
	if err := s.Put(card, AppendProfile(nil, p), p); err != nil {
		t.Fatal(err)
	}
}

// committed reports whether the disk holds a profile of card, as an
// operator's lookup sees it.
func committed(t *testing.T, s *DiskPartition, card string) bool {
	t.Helper()
	_, ok, err := s.Encoded(card)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func visitsOf(t *testing.T, s Store, card string) int64 {
	t.Helper()
	p, err := s.Get(card)
	if err != nil {
		t.Fatal(err)
	}
	if p == nil {
		return -1
	}
	return p.Visits
}

// A batch reaches the disk only at Commit: until then the owner reads its
// own writes, an operator's lookup (Encoded) sees the last committed value.
func TestDiskPartitionWritesAtCommit(t *testing.T) {
	d := openDisk(t, t.TempDir(), 1<<20)
	defer d.Close()
	s := d.Partition(3)
	putProfile(t, s, "c1", 1)
	if committed(t, s, "c1") {
		t.Fatal("uncommitted profile on disk")
	}
	if got := visitsOf(t, s, "c1"); got != 1 {
		t.Fatalf("owner reads visits %d before commit, want 1", got)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if ok := committed(t, s, "c1"); !ok || s.Len() != 1 {
		t.Fatalf("after commit: on disk %v, len %d", ok, s.Len())
	}
	putProfile(t, s, "c1", 2)
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := visitsOf(t, s, "c1"); got != 2 || s.Len() != 1 {
		t.Fatalf("after update: visits %d len %d, want 2 and 1", got, s.Len())
	}
	if err := s.Delete("c1"); err != nil {
		t.Fatal(err)
	}
	if got := visitsOf(t, s, "c1"); got != -1 {
		t.Fatalf("deleted card still readable by its owner: visits %d", got)
	}
	if !committed(t, s, "c1") {
		t.Fatal("uncommitted delete reached the disk")
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if ok := committed(t, s, "c1"); ok || s.Len() != 0 {
		t.Fatalf("after committed delete: on disk %v len %d", ok, s.Len())
	}
	if other := d.Partition(4); visitsOf(t, other, "c1") != -1 {
		t.Fatal("partition 4 sees a card of partition 3")
	}
}

// A crash between Put and Commit leaves nothing on disk; a recent
// checkpoint is resumed from with the profiles kept, an old one wipes the
// partition.
func TestDiskPartitionResume(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	d := openDisk(t, dir, 1<<20)
	s := d.Partition(0)
	putProfile(t, s, "kept", 5)
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkpoint(42, now); err != nil {
		t.Fatal(err)
	}
	putProfile(t, s, "lost", 1) // never committed: the process dies
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d = openDisk(t, dir, 1<<20)
	s = d.Partition(0)
	from, err := s.Resume(now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if from != 42 || s.Len() != 1 || visitsOf(t, s, "kept") != 5 || visitsOf(t, s, "lost") != -1 {
		t.Fatalf("resume: from %d len %d kept %d lost %d; want 42, 1, 5, -1", from, s.Len(), visitsOf(t, s, "kept"), visitsOf(t, s, "lost"))
	}
	from, err = s.Resume(now.Add(MaxCheckpointAge + time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if from != 0 || s.Len() != 0 || visitsOf(t, s, "kept") != -1 {
		t.Fatalf("stale checkpoint: from %d len %d; want a wiped partition", from, s.Len())
	}
	d.Close()
}

// A cached decoded profile is used only for the exact bytes on disk, also
// across a reopen that starts with a warm process-wide cache.
func TestDiskPartitionCacheFollowsDisk(t *testing.T) {
	dir := t.TempDir()
	cache, err := NewProfileCache(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	d, err := OpenDiskStore(dir, cache)
	if err != nil {
		t.Fatal(err)
	}
	s := d.Partition(0)
	putProfile(t, s, "c", 1)
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	cache.c.Wait()
	d.Close()

	// Another run wrote the card meanwhile (disk only, cache untouched).
	d2, err := OpenDiskStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2 := d2.Partition(0)
	putProfile(t, s2, "c", 7)
	if err := s2.Commit(); err != nil {
		t.Fatal(err)
	}
	d2.Close()

	d3, err := OpenDiskStore(dir, cache)
	if err != nil {
		t.Fatal(err)
	}
	defer d3.Close()
	if got := visitsOf(t, d3.Partition(0), "c"); got != 7 {
		t.Fatalf("read visits %d from a stale cache entry, want 7", got)
	}
}

// A value on disk too short to hold its version is reported, to the
// owner and to an operator's lookup, rather than read past its end or
// taken for a card the disk does not hold.
func TestDiskPartitionShortValue(t *testing.T) {
	d := openDisk(t, t.TempDir(), 1<<20)
	defer d.Close()
	s := d.Partition(2)
	if err := d.db.Set(s.key("c1"), []byte{1, 2, 3}, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Encoded("c1"); err == nil {
		t.Fatalf("Encoded of a 3-byte value: found %v, no error", ok)
	}
	if p, err := s.Get("c1"); err == nil {
		t.Fatalf("Get of a 3-byte value: %+v, no error", p)
	}
}
