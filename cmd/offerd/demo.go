package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/possim"
	"github.com/aislecast/loyalty/rules"
	"github.com/aislecast/loyalty/rules/examples"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
)

// historyBatch is the number of swipes sent per write while loading history:
// small enough that the simulated clock, which advances as writes are
// acknowledged, never trails the swipes in flight by a day (the engine
// rejects swipes more than a day ahead of its clock).
const historyBatch = 100

// runDemo runs broker, engine, POS feed and an offer printer in one
// process until ctx ends, then drains and prints a summary on stderr.
func runDemo(ctx context.Context, o *options, log *zap.Logger, stdout, stderr io.Writer) error {
	rs, read, err := demoRules(o)
	if err != nil {
		return err
	}
	docs, err := engine.RuleDocs(rs, read)
	if err != nil {
		return err
	}
	var brokers []string
	if o.brokersSet {
		brokers = splitBrokers(o.brokers)
	} else {
		opts := []kfake.Opt{kfake.NumBrokers(1)}
		if o.brokerPort > 0 {
			opts = append(opts, kfake.Ports(o.brokerPort))
		}
		cluster, err := kfake.NewCluster(opts...)
		if err != nil {
			return fmt.Errorf("start embedded broker: %w", err)
		}
		defer cluster.Close()
		brokers = cluster.ListenAddrs()
		log.Info("embedded broker started", zap.Strings("brokers", brokers))
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	if err := engine.EnsureTopics(ctx, client, engine.Topics(o.partitions), 1); err != nil {
		return err
	}
	logRules(log, rs)

	// Swipes carry their simulated send time as their Kafka timestamp:
	// the engine judges an offer's expiry by it, and offerctl backtest
	// of the demo's swipes judges time by it as the engine's clock does.
	gen := possim.New(possim.Config{Seed: o.seed, Cards: o.cards, BadFraction: o.badFraction, Timestamps: true})
	if o.stores == nil {
		if o.stores, err = demoStores(gen); err != nil {
			return err
		}
	}
	o.group = "offerd-demo"
	e, stopAdmin, err := startEngine(o, log, rs, docs, brokers)
	if err != nil {
		return err
	}
	defer stopAdmin()
	// Event time is simulated: the feed runs weeks of shopping through in
	// minutes, so the engine judges plausible swipe times by the feed's
	// clock, not the wall clock.
	var simNow atomic.Int64
	simNow.Store(gen.Clock().Unix())
	e.SetClock(func() time.Time { return time.Unix(simNow.Load(), 0) })

	// The engine and the printer outlive ctx so that they can drain what
	// the feed sent before it stopped.
	engCtx, stopEngine := context.WithCancel(context.Background())
	defer stopEngine()
	engDone := make(chan error, 1)
	go func() { engDone <- e.Run(engCtx) }()

	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        engine.TopicSwipes,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		BatchBytes:   16 << 20,
	}
	defer w.Close()
	onSent := func(possim.Message) { simNow.Store(gen.Clock().Unix()) }
	// Shoppers hear of their offers and redeem some at their next purchase.
	feedCtx, stopFeed := context.WithCancel(engCtx)
	var fwg sync.WaitGroup
	fwg.Add(1)
	go func() { defer fwg.Done(); feedOffers(feedCtx, brokers, gen, log) }()
	defer func() { stopFeed(); fwg.Wait() }()

	// History first, as fast as the engine takes it and unprinted, so that
	// the live swipes meet profiles with weeks of purchases behind them.
	st := e.Stats()
	historyEnd := gen.Clock().AddDate(0, 0, o.historyDays)
	sent := 0
	for gen.Clock().Before(historyEnd) && ctx.Err() == nil {
		n, err := possim.Produce(ctx, w, gen, historyBatch, 0, onSent)
		sent += n
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("POS feed: %w", err)
		}
	}
	waitFor(ctx, time.Minute, func() bool { return st.Swipes.Load() >= int64(sent) })
	histSwipes, histOffers := st.Swipes.Load(), st.Offers.Load()
	log.Info("history loaded; going live", zap.Int("swipes", sent), zap.Int("days", o.historyDays),
		zap.Int64("offers", histOffers), zap.Int("rate", int(o.rate)))

	printCtx, stopPrinter := context.WithCancel(context.Background())
	defer stopPrinter()
	var printed atomic.Int64
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		printOffers(printCtx, brokers, stdout, &printed, log)
	}()

	n, err := possim.Produce(ctx, w, gen, 0, o.rate, onSent)
	sent += n
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("POS feed: %w", err)
	}
	log.Info("feed stopped; draining", zap.Int("sent", sent))

	waitFor(context.Background(), 10*time.Second, func() bool { return st.Swipes.Load() >= int64(sent) })
	profiles := e.Profiles()
	stopEngine()
	if err := <-engDone; err != nil {
		return err
	}
	waitFor(context.Background(), 5*time.Second, func() bool { return printed.Load() >= st.Offers.Load()-histOffers })
	stopPrinter()
	pwg.Wait()
	summary(stderr, sent, int(histSwipes), st, printed.Load(), profiles)
	return nil
}

