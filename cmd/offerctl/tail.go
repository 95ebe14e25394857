package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aislecast/loyalty/backtest"
	"github.com/segmentio/kafka-go"
)

// tail prints the messages of a topic as JSON lines, from every partition,
// until --max messages, --timeout without a new one, or Ctrl-C.
func tail(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("offerctl tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, host:port[,host:port...]")
	maxN := fs.Int("max", 0, "stop after this many messages (0: no limit)")
	timeout := fs.Duration("timeout", 0, "stop when no message arrived for this long (0: follow until Ctrl-C)")
	from := fs.String("from", "start", "start reading at the start or the end of each partition")
	topic, err := parseInterleaved(fs, args)
	if err != nil {
		fmt.Fprintln(stderr, "offerctl tail:", err)
		return 2
	}
	if topic == "" || (*from != "start" && *from != "end") || *maxN < 0 || *timeout < 0 {
		fmt.Fprintln(stderr, "usage: offerctl tail TOPIC [--brokers host:port] [--max N] [--timeout D] [--from start|end]")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addrs := strings.Split(*brokers, ",")
	client := &kafka.Client{Addr: kafka.TCP(addrs...), Timeout: 10 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err == nil && len(meta.Topics) == 1 {
		err = meta.Topics[0].Error
	}
	if err != nil {
		fmt.Fprintf(stderr, "offerctl tail: topic %s on %s: %v\n", topic, *brokers, err)
		return 1
	}

	start := kafka.FirstOffset
	if *from == "end" {
		start = kafka.LastOffset
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan kafka.Message)
	var wg sync.WaitGroup
	for _, p := range meta.Topics[0].Partitions {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: addrs, Topic: topic, Partition: p.ID,
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond})
		if err := r.SetOffset(start); err != nil {
			fmt.Fprintln(stderr, "offerctl tail:", err)
			return 1
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				select {
				case msgs <- m:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	defer wg.Wait()
	defer cancel()

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	var idle <-chan time.Time
	for n := 0; *maxN == 0 || n < *maxN; n++ {
		if *timeout > 0 {
			idle = time.After(*timeout)
		}
		select {
		case <-ctx.Done():
			return 0
		case <-idle:
			return 0
		case m := <-msgs:
			if err := enc.Encode(backtest.NewRecord(&m)); err != nil {
				fmt.Fprintln(stderr, "offerctl tail:", err)
				return 1
			}
			if len(msgs) == 0 {
				out.Flush()
			}
		}
	}
	return 0
}

// parseInterleaved parses flags given before or after the one positional
// argument, as in "tail swipes.dlq --max 10", and returns the positional.
func parseInterleaved(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) > 1 {
		return "", errors.New("expected one topic, got " + strings.Join(pos, " "))
	}
	if len(pos) == 0 {
		return "", nil
	}
	return pos[0], nil
}

// parseArgs parses flags given before, between or after the positional
// arguments, as in "apply a.yaml --dry-run b.yaml", and returns the
// positionals.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
