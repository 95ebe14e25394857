package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/backtest"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
)

const testUsage = "usage: offerctl test --rules FILE|DIR --swipe FILE [--profile FILE] [--explain] [--json] [--max-offers-per-channel K]"

// ruleOutcome is what one rule did with the dry run's swipe.
type ruleOutcome struct {
	Rule    string `json:"rule"`
	Version int    `json:"version"`
	// Outcome is "fired", "wrong-kind", "condition-false", "error", or the
	// offer policy's code (schedule, cooldown, cap, holdout, ...) or
	// "arbitration" for a rule whose condition held but sent nothing.
	Outcome string             `json:"outcome"`
	Reason  string             `json:"reason,omitempty"`
	Offers  []loyalty.Offer    `json:"offers,omitempty"`
	Explain *rules.Explanation `json:"explain,omitempty"`
	Lost    []string           `json:"lost_channels,omitempty"` // channels a winner did not get

	rule *rules.Rule
}

// dryRunResult is the whole dry run, as --json prints it.
type dryRunResult struct {
	SwipeID   string        `json:"swipe_id"`
	CardID    string        `json:"card_id"`
	Kind      string        `json:"kind"`
	Duplicate bool          `json:"duplicate,omitempty"`
	Rules     []ruleOutcome `json:"rules"`
}

// dryRun runs one swipe of one card through the engine's own steps:
// decode and validate, fold into the card's profile, evaluate the rules,
// apply each hit's offer policy, arbitrate, build the offers. It prints per
// rule whether it fired or the first reason it did not.
func dryRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("offerctl test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rulesPath := fs.String("rules", "", "rule `file or directory`")
	swipePath := fs.String("swipe", "", "`file` holding one swipe (schema v1 JSON), or one line of offerctl tail swipes")
	profilePath := fs.String("profile", "", "`file` holding the card's profile as offerd's GET /profiles/{card} serves it; none or empty: a new card")
	explain := fs.Bool("explain", false, "for a false condition, print the values of its parts")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	maxCh := fs.Int("max-offers-per-channel", engine.DefaultMaxOffersPerChannel, "most offers one swipe triggers on each channel, as offerd's flag")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *rulesPath == "" || *swipePath == "" || fs.NArg() > 0 || *maxCh < 1 {
		fmt.Fprintln(stderr, testUsage)
		return 2
	}
	for _, p := range []string{*rulesPath, *swipePath, *profilePath} {
		if _, err := os.Stat(p); p != "" && err != nil {
			fmt.Fprintf(stderr, "offerctl test: %v\n", err)
			return 2
		}
	}
	set, code := loadRules([]string{*rulesPath}, stdout, stderr)
	if set == nil {
		return code
	}
	s, err := readSwipe(*swipePath)
	if err != nil {
		fmt.Fprintf(stdout, "%s: swipe rejected: %v\n", *swipePath, err)
		return 1
	}
	prof, err := readProfile(*profilePath, s.CardID)
	if err != nil {
		fmt.Fprintf(stdout, "%s: %v\n", *profilePath, err)
		return 1
	}
	res := evaluate(set, s, prof, *maxCh, *explain)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(stderr, "offerctl test:", err)
			return 1
		}
		return 0
	}
	printDryRun(stdout, res)
	return 0
}

// readSwipe decodes the swipe in path with the engine's decoder, keyed by
// its own card_id and judged at its own event time (so any date works).
func readSwipe(path string) (*loyalty.Swipe, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var one bytes.Buffer
	if json.Compact(&one, data) != nil { // not JSON: let the decoder say why
		one.Reset()
		one.Write(bytes.ReplaceAll(bytes.TrimSpace(data), []byte("\n"), []byte(" ")))
	}
	m, err := backtest.NewFileSource(&one).Next(context.Background())
	if err != nil {
		return nil, fmt.Errorf("no swipe in the file: %w", err)
	}
	now := backtest.SentAt(&m, time.Now())
	return engine.Decode(m.Key, m.Value, now, engine.DefaultLimits)
}

// readProfile reads the profile JSON offerd's admin endpoint serves; no
// file, an empty one or null means a card never seen.
func readProfile(path, card string) (*loyalty.Profile, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || string(t) == "null" {
		return loyalty.NewProfile(card), nil
	}
	p := loyalty.NewProfile(card)
	p.CardID = ""
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("not a profile as GET /profiles/{card} serves it: %w", err)
	}
	switch p.CardID {
	case card:
	case "":
		p.CardID = card
	default:
		return nil, fmt.Errorf("profile of card %s, but the swipe is of card %s", p.CardID, card)
	}
	return p, nil
}

