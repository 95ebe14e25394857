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
	"github.com/segmentio/kafka-go"
)

const testUsage = "usage: offerctl test --rules FILE|DIR --swipe FILE [--profile FILE] [--explain] [--json] [--max-offers-per-channel K] [--stores FILE] [--quiet-hours SPEC] [--consent-default SPEC]"

// ruleOutcome is what one rule did with the dry run's swipe.
type ruleOutcome struct {
	Rule    string `json:"rule"`
	Version int    `json:"version"`
	// Outcome is "fired", "wrong-kind", "condition-false", "error", or the
	// offer policy's code (schedule, consent, quiet_hours, cooldown, cap,
	// holdout, ...), "budget", or "arbitration" for a rule whose
	// condition held but sent nothing.
	Outcome string             `json:"outcome"`
	Reason  string             `json:"reason,omitempty"`
	Offers  []loyalty.Offer    `json:"offers,omitempty"`
	Explain *rules.Explanation `json:"explain,omitempty"`
	Lost    []string           `json:"lost_channels,omitempty"` // channels a winner did not get
	// Note qualifies the outcome: for a rule with a budget, that the live
	// spend is unknown here.
	Note string `json:"note,omitempty"`

	rule *rules.Rule
	hit  bool // the condition held or failed: the pipeline reported it
}

// dryRunResult is the whole dry run, as --json prints it.
type dryRunResult struct {
	SwipeID   string        `json:"swipe_id"`
	CardID    string        `json:"card_id"`
	Kind      string        `json:"kind"`
	Duplicate bool          `json:"duplicate,omitempty"`
	Rules     []ruleOutcome `json:"rules"`
}

