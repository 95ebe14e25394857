// Command swipegen is the POS simulator and load generator: it writes a
// deterministic, realistic stream of loyalty-card swipes (package possim),
// with a share of faulty messages, to the swipes topic.
//
//	swipegen --brokers 127.0.0.1:9092 --count 100000 --rate 1000 --cards 10000 --bad-fraction 0.01 --seed 1
//	swipegen --out history.jsonl --count 100000 --seed 1     # a file for offerctl backtest
//
// swipegen never creates topics: offerd does, with the partition count the
// engine's changelog must share, so start offerd (or offerd --demo) first.
// Messages are keyed by card_id and partitioned with murmur2 like the Java
// client, written with acks from all in-sync replicas, and compressed
// (snappy by default) so that the oversized faults (values over 1 MiB)
// fit the brokers' default 1 MiB batch limit; with --compression none the
// oversized faults are left out.
//
// Logs go to stderr as JSON; at the end one summary line goes to stderr.
// Exit status: 0 when every message was sent (or on SIGINT/SIGTERM), 1 on
// failure, 2 on usage errors.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aislecast/loyalty/backtest"
	"github.com/aislecast/loyalty/possim"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

var compressions = map[string]kafka.Compression{
	"none":   0,
	"gzip":   kafka.Gzip,
	"snappy": kafka.Snappy,
	"lz4":    kafka.Lz4,
	"zstd":   kafka.Zstd,
}

// progressEvery is how often a long run logs how far it got.
const progressEvery = 10 * time.Second

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("swipegen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap `addresses`")
	topic := fs.String("topic", "swipes", "`topic` to write to; it must exist (offerd creates it)")
	count := fs.Int("count", 10000, "swipes to send; 0 sends until SIGINT or SIGTERM")
	rate := fs.Float64("rate", 0, "swipes per second; 0 sends as fast as the brokers take them")
	cards := fs.Int("cards", possim.DefaultCards, "loyalty cards in the simulated population")
	stores := fs.Int("stores", possim.DefaultStores, "stores of the simulated chain")
	bad := fs.Float64("bad-fraction", 0.01, "share of messages, 0 to 1, that carry a fault")
	seed := fs.Int64("seed", 1, "seed of the simulation; the same seed sends the same messages")
	startFlag := fs.String("start", "", "event time of the first swipe, RFC 3339 or YYYY-MM-DD (default: 8:00 UTC 28 days ago, so a\nlive engine finds the swipes plausible; give it for byte-identical runs on different days)")
	outPath := fs.String("out", "", "write the messages to this `file` as JSON lines (key, value, send time) instead of Kafka,\nas fast as possible, for offerctl backtest --swipes; - is stdout")
	compression := fs.String("compression", "snappy", "batch compression: none, gzip, snappy, lz4 or zstd (none leaves out oversized faults)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "swipegen: "+format+"\n", a...)
		fs.Usage()
		return 2
	}
	codec, ok := compressions[*compression]
	startAt, startErr := parseStart(*startFlag, time.Now())
	addrs := splitList(*brokers)
	switch {
	case fs.NArg() > 0:
		return usage("unexpected arguments %q", fs.Args())
	case len(addrs) == 0 && *outPath == "":
		return usage("--brokers is empty")
	case *topic == "":
		return usage("--topic is empty")
	case *count < 0:
		return usage("--count %d is negative", *count)
	case *rate < 0 || math.IsNaN(*rate) || math.IsInf(*rate, 0):
		return usage("--rate %g is not a number of swipes per second", *rate)
	case *cards < 1:
		return usage("--cards %d: need at least one card", *cards)
	case *stores < 1:
		return usage("--stores %d: need at least one store", *stores)
	case !(*bad >= 0 && *bad <= 1):
		return usage("--bad-fraction %g is not between 0 and 1", *bad)
	case startErr != nil:
		return usage("--start: %v", startErr)
	case !ok:
		return usage("--compression %q is not one of none, gzip, snappy, lz4, zstd", *compression)
	}

	log := zap.New(zapcore.NewCore(
		zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.Lock(zapcore.AddSync(stderr)),
		zap.InfoLevel,
	))
	defer func() { _ = log.Sync() }()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *outPath != "" {
		cfg := possim.Config{Seed: *seed, Cards: *cards, Stores: *stores, BadFraction: *bad, Start: startAt}
		return writeFile(ctx, *outPath, possim.New(cfg), *count, *topic, stderr)
	}

	partitions, err := checkTopic(ctx, addrs, *topic)
	if err != nil {
		log.Error("cannot produce", zap.Error(err))
		fmt.Fprintf(stderr, "swipegen: %v\n", err)
		return 1
	}

	cfg := possim.Config{Seed: *seed, Cards: *cards, Stores: *stores, BadFraction: *bad, Start: startAt}
	if codec == 0 {
		cfg.Faults = slices.DeleteFunc(possim.Faults(), func(f string) bool { return f == possim.FaultOversized })
	}
	g := possim.New(cfg)
	w := &kafka.Writer{
		Addr:                   kafka.TCP(addrs...),
		Topic:                  *topic,
		Balancer:               &kafka.Murmur2Balancer{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           time.Millisecond,
		BatchSize:              possim.MaxBatch,
		BatchBytes:             4 << 20, // room for an oversized fault
		Compression:            codec,
		AllowAutoTopicCreation: false,
		ErrorLogger: kafka.LoggerFunc(func(msg string, a ...any) {
			log.Warn("kafka writer", zap.String("error", fmt.Sprintf(msg, a...)))
		}),
	}
	log.Info("producing",
		zap.Strings("brokers", addrs), zap.String("topic", *topic), zap.Int("partitions", partitions),
		zap.Int("count", *count), zap.Float64("rate", *rate), zap.Int("cards", *cards),
		zap.Int("stores", *stores), zap.Float64("bad_fraction", *bad), zap.Int64("seed", *seed),
		zap.String("compression", *compression))

	var st stats
	st.bad = map[string]int{}
	start := time.Now()
	lastLog := start
	sent, err := possim.Produce(ctx, w, g, *count, *rate, func(m possim.Message) {
		st.add(m)
		if st.sent%1000 == 0 && time.Since(lastLog) >= progressEvery {
			lastLog = time.Now()
			log.Info("progress", zap.Int("sent", st.sent), zap.Time("sim_clock", g.Clock()))
		}
	})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	elapsed := time.Since(start)
	interrupted := err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled)
	fmt.Fprintln(stderr, st.summary(*topic, elapsed, interrupted))
	if err != nil && !interrupted {
		log.Error("producing failed", zap.Int("sent", sent), zap.Error(err))
		return 1
	}
	return 0
}

