package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty/engine"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

func TestEnsureTopics(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		existing []kafka.TopicConfig
		wantErr  string
		wantPart int
	}{
		{name: "fresh cluster", wantPart: 4},
		{name: "existing swipes wins", existing: []kafka.TopicConfig{{Topic: engine.TopicSwipes, NumPartitions: 3, ReplicationFactor: 1}}, wantPart: 3},
		{name: "changelog partitions differ", existing: []kafka.TopicConfig{
			{Topic: engine.TopicSwipes, NumPartitions: 3, ReplicationFactor: 1},
			{Topic: engine.TopicChangelog, NumPartitions: 5, ReplicationFactor: 1, ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}},
		}, wantErr: "topic profiles.changelog has 5 partitions but swipes has 3"},
		{name: "changelog not compacted", existing: []kafka.TopicConfig{
			{Topic: engine.TopicChangelog, NumPartitions: 4, ReplicationFactor: 1, ConfigEntries: []kafka.ConfigEntry{
				{ConfigName: "cleanup.policy", ConfigValue: "delete"}, {ConfigName: "max.message.bytes", ConfigValue: "8388608"}}},
		}, wantErr: "topic profiles.changelog has cleanup.policy=delete, want compact"},
		{name: "budget topic with several partitions", existing: []kafka.TopicConfig{
			{Topic: engine.TopicBudget, NumPartitions: 4, ReplicationFactor: 1},
		}, wantErr: "topic offer-budget has 4 partitions, want 1"},
		{name: "budget topic not compacted", existing: []kafka.TopicConfig{
			{Topic: engine.TopicBudget, NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: []kafka.ConfigEntry{
				{ConfigName: "cleanup.policy", ConfigValue: "delete"}, {ConfigName: "max.message.bytes", ConfigValue: "8388608"}}},
		}, wantErr: "topic offer-budget has cleanup.policy=delete, want compact"},
		{name: "offers topic refuses the engine's batches", existing: []kafka.TopicConfig{
			{Topic: "offers.mobile", NumPartitions: 4, ReplicationFactor: 1},
		}, wantErr: "topic offers.mobile has max.message.bytes=1048588, below the engine's 5242880-byte write batches"},
		{name: "identities not compacted", existing: []kafka.TopicConfig{
			{Topic: engine.TopicIdentities, NumPartitions: 4, ReplicationFactor: 1, ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "delete"}}},
		}, wantErr: "topic identities has cleanup.policy=delete, want compact: opt-outs would be forgotten"},
		// The engine only reads identities: its producers' message size is theirs to choose.
		{name: "identities with the broker's default message size", existing: []kafka.TopicConfig{
			{Topic: engine.TopicIdentities, NumPartitions: 4, ReplicationFactor: 1, ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}},
		}, wantPart: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			client := &kafka.Client{Addr: kafka.TCP(c.ListenAddrs()...), Timeout: 10 * time.Second}
			if len(tt.existing) > 0 {
				if _, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: tt.existing}); err != nil {
					t.Fatal(err)
				}
			}
			err = engine.EnsureTopics(ctx, client, engine.Topics(4), 1)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, engine.ErrTopicMismatch) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want ErrTopicMismatch with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			meta, err := client.Metadata(ctx, &kafka.MetadataRequest{})
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			for _, top := range meta.Topics {
				for _, s := range engine.Topics(4) {
					if top.Name == s.Name {
						seen++
						want := tt.wantPart
						if s.Name == engine.TopicBudget {
							want = 1 // followed whole by every instance
						}
						if len(top.Partitions) != want {
							t.Errorf("%s has %d partitions, want %d", top.Name, len(top.Partitions), want)
						}
					}
				}
			}
			if seen != len(engine.Topics(4)) {
				t.Errorf("%d of %d topics exist", seen, len(engine.Topics(4)))
			}
			// Idempotent: a second instance starting finds everything.
			if err := engine.EnsureTopics(ctx, client, engine.Topics(4), 1); err != nil {
				t.Fatal(err)
			}
		})
	}
}
