package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/offers"
)

const dryRunRules = `
id: coffee
priority: 50
when: swipe.kind == "checkin" && daysSinceBought("coffee") >= 10
channels: [mobile]
offer: { title: "Coffee, {{ .Swipe.CardID }}?", coupon: { discount_percent: 20, categories: [coffee] } }
limits: { cooldown: 7d }
---
id: big-spender
priority: 10
when: swipe.kind == "checkin" && profile.spend_cents > 1000
channels: [mobile, email]
offer: { title: "Big", coupon: { discount_cents: 500 } }
---
id: also-mobile
priority: 5
when: swipe.kind == "checkin" && profile.visits > 0
channels: [mobile]
offer: { title: "Also" }
---
id: weekend
when: swipe.kind == "checkin"
channels: [pos]
offer: { title: "Weekend" }
schedule: { days: [sat, sun] }
---
id: held
when: swipe.kind == "checkin"
channels: [pos]
offer: { title: "Held" }
holdout: 50%
---
id: purchases
when: swipe.kind == "purchase"
channels: [pos]
offer: { title: "P" }
`

// heldCard is a card in rule held's 50% holdout, found with the policy's
// own hash so the test does not depend on which cards it picks.
func heldCard(t *testing.T) string {
	for i := range 100 {
		if c := fmt.Sprintf("card-%d", i); offers.HeldOut(c, "held", 0.5) {
			return c
		}
	}
	t.Fatal("no card in the holdout")
	return ""
}

func TestDryRun(t *testing.T) {
	dir := t.TempDir()
	rulesFile := write(t, dir, "rules.yaml", dryRunRules)
	card := heldCard(t)
	est := time.FixedZone("EST", -5*3600)
	at := time.Date(2026, 12, 16, 10, 0, 0, 0, est) // a Wednesday
	checkin := fmt.Sprintf(`{"v": 1, "swipe_id": "app-1", "card_id": %q, "kind": "checkin", "store_id": "s1",
  "ts": %q, "total_cents": 0}`, card, at.Format(time.RFC3339))
	swipe := write(t, dir, "checkin.json", checkin)

	// The card bought coffee 12 days ago; in another history the coffee
	// offer went out 3 days ago too; in a third, this very swipe was
	// applied already.
	bought := loyalty.NewProfile(card)
	bought.Apply(&loyalty.Swipe{V: 1, SwipeID: "p1", CardID: card, Kind: loyalty.KindPurchase, StoreID: "s1", TS: at.AddDate(0, 0, -12),
		Items: []loyalty.Item{{SKU: "coffee-1", Category: "coffee", Qty: 2, UnitPriceCents: 900}}, TotalCents: 1800})
	profile := func(name string, p *loyalty.Profile) string {
		b, err := json.Marshal(p) // as GET /profiles/{card} serves it
		if err != nil {
			t.Fatal(err)
		}
		return write(t, dir, name, string(b))
	}
	boughtFile := profile("bought.json", bought)
	offered := *bought
	offered.Offers = []loyalty.OfferHistory{{RuleID: "coffee", Sent: []int64{at.AddDate(0, 0, -3).Unix()}}}
	offeredFile := profile("offered.json", &offered)
	seen := loyalty.NewProfile(card)
	seen.Apply(&loyalty.Swipe{SwipeID: "app-1", CardID: card, Kind: loyalty.KindCheckin, TS: at})
	seenFile := profile("seen.json", seen)
	otherFile := profile("other.json", loyalty.NewProfile("card-other"))

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // substrings, in order
	}{
		{"new card: conditions false, explained", []string{"--swipe", swipe, "--explain"}, 0, []string{
			"coffee v1", "no     condition false",
			`daysSinceBought("coffee") >= 10 is false`, `daysSinceBought("coffee") = -1`,
			"big-spender v1", "condition false", "profile.spend_cents = 0",
			"held v1", "no     holdout (50%): recorded, not sent",
			"purchases v1", "no     wrong kind: the condition never holds for a checkin swipe",
			"weekend v1", "no     outside schedule: Wednesday is not among sat, sun (store time)",
		}},
		{"fired, and arbitration", []string{"--swipe", swipe, "--profile", boughtFile}, 0, []string{
			"coffee v1", "fired  mobile: \"Coffee, " + card + "?\", coupon ", " (20% off coffee)",
			"big-spender v1", "fired  email: \"Big\", coupon ", "(5.00 off)", "not on mobile: other rules took its slots",
			"also-mobile v1", "no     lost arbitration to rule coffee on channel mobile",
		}},
		{"two offers per channel", []string{"--swipe", swipe, "--profile", boughtFile, "--max-offers-per-channel", "2"}, 0, []string{
			"coffee v1", "fired  mobile", "big-spender v1", "fired  mobile", "fired  email",
			"also-mobile v1", "no     lost arbitration to rule big-spender on channel mobile",
		}},
		{"cooldown", []string{"--swipe", swipe, "--profile", offeredFile}, 0, []string{
			"coffee v1", "no     cooldown until 2026-12-20T10:00:00-05:00",
			"big-spender v1", "fired  mobile", "fired  email",
		}},
		{"a POS retry evaluates nothing", []string{"--swipe", swipe, "--profile", seenFile}, 0, []string{
			"coffee v1", "no     swipe app-1 was already applied to this card (a POS retry): no rule is evaluated",
		}},
		{"rejected swipe", []string{"--swipe", write(t, dir, "bad.json", strings.Replace(checkin, "-05:00", "", 1))}, 1, []string{
			"swipe rejected: ts \"2026-12-16T10:00:00\" has no time zone",
		}},
		{"malformed swipe", []string{"--swipe", write(t, dir, "cut.json", checkin[:40])}, 1, []string{"swipe rejected: malformed JSON"}},
		{"profile of another card", []string{"--swipe", swipe, "--profile", otherFile}, 1, []string{
			"profile of card card-other, but the swipe is of card " + card,
		}},
		{"no swipe", nil, 2, nil},
		{"missing profile file", []string{"--swipe", swipe, "--profile", dir + "/nope.json"}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runInOrder(t, append([]string{"test", "--rules", rulesFile}, tt.args...), tt.code, tt.stdout)
		})
	}

	t.Run("json", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := run([]string{"test", "--rules", rulesFile, "--swipe", swipe, "--profile", offeredFile, "--json", "--explain"}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		var res dryRunResult
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out.String())
		}
		got := map[string]string{}
		for _, o := range res.Rules {
			got[o.Rule] = o.Outcome
		}
		want := map[string]string{"coffee": "cooldown", "big-spender": "fired", "also-mobile": "arbitration",
			"weekend": "schedule", "held": "holdout", "purchases": "wrong-kind"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("outcomes %v, want %v", got, want)
		}
		if o := res.Rules[1]; o.Rule != "big-spender" || len(o.Offers) != 2 || o.Offers[0].Coupon.DiscountCents != 500 {
			t.Errorf("big-spender: %+v", o)
		}
	})
}

