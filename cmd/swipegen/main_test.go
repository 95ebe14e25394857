package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

func TestRun(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "swipes"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	addr := strings.Join(cluster.ListenAddrs(), ",")

	for _, compression := range []string{"snappy", "none"} {
		var out bytes.Buffer
		code := run([]string{"--brokers", addr, "--count", "500", "--cards", "50", "--bad-fraction", "0.1", "--compression", compression}, &out)
		if code != 0 {
			t.Fatalf("--compression %s: exit %d:\n%s", compression, code, &out)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		summary := lines[len(lines)-1]
		if !strings.HasPrefix(summary, "swipegen: sent 500 to swipes in ") || !strings.Contains(summary, "; bad ") {
			t.Errorf("summary line %q", summary)
		}
		t.Log(summary)
	}

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: cluster.ListenAddrs(), Topic: "swipes", GroupID: "swipegen-test",
		StartOffset: kafka.FirstOffset, MaxWait: 250 * time.Millisecond, MaxBytes: 8 << 20})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 1000 {
		if _, err := r.ReadMessage(ctx); err != nil {
			t.Fatalf("read %d of 1000 messages: %v", i, err)
		}
	}
}

func TestRunMissingTopic(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	var out bytes.Buffer
	if code := run([]string{"--brokers", cluster.ListenAddrs()[0], "--count", "1"}, &out); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, &out)
	}
	if !strings.Contains(out.String(), `topic \"swipes\" does not exist`) || !strings.Contains(out.String(), "start offerd first") {
		t.Errorf("output does not say the topic is missing and what to do:\n%s", &out)
	}
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--count", "-1"},
		{"--rate", "-5"},
		{"--cards", "0"},
		{"--stores", "0"},
		{"--bad-fraction", "1.5"},
		{"--compression", "brotli"},
		{"--brokers", " , "},
		{"--nope"},
		{"extra"},
	} {
		var out bytes.Buffer
		if code := run(args, &out); code != 2 {
			t.Errorf("%q: exit %d, want 2:\n%s", args, code, &out)
		}
	}
	var out bytes.Buffer
	if code := run([]string{"-h"}, &out); code != 0 || !strings.Contains(out.String(), "-bad-fraction") {
		t.Errorf("-h: exit %d:\n%s", code, &out)
	}
}
