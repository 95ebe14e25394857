package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/segmentio/kafka-go"
)

// TopicSpec is a topic the engine needs.
type TopicSpec struct {
	Name       string
	Partitions int
	Configs    map[string]string
	// ReadOnly topics are only read by the engine, so their message size
	// limit is the producers' business.
	ReadOnly bool
	// lost says what a compacted topic loses if it deletes old segments.
	lost string
}

// Message size limits. A swipe may be up to swipeMaxBytes, so that one over
// the engine's 1 MiB limit reaches the engine and is dead-lettered with a
// reason instead of failing in the POS producer. The engine's writers cap
// their batches at writeBatchBytes and every topic it writes accepts
// topicMaxBytes, so neither a dead-lettered 4 MiB swipe nor a batch of many
// large profiles is ever refused by the broker: a refused batch would be
// retried forever and stall its partition.
const (
	swipeMaxBytes   = 4 << 20
	writeBatchBytes = 5 << 20
	topicMaxBytes   = 8 << 20
)

// Topics lists every topic the engine reads or writes. The changelog has
// exactly as many partitions as swipes: partition p of state is rebuilt from
// partition p of the changelog. The stores and identities tables are read
// whole by every instance; their partition count does not matter. The
// budget topic has one partition, which every instance follows.
func Topics(partitions int) []TopicSpec {
	limit := func(n int) map[string]string { return map[string]string{"max.message.bytes": strconv.Itoa(n)} }
	compact := func(n int) map[string]string {
		c := limit(n)
		c["cleanup.policy"] = "compact"
		return c
	}
	ts := []TopicSpec{
		{Name: TopicSwipes, Partitions: partitions, Configs: limit(swipeMaxBytes)},
		{Name: TopicDLQ, Partitions: partitions, Configs: limit(topicMaxBytes)},
		{Name: TopicChangelog, Partitions: partitions, Configs: compact(topicMaxBytes),
			lost: "profiles of cards that stop shopping would be deleted with old segments"},
		{Name: TopicStores, Partitions: partitions, Configs: compact(1 << 20), ReadOnly: true,
			lost: "stores would drop out of the registry with old segments"},
		{Name: TopicIdentities, Partitions: partitions, Configs: compact(1 << 20), ReadOnly: true,
			lost: "opt-outs would be forgotten with old segments, and those cards sent offers again"},
		{Name: TopicBudget, Partitions: 1, Configs: compact(topicMaxBytes),
			lost: "the spend of rules with a budget would be forgotten with old segments, and the budget paid again"},
		{Name: TopicEvents, Partitions: partitions, Configs: eventRetention(limit(topicMaxBytes))},
	}
	for _, ch := range loyalty.Channels {
		ts = append(ts, TopicSpec{Name: loyalty.OfferTopic(ch), Partitions: partitions, Configs: limit(topicMaxBytes)})
	}
	return ts
}

// ErrTopicMismatch is returned when existing topics cannot serve the
// engine as they are.
var ErrTopicMismatch = errors.New("topic layout mismatch")

// EnsureTopics creates the missing topics. When swipes already exists, its
// partition count wins for every topic created here; a changelog whose
// partition count differs from swipes is an error, since state would be
// restored from the wrong partitions.
func EnsureTopics(ctx context.Context, c *kafka.Client, specs []TopicSpec, replication int) error {
	meta, err := c.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return fmt.Errorf("read topic metadata from %s: %w", c.Addr, err)
	}
	have := make(map[string]int)
	for _, t := range meta.Topics {
		if t.Error == nil {
			have[t.Name] = len(t.Partitions)
		}
	}
	if n, ok := have[TopicSwipes]; ok {
		for i := range specs {
			if specs[i].Name != TopicBudget {
				specs[i].Partitions = n
			}
		}
	}
	if n, ok := have[TopicBudget]; ok && n != 1 {
		return fmt.Errorf("%w: topic %s has %d partitions, want 1: every instance follows the budget spend in partition 0; delete it and let the engine create it, before any rule with a budget sends (deleting it forgets the spend)",
			ErrTopicMismatch, TopicBudget, n)
	}
	if n, ok := have[TopicChangelog]; ok && n != specs[0].Partitions {
		return fmt.Errorf("%w: topic %s has %d partitions but %s has %d; they must match, because partition p of profiles is restored from partition p of the changelog: recreate %s with %d partitions",
			ErrTopicMismatch, TopicChangelog, n, TopicSwipes, specs[0].Partitions, TopicChangelog, specs[0].Partitions)
	}
	if err := checkConfigs(ctx, c, specs, have); err != nil {
		return err
	}
	return createMissing(ctx, c, specs, have, replication)
}

