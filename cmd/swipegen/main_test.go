package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty/backtest"
	"github.com/aislecast/loyalty/possim"
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

func TestOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	var stderr bytes.Buffer
	args := []string{"--out", path, "--count", "300", "--cards", "20", "--bad-fraction", "0.1", "--start", "2026-11-02", "--brokers", ""}
	if code := run(args, &stderr); code != 0 {
		t.Fatalf("exit %d:\n%s", code, &stderr)
	}
	if !strings.HasPrefix(stderr.String(), "swipegen: sent 300 to "+path) {
		t.Errorf("summary %q", stderr.String())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The file replays: every message with its key, bytes and send time,
	// in order, the same as the generator made them.
	g := possim.New(possim.Config{Seed: 1, Cards: 20, BadFraction: 0.1, Start: time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)})
	src := backtest.NewFileSource(f)
	for i := range 300 {
		want := g.Next()
		m, err := src.Next(context.Background())
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(m.Key, want.Key) || !bytes.Equal(m.Value, want.Value) || !m.Time.Equal(g.Clock()) {
			t.Fatalf("message %d: got key %q time %s value %.80q, want key %q time %s value %.80q", i, m.Key, m.Time, m.Value, want.Key, g.Clock(), want.Value)
		}
	}
	if _, err := src.Next(context.Background()); !errors.Is(err, io.EOF) {
		t.Errorf("after 300 messages: %v, want EOF", err)
	}
}
