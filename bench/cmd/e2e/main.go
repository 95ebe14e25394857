// Command e2e measures the engine end to end through a broker against a
// raw kafka-go relay in the same run, and prints each figure as a table:
//
//	go run ./bench/cmd/e2e --figure throughput          # embedded broker
//	go run ./bench/cmd/e2e --figure latency --broker kafka
//	go run ./bench/cmd/e2e --brokers 127.0.0.1:9092     # a broker you run
//
// With --broker kafka it starts Apache Kafka with deploy/kafka.sh on
// loopback ports 49092 and 49093, with its data in a temporary directory,
// and stops it and removes the data at the end. Only loopback brokers are
// accepted: the harness deletes and recreates the engine's topics. See
// bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aislecast/loyalty/bench"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("e2e", flag.ContinueOnError)
	fs.SetOutput(stderr)
	broker := fs.String("broker", "embedded", "broker to start: embedded (kfake, in-process) or kafka (deploy/kafka.sh)")
	brokers := fs.String("brokers", "", "use this running broker (host:port[,...] on loopback) instead of starting one")
	figure := fs.String("figure", "all", "figure to measure: throughput, latency or all")
	swipes := fs.Int("swipes", 200000, "throughput: swipes produced and relayed")
	rules := fs.Int("rules", 100, "generated rules the engine runs (latency adds a probe rule)")
	rounds := fs.Int("rounds", 2, "throughput: relay-then-engine rounds")
	rate := fs.Float64("rate", 1000, "latency: swipes per second")
	duration := fs.Duration("duration", 20*time.Second, "latency: length of the measured stream")
	warmup := fs.Duration("warmup", 2*time.Second, "latency: stream before the measured one, not counted")
	kafkaPort := fs.Int("kafka-port", 49092, "--broker kafka: client port on 127.0.0.1")
	controllerPort := fs.Int("kafka-controller-port", 49093, "--broker kafka: controller port on 127.0.0.1")
	script := fs.String("kafka-script", "", "--broker kafka: path of deploy/kafka.sh (default: found from the working directory)")
	var prof profiles
	prof.flags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "e2e: "+format+"\n", a...)
		fs.Usage()
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	doThroughput, doLatency := *figure == "throughput" || *figure == "all", *figure == "latency" || *figure == "all"
	if !doThroughput && !doLatency {
		return usage("--figure %q: want throughput, latency or all", *figure)
	}
	if *broker != "embedded" && *broker != "kafka" {
		return usage("--broker %q: want embedded or kafka", *broker)
	}
	if *swipes <= 0 || *rules < 0 || *rounds <= 0 || *rate <= 0 || *duration <= 0 || *warmup < 0 {
		return usage("--swipes, --rounds, --rate and --duration must be positive, --rules and --warmup not negative")
	}
	rulesN := *rules
	if rulesN == 0 {
		rulesN = -1 // the configs' zero means the default
	}
	warm := *warmup
	if warm == 0 {
		warm = -1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "e2e: %v\n", err)
		return 1
	}

	var b *bench.Broker
	switch {
	case *brokers != "":
		var err error
		if b, err = bench.UseRunning(strings.Split(*brokers, ",")); err != nil {
			return fail(err)
		}
		if err := bench.CheckEmpty(ctx, b); err != nil {
			return fail(err)
		}
	case *broker == "embedded":
		var closeBroker func()
		var err error
		if b, closeBroker, err = bench.StartEmbedded(); err != nil {
			return fail(err)
		}
		defer closeBroker()
	default:
		path := *script
		if path == "" {
			var err error
			if path, err = bench.FindKafkaScript(); err != nil {
				return fail(err)
			}
		}
		k := &bench.KafkaScript{Path: path, Port: *kafkaPort, ControllerPort: *controllerPort, Progress: os.Stderr}
		defer func() {
			if err := k.Down(); err != nil {
				fmt.Fprintf(stderr, "e2e: %v\n", err)
			}
		}()
		fmt.Fprintf(stderr, "e2e: starting Apache Kafka on 127.0.0.1:%d\n", *kafkaPort)
		var err error
		if b, err = k.Up(ctx); err != nil {
			return fail(err)
		}
	}

	stopProfiles, err := prof.start()
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err := stopProfiles(); err != nil {
			fmt.Fprintf(stderr, "e2e: %v\n", err)
		}
	}()
	var errs []error
	if doThroughput {
		res, err := bench.Throughput(ctx, b, bench.ThroughputConfig{Swipes: *swipes, Rules: rulesN, Rounds: *rounds, Progress: stderr})
		if err != nil {
			errs = append(errs, fmt.Errorf("throughput: %w", err))
		} else {
			res.Print(stdout)
		}
	}
	if doLatency && ctx.Err() == nil {
		if doThroughput {
			fmt.Fprintln(stdout)
		}
		res, err := bench.Latency(ctx, b, bench.LatencyConfig{Rate: *rate, Duration: *duration, Warmup: warm, Rules: rulesN, Progress: stderr})
		if err != nil {
			errs = append(errs, fmt.Errorf("latency: %w", err))
		} else {
			res.Print(stdout)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	return 0
}
