package backtest

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/aislecast/loyalty/offers"
)

// policyOrder is the order of the suppression columns: the order the
// policy checks, then the budget and arbitration; other reasons follow by
// name.
var policyOrder = []string{offers.Expired.String(), offers.Schedule.String(), offers.Consent.String(), offers.Quiet.String(),
	offers.Cooldown.String(), offers.Cap.String(), offers.Budget.String(), offers.Arbitration.String()}

// WriteText prints the report as a table, one row per rule, then the
// totals. A discount marked ~ is estimated from percent coupons.
func (rep *Report) WriteText(w io.Writer) error {
	reasons := map[string]bool{}
	for _, r := range rep.Rules {
		for k := range r.Suppressed {
			reasons[k] = true
		}
	}
	var cols []string
	for _, k := range policyOrder {
		if reasons[k] {
			cols = append(cols, k)
			delete(reasons, k)
		}
	}
	cols = append(cols, slices.Sorted(maps.Keys(reasons))...)

	width := len("rule")
	for _, r := range rep.Rules {
		width = max(width, len(r.Rule))
	}
	// Numbers align right; the padded rule ids stay left-aligned.
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tversion\toffers\ttriggers\tcards\tdiscount\tholdout\t", width, "rule")
	for _, c := range cols {
		fmt.Fprintf(tw, "%s\t", c)
	}
	fmt.Fprintln(tw)
	for _, r := range rep.Rules {
		est := ""
		if r.Estimated {
			est = "~"
		}
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%d\t%d\t%s%s\t%d\t", width, r.Rule, r.Version, r.Offers, r.Triggers, r.Cards, est, cents(r.DiscountCents), r.Held)
		for _, c := range cols {
			fmt.Fprintf(tw, "%d\t", r.Suppressed[c])
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(table.String()) { // drop the padding before the first column
		if _, err := io.WriteString(w, strings.TrimPrefix(line, "  ")); err != nil {
			return err
		}
	}
	var dl []string
	for _, k := range slices.Sorted(maps.Keys(rep.DeadLettersByReason)) {
		dl = append(dl, fmt.Sprintf("%s=%d", k, rep.DeadLettersByReason[k]))
	}
	dead := ""
	if len(dl) > 0 {
		dead = " (" + strings.Join(dl, " ") + ")"
	}
	_, err := fmt.Fprintf(w, "\nswipes %d: applied %d, duplicates %d, replayed %d, dead letters %d%s, rule errors %d\noffers %d, held out %d; warm-up swipes %d, after --to %d\n",
		rep.Swipes, rep.Applied, rep.Duplicates, rep.Replayed, rep.DeadLetters, dead, rep.RuleErrors,
		rep.Offers, rep.Held, rep.Warmup, rep.After)
	return err
}

// cents formats an amount of cents as units with two decimals.
func cents(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}