// createMissing creates the topics of specs that are not in have.
func createMissing(ctx context.Context, c *kafka.Client, specs []TopicSpec, have map[string]int, replication int) error {
	var create []kafka.TopicConfig
	for _, s := range specs {
		if _, ok := have[s.Name]; ok {
			continue
		}
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: replication}
		for k, v := range s.Configs {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		create = append(create, tc)
	}
	if len(create) == 0 {
		return nil
	}
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: create})
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for name, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", name, err)
		}
	}
	return nil
}

// minWritableBytes is the smallest max.message.bytes of a topic the engine
// writes: a full writer batch plus the record batch overheads.
const minWritableBytes = writeBatchBytes + 64<<10

// checkConfigs rejects existing topics that cannot serve the engine as
// they are: a changelog that deletes old segments instead of compacting
// them loses the profiles of quiet cards, and a topic the engine writes
// whose max.message.bytes is below a writer batch would refuse the batch
// forever and stall its partition.
func checkConfigs(ctx context.Context, c *kafka.Client, specs []TopicSpec, have map[string]int) error {
	var res []kafka.DescribeConfigRequestResource
	spec := map[string]TopicSpec{}
	for _, s := range specs {
		if _, exists := have[s.Name]; !exists || s.Name == TopicSwipes {
			continue
		}
		res = append(res, kafka.DescribeConfigRequestResource{ResourceType: kafka.ResourceTypeTopic, ResourceName: s.Name,
			ConfigNames: []string{"cleanup.policy", "max.message.bytes"}})
		spec[s.Name] = s
	}
	if len(res) == 0 {
		return nil
	}
	resp, err := c.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: res})
	if err != nil {
		return fmt.Errorf("describe topic configs: %w", err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return fmt.Errorf("describe config of topic %s: %w", r.ResourceName, r.Error)
		}
		for _, e := range r.ConfigEntries {
			switch e.ConfigName {
			case "cleanup.policy":
				s := spec[r.ResourceName]
				if want := s.Configs["cleanup.policy"]; want != "" && !strings.Contains(e.ConfigValue, want) {
					return fmt.Errorf("%w: topic %s has cleanup.policy=%s, want %s: %s; run kafka-configs --alter --entity-type topics --entity-name %s --add-config cleanup.policy=%s",
						ErrTopicMismatch, r.ResourceName, e.ConfigValue, want, s.lost, r.ResourceName, want)
				}
			case "max.message.bytes":
				if n, err := strconv.Atoi(e.ConfigValue); err == nil && n < minWritableBytes && !spec[r.ResourceName].ReadOnly && spec[r.ResourceName].Configs["max.message.bytes"] != "" {
					return fmt.Errorf("%w: topic %s has max.message.bytes=%d, below the engine's %d-byte write batches, which it would refuse; run kafka-configs --alter --entity-type topics --entity-name %s --add-config max.message.bytes=%d",
						ErrTopicMismatch, r.ResourceName, n, writeBatchBytes, r.ResourceName, topicMaxBytes)
				}
			}
		}
	}
	return nil
}

// RulesTopic is the spec of the offer-rules topic: one partition is plenty
// for a few thousand rules, and compaction keeps the latest document of
// every rule for as long as the rule exists.
func RulesTopic() TopicSpec {
	return TopicSpec{Name: TopicRules, Partitions: 1, Configs: map[string]string{"cleanup.policy": "compact"},
		lost: "rules that stay unchanged longer than the retention would be deleted with old segments"}
}

// EnsureRulesTopic creates the offer-rules topic when it is missing, with
// the given replication (-1: the brokers' default), and refuses an existing
// one that is not compacted, since it would lose rules that stay unchanged
// longer than its retention.
func EnsureRulesTopic(ctx context.Context, c *kafka.Client, replication int) error {
	meta, err := c.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return fmt.Errorf("read topic metadata from %s: %w", c.Addr, err)
	}
	have := make(map[string]int)
	for _, t := range meta.Topics {
		if t.Error == nil && t.Name == TopicRules {
			have[t.Name] = len(t.Partitions)
		}
	}
	specs := []TopicSpec{RulesTopic()}
	if err := checkConfigs(ctx, c, specs, have); err != nil {
		return err
	}
	return createMissing(ctx, c, specs, have, replication)
}

// eventsRetention is how long offers.events keeps decision events when the
// engine creates it: offerctl stats matches a redemption to the sent event
// of its offer, so the events must outlive Kafka's default week. 400 days
// covers the oldest swipe the engine accepts (DefaultLimits.MaxAge).
const eventsRetention = 400 * 24 * time.Hour

func eventRetention(c map[string]string) map[string]string {
	c["retention.ms"] = strconv.FormatInt(eventsRetention.Milliseconds(), 10)
	return c
}