// demoRules loads --rules when given, else the samples shipped with the
// engine; read reads the files the rules name.
func demoRules(o *options) (rs *rules.Set, read func(string) ([]byte, error), err error) {
	if o.rulesPath != "" {
		rs, err = rules.LoadPaths(o.rulesPath)
		return rs, os.ReadFile, err
	}
	read = func(name string) ([]byte, error) {
		return fs.ReadFile(examples.FS, strings.TrimPrefix(name, "examples/"))
	}
	var all []*rules.Rule
	err = fs.WalkDir(examples.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		data, err := read("examples/" + path)
		if err != nil {
			return err
		}
		rs, err := rules.Parse("examples/"+path, data)
		all = append(all, rs...)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	rs, err = rules.NewSet(all)
	return rs, read, err
}

// printOffers writes every offer published on any channel to w, one JSON
// object per line.
func printOffers(ctx context.Context, brokers []string, w io.Writer, n *atomic.Int64, log *zap.Logger) {
	out := bufio.NewWriter(w)
	defer out.Flush()
	// Live offers only, not the history's.
	eachOffer(ctx, brokers, "printer", kafka.LastOffset, log, func(m kafka.Message, caughtUp bool) {
		out.Write(m.Value)
		out.WriteByte('\n')
		if caughtUp {
			out.Flush()
		}
		n.Add(1)
	})
}

// feedOffers hands every offer published to the simulated shoppers, so
// that later purchases redeem some of them (possim.Generator.Offered).
func feedOffers(ctx context.Context, brokers []string, gen *possim.Generator, log *zap.Logger) {
	eachOffer(ctx, brokers, "shoppers", kafka.FirstOffset, log, func(m kafka.Message, _ bool) {
		var o loyalty.Offer
		if json.Unmarshal(m.Value, &o) == nil {
			gen.Offered(o.CardID, o.OfferID, o.ExpiresAt)
		}
	})
}

// eachOffer calls fn with every offer published on any channel from start
// (kafka.FirstOffset or kafka.LastOffset) until ctx ends, reading in a
// consumer group of its own named for who reads; caughtUp reports that no
// further offer is waiting.
func eachOffer(ctx context.Context, brokers []string, who string, start int64, log *zap.Logger, fn func(m kafka.Message, caughtUp bool)) {
	var topics []string
	for _, ch := range loyalty.Channels {
		topics = append(topics, loyalty.OfferTopic(ch))
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     brokers,
		GroupID:     fmt.Sprintf("offerd-demo-%s-%d", who, time.Now().UnixNano()),
		GroupTopics: topics,
		StartOffset: start,
		MinBytes:    1,
		MaxBytes:    10 << 20,
		MaxWait:     250 * time.Millisecond,
	})
	defer r.Close()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("offer "+who, zap.Error(err))
			}
			return
		}
		fn(m, r.Lag() == 0)
	}
}

// waitFor polls done until it holds, limit passes or ctx ends.
func waitFor(ctx context.Context, limit time.Duration, done func() bool) {
	deadline := time.Now().Add(limit)
	for !done() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
}

func summary(w io.Writer, sent, history int, st *engine.Stats, printed int64, profiles int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\n== offerd demo summary ==\n")
	fmt.Fprintf(tw, "swipes sent\t%d (%d of history, %d live)\n", sent, history, sent-history)
	fmt.Fprintf(tw, "swipes processed\t%d\n", st.Swipes.Load())
	fmt.Fprintf(tw, "  applied to profiles\t%d\n", st.Applied.Load())
	fmt.Fprintf(tw, "  POS retries skipped\t%d\n", st.Duplicates.Load())
	fmt.Fprintf(tw, "  dead-lettered\t%d\n", st.DLQ.Load())
	reasons := st.RejectsByReason()
	sort.Slice(reasons, func(i, j int) bool { return reasons[i].Name < reasons[j].Name })
	for _, r := range reasons {
		fmt.Fprintf(tw, "    %s\t%d\n", r.Name, r.N)
	}
	fmt.Fprintf(tw, "profiles\t%d\n", profiles)
	fmt.Fprintf(tw, "offers published\t%d\n", st.Offers.Load())
	for _, r := range st.OffersByRule() {
		fmt.Fprintf(tw, "  %s\t%d\n", r.Name, r.N)
	}
	fmt.Fprintf(tw, "offers printed (live)\t%d\n", printed)
	fmt.Fprintf(tw, "offers redeemed\t%d\n", st.Redeemed.Load())
	tw.Flush()
}

// demoStores is the store registry of the simulated chain, as --stores
// would give it.
func demoStores(gen *possim.Generator) (*engine.StoreRegistry, error) {
	var recs []engine.StoreRecord
	for _, st := range gen.Stores() {
		recs = append(recs, engine.StoreRecord{ID: st.ID, Name: st.City, TimeZone: st.Zone.String()})
	}
	return engine.NewStoreRegistry(recs...)
}
