package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aislecast/loyalty/backtest"
	"github.com/aislecast/loyalty/engine"
)

const backtestUsage = "usage: offerctl backtest --rules FILE|DIR (--swipes FILE | --topic TOPIC [--brokers host:port]) [--from T] [--to T] [--max-offers-per-channel K] [--stores FILE] [--quiet-hours SPEC] [--consent-default SPEC] [--json]"

// backtestCmd replays history through the engine's pipeline and prints
// what the rules would have done.
func backtestCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("offerctl backtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rulesPath := fs.String("rules", "", "rule `file or directory`")
	swipes := fs.String("swipes", "", "history `file`: JSON lines of swipegen --out, offerctl tail swipes, or bare swipes")
	topic := fs.String("topic", "", "replay this swipes `topic` instead, every partition from its start to its end now")
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers for --topic, host:port[,host:port...]")
	fromFlag := fs.String("from", "", "count swipes sent from this `time` on (RFC 3339 or YYYY-MM-DD, UTC); earlier ones only build profiles")
	toFlag := fs.String("to", "", "stop counting at this `time` (exclusive); later swipes are skipped")
	maxCh := fs.Int("max-offers-per-channel", engine.DefaultMaxOffersPerChannel, "most offers one swipe triggers on each channel, as offerd's flag")
	sendExpired := fs.Bool("send-expired-offers", false, "send offers that would have expired before their swipe reached Kafka, as offerd's flag")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	var pf engine.PolicyFlags
	pf.Register(fs, "every card gets (a backtest knows no identities record)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	from, errFrom := parseTime(*fromFlag)
	to, errTo := parseTime(*toFlag)
	switch {
	case *rulesPath == "" || (*swipes == "") == (*topic == "") || fs.NArg() > 0 || *maxCh < 1:
		fmt.Fprintln(stderr, backtestUsage)
		return 2
	case errFrom != nil || errTo != nil:
		fmt.Fprintf(stderr, "offerctl backtest: --from/--to: %v\n", firstErr(errFrom, errTo))
		return 2
	case !from.IsZero() && !to.IsZero() && !from.Before(to):
		fmt.Fprintf(stderr, "offerctl backtest: --from %s is not before --to %s\n", *fromFlag, *toFlag)
		return 2
	}
	if _, err := os.Stat(*rulesPath); err != nil {
		fmt.Fprintf(stderr, "offerctl backtest: %v\n", err)
		return 2
	}
	pol, code := policy(&pf, "offerctl backtest", stderr)
	if pol == nil {
		return code
	}
	set, code := loadRules([]string{*rulesPath}, stdout, stderr)
	if set == nil {
		return code
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var (
		srcs  []backtest.Source
		total int64 = -1
	)
	if *swipes != "" {
		f, err := os.Open(*swipes)
		if err != nil {
			fmt.Fprintf(stderr, "offerctl backtest: %v\n", err)
			return 2
		}
		defer f.Close()
		srcs = []backtest.Source{backtest.NewFileSource(f)}
	} else {
		var err error
		srcs, total, err = backtest.TopicSources(ctx, strings.Split(*brokers, ","), *topic, nil)
		if err != nil {
			fmt.Fprintf(stderr, "offerctl backtest: %v (is a broker running at %s?)\n", err, *brokers)
			return 1
		}
	}

	var read atomic.Int64
	done := showProgress(stderr, &read, total)
	rep, err := backtest.Run(ctx, set, srcs, backtest.Options{MaxOffersPerChannel: *maxCh, SendExpired: *sendExpired, From: from, To: to, Read: &read, Policy: pol})
	done()
	if err != nil {
		fmt.Fprintf(stderr, "offerctl backtest: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "offerctl backtest:", err)
		return 1
	}
	return 0
}

// parseTime reads --from and --to: RFC 3339 or a date (midnight UTC); ""
// is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-12-01T00:00:00-05:00) or a date (2026-12-01, midnight UTC)", s)
	}
	return t, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// progressEvery is how often the progress line is redrawn.
const progressEvery = 250 * time.Millisecond

// showProgress keeps one updating line on w while a replay reads, when w
// is a terminal; total < 0 means unknown. The returned func erases it.
func showProgress(w io.Writer, read *atomic.Int64, total int64) (done func()) {
	if f, ok := w.(*os.File); !ok || !isTerminal(f) {
		return func() {}
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				n := read.Load()
				rate := float64(n) / time.Since(start).Seconds()
				if total > 0 {
					fmt.Fprintf(w, "\r\033[Kbacktest: %d/%d swipes (%.0f%%, %.0f/s)", n, total, 100*float64(n)/float64(total), rate)
				} else {
					fmt.Fprintf(w, "\r\033[Kbacktest: %d swipes (%.0f/s)", n, rate)
				}
			}
		}
	}()
	return func() { close(stop); <-finished }
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
