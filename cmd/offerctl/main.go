// Command offerctl is the marketers' and operators' tool for offer rules.
//
//	offerctl validate FILE|DIR...   check rule files; exit 1 with file:line:col errors
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
	case "tail":
		return tail(args[1:], stdout, stderr)
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
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(stderr, "offerctl validate: %v\n", err)
			return 2
		}
	}
	set, err := rules.LoadPaths(paths...)
	if err != nil {
		var list rules.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				fmt.Fprintln(stdout, e)
			}
			fmt.Fprintf(stderr, "%d error(s)\n", len(list))
		} else {
			fmt.Fprintln(stdout, err)
		}
		return 1
	}
	for _, r := range set.Rules() {
		coupon := ""
		switch {
		case r.Coupon.DiscountPercent > 0:
			coupon = fmt.Sprintf("%d%% off", r.Coupon.DiscountPercent)
		case r.Coupon.DiscountCents > 0:
			coupon = fmt.Sprintf("%d.%02d off", r.Coupon.DiscountCents/100, r.Coupon.DiscountCents%100)
		}
		fmt.Fprintf(stdout, "ok  %s:%d: rule %s v%d priority %d → %s, %s, expires in %s\n",
			r.File, r.Line, r.ID, r.Version, r.Priority, strings.Join(r.Channels, "+"), coupon, r.ExpiresIn)
		if w := rules.Unenforced(r); w != "" {
			fmt.Fprintf(stderr, "warning: %s:%d: rule %s: %s\n", r.File, r.Line, r.ID, w)
		}
	}
	fmt.Fprintf(stderr, "%d rule(s) valid\n", set.Len())
	return 0
}
