package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/aislecast/loyalty/internal/backoff"
	"io"
	"os"
	"os/user"
	"time"

	"github.com/segmentio/kafka-go"
)

// TopicRules is the compacted topic of offer rules: key the rule id, value
// the rule's YAML document, an empty value (tombstone) deletes the rule.
// Once it holds a record it is the source of truth for every instance.
const TopicRules = "offer-rules"

// Headers of offer-rules records, saying who changed a rule, when and with
// what; the engine logs them with every change it applies.
const (
	HeaderAppliedBy   = "applied-by"   // user@hostname
	HeaderAppliedAt   = "applied-at"   // RFC 3339, UTC
	HeaderAppliedWith = "applied-with" // the tool, e.g. "offerctl apply"
)

// RuleRecord is one record of offer-rules.
type RuleRecord struct {
	ID        string // the key
	Doc       []byte // nil or empty for a tombstone
	AppliedBy string
	AppliedAt string
	Partition int
	Offset    int64
	Time      time.Time // the record's timestamp
}

// Deleted reports whether the record is a tombstone.
func (r *RuleRecord) Deleted() bool { return len(r.Doc) == 0 }

// RuleHead is what offer-rules says about one rule id.
type RuleHead struct {
	Latest  RuleRecord
	Version int // the version of Latest's document; 0 for a tombstone
	// MaxVersion is the highest version any record of the id gave, so that
	// a deleted rule created again continues its numbering and never
	// reuses the offer ids of an earlier version.
	MaxVersion int
}

// RuleState is the latest state of every rule id offer-rules has a record
// of, tombstones included.
type RuleState map[string]*RuleHead

// add folds a record read in offset order into the state.
func (s RuleState) add(rec RuleRecord) {
	h := s[rec.ID]
	if h == nil {
		h = &RuleHead{}
		s[rec.ID] = h
	}
	h.Latest, h.Version = rec, 0
	if !rec.Deleted() {
		h.Version = docVersion(rec.Doc)
		h.MaxVersion = max(h.MaxVersion, h.Version)
	}
}

// ReadRules reads offer-rules to its end and returns its state; a missing
// topic is an empty state.
func ReadRules(ctx context.Context, c *kafka.Client) (RuleState, error) {
	st := RuleState{}
	_, err := scanRules(ctx, c, nil, func(rec RuleRecord) { st.add(rec) })
	return st, err
}

// scanRules passes every record of offer-rules from the offsets in from
// (the start of partitions not in it) up to the end of the topic, as it was
// when the scan began, to fn in offset order per partition. It returns the
// offset to read next in every partition; a missing topic has none.
func scanRules(ctx context.Context, c *kafka.Client, from map[int]int64, fn func(RuleRecord)) (map[int]int64, error) {
	meta, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{TopicRules}})
	if err != nil {
		return nil, fmt.Errorf("read metadata of %s: %w", TopicRules, err)
	}
	if len(meta.Topics) != 1 || errors.Is(meta.Topics[0].Error, kafka.UnknownTopicOrPartition) {
		return map[int]int64{}, nil
	}
	if err := meta.Topics[0].Error; err != nil {
		return nil, fmt.Errorf("read metadata of %s: %w", TopicRules, err)
	}
	var req []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		req = append(req, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	offs, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{TopicRules: req}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", TopicRules, err)
	}
	next := map[int]int64{}
	for _, po := range offs.Topics[TopicRules] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s partition %d: %w", TopicRules, po.Partition, po.Error)
		}
		off := max(from[po.Partition], po.FirstOffset)
		for off < po.LastOffset {
			n, _, err := fetchRules(ctx, c, po.Partition, off, 100*time.Millisecond, fn)
			if err != nil {
				return nil, err
			}
			if n == off {
				// Nothing readable up to the end (compacted-away or control
				// records): the end is where reading goes on.
				n = po.LastOffset
			}
			off = n
		}
		next[po.Partition] = off
	}
	return next, nil
}

