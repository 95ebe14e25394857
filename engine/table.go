package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/aislecast/loyalty/internal/backoff"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// tableState is the in-memory side of a table: set decodes and stores a
// record's value (an error means the record is malformed), forget drops a
// key.
type tableState interface {
	set(key string, value []byte) error
	forget(key string)
}

// table follows a compacted topic that every instance reads whole, such as
// identities or stores: unlike the changelog it is not co-partitioned with
// the swipes. It reads every partition from its first offset, reports
// Loaded once it has reached the end offsets the partitions had when it
// started, and then keeps applying new records until its context ends.
//
// A tombstone forgets its key. So does a malformed record, which is also
// counted and logged and never stops the tail: compaction keeps only the
// last record of a key, so the table's state must depend on the last
// record alone for a restart to see what the live instance saw.
type table struct {
	topic  string
	client *kafka.Client
	state  tableState
	log    *zap.Logger

	loaded    chan struct{}
	records   atomic.Int64 // records applied, tombstones and malformed ones included
	malformed atomic.Int64
}

func newTable(topic string, client *kafka.Client, state tableState, log *zap.Logger) *table {
	return &table{topic: topic, client: client, state: state, log: log.With(zap.String("table", topic)), loaded: make(chan struct{})}
}

// Loaded is closed once the table holds every record that was in the
// topic when it started.
func (t *table) Loaded() <-chan struct{} { return t.loaded }

// run follows the topic until ctx ends. It retries what fails (a broker
// outage, say) with backoff, so it only returns when ctx is done.
func (t *table) run(ctx context.Context) {
	var parts []int
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		var err error
		if parts, err = t.partitions(ctx); err == nil {
			break
		}
		t.log.Warn("cannot read the topic's partitions; retrying", zap.Error(err))
		if !backoff.Sleep(ctx, wait) {
			return
		}
	}
	var wg, caughtUp sync.WaitGroup
	caughtUp.Add(len(parts))
	for _, id := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.follow(ctx, id, caughtUp.Done)
		}()
	}
	go func() {
		caughtUp.Wait()
		t.log.Info("table loaded", zap.Int64("records", t.records.Load()), zap.Int64("malformed", t.malformed.Load()))
		close(t.loaded)
	}()
	wg.Wait()
}

func (t *table) partitions(ctx context.Context) ([]int, error) {
	meta, err := t.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{t.topic}})
	if err != nil {
		return nil, err
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		return nil, fmt.Errorf("topic %s missing: %v", t.topic, meta.Topics)
	}
	var ids []int
	for _, p := range meta.Topics[0].Partitions {
		ids = append(ids, p.ID)
	}
	return ids, nil
}

// follow applies partition id's records from its first offset on, calling
// caughtUp once it has reached the end offset it found at start.
func (t *table) follow(ctx context.Context, id int, caughtUp func()) {
	log := t.log.With(zap.Int("partition", id))
	var offset, end int64
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		var err error
		if offset, end, err = bounds(ctx, t.client, t.topic, id); err == nil {
			break
		}
		log.Warn("cannot read the partition's offsets; retrying", zap.Error(err))
		if !backoff.Sleep(ctx, wait) {
			return
		}
	}
	wait := 250 * time.Millisecond
	for {
		if caughtUp != nil && offset >= end {
			caughtUp()
			caughtUp = nil
		}
		resp, err := t.client.Fetch(ctx, &kafka.FetchRequest{
			Topic: t.topic, Partition: id, Offset: offset,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 500 * time.Millisecond,
		})
		if err == nil {
			err = resp.Error
		}
		if err == nil {
			next, aerr := t.apply(resp, offset, log)
			switch {
			case next > offset:
				offset, wait = next, 250*time.Millisecond
				continue
			case aerr != nil:
				err = aerr
			case resp.HighWatermark <= offset:
				// Nothing new. Should the partition have shrunk below the
				// end it had at start (recreated), do not wait for it.
				end = min(end, offset)
				continue
			default:
				// What is at offset reads as no record: a transaction's
				// marker (a producer writing the topic in transactions),
				// one record long. Step past it.
				offset++
				continue
			}
		}
		if ctx.Err() != nil {
			return
		}
		// Retention may have removed the records at offset: start over
		// where the partition begins now.
		if first, _, berr := bounds(ctx, t.client, t.topic, id); berr == nil && first > offset {
			log.Info("records removed by retention; skipping ahead", zap.Int64("from", offset), zap.Int64("to", first))
			offset = first
			continue
		}
		log.Warn("fetch failed; retrying", zap.Int64("offset", offset), zap.Duration("backoff", wait), zap.Error(err))
		if !backoff.Sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// apply applies the records of a fetch response from offset on and returns
// the offset after the last one read (0 when none was). A response may
// start with records before offset (the rest of a batch applied already):
// applied again, they would briefly undo the later records of their keys.
func (t *table) apply(resp *kafka.FetchResponse, offset int64, log *zap.Logger) (next int64, err error) {
	for {
		rec, err := resp.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			return next, nil
		}
		if err != nil {
			return next, err
		}
		if rec.Offset < offset {
			continue
		}
		next = rec.Offset + 1
		t.records.Add(1)
		key, err := readBytes(rec.Key)
		var val []byte
		if err == nil {
			val, err = readBytes(rec.Value)
		}
		if err == nil && len(key) == 0 {
			err = errors.New("record without a key")
		}
		switch {
		case err != nil:
			t.malformed.Add(1)
			log.Warn("unreadable record; skipped", zap.Int64("offset", rec.Offset), zap.Error(err))
		case len(val) == 0: // a tombstone
			t.state.forget(string(key))
		default:
			if err := t.state.set(string(key), val); err != nil {
				t.malformed.Add(1)
				t.state.forget(string(key))
				log.Warn("malformed record; the key falls back to the default", zap.Int64("offset", rec.Offset),
					zap.ByteString("key", key), zap.Error(err))
			}
		}
	}
}
