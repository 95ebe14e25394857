package engine

import (
	"context"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
)

// TestCheckpointOwnWritesOnly: a partition on disk checkpoints the
// changelog position below which every record is on its disk. Records
// another writer appended (an instance the group gave the partition to
// while this one, cut off, still held it) are not, so the checkpoint
// must stay below them, and the next assignment must restore them.
func TestCheckpointOwnWritesOnly(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	set, err := rules.NewSet(nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Brokers: c.ListenAddrs(), Group: "g", Rules: set, Partitions: 2, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.cache.Close()
	defer e.disk.Close()
	ctx := context.Background()
	if err := EnsureTopics(ctx, e.client, Topics(2), 1); err != nil {
		t.Fatal(err)
	}
	const id = 1
	record := func(card string, visits int64) kafka.Message {
		p := loyalty.NewProfile(card)
		p.Visits = visits
		return kafka.Message{Topic: TopicChangelog, Partition: id, Key: []byte(card), Value: AppendProfile(nil, p)}
	}
	// assign restores the partition as a new assignment does and returns
	// the offset it resumed from.
	s := e.disk.Partition(id)
	assign := func() int64 {
		t.Helper()
		from, err := s.Resume(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.restore(ctx, id, s, from); err != nil {
			t.Fatal(err)
		}
		return from
	}
	// own writes a batch as the partition's owner does.
	own := func(cl ...kafka.Message) {
		t.Helper()
		if err := e.changelogW.WriteMessages(ctx, cl...); err != nil {
			t.Fatal(err)
		}
		if err := e.committed(id, s, cl); err != nil {
			t.Fatal(err)
		}
	}
	visits := func(card string) int64 {
		t.Helper()
		p, err := s.Get(card)
		if err != nil || p == nil {
			t.Fatalf("card %s: %v, %v", card, p, err)
		}
		return p.Visits
	}

	assign()
	own(record("c1", 1), record("c2", 1))
	e.release(id, s, 0, false, zap.NewNop())
	if from := assign(); from != 2 {
		t.Fatalf("resumed from %d after the owner wrote offsets 0 and 1 alone, want 2", from)
	}

	// Another writer appends after this owner's last record, before the
	// owner lets the partition go.
	own(record("c1", 2))
	foreign := func(m kafka.Message) {
		t.Helper()
		if err := e.changelogW.WriteMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	foreign(record("c2", 5))
	e.release(id, s, 0, false, zap.NewNop())
	if from := assign(); from != 3 {
		t.Fatalf("resumed from %d, want 3: the owner's records end there, the other writer's begin", from)
	}
	if c1, c2 := visits("c1"), visits("c2"); c1 != 2 || c2 != 5 {
		t.Fatalf("restored visits c1 %d c2 %d, want 2 and the other writer's 5", c1, c2)
	}

	// The other writer's record lands between two of the owner's.
	own(record("c1", 3))
	foreign(record("c2", 6))
	own(record("c1", 4))
	e.release(id, s, 0, false, zap.NewNop())
	if from := assign(); from > 5 {
		t.Fatalf("resumed from %d, past the other writer's record at offset 5", from)
	}
	if c1, c2 := visits("c1"), visits("c2"); c1 != 4 || c2 != 6 {
		t.Fatalf("restored visits c1 %d c2 %d, want 4 and the other writer's 6", c1, c2)
	}

	// After that restore, the owner's checkpoints move on again.
	own(record("c1", 5))
	e.release(id, s, 0, false, zap.NewNop())
	if from := assign(); from != 8 {
		t.Fatalf("resumed from %d after the owner alone wrote offset 7, want 8", from)
	}
}
