package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aislecast/loyalty/backtest"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

func TestTail(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "swipes.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()[0]
	w := &kafka.Writer{Addr: kafka.TCP(brokers), Topic: "swipes.dlq", Balancer: &kafka.Murmur2Balancer{}}
	defer w.Close()
	err = w.WriteMessages(context.Background(),
		kafka.Message{Key: []byte("c-1"), Value: []byte(`{"v":2}`), Headers: []kafka.Header{{Key: "error", Value: []byte("unknown schema version v=2")}}},
		kafka.Message{Key: []byte("c-2"), Value: []byte(`{"v":1,`)},
		kafka.Message{Key: []byte("c-3"), Value: nil},
	)
	if err != nil {
		t.Fatal(err)
	}

	var out, errb bytes.Buffer
	if code := tail([]string{"swipes.dlq", "--brokers", brokers, "--max", "3", "--timeout", "10s"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	got := map[string]backtest.Record{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var r backtest.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("not a JSON line: %s", sc.Text())
		}
		got[r.Key] = r
	}
	if len(got) != 3 {
		t.Fatalf("got %d records: %s", len(got), out.String())
	}
	if string(got["c-1"].Value) != `{"v":2}` || got["c-1"].Headers["error"] != "unknown schema version v=2" {
		t.Errorf("JSON value and headers not kept: %+v", got["c-1"])
	}
	if string(got["c-2"].Value) != `"{\"v\":1,"` {
		t.Errorf("invalid JSON must be printed as a string, got %s", got["c-2"].Value)
	}

	// Caught up: --timeout ends the run.
	out.Reset()
	start := time.Now()
	if code := tail([]string{"--brokers", brokers, "--from", "end", "--timeout", "300ms", "swipes.dlq"}, &out, &errb); code != 0 || out.Len() != 0 {
		t.Fatalf("exit %d, printed %q", code, out.String())
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("--timeout 300ms took %s", time.Since(start))
	}

	if code := tail([]string{"nope", "--brokers", brokers, "--timeout", "1s"}, &out, &errb); code != 1 {
		t.Errorf("missing topic: exit %d, want 1", code)
	}
	if code := tail([]string{"a", "b"}, &out, &errb); code != 2 {
		t.Errorf("two topics: exit %d, want 2", code)
	}
}
