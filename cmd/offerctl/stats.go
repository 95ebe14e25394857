package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
)

const statsUsage = "usage: offerctl stats [--brokers host:port] [--from T] [--to T] [--rule ID] [--window 7d] [--json]"

// stats reads the decision stream to its current end and prints, per rule,
// offers sent, held out and redeemed, and the holdout comparison of spend,
// for which it also reads the swipes topic.
func stats(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("offerctl stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, host:port[,host:port...]")
	from := fs.String("from", "", "only offers sent or held at or after this time (RFC 3339 or YYYY-MM-DD, UTC)")
	to := fs.String("to", "", "only offers sent or held before this time (RFC 3339 or YYYY-MM-DD, UTC)")
	rule := fs.String("rule", "", "only this rule")
	window := fs.String("window", "7d", "spend is measured over this long after each card's first offer (7d, 36h)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var f statsFilter
	var err error
	if fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err == nil {
		f.From, err = parseTime(*from)
	}
	if err == nil {
		f.To, err = parseTime(*to)
	}
	if err == nil {
		f.Window, err = rules.ParseDuration(*window)
		if err == nil && f.Window <= 0 {
			err = fmt.Errorf("--window %s must be positive", *window)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "offerctl stats: %v\n%s\n", err, statsUsage)
		return 2
	}
	f.Rule = *rule

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addrs := strings.Split(*brokers, ",")
	a := newAggregator(f)
	var mu sync.Mutex
	err = readTopic(ctx, addrs, engine.TopicEvents, func(m *kafka.Message) {
		e, err := engine.DecodeEvent(m.Value)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			a.bad++
			return
		}
		a.addEvent(&e)
	})
	if err == nil && a.needsSwipes() {
		// The engine applied what decodes; what it dead-lettered made no
		// spend. Event times are not judged against a clock here.
		lim := engine.DefaultLimits
		lim.MaxAge, lim.MaxSkew = math.MaxInt64, math.MaxInt64
		now := time.Now()
		err = readTopic(ctx, addrs, engine.TopicSwipes, func(m *kafka.Message) {
			s, err := engine.Decode(m.Key, m.Value, now, lim)
			if err != nil {
				return
			}
			mu.Lock()
			a.addSwipe(s, m.Time)
			mu.Unlock()
		})
	}
	if err != nil {
		hint := ""
		if errors.Is(err, kafka.UnknownTopicOrPartition) {
			hint = "; offerd creates offers.events and swipes when it starts: check --brokers, or start offerd"
		}
		fmt.Fprintf(stderr, "offerctl stats: %v%s\n", err, hint)
		return 1
	}
	rep := a.report()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "offerctl stats:", err)
			return 1
		}
		return 0
	}
	printStats(stdout, rep)
	return 0
}

// printStats writes the report as a table, money in major units.
func printStats(w io.Writer, rep *statsReport) {
	out := bufio.NewWriter(w)
	defer out.Flush()
	fmt.Fprintf(out, "%d decision events (%d repeats skipped", rep.Events, rep.Duplicates)
	if rep.Invalid > 0 {
		fmt.Fprintf(out, ", %d unreadable records", rep.Invalid)
	}
	fmt.Fprintln(out, ")")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rule\tsent\theld out\tredeemed\trate\tavg basket\t")
	for _, r := range rep.Rules {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f%%\t%s\t\n", r.Rule, r.Sent, r.Held, r.Redeemed, 100*r.RedemptionRate, money(r.AvgBasketCents))
	}
	tw.Flush()
	if rep.Unmatched > 0 {
		fmt.Fprintf(out, "%d redemption(s) name offer ids that were never sent\n", rep.Unmatched)
	}
	first := true
	for _, r := range rep.Rules {
		h := r.Holdout
		if h == nil {
			continue
		}
		if first {
			until := "no swipes"
			if rep.Horizon != nil {
				until = "swipes until " + rep.Horizon.Format(time.RFC3339)
			}
			fmt.Fprintf(out, "\nholdout: net spend per card in the %s after the card's first offer (%s)\n", rep.Window, until)
			tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "rule\ttreated cards\tspend/card\theld-out cards\tspend/card\tuplift/card\t95% interval\topen\t")
			first = false
		}
		uplift, ci := "n/a", "n/a"
		if h.UpliftKnown {
			uplift = signed(h.UpliftCents)
		}
		if h.SEKnown {
			ci = "±" + money(h.UpliftCI95Cents)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\t%d\t\n", r.Rule, h.TreatedCards, money(h.TreatedSpendCents),
			h.HeldCards, money(h.HeldSpendCents), uplift, ci, h.Open)
	}
	if !first {
		tw.Flush()
		fmt.Fprintln(out, "open: cards whose window reaches past the latest swipe, left out; n/a: no cards in a group (uplift), fewer than two (interval)")
	}
}

func money(cents float64) string { return fmt.Sprintf("%.2f", cents/100) }

func signed(cents float64) string { return fmt.Sprintf("%+.2f", cents/100) }

// readTopic calls fn for every record of every partition of topic, from
// the earliest offset to the end as it was when the call started. fn runs
// concurrently, one goroutine per partition.
func readTopic(ctx context.Context, addrs []string, topic string, fn func(*kafka.Message)) error {
	client := &kafka.Client{Addr: kafka.TCP(addrs...), Timeout: 10 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err == nil && len(meta.Topics) == 1 {
		err = meta.Topics[0].Error
	}
	if err != nil {
		return fmt.Errorf("topic %s on %s: %w", topic, strings.Join(addrs, ","), err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(meta.Topics[0].Partitions))
	var wg sync.WaitGroup
	for _, p := range meta.Topics[0].Partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := readPartition(ctx, addrs, topic, p.ID, fn); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func readPartition(ctx context.Context, addrs []string, topic string, partition int, fn func(*kafka.Message)) error {
	conn, err := kafka.DialLeader(ctx, "tcp", addrs[0], topic, partition)
	if err != nil {
		return fmt.Errorf("%s partition %d: %w", topic, partition, err)
	}
	first, last, err := conn.ReadOffsets()
	conn.Close()
	if err != nil {
		return fmt.Errorf("%s partition %d offsets: %w", topic, partition, err)
	}
	if last <= first {
		return nil
	}
	// Fetches of 1 MiB: with 16 MiB the embedded broker built three times
	// the bytes for the same stream (BenchmarkStatsCommand).
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: addrs, Topic: topic, Partition: partition,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 250 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return err
	}
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("%s partition %d: %w", topic, partition, err)
		}
		fn(&m)
		if m.Offset >= last-1 {
			return nil
		}
	}
}
