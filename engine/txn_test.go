package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// Topics the engine follows may be written by a transactional producer
// (Kafka Streams, an exactly-once connector): each transaction ends with
// a marker, an offset that reads as no record.

// txnBroker starts an embedded broker and writes value under key to topic
// in one committed transaction, so that the topic ends with its marker.
func txnBroker(t *testing.T, topic string, key, value []byte) (*kfake.Cluster, *kafka.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	client := &kafka.Client{Addr: kafka.TCP(c.ListenAddrs()...), Timeout: 10 * time.Second}
	ctx := context.Background()
	if err := EnsureTopics(ctx, client, Topics(1), 1); err != nil {
		t.Fatal(err)
	}
	if err := EnsureRulesTopic(ctx, client, 1); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.TransactionalID(topic+"-writer"), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: key, Value: value}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	return c, client
}

// A table whose topic ends with a transaction's marker loads: the engine
// joins its group only once its tables have.
func TestTableLoadsPastTxnMarker(t *testing.T) {
	_, client := txnBroker(t, TopicIdentities, []byte("c1"), []byte(`{"card_id":"c1","consent":{"mobile":false}}`))
	consent := NewConsentTable(0xff)
	tb := newTable(TopicIdentities, client, consent, zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tb.run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-tb.Loaded():
	case <-time.After(10 * time.Second):
		t.Fatalf("identities not loaded after 10 s (%d records read)", tb.records.Load())
	}
	if consent.Len() != 1 {
		t.Fatalf("consent of %d cards, want 1", consent.Len())
	}
}

// The follower of offer-rules waits for new records past a transaction's
// marker, rather than fetch the marker again and again.
func TestRuleFollowerWaitsPastTxnMarker(t *testing.T) {
	doc, err := SetRuleVersion([]byte(ruleDoc("r", "", "First")), 1)
	if err != nil {
		t.Fatal(err)
	}
	c, client := txnBroker(t, TopicRules, []byte("r"), doc)
	var fetches atomic.Int64
	c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		fetches.Add(1)
		return nil, nil, false
	})
	e := &Engine{client: client, log: zap.NewNop()}
	s := newRuleSync(zap.NewNop(), &e.ruleStats)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.followRules(ctx, s, 0, 0) }()
	time.Sleep(2 * time.Second)
	cancel()
	<-done
	if n := fetches.Load(); n > 20 {
		t.Errorf("the follower of an idle offer-rules fetched %d times in 2 s (it waits %v for new records)", n, followWait)
	}
	if len(s.active) != 1 {
		t.Errorf("%d rules followed, want the one written", len(s.active))
	}
}
