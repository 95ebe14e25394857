package engine

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// restore loads partition id of the changelog into store, from offset
// from (or the first offset still in the log) up to the end offset it had
// when restore began. A tombstone (nil value) erases the card. It returns
// the number of profiles held and of records read.
func (e *Engine) restore(ctx context.Context, id int, store Store, from int64) (profiles, records int, err error) {
	first, end, err := bounds(ctx, e.client, TopicChangelog, id)
	if err != nil {
		return 0, 0, err
	}
	disk, _ := store.(*DiskPartition)
	mem, _ := store.(*memStore)
	if from > end {
		// The changelog is shorter than the checkpoint or the kept
		// store says: it was recreated. Nothing held can be trusted.
		e.log.Warn("changelog behind the profiles held; restoring in full", zap.Int("partition", id), zap.Int64("held up to", from), zap.Int64("end", end))
		if disk != nil {
			if err := disk.wipe(); err != nil {
				return 0, records, err
			}
		}
		if mem != nil {
			mem.clear()
		}
		from = 0
	}
	offset, stalled := max(first, from), 0
	if mem != nil {
		mem.reserve(int(end - offset))
	}
	var scratch []byte // each record's value, read into the same room
	for offset < end {
		before := offset
		if mem != nil && !mem.compactOnPut && memoryTight(heapObjects(), debug.SetMemoryLimit(-1)) {
			// Records in the changelog's form would not leave room
			// for compacting them: convert the rest as they come.
			e.log.Info("memory limit near: converting restored profiles as they are read", zap.Int("partition", id))
			mem.compactOnPut = true
		}
		resp, err := e.client.Fetch(ctx, &kafka.FetchRequest{
			Topic: TopicChangelog, Partition: id, Offset: offset,
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 500 * time.Millisecond,
		})
		if err == nil {
			err = resp.Error
		}
		if err != nil {
			return 0, records, fmt.Errorf("restore %s[%d] at offset %d: %w", TopicChangelog, id, offset, err)
		}
		for {
			rec, err := resp.Records.ReadRecord()
			if err == io.EOF {
				break
			}
			if err != nil {
				return 0, records, fmt.Errorf("restore %s[%d] at offset %d: %w", TopicChangelog, id, offset, err)
			}
			offset = rec.Offset + 1
			e.stats.RestoreRecords.Add(1)
			records++
			if scratch, err = restoreRecord(rec, store, scratch); err != nil {
				return 0, records, fmt.Errorf("restore %s[%d] offset %d: %w", TopicChangelog, id, rec.Offset, err)
			}
		}
		if disk != nil {
			// Write each fetch through, so a restore of millions of
			// profiles never sits in memory.
			if err := disk.Commit(); err != nil {
				return 0, records, err
			}
		}
		if resp.HighWatermark <= offset {
			break
		}
		if offset == before {
			if stalled++; stalled == 3 {
				return 0, records, fmt.Errorf("restore %s[%d]: no record at offset %d below end offset %d", TopicChangelog, id, offset, end)
			}
		}
	}
	if disk != nil {
		if err := disk.restored(offset, time.Now()); err != nil {
			return 0, records, err
		}
	}
	if mem != nil {
		mem.fit()
	}
	return store.Len(), records, nil
}

// restoreRecord puts one changelog record into store, reading its value
// into scratch's room (the stores copy what they keep), and returns the
// room for the next record.
func restoreRecord(rec *kafka.Record, store Store, scratch []byte) ([]byte, error) {
	key, err := readBytes(rec.Key)
	if err != nil {
		return scratch, err
	}
	if rec.Value == nil || rec.Value.Len() == 0 {
		if rec.Value != nil {
			rec.Value.Close()
		}
		return scratch, store.Delete(string(key))
	}
	defer rec.Value.Close()
	scratch = slices.Grow(scratch[:0], rec.Value.Len())[:rec.Value.Len()]
	if _, err := io.ReadFull(rec.Value, scratch); err != nil {
		return scratch, err
	}
	return scratch, store.Put(string(key), scratch, nil)
}

// memoryTight reports whether a restore holding heap bytes of objects is
// too near limit, the Go runtime's memory limit (GOMEMLIMIT), to go on
// keeping records in the changelog's form: past half of it. Compacting
// such records later needs room for both forms of a partition's records
// at once, and the changelog's form is about 2.4 times the compact one. No
// limit (the runtime's default) is never tight.
func memoryTight(heap, limit int64) bool {
	return limit != math.MaxInt64 && heap > limit/2
}

// heapObjects is the bytes of heap objects, live or not yet swept.
func heapObjects() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// readBytes reads b whole, into an allocation of its exact size (nil if b
// is).
func readBytes(b kafka.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	buf := make([]byte, b.Len())
	_, err := io.ReadFull(b, buf)
	return buf, err
}

// bounds returns the first and the end (next to be written) offsets of a
// partition.
func bounds(ctx context.Context, c *kafka.Client, topic string, id int) (first, end int64, err error) {
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: {kafka.FirstOffsetOf(id), kafka.LastOffsetOf(id)}},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("list offsets of %s[%d]: %w", topic, id, err)
	}
	for _, po := range resp.Topics[topic] {
		if po.Partition == id {
			if po.Error != nil {
				return 0, 0, fmt.Errorf("list offsets of %s[%d]: %w", topic, id, po.Error)
			}
			return po.FirstOffset, po.LastOffset, nil
		}
	}
	return 0, 0, fmt.Errorf("list offsets of %s[%d]: partition missing from the answer", topic, id)
}
