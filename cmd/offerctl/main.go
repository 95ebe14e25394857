// Command offerctl is the marketers' and operators' tool for offer rules.
//
//	offerctl validate FILE|DIR...   check rule files; exit 1 with file:line:col errors
//	offerctl apply FILE|DIR... [--brokers host:port] [--delete ID]... [--dry-run]
//	                                publish changed rules to the offer-rules topic
//	offerctl test --rules PATH --swipe FILE [--profile FILE] [--explain] [--json]
//	                                dry run: what each rule does with one swipe, and why
//	offerctl backtest --rules PATH (--swipes FILE | --topic T) [--from T] [--to T] [--json]
//	                                replay history: offers, cards, discount, suppressions per rule
//	offerctl tail TOPIC [--brokers host:port] [--max N] [--timeout D] [--from start|end]
//	                                print a topic's messages as JSON lines
//	offerctl stats [--brokers host:port] [--from T] [--to T] [--rule ID] [--window 7d] [--json]
//	                                per rule: offers sent, held out, redeemed, and
//	                                the spend of treated against held-out cards
//
// Exit status: 0 on success, 1 on invalid input, 2 on usage errors.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aislecast/loyalty/rules"
)

const usage = `usage: offerctl <command> [arguments]

commands:
  validate FILE|DIR...   check rule files; one line per valid rule, or
                         file:line:col: rule <id>: message per error
  apply FILE|DIR... [--brokers host:port] [--delete ID]... [--dry-run]
                         validate the rules, then publish those that changed to
                         the offer-rules topic with their version bumped; every
                         running offerd picks them up
  test --rules FILE|DIR --swipe FILE [--profile FILE] [--explain] [--json]
                         dry run of one swipe: per rule, fired (channel,
                         title, coupon) or the first reason it did not;
                         --explain prints the values of a false condition
  backtest --rules FILE|DIR (--swipes FILE | --topic swipes [--brokers host:port])
           [--from T] [--to T] [--max-offers-per-channel K] [--json]
                         replay history through the engine: per rule offers,
                         cards, discount, holdout and suppressions; totals
                         (test and backtest take offerd's --stores,
                         --quiet-hours and --consent-default)
  tail TOPIC [--brokers host:port] [--max N] [--timeout D] [--from start|end]
                         print a topic's messages (offers, dead letters with
                         their headers) as JSON lines
  stats [--brokers host:port] [--from T] [--to T] [--rule ID] [--window 7d] [--json]
                         per rule from offers.events: offers sent, held out and
                         redeemed, redemption rate, basket of redeeming swipes,
                         and net spend per card in the window after the offer,
                         treated against held-out cards, with the uplift
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "validate":
		return validate(args[1:], stdout, stderr)
	case "test":
		return dryRun(args[1:], stdout, stderr)
	case "backtest":
		return backtestCmd(args[1:], stdout, stderr)
	case "tail":
		return tail(args[1:], stdout, stderr)
	case "apply":
		return apply(args[1:], stdout, stderr)
	case "stats":
		return stats(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "offerctl: unknown command %q\n%s", args[0], usage)
	return 2
}

// validate compiles the rule files given and reports every rule or every
// error. All files are checked together so that duplicate ids across files
// are found too.
func validate(paths []string, stdout, stderr io.Writer) int {
	if len(paths) == 0 {
		fmt.Fprint(stderr, "offerctl validate: name at least one rule file or directory\n")
		return 2
	}
	set, code := load("validate", paths, stdout, stderr)
	if set == nil {
		return code
	}
	for _, r := range set.Rules() {
		coupon := discount(r.Coupon.DiscountPercent, r.Coupon.DiscountCents)
		fmt.Fprintf(stdout, "ok  %s:%d: rule %s v%d priority %d → %s, %s, expires in %s\n",
			r.File, r.Line, r.ID, r.Version, r.Priority, strings.Join(r.Channels, "+"), coupon, r.ExpiresIn)
	}
	fmt.Fprintf(stderr, "%d rule(s) valid\n", set.Len())
	return 0
}

// load compiles the rule files given, as validate and apply check them.
// On failure it prints every problem as file:line:col: rule <id>: message
// on stdout and returns a nil set and the exit code: 2 for a path that does
// not exist, 1 for invalid rules.
func load(cmd string, paths []string, stdout, stderr io.Writer) (*rules.Set, int) {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(stderr, "offerctl %s: %v\n", cmd, err)
			return nil, 2
		}
	}
	return loadRules(paths, stdout, stderr)
}

// loadRules compiles the rule files in paths. On errors it prints each as
// file:line:col: rule <id>: message and returns a nil set and exit status 1.
func loadRules(paths []string, stdout, stderr io.Writer) (*rules.Set, int) {
	set, err := rules.LoadPaths(paths...)
	if err == nil {
		return set, 0
	}
	var list rules.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(stdout, e)
		}
		fmt.Fprintf(stderr, "%d error(s)\n", len(list))
	} else {
		fmt.Fprintln(stdout, err)
	}
	return nil, 1
}

// discount describes a coupon's discount: "20% off", "5.00 off", or "".
func discount(percent int, cents int64) string {
	switch {
	case percent > 0:
		return fmt.Sprintf("%d%% off", percent)
	case cents > 0:
		return fmt.Sprintf("%d.%02d off", cents/100, cents%100)
	}
	return ""
}
