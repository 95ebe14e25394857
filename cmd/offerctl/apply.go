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

	"github.com/aislecast/loyalty/engine"
	"github.com/segmentio/kafka-go"
)

// idList is a flag that may be given several times.
type idList []string

func (l *idList) String() string     { return strings.Join(*l, ",") }
func (l *idList) Set(s string) error { *l = append(*l, s); return nil }

const applyUsage = "usage: offerctl apply FILE|DIR... [--brokers host:port[,...]] [--delete ID]... [--dry-run]"

// apply validates rule files exactly as validate does and publishes the
// rules whose document changed to the offer-rules topic, with their version
// bumped, and a tombstone for each --delete; every running offerd follows
// the topic and swaps its rules. Nothing is published when any file is
// invalid.
func apply(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("offerctl apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, host:port[,host:port...]")
	var deletes idList
	fs.Var(&deletes, "delete", "delete the rule with this id (repeatable)")
	dryRun := fs.Bool("dry-run", false, "print what would change, publish nothing")
	paths, err := parseArgs(fs, args)
	if err != nil {
		fmt.Fprintln(stderr, "offerctl apply:", err)
		return 2
	}
	if len(paths) == 0 && len(deletes) == 0 {
		fmt.Fprintln(stderr, applyUsage)
		return 2
	}
	var docs []engine.RuleDoc
	if len(paths) > 0 {
		set, code := load("apply", paths, stdout, stderr)
		if set == nil {
			return code
		}
		if docs, err = engine.RuleDocs(set, os.ReadFile); err != nil {
			fmt.Fprintln(stderr, "offerctl apply:", err)
			return 1
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addrs := strings.Split(*brokers, ",")
	client := &kafka.Client{Addr: kafka.TCP(addrs...), Timeout: 10 * time.Second}
	if !*dryRun {
		// Replication -1: the brokers' default.
		if err := engine.EnsureRulesTopic(ctx, client, -1); err != nil {
			fmt.Fprintf(stderr, "offerctl apply: topic %s on %s: %v\n", engine.TopicRules, *brokers, err)
			return 1
		}
	}
	st, err := engine.ReadRules(ctx, client)
	if err != nil {
		fmt.Fprintf(stderr, "offerctl apply: %s on %s: %v\n", engine.TopicRules, *brokers, err)
		return 1
	}
	plan, err := engine.PlanApply(st, docs, deletes)
	if err != nil {
		fmt.Fprintln(stderr, "offerctl apply:", err)
		if errors.As(err, new(*engine.ApplyConflict)) {
			return 2 // the arguments contradict each other
		}
		return 1 // a rule that would not compile as published
	}
	n := 0
	for _, c := range plan {
		fmt.Fprintln(stdout, c.String())
		if c.Publish() {
			n++
		}
	}
	if *dryRun {
		fmt.Fprintf(stderr, "dry run: %d change(s) not published\n", n)
		return 0
	}
	a := engine.Applier{By: engine.AppliedBy(), With: "offerctl apply", At: time.Now()}
	if err := engine.PublishRules(ctx, addrs, nil, plan, a); err != nil {
		fmt.Fprintln(stderr, "offerctl apply:", err)
		return 1
	}
	fmt.Fprintf(stderr, "%d change(s) published to %s by %s\n", n, engine.TopicRules, a.By)
	return 0
}