// fetchRules makes one fetch from partition p of offer-rules at offset,
// waiting up to maxWait for a record, passes the records to fn and returns
// the offset to fetch next and the partition's high watermark.
func fetchRules(ctx context.Context, c *kafka.Client, p int, offset int64, maxWait time.Duration, fn func(RuleRecord)) (next, hwm int64, err error) {
	resp, err := c.Fetch(ctx, &kafka.FetchRequest{Topic: TopicRules, Partition: p, Offset: offset,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: maxWait})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return offset, 0, fmt.Errorf("fetch %s partition %d at offset %d: %w", TopicRules, p, offset, err)
	}
	next = offset
	for {
		rec, err := resp.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			return next, resp.HighWatermark, nil
		}
		if err != nil {
			return next, resp.HighWatermark, fmt.Errorf("read %s partition %d at offset %d: %w", TopicRules, p, next, err)
		}
		if rec.Offset < offset { // a batch may start before the offset asked for
			continue
		}
		r := RuleRecord{Partition: p, Offset: rec.Offset, Time: rec.Time}
		if rec.Key != nil {
			k, _ := io.ReadAll(rec.Key)
			r.ID = string(k)
		}
		if rec.Value != nil {
			if r.Doc, err = io.ReadAll(rec.Value); err != nil {
				return next, resp.HighWatermark, fmt.Errorf("read %s partition %d offset %d: %w", TopicRules, p, rec.Offset, err)
			}
		}
		for _, h := range rec.Headers {
			switch h.Key {
			case HeaderAppliedBy:
				r.AppliedBy = string(h.Value)
			case HeaderAppliedAt:
				r.AppliedAt = string(h.Value)
			}
		}
		fn(r)
		next = rec.Offset + 1
	}
}

// Action is what applying rule files does to one rule.
type Action string

// Actions of a RuleChange.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
	Deleted   Action = "deleted"
	// Absent: a deletion of a rule offer-rules does not hold.
	Absent Action = "absent"
	// TopicWins: seeding found the rule in offer-rules with other content.
	TopicWins Action = "topic-wins"
	// TopicDeleted: seeding found the rule deleted in offer-rules.
	TopicDeleted Action = "topic-deleted"
)

// RuleChange is the plan for one rule.
type RuleChange struct {
	ID      string
	Action  Action
	Version int // the version published, or the topic's when nothing is
	Was     int // the topic's version before, 0 if none
	File    string
	Doc     []byte // the document to publish, with Version; nil for a deletion
}

// Publish reports whether the change writes a record.
func (c *RuleChange) Publish() bool {
	return c.Action == Created || c.Action == Updated || c.Action == Deleted
}

// String says what the change does, one line for people.
func (c *RuleChange) String() string {
	switch c.Action {
	case Created:
		return fmt.Sprintf("%s: created v%d", c.ID, c.Version)
	case Updated:
		return fmt.Sprintf("%s: updated v%d (was v%d)", c.ID, c.Version, c.Was)
	case Unchanged:
		return fmt.Sprintf("%s: unchanged v%d", c.ID, c.Version)
	case Deleted:
		return fmt.Sprintf("%s: deleted (was v%d)", c.ID, c.Was)
	case Absent:
		return fmt.Sprintf("%s: not in %s; nothing to delete", c.ID, TopicRules)
	case TopicWins:
		return fmt.Sprintf("%s: %s holds v%d, which differs from %s; the topic wins (change it with offerctl apply)", c.ID, TopicRules, c.Version, c.File)
	case TopicDeleted:
		return fmt.Sprintf("%s: deleted in %s; not created again from %s (remove it there, or offerctl apply it)", c.ID, TopicRules, c.File)
	}
	return fmt.Sprintf("%s: %s", c.ID, c.Action)
}

// ApplyConflict is PlanApply's error for a rule both applied and deleted
// in one call: the caller's arguments contradict each other. Its other
// errors are the rules': one that would not compile as published.
type ApplyConflict struct{ ID, File string }

func (e *ApplyConflict) Error() string {
	return fmt.Sprintf("rule %s is both applied (from %s) and deleted", e.ID, e.File)
}

