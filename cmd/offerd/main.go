// Command offerd is the offer engine daemon: it reads loyalty-card swipes
// from Kafka, keeps a purchase profile per card and publishes the offers
// that the marketers' rules call for.
//
//	offerd --brokers 127.0.0.1:9092 --rules rules/ --group offerd --admin :8080
//	offerd --demo [--duration 20s]
//
// --demo runs everything in one process on an embedded Kafka-protocol
// broker: it creates the topics, loads the sample rules, feeds simulated
// POS traffic and prints every offer as a JSON line on stdout. Rules come
// from the offer-rules topic, which --rules (or the demo's samples) only
// seed: rules the topic lacks are published at start, and every change
// made with offerctl apply is picked up while running. Logs go to
// stderr. Every flag can also be set through the environment as
// OFFERD_<FLAG> (for example OFFERD_BROKERS).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // store time zones load on machines without a zone database

	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/offers"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	demo             bool
	duration         time.Duration
	brokers          string
	brokersSet       bool // --brokers or OFFERD_BROKERS given
	rulesPath        string
	group            string
	admin            string
	partitions       int
	maxOffers        int
	sendExpired      bool
	storeDir         string
	cacheMB          int
	compactOnRestore bool
	logLevel         string
	rate             float64
	cards            int
	badFraction      float64
	seed             int64
	historyDays      int
	brokerPort       int

	policy         engine.PolicyFlags // --stores, --quiet-hours, --consent-default
	quiet          *offers.QuietHours
	consentDefault offers.ChannelSet
	stores         *engine.StoreRegistry // from --stores, loaded by run
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("offerd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.demo, "demo", false, "run self-contained on an embedded broker with simulated POS traffic")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0: run until SIGINT/SIGTERM)")
	fs.StringVar(&o.brokers, "brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, host:port[,host:port...]")
	fs.StringVar(&o.rulesPath, "rules", "", "rule file or directory of *.yaml rule files (demo: the shipped samples); they seed the offer-rules topic, which is the source of truth once it holds rules")
	fs.StringVar(&o.group, "group", "offerd", "consumer group; instances in one group share the partitions")
	fs.StringVar(&o.admin, "admin", "", "address of the admin HTTP server (/healthz, /readyz, /metrics), e.g. :8080")
	fs.IntVar(&o.partitions, "partitions", 6, "partitions of topics created at start (an existing swipes topic's count wins)")
	fs.IntVar(&o.maxOffers, "max-offers-per-channel", 1, "most offers one swipe triggers on each channel; rules compete by priority, then value, then id")
	fs.BoolVar(&o.sendExpired, "send-expired-offers", false, "send the offers of swipes that reach Kafka after the offer would have expired (ts + expires_in before the record's timestamp: a lane uploading its backlog); by default they are suppressed as expired")
	o.policy.Register(fs, "a card without a consent record in identities")
	fs.StringVar(&o.storeDir, "store-dir", "", "keep profiles on disk in this directory (Pebble) instead of in memory; for more profiles than RAM holds")
	fs.BoolVar(&o.compactOnRestore, "compact-on-restore", false, "convert each restored profile to the compact in-memory form as it is read: restores take about twice as long, and memory never holds the changelog's form (about 2.4 times the compact one) while they are compacted in the background; with GOMEMLIMIT set, a restore does so by itself past half of it")
	fs.IntVar(&o.cacheMB, "profile-cache-mb", 64, "with --store-dir: MiB of decoded profiles of hot cards kept in front of the disk (about 10 KB a regular card); 0 turns the cache off. Profiles in memory are decoded on every swipe and need no cache")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.Float64Var(&o.rate, "rate", 200, "demo: simulated swipes per second")
	fs.IntVar(&o.cards, "cards", 2000, "demo: simulated loyalty cards")
	fs.Float64Var(&o.badFraction, "bad-fraction", 0.02, "demo: share of malformed swipes in the feed")
	fs.Int64Var(&o.seed, "seed", 1, "demo: seed of the simulated feed")
	fs.IntVar(&o.historyDays, "history-days", 35, "demo: days of simulated shopping loaded before the live feed starts")
	fs.IntVar(&o.brokerPort, "broker-port", 0, "demo: serve the embedded broker on this loopback port (e.g. 9092) so offerctl can reach it; 0 picks a free one")
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		env := "OFFERD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s: invalid value %q for --%s: %v", env, v, f.Name, err)
			}
			o.brokersSet = o.brokersSet || f.Name == "brokers"
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	err := fs.Parse(args)
	if err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { o.brokersSet = o.brokersSet || f.Name == "brokers" })
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.maxOffers < 1 {
		return nil, fmt.Errorf("--max-offers-per-channel must be at least 1, not %d", o.maxOffers)
	}
	if o.cacheMB < 0 {
		return nil, fmt.Errorf("--profile-cache-mb must be 0 (no cache) or more, not %d", o.cacheMB)
	}
	for _, c := range []struct {
		bad  bool
		what string
	}{
		{o.duration < 0, fmt.Sprintf("--duration must be 0 (run until stopped) or more, not %v", o.duration)},
		{o.partitions < 1, fmt.Sprintf("--partitions must be at least 1, not %d", o.partitions)},
		{o.rate <= 0 || math.IsInf(o.rate, 0) || math.IsNaN(o.rate), fmt.Sprintf("--rate must be a positive number of swipes a second, not %v", o.rate)},
		{o.cards < 1, fmt.Sprintf("--cards must be at least 1, not %d", o.cards)},
		{!(o.badFraction >= 0 && o.badFraction <= 1), fmt.Sprintf("--bad-fraction must be from 0 to 1, not %v", o.badFraction)},
		{o.historyDays < 0, fmt.Sprintf("--history-days must be 0 or more, not %d", o.historyDays)},
		{o.brokerPort < 0 || o.brokerPort > 65535, fmt.Sprintf("--broker-port must be from 0 (a free one) to 65535, not %d", o.brokerPort)},
	} {
		if c.bad {
			return nil, errors.New(c.what)
		}
	}
	if o.quiet, o.consentDefault, err = o.policy.Parse(); err != nil {
		return nil, err
	}
	if !o.demo && o.rulesPath == "" {
		return nil, errors.New("--rules is required (a rule file or a directory of them), or run --demo")
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "offerd:", err)
		return 2
	}
	log, err := newLogger(o.logLevel, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "offerd:", err)
		return 2
	}
	if o.policy.Stores != "" {
		if o.stores, err = engine.LoadStores(o.policy.Stores); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		log.Info("store registry loaded", zap.String("file", o.policy.Stores), zap.Int("stores", o.stores.Len()))
	}
	defer log.Sync() //nolint:errcheck // stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	if o.demo {
		err = runDemo(ctx, o, log, stdout, stderr)
	} else {
		err = runDaemon(ctx, o, log)
	}
	if err != nil {
		log.Error("stopped", zap.Error(err))
		return 1
	}
	return 0
}

func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core), nil
}