// evaluate is the dry run proper: the steps of engine.Pipeline.Process,
// with offers.Decide's explanations instead of the hot path's codes.
func evaluate(set *rules.Set, s *loyalty.Swipe, prof *loyalty.Profile, maxCh int, explain bool) *dryRunResult {
	res := &dryRunResult{SwipeID: s.SwipeID, CardID: s.CardID, Kind: string(s.Kind)}
	byID := map[string]*ruleOutcome{}
	for _, r := range set.Rules() {
		res.Rules = append(res.Rules, ruleOutcome{Rule: r.ID, Version: r.Version, rule: r})
	}
	for i := range res.Rules {
		byID[res.Rules[i].Rule] = &res.Rules[i]
	}
	if prof.Apply(s) == loyalty.Duplicate {
		res.Duplicate = true
		for i := range res.Rules {
			res.Rules[i].Outcome, res.Rules[i].Reason = "duplicate", "swipe "+s.SwipeID+" was already applied to this card (a POS retry): no rule is evaluated"
		}
		return res
	}
	ev := set.NewEvaluator()
	hits := ev.Match(s, prof, nil, func(r *rules.Rule, err error) {
		byID[r.ID].Outcome, byID[r.ID].Reason = "error", err.Error()
	})
	hit := map[*rules.Rule]bool{}
	for _, r := range hits {
		hit[r] = true
	}
	for i := range res.Rules {
		o := &res.Rules[i]
		switch {
		case hit[o.rule]:
			continue
		case o.Outcome == "error":
		case !o.rule.FiresOn(s.Kind):
			o.Outcome, o.Reason = "wrong-kind", "wrong kind: the condition never holds for a "+string(s.Kind)+" swipe"
			continue
		default:
			o.Outcome, o.Reason = "condition-false", "condition false"
		}
		if explain {
			o.Explain = ev.Explain(o.rule, s, prof)
		}
	}
	var pass []offers.Hit
	for _, r := range hits {
		v := offers.Decide(r, s, prof)
		if v.Send {
			pass = append(pass, offers.Hit{Rule: r, Channels: v.Channels})
			continue
		}
		if v.Held {
			offers.Record(r, s, prof, true)
		}
		byID[r.ID].Outcome, byID[r.ID].Reason = v.Code.String(), v.Reason
	}
	for _, a := range offers.Arbitrate(pass, s, maxCh, nil) {
		o := byID[a.Rule.ID]
		if !a.Won() {
			o.Outcome, o.Reason = offers.Arbitration.String(), a.Reason()
			continue
		}
		offers.Record(a.Rule, s, prof, false)
		o.Outcome = "fired"
		for _, ch := range a.Rule.Channels {
			if !a.WonOn(ch) {
				o.Lost = append(o.Lost, ch)
				continue
			}
			off, err := offers.Build(a.Rule, ch, s, prof)
			if err != nil {
				o.Outcome, o.Reason = "error", err.Error()
				break
			}
			o.Offers = append(o.Offers, off)
		}
	}
	return res
}

func printDryRun(w io.Writer, res *dryRunResult) {
	fmt.Fprintf(w, "swipe %s: card %s, %s\n", res.SwipeID, res.CardID, res.Kind)
	width := 0
	for _, o := range res.Rules {
		width = max(width, len(o.Rule)+len(fmt.Sprint(o.Version))+2)
	}
	for _, o := range res.Rules {
		name := fmt.Sprintf("%s v%d", o.Rule, o.Version)
		switch o.Outcome {
		case "fired":
			for i, off := range o.Offers {
				if i > 0 {
					name = ""
				}
				fmt.Fprintf(w, "%-*s  fired  %s: %q, coupon %s%s\n", width, name, off.Channel, off.Title, off.Coupon.Code, couponText(&off.Coupon))
			}
			if len(o.Lost) > 0 {
				fmt.Fprintf(w, "%-*s         not on %s: other rules took its slots\n", width, "", strings.Join(o.Lost, ", "))
			}
		default:
			reason := o.Reason
			if reason == "" {
				reason = o.Outcome
			}
			fmt.Fprintf(w, "%-*s  no     %s\n", width, name, reason)
		}
		if o.Explain != nil {
			for _, l := range strings.Split(o.Explain.String(), "\n") {
				fmt.Fprintf(w, "%-*s           %s\n", width, "", l)
			}
		}
	}
}

// couponText describes a coupon: " (20% off coffee)", or "" for none.
func couponText(c *loyalty.Coupon) string {
	off := discount(c.DiscountPercent, c.DiscountCents)
	if off == "" {
		return ""
	}
	if on := append(append([]string{}, c.Categories...), c.SKUs...); len(on) > 0 {
		off += " " + strings.Join(on, ", ")
	}
	return " (" + off + ")"
}