// writeFile writes count messages of g (0: until ctx is done) to path as
// the JSON lines offerctl backtest reads: each message with its key and its
// send time on the simulated clock, so a backtest judges event times as a
// live engine would have when the swipes were sent.
func writeFile(ctx context.Context, path string, g *possim.Generator, count int, topic string, stderr io.Writer) int {
	out := io.Writer(os.Stdout)
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintf(stderr, "swipegen: %v\n", err)
			return 1
		}
		defer f.Close()
		out = f
	}
	bw := bufio.NewWriterSize(out, 1<<16)
	enc := json.NewEncoder(bw)
	var st stats
	st.bad = map[string]int{}
	start := time.Now()
	for i := 0; (count == 0 || i < count) && ctx.Err() == nil; i++ {
		m := g.Next()
		km := kafka.Message{Topic: topic, Offset: int64(i), Time: g.Clock(), Key: m.Key, Value: m.Value}
		if err := enc.Encode(backtest.NewRecord(&km)); err != nil {
			fmt.Fprintf(stderr, "swipegen: %s: %v\n", path, err)
			return 1
		}
		st.add(m)
	}
	if err := bw.Flush(); err != nil {
		fmt.Fprintf(stderr, "swipegen: %s: %v\n", path, err)
		return 1
	}
	fmt.Fprintln(stderr, st.summary(path, time.Since(start), ctx.Err() != nil))
	return 0
}

// checkTopic returns the partition count of topic, or an error that says
// what to do when the brokers or the topic are not there.
func checkTopic(ctx context.Context, addrs []string, topic string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(addrs...), Timeout: 10 * time.Second}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("reading metadata from %s: %w (is a Kafka broker running there? offerd --demo runs one in process)",
			strings.Join(addrs, ","), err)
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if errors.Is(t.Error, kafka.UnknownTopicOrPartition) || (t.Error == nil && len(t.Partitions) == 0) {
			break
		}
		if t.Error != nil {
			return 0, fmt.Errorf("topic %q on %s: %w", topic, strings.Join(addrs, ","), t.Error)
		}
		return len(t.Partitions), nil
	}
	return 0, fmt.Errorf("topic %q does not exist on %s: start offerd first, it creates the topics with the partitions the engine needs, then run swipegen again",
		topic, strings.Join(addrs, ","))
}

// stats counts what was sent.
type stats struct {
	sent, retries, late int
	bad                 map[string]int
}

func (s *stats) add(m possim.Message) {
	s.sent++
	switch {
	case m.Bad != "":
		s.bad[m.Bad]++
	case m.Retry:
		s.retries++
	case m.Late:
		s.late++
	}
}

// summary is the closing line: what was sent, the faults by kind, and how
// fast.
func (s *stats) summary(topic string, elapsed time.Duration, interrupted bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "swipegen: sent %d to %s in %s (%.0f/s)", s.sent, topic, elapsed.Round(time.Millisecond), float64(s.sent)/elapsed.Seconds())
	if interrupted {
		b.WriteString(", interrupted")
	}
	total := 0
	for _, n := range s.bad {
		total += n
	}
	fmt.Fprintf(&b, "; bad %d", total)
	if total > 0 {
		b.WriteString(" (")
		for i, k := range slices.Sorted(maps.Keys(s.bad)) {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%d", k, s.bad[k])
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, "; retries %d; late %d", s.retries, s.late)
	return b.String()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseStart reads --start; empty means 08:00 UTC four weeks before now,
// far enough back for profiles to build history and close enough that
// the engine does not reject the swipes as implausibly old.
func parseStart(s string, now time.Time) (time.Time, error) {
	if s == "" {
		d := now.UTC().AddDate(0, 0, -28)
		return time.Date(d.Year(), d.Month(), d.Day(), 8, 0, 0, 0, time.UTC), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor YYYY-MM-DD", s)
	}
	return t.Add(8 * time.Hour), nil
}