// dryRun runs one swipe of one card through the engine's own pipeline:
// decode and validate, fold into the card's profile, evaluate the rules,
// apply each hit's offer policy (in the store's zone, with the card's
// consent and the quiet hours of offerd's flags) and budget, arbitrate,
// build the offers. It prints per rule whether it fired or the first
// reason it did not.
func dryRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("offerctl test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rulesPath := fs.String("rules", "", "rule `file or directory`")
	swipePath := fs.String("swipe", "", "`file` holding one swipe (schema v1 JSON), or one line of offerctl tail swipes")
	profilePath := fs.String("profile", "", "`file` holding the card's profile as offerd's GET /profiles/{card} serves it; none or empty: a new card")
	explain := fs.Bool("explain", false, "for a false condition, print the values of its parts")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	maxCh := fs.Int("max-offers-per-channel", engine.DefaultMaxOffersPerChannel, "most offers one swipe triggers on each channel, as offerd's flag")
	var pf engine.PolicyFlags
	pf.Register(fs, "the card gets (a dry run knows no identities record)")
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
	pol, code := policy(&pf, "offerctl test", stderr)
	if pol == nil {
		return code
	}
	set, code := loadRules([]string{*rulesPath}, stdout, stderr)
	if set == nil {
		return code
	}
	m, now, s, err := readSwipe(*swipePath)
	if err != nil {
		fmt.Fprintf(stdout, "%s: swipe rejected: %v\n", *swipePath, err)
		return 1
	}
	prof, err := readProfile(*profilePath, s.CardID)
	if err != nil {
		fmt.Fprintf(stdout, "%s: %v\n", *profilePath, err)
		return 1
	}
	res, err := evaluate(set, pol, m, now, s, prof, *maxCh, *explain)
	if err != nil {
		fmt.Fprintln(stderr, "offerctl test:", err)
		return 1
	}
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

// readSwipe reads the swipe message in path, keyed by its card_id, and
// decodes it with the engine's decoder, judged at the time it was sent
// (its own event time for a bare swipe, so any date works): the message,
// that time, and the swipe.
func readSwipe(path string) (kafka.Message, time.Time, *loyalty.Swipe, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return kafka.Message{}, time.Time{}, nil, err
	}
	var one bytes.Buffer
	if json.Compact(&one, data) != nil { // not JSON: let the decoder say why
		one.Reset()
		one.Write(bytes.ReplaceAll(bytes.TrimSpace(data), []byte("\n"), []byte(" ")))
	}
	m, err := backtest.NewFileSource(&one).Next(context.Background())
	if err != nil {
		return m, time.Time{}, nil, fmt.Errorf("no swipe in the file: %w", err)
	}
	now := backtest.SentAt(&m, time.Now())
	s, err := engine.Decode(m.Key, m.Value, now, engine.DefaultLimits)
	return m, now, s, err
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

// evaluate is the dry run proper: the swipe goes through an
// engine.Pipeline over a store holding only prof, judged by pol, the way
// the live engine processes it (decode, profile update, conditions, offer
// policy, budget, arbitration, offer building), with the pipeline's
// explanations. Rules whose condition did not hold are explained here.
func evaluate(set *rules.Set, pol *engine.Policy, m kafka.Message, now time.Time, s *loyalty.Swipe, prof *loyalty.Profile, maxCh int, explain bool) (*dryRunResult, error) {
	res := &dryRunResult{SwipeID: s.SwipeID, CardID: s.CardID, Kind: string(s.Kind)}
	byID := map[string]*ruleOutcome{}
	for _, r := range set.Rules() {
		res.Rules = append(res.Rules, ruleOutcome{Rule: r.ID, Version: r.Version, rule: r})
	}
	for i := range res.Rules {
		byID[res.Rules[i].Rule] = &res.Rules[i]
	}
	// Conditions are explained on the profile as they saw it: with the
	// swipe applied, before any offer was recorded.
	enc := engine.AppendProfile(nil, prof)
	seen, err := engine.DecodeProfile(enc)
	if err != nil {
		return nil, err
	}
	seen.Apply(s)

	store := engine.NewMemStore(nil)
	if err := store.Put(prof.CardID, enc, nil); err != nil {
		return nil, err
	}
	p := engine.NewPipeline(0, set, store, engine.DefaultLimits, func() time.Time { return now }, nil)
	p.SetMaxOffersPerChannel(maxCh)
	p.SetPolicy(pol)
	p.SetExplain(func(o *engine.Outcome) {
		ro := byID[o.Rule.ID]
		ro.hit = true
		switch {
		case o.Err != nil:
			ro.Outcome, ro.Reason = "error", o.Err.Error()
		case o.Code == offers.Pass:
			ro.Outcome, ro.Lost = "fired", o.Lost
		default:
			ro.Outcome, ro.Reason = o.Code.String(), o.Reason
		}
		if offers.HasBudget(o.Rule) && (o.Code == offers.Pass || o.Code == offers.Holdout || o.Code == offers.Budget) {
			ro.Note = "budget judged against nothing spent: a dry run does not know the live spend"
		}
	})
	m.Offset = max(prof.LastOffset+1, 0) // new to the profile, as live
	p.Process(&m)
	out, _, err := p.EndBatch()
	if err != nil {
		return nil, err
	}
	var st engine.Stats
	p.CountBatch(&st)
	if st.Duplicates.Load() > 0 {
		res.Duplicate = true
		for i := range res.Rules {
			res.Rules[i].Outcome, res.Rules[i].Reason = "duplicate", "swipe "+s.SwipeID+" was already applied to this card (a POS retry): no rule is evaluated"
		}
		return res, nil
	}
	for i := range out {
		if !loyalty.IsOfferTopic(out[i].Topic) {
			continue // decision events, budget spend
		}
		var off loyalty.Offer
		if err := json.Unmarshal(out[i].Value, &off); err != nil {
			return nil, fmt.Errorf("offer on %s: %w", out[i].Topic, err)
		}
		if o := byID[off.RuleID]; o != nil {
			o.Offers = append(o.Offers, off)
		}
	}
	ev := set.NewEvaluator()
	for i := range res.Rules {
		o := &res.Rules[i]
		switch {
		case o.hit && o.Outcome != "error":
			continue
		case o.hit:
		case !o.rule.FiresOn(s.Kind):
			o.Outcome, o.Reason = "wrong-kind", "wrong kind: the condition never holds for a "+string(s.Kind)+" swipe"
			continue
		default:
			o.Outcome, o.Reason = "condition-false", "condition false"
		}
		if explain {
			o.Explain = ev.Explain(o.rule, s, seen)
		}
	}
	return res, nil
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
		if o.Note != "" {
			fmt.Fprintf(w, "%-*s         %s\n", width, "", o.Note)
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