// policyRules meet the policy's store zone, quiet hours, consent and
// budgets, shared with the backtest's tests.
const policyRules = "../../backtest/testdata/policy.yaml"

// TestDryRunPolicy: the dry run judges offers as offerd does with the same
// --stores, --quiet-hours and --consent-default, and checks budgets.
func TestDryRunPolicy(t *testing.T) {
	dir := t.TempDir()
	rulesFile := policyRules
	// Two days after the spring change, a lane clock still on EST: 08:30
	// on the swipe, 09:30 in the store.
	swipe := write(t, dir, "checkin.json", `{"v": 1, "swipe_id": "app-1", "card_id": "c1", "kind": "checkin",
  "store_id": "s1", "ts": "2026-03-10T08:30:00-05:00", "total_cents": 0}`)
	stores := write(t, dir, "stores.yaml", "s1: { name: NYC, time_zone: America/New_York }\n")
	const unknownSpend = "budget judged against nothing spent: a dry run does not know the live spend"
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // substrings, in order
	}{
		{"no registry: the swipe's own offset", nil, 0, []string{
			"counted v1", "fired  mobile", unknownSpend,
			"mail v1", "fired  email", "morning v1", "fired  pos", "push v1", "fired  mobile",
			"tiny-budget v1", "no     budget spent: 0 of 100 discount cents; this offer commits 500", unknownSpend,
		}},
		{"store zone across the DST change", []string{"--stores", stores}, 0, []string{
			"morning v1", "no     outside schedule: 09:30 is not within 08:00-09:00 (store time)",
			"push v1", "fired  mobile",
		}},
		{"quiet hours", []string{"--quiet-hours", "mobile=08:00-09:00"}, 0, []string{
			"counted v1", "no     quiet hours: 08:30 is within mobile 08:00-09:00 (store time)",
			"mail v1", "fired  email",
			"push v1", "no     quiet hours: 08:30 is within mobile 08:00-09:00 (store time)",
		}},
		{"quiet hours on the store's clock", []string{"--quiet-hours", "mobile=08:00-09:00", "--stores", stores}, 0, []string{
			"counted v1", "fired  mobile", "push v1", "fired  mobile",
		}},
		{"consent denied by default", []string{"--consent-default", "email=deny"}, 0, []string{
			"mail v1", "no     no consent: the card does not accept offers on email",
			"push v1", "fired  mobile",
		}},
		{"bad quiet hours", []string{"--quiet-hours", "mobile=9pm-8am"}, 2, nil},
		{"bad consent default", []string{"--consent-default", "fax=deny"}, 2, nil},
		{"bad store registry", []string{"--stores", write(t, dir, "bad.yaml", "s1: { time_zone: Mars/Olympus }\n")}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runInOrder(t, append([]string{"test", "--rules", rulesFile, "--swipe", swipe, "--max-offers-per-channel", "5"}, tt.args...), tt.code, tt.stdout)
		})
	}
}