// PlanApply decides what publishing docs and deleting the ids in deletes
// does to offer-rules in state st. A rule whose document differs from the
// topic's (apart from version and layout) is published with version
// max(topic's + 1, file's); so is a rule whose file gives a higher version
// than the topic. Other rules are unchanged and not published again.
// Rules of the topic that are neither in docs nor in deletes are left
// alone.
func PlanApply(st RuleState, docs []RuleDoc, deletes []string) ([]RuleChange, error) {
	inDocs := map[string]string{}
	for _, d := range docs {
		inDocs[d.ID] = d.File
	}
	var out []RuleChange
	for _, d := range docs {
		h := st[d.ID]
		c := RuleChange{ID: d.ID, File: d.File}
		switch {
		case h == nil || h.Latest.Deleted():
			c.Action, c.Version = Created, d.Version
			if h != nil {
				c.Version = max(h.MaxVersion+1, d.Version)
			}
		case d.Version <= h.Version && SameRule(d.Doc, h.Latest.Doc):
			c.Action, c.Version, c.Was = Unchanged, h.Version, h.Version
		default:
			c.Action, c.Version, c.Was = Updated, max(h.MaxVersion+1, d.Version), h.Version
		}
		if c.Action != Unchanged {
			doc, err := SetRuleVersion(d.Doc, c.Version)
			if err == nil {
				err = checkDoc(d.File, doc, d.ID, c.Version)
			}
			if err != nil {
				return nil, fmt.Errorf("%s:%d: rule %s: %w", d.File, d.Line, d.ID, err)
			}
			c.Doc = doc
		}
		out = append(out, c)
	}
	for _, id := range deletes {
		if f, ok := inDocs[id]; ok {
			return nil, &ApplyConflict{ID: id, File: f}
		}
		h := st[id]
		if h == nil || h.Latest.Deleted() {
			out = append(out, RuleChange{ID: id, Action: Absent})
			continue
		}
		out = append(out, RuleChange{ID: id, Action: Deleted, Version: h.Version, Was: h.Version})
	}
	return out, nil
}

// PlanSeed decides what seeding offer-rules from rule files does: only the
// rules the topic has no record of are created. A rule the topic holds is
// never overwritten, since the topic is the source of truth, and a rule it
// deleted is not created again while its tombstone lasts.
func PlanSeed(st RuleState, docs []RuleDoc) ([]RuleChange, error) {
	out := make([]RuleChange, 0, len(docs))
	var fresh []RuleDoc
	for _, d := range docs {
		h := st[d.ID]
		switch {
		case h == nil:
			fresh = append(fresh, d)
		case h.Latest.Deleted():
			out = append(out, RuleChange{ID: d.ID, Action: TopicDeleted, Version: h.MaxVersion, File: d.File})
		case SameRule(d.Doc, h.Latest.Doc):
			out = append(out, RuleChange{ID: d.ID, Action: Unchanged, Version: h.Version, Was: h.Version, File: d.File})
		default:
			out = append(out, RuleChange{ID: d.ID, Action: TopicWins, Version: h.Version, Was: h.Version, File: d.File})
		}
	}
	created, err := PlanApply(st, fresh, nil)
	return append(out, created...), err
}

// Applier says who publishes rule changes, with what and when; it becomes
// the headers of the records.
type Applier struct {
	By   string // user@hostname; AppliedBy gives the current one
	With string // the tool
	At   time.Time
}

// AppliedBy returns user@hostname of the running process, as the
// operating system knows them.
func AppliedBy() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return name + "@" + host
}

// PublishRules writes the changes that publish to offer-rules in one
// batch, acknowledged by all in-sync replicas. The topic must exist
// (EnsureRulesTopic); a freshly created one may take a moment to be
// writable, so unknown-topic errors are retried for a few seconds.
func PublishRules(ctx context.Context, brokers []string, transport kafka.RoundTripper, changes []RuleChange, a Applier) error {
	headers := []kafka.Header{
		{Key: HeaderAppliedBy, Value: []byte(a.By)},
		{Key: HeaderAppliedAt, Value: []byte(a.At.UTC().Format(time.RFC3339))},
		{Key: HeaderAppliedWith, Value: []byte(a.With)},
	}
	var msgs []kafka.Message
	for _, c := range changes {
		if c.Publish() {
			msgs = append(msgs, kafka.Message{Key: []byte(c.ID), Value: c.Doc, Headers: headers})
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        TopicRules,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		Transport:    transport,
	}
	defer w.Close()
	wait := 100 * time.Millisecond
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := w.WriteMessages(ctx, msgs...)
		if err == nil {
			return nil
		}
		if !errors.Is(err, kafka.UnknownTopicOrPartition) || time.Now().After(deadline) || !backoff.Sleep(ctx, wait) {
			return fmt.Errorf("publish to %s: %w", TopicRules, err)
		}
		wait = min(2*wait, time.Second)
	}
}
