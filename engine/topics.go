package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aislecast/loyalty"
	"github.com/segmentio/kafka-go"
)

// TopicSpec is a topic the engine needs.
type TopicSpec struct {
	Name       string
	Partitions int
	Configs    map[string]string
}

// maxMessageBytes lets a swipe over the engine's 1 MiB limit reach the
// engine, so that it is dead-lettered with a reason instead of failing in
// the POS producer, and lets the dead-letter topic carry it unchanged.
const maxMessageBytes = 4 << 20

// Topics lists every topic the engine reads or writes. The changelog has
// exactly as many partitions as swipes: partition p of state is rebuilt from
// partition p of the changelog.
func Topics(partitions int) []TopicSpec {
	big := map[string]string{"max.message.bytes": strconv.Itoa(maxMessageBytes)}
	ts := []TopicSpec{
		{Name: TopicSwipes, Partitions: partitions, Configs: big},
		{Name: TopicDLQ, Partitions: partitions, Configs: big},
		{Name: TopicChangelog, Partitions: partitions, Configs: map[string]string{"cleanup.policy": "compact"}},
	}
	for _, ch := range loyalty.Channels {
		ts = append(ts, TopicSpec{Name: loyalty.OfferTopic(ch), Partitions: partitions})
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
			specs[i].Partitions = n
		}
	}
	if n, ok := have[TopicChangelog]; ok && n != specs[0].Partitions {
		return fmt.Errorf("%w: topic %s has %d partitions but %s has %d; they must match, because partition p of profiles is restored from partition p of the changelog: recreate %s with %d partitions",
			ErrTopicMismatch, TopicChangelog, n, TopicSwipes, specs[0].Partitions, TopicChangelog, specs[0].Partitions)
	}
	if err := checkConfigs(ctx, c, specs, have); err != nil {
		return err
	}
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

// checkConfigs rejects existing topics whose cleanup policy differs from
// what the engine would create: a changelog that deletes old segments
// instead of compacting them loses the profiles of quiet cards.
func checkConfigs(ctx context.Context, c *kafka.Client, specs []TopicSpec, have map[string]int) error {
	var res []kafka.DescribeConfigRequestResource
	want := map[string]string{}
	for _, s := range specs {
		if p, ok := s.Configs["cleanup.policy"]; ok {
			if _, exists := have[s.Name]; exists {
				res = append(res, kafka.DescribeConfigRequestResource{ResourceType: kafka.ResourceTypeTopic, ResourceName: s.Name, ConfigNames: []string{"cleanup.policy"}})
				want[s.Name] = p
			}
		}
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
			if e.ConfigName == "cleanup.policy" && !strings.Contains(e.ConfigValue, want[r.ResourceName]) {
				return fmt.Errorf("%w: topic %s has cleanup.policy=%s, want %s: profiles of cards that stop shopping would be deleted with old segments; run kafka-configs --alter --entity-type topics --entity-name %s --add-config cleanup.policy=%s",
					ErrTopicMismatch, r.ResourceName, e.ConfigValue, want[r.ResourceName], r.ResourceName, want[r.ResourceName])
			}
		}
	}
	return nil
}
