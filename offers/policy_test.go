package offers_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York on machines without a zone database

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
)

// policyRule parses one rule with the given policy lines.
func policyRule(t *testing.T, id, policy string) *rules.Rule {
	t.Helper()
	src := "id: " + id + "\nwhen: \"true\"\nchannels: [mobile]\noffer: {title: T, coupon: {discount_cents: 100}}\n" + policy
	rs, err := rules.Parse("policy.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return rs[0]
}

// at is a fake clock: a store-time instant written as RFC 3339 with the
// store's offset, as the POS sends it.
func at(t *testing.T, rfc3339 string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func swipeAt(card string, ts time.Time) *loyalty.Swipe {
	return &loyalty.Swipe{V: 1, SwipeID: card + ts.Format(time.RFC3339), CardID: card, Kind: loyalty.KindCheckin, StoreID: "s1", TS: ts}
}

// verdict is a Verdict in one line, so tables read as specifications.
func verdict(v offers.Verdict) string {
	switch {
	case v.Send:
		return "send"
	case v.Held:
		return "held: " + v.Reason
	}
	return v.Code.String() + ": " + v.Reason
}

func TestDecideSchedule(t *testing.T) {
	r := policyRule(t, "xmas", `schedule: { from: 2026-12-01, until: 2027-01-31, hours: "08:00-21:00", days: [mon, tue, wed, thu, fri, sat] }`)
	night := policyRule(t, "late-night", `schedule: { hours: "22:00-02:00" }`)
	tests := []struct {
		name string
		r    *rules.Rule
		ts   string
		want string
	}{
		{"inside every part", r, "2026-12-02T10:00:00-05:00", "send"},
		{"first day, first minute", r, "2026-12-01T08:00:00-05:00", "send"},
		{"last day, last minute", r, "2027-01-30T20:59:59-05:00", "send"},
		{"before from", r, "2026-11-30T10:00:00-05:00", "schedule: outside schedule: 2026-11-30 is before 2026-12-01 (store time)"},
		{"after until", r, "2027-02-01T10:00:00-05:00", "schedule: outside schedule: 2027-02-01 is after 2027-01-31 (store time)"},
		{"a Sunday", r, "2026-12-06T10:00:00-05:00", "schedule: outside schedule: Sunday is not among mon, tue, wed, thu, fri, sat (store time)"},
		{"after hours", r, "2026-12-02T22:10:00-05:00", "schedule: outside schedule: 22:10 is not within 08:00-21:00 (store time)"},
		{"the end minute is excluded", r, "2026-12-02T21:00:00-05:00", "schedule: outside schedule: 21:00 is not within 08:00-21:00 (store time)"},
		{"before opening", r, "2026-12-02T07:59:00-05:00", "schedule: outside schedule: 07:59 is not within 08:00-21:00 (store time)"},
		// 05:00 UTC, but 14:00 in the store: the store's clock decides.
		{"store time, not UTC", r, "2026-12-02T14:00:00+09:00", "send"},
		// The day too is the store's: 02:00 UTC on the 1st is still 30 November in the store.
		{"store day, not UTC day", r, "2026-11-30T21:00:00-05:00", "schedule: outside schedule: 2026-11-30 is before 2026-12-01 (store time)"},
		{"overnight window, evening", night, "2026-12-02T23:30:00-05:00", "send"},
		{"overnight window, small hours", night, "2026-12-03T01:59:00-05:00", "send"},
		{"overnight window ends", night, "2026-12-03T02:00:00-05:00", "schedule: outside schedule: 02:00 is not within 22:00-02:00 (store time)"},
		{"overnight window, afternoon", night, "2026-12-03T15:00:00-05:00", "schedule: outside schedule: 15:00 is not within 22:00-02:00 (store time)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := swipeAt("c-1", at(t, tt.ts))
			if got := verdict(offers.Decide(tt.r, s, loyalty.NewProfile("c-1"))); got != tt.want {
				t.Errorf("%s\n got %s\nwant %s", tt.ts, got, tt.want)
			}
		})
	}
}

// TestDecideOvernightSchedule: a window that runs past midnight belongs to
// the day it starts on, for days and dates alike. Friday's 22:00-02:00
// runs to Saturday 02:00, and Friday's small hours are Thursday's window.
// 4 December 2026 is a Friday.
func TestDecideOvernightSchedule(t *testing.T) {
	fri := policyRule(t, "friday-night", `schedule: { hours: "22:00-02:00", days: [fri] }`)
	one := policyRule(t, "one-night", `schedule: { from: 2026-12-05, until: 2026-12-05, hours: "22:00-02:00" }`)
	tests := []struct {
		name string
		r    *rules.Rule
		ts   string
		want string
	}{
		{"Friday evening", fri, "2026-12-04T23:00:00-05:00", "send"},
		{"Friday night, after midnight", fri, "2026-12-05T01:00:00-05:00", "send"},
		{"Friday night's last minute", fri, "2026-12-05T01:59:00-05:00", "send"},
		{"Friday night ends", fri, "2026-12-05T02:00:00-05:00", "schedule: outside schedule: Saturday is not among fri (store time)"},
		{"Saturday evening", fri, "2026-12-05T23:00:00-05:00", "schedule: outside schedule: Saturday is not among fri (store time)"},
		{"Thursday night, after midnight", fri, "2026-12-04T01:00:00-05:00",
			"schedule: outside schedule: Thursday, whose 22:00-02:00 window this is, is not among fri (store time)"},
		{"Friday afternoon", fri, "2026-12-04T15:00:00-05:00", "schedule: outside schedule: 15:00 is not within 22:00-02:00 (store time)"},
		{"the first night, evening", one, "2026-12-05T22:00:00-05:00", "send"},
		{"the first night, after midnight", one, "2026-12-06T01:00:00-05:00", "send"},
		{"the night before, after midnight", one, "2026-12-05T01:00:00-05:00",
			"schedule: outside schedule: 2026-12-04, whose 22:00-02:00 window this is, is before 2026-12-05 (store time)"},
		{"the night after", one, "2026-12-06T22:00:00-05:00", "schedule: outside schedule: 2026-12-06 is after 2026-12-05 (store time)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := swipeAt("c-1", at(t, tt.ts))
			if got := verdict(offers.Decide(tt.r, s, loyalty.NewProfile("c-1"))); got != tt.want {
				t.Errorf("%s\n got %s\nwant %s", tt.ts, got, tt.want)
			}
			if got, want := offers.Check(tt.r, s, loyalty.NewProfile("c-1")), offers.Decide(tt.r, s, loyalty.NewProfile("c-1")).Code; got != want {
				t.Errorf("%s: Check = %s, Decide = %s", tt.ts, got, want)
			}
		})
	}
}

// TestDecideScheduleAcrossDST: without a store registry (Decide, a nil
// Env) hours are judged on the wall clock the POS sends. On the night
// clocks change in New York, a lane whose clock already moved and a lane
// whose clock did not are judged by their own clock, even at the same
// instant. TestEnvScheduleInStoreZone has the store's zone decide.
func TestDecideScheduleAcrossDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	r := policyRule(t, "small-hours", `schedule: { hours: "01:00-03:00" }`)
	spring := time.Date(2026, 3, 8, 1, 30, 0, 0, ny) // EST; at 02:00 clocks jump to 03:00 EDT
	fall := time.Date(2026, 11, 1, 1, 30, 0, 0, ny)  // EDT, the first of two 01:30s
	est := time.FixedZone("EST", -5*3600)
	tests := []struct {
		name string
		ts   time.Time
		want string // the swipe's ts on the wire, then the verdict
	}{
		{"spring: 01:30 standard time", spring, "2026-03-08T01:30:00-05:00 send"},
		{"spring: an hour later is 03:30 daylight time", spring.Add(time.Hour), "2026-03-08T03:30:00-04:00 schedule: outside schedule: 03:30 is not within 01:00-03:00 (store time)"},
		{"spring: the same instant on a lane clock still on standard time", spring.Add(time.Hour).In(est), "2026-03-08T02:30:00-05:00 send"},
		{"fall: first 01:30, daylight time", fall, "2026-11-01T01:30:00-04:00 send"},
		{"fall: second 01:30, standard time", fall.Add(time.Hour), "2026-11-01T01:30:00-05:00 send"},
		{"fall: 02:30 standard time", fall.Add(2 * time.Hour), "2026-11-01T02:30:00-05:00 send"},
		{"fall: 03:00 standard time", fall.Add(150 * time.Minute), "2026-11-01T03:00:00-05:00 schedule: outside schedule: 03:00 is not within 01:00-03:00 (store time)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// What the POS sends: RFC 3339 with its offset, read back as the decoder does.
			wire := tt.ts.Format(time.RFC3339)
			s := swipeAt("c-1", at(t, wire))
			if got := wire + " " + verdict(offers.Decide(r, s, loyalty.NewProfile("c-1"))); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// history returns a profile whose card got rule r's offer at each time.
func history(t *testing.T, r *rules.Rule, sends ...string) *loyalty.Profile {
	t.Helper()
	p := loyalty.NewProfile("c-1")
	for _, ts := range sends {
		offers.Record(r, swipeAt("c-1", at(t, ts)), p, false)
	}
	return p
}

func TestDecideCooldown(t *testing.T) {
	r := policyRule(t, "weekly", `limits: { cooldown: 7d }`)
	sent := history(t, r, "2026-12-01T10:00:00-05:00")
	tests := []struct {
		name string
		p    *loyalty.Profile
		ts   string
		want string
	}{
		{"never sent", loyalty.NewProfile("c-1"), "2026-12-01T10:00:00-05:00", "send"},
		{"four days later", sent, "2026-12-05T10:00:00-05:00", "cooldown: cooldown until 2026-12-08T10:00:00-05:00"},
		{"a second before the end", sent, "2026-12-08T09:59:59-05:00", "cooldown: cooldown until 2026-12-08T10:00:00-05:00"},
		{"exactly seven days later", sent, "2026-12-08T10:00:00-05:00", "send"},
		// A late swipe, earlier in event time than the send it arrives
		// after, is inside the cooldown: the latest send counts.
		{"late swipe before the send, same day", sent, "2026-12-01T09:00:00-05:00", "cooldown: cooldown until 2026-12-08T10:00:00-05:00"},
		{"late swipe weeks before the send", sent, "2026-11-01T09:00:00-05:00", "cooldown: cooldown until 2026-12-08T10:00:00-05:00"},
		// The time is given in the zone of the swipe being judged.
		{"swipe in another zone", sent, "2026-12-05T16:00:00+01:00", "cooldown: cooldown until 2026-12-08T16:00:00+01:00"},
		{"a late send still counts", history(t, r, "2026-12-01T10:00:00-05:00", "2026-11-30T10:00:00-05:00"),
			"2026-12-07T12:00:00-05:00", "cooldown: cooldown until 2026-12-08T10:00:00-05:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := verdict(offers.Decide(r, swipeAt("c-1", at(t, tt.ts)), tt.p)); got != tt.want {
				t.Errorf("%s\n got %s\nwant %s", tt.ts, got, tt.want)
			}
		})
	}
}

func TestDecideCap(t *testing.T) {
	r := policyRule(t, "twice", `limits: { max_per_card: { count: 2, per: 30d } }`)
	three := policyRule(t, "thrice", `limits: { max_per_card: { count: 3, per: 30d } }`)
	daily := policyRule(t, "daily", `limits: { max_per_card: { count: 2, per: 1d } }`)
	two := history(t, r, "2026-12-01T10:00:00-05:00", "2026-12-10T10:00:00-05:00")
	twoOf3 := history(t, three, "2026-12-01T10:00:00-05:00", "2026-12-10T10:00:00-05:00")
	// The send of 1 December leaves the 1-day history when 3 December's is made.
	forgot := history(t, daily, "2026-12-01T10:00:00-05:00", "2026-12-03T10:00:00-05:00")
	tests := []struct {
		name string
		r    *rules.Rule
		p    *loyalty.Profile
		ts   string
		want string
	}{
		{"one send so far", r, history(t, r, "2026-12-01T10:00:00-05:00"), "2026-12-05T10:00:00-05:00", "send"},
		{"two within 30 days", r, two, "2026-12-20T10:00:00-05:00", "cap: cap reached: 2 per 720h0m0s"},
		{"a second before the first leaves the period", r, two, "2026-12-31T09:59:59-05:00", "cap: cap reached: 2 per 720h0m0s"},
		{"the first send has left the period", r, two, "2026-12-31T10:00:00-05:00", "send"},
		// Sends later than a late swipe count too: it cannot slip in ahead of them.
		{"late swipe before both sends", r, two, "2026-11-25T10:00:00-05:00", "cap: cap reached: 2 per 720h0m0s"},
		{"late swipe, room for a third", three, twoOf3, "2026-11-25T10:00:00-05:00", "send"},
		{"after the forgotten send", daily, forgot, "2026-12-02T10:00:01-05:00", "send"},
		{"window reaches forgotten sends", daily, forgot, "2026-12-01T20:00:00-05:00",
			"cap: cap 2 per 24h0m0s unknown: the period from 2026-11-30T20:00:00-05:00 reaches sends no longer remembered; not sent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := verdict(offers.Decide(tt.r, swipeAt("c-1", at(t, tt.ts)), tt.p)); got != tt.want {
				t.Errorf("%s\n got %s\nwant %s", tt.ts, got, tt.want)
			}
		})
	}
}

// TestCooldownSubSecond: swipe times carry fractions of a second, and a
// cooldown holds in full however they fall. A send is remembered at the
// whole second at or after it, so the cooldown may end up to a second late,
// never early.
func TestCooldownSubSecond(t *testing.T) {
	r := policyRule(t, "hourly", `limits: { cooldown: 1h }`)
	p := loyalty.NewProfile("c-1")
	sent := time.Date(2026, 12, 1, 10, 0, 0, 900_000_000, time.UTC)
	offers.Record(r, swipeAt("c-1", sent), p, false)
	early := sent.Add(time.Hour - 800*time.Millisecond)
	if v := offers.Decide(r, swipeAt("c-1", early), p); v.Send {
		t.Errorf("swipe at %s, %s after the send at %s, passed a 1h cooldown",
			early.Format(time.RFC3339Nano), early.Sub(sent), sent.Format(time.RFC3339Nano))
	}
	if got, want := verdict(offers.Decide(r, swipeAt("c-1", early), p)), "cooldown: cooldown until 2026-12-01T11:00:01Z"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if end := sent.Truncate(time.Second).Add(time.Hour + time.Second); !offers.Decide(r, swipeAt("c-1", end), p).Send {
		t.Errorf("swipe at %s, %s after the send, is still inside a 1h cooldown", end.Format(time.RFC3339Nano), end.Sub(sent))
	}
}

// TestCapSubSecond: a send within the cap's period before a swipe counts,
// to the fraction of a second.
func TestCapSubSecond(t *testing.T) {
	r := policyRule(t, "once-an-hour", `limits: { max_per_card: { count: 1, per: 1h } }`)
	p := loyalty.NewProfile("c-1")
	sent := time.Date(2026, 12, 1, 10, 0, 0, 900_000_000, time.UTC)
	offers.Record(r, swipeAt("c-1", sent), p, false)
	for _, d := range []time.Duration{time.Hour - 500*time.Millisecond, time.Hour - time.Nanosecond} {
		s := sent.Add(d)
		if v := offers.Decide(r, swipeAt("c-1", s), p); v.Send {
			t.Errorf("swipe at %s, %s after the send at %s, passed a cap of 1 per 1h",
				s.Format(time.RFC3339Nano), d, sent.Format(time.RFC3339Nano))
		}
	}
	if end := sent.Truncate(time.Second).Add(time.Hour + time.Second); !offers.Decide(r, swipeAt("c-1", end), p).Send {
		t.Errorf("swipe at %s, %s after the send, still counts it for a cap of 1 per 1h", end.Format(time.RFC3339Nano), end.Sub(sent))
	}
}

func TestDecideHoldout(t *testing.T) {
	r := policyRule(t, "coffee-replenish", `holdout: 10%`)
	odd := policyRule(t, "coffee-replenish", `holdout: 12.5%`)
	ts := at(t, "2026-12-02T10:00:00-05:00")
	tests := []struct {
		r    *rules.Rule
		card string
		want string
	}{
		{r, "c-1", "send"}, // bucket 5611
		{r, "c-2", "held: holdout (10%): recorded, not sent"},     // bucket 428
		{odd, "c-4", "held: holdout (12.5%): recorded, not sent"}, // bucket 1114
	}
	for _, tt := range tests {
		if got := verdict(offers.Decide(tt.r, swipeAt(tt.card, ts), loyalty.NewProfile(tt.card))); got != tt.want {
			t.Errorf("card %s: got %s, want %s", tt.card, got, tt.want)
		}
	}
}

// TestHeldOutIsStable pins the holdout hash: FNV-1a 64 of card id, a zero
// byte and rule id, modulo 10000 (computed outside Go: c-2 with
// coffee-replenish is bucket 428). Changing it would move cards in and out
// of running experiments.
func TestHeldOutIsStable(t *testing.T) {
	if !offers.HeldOut("c-2", "coffee-replenish", 0.0429) || offers.HeldOut("c-2", "coffee-replenish", 0.0428) {
		t.Error("c-2 must be in bucket 428 of coffee-replenish")
	}
	held := 0
	for i := range 20000 {
		if offers.HeldOut(fmt.Sprintf("card-%07d", i), "coffee-replenish", 0.10) {
			held++
		}
	}
	if held < 1800 || held > 2200 {
		t.Errorf("10%% holdout held %d of 20000 cards", held)
	}
	if offers.HeldOut("c-2", "other-rule", 0.0429) == offers.HeldOut("c-2", "coffee-replenish", 0.0429) &&
		offers.HeldOut("c-8", "other-rule", 0.5) == offers.HeldOut("c-8", "coffee-replenish", 0.5) &&
		offers.HeldOut("c-3", "other-rule", 0.5) == offers.HeldOut("c-3", "coffee-replenish", 0.5) {
		t.Error("holdouts of different rules must pick different cards")
	}
}

// TestDecideOrder: the first failing check is the one reported, in the
// order schedule, cooldown, cap, holdout.
func TestDecideOrder(t *testing.T) {
	r := policyRule(t, "coffee-replenish", `limits: { cooldown: 2d, max_per_card: { count: 1, per: 30d } }
schedule: { hours: "08:00-21:00" }
holdout: 10%`)
	p := loyalty.NewProfile("c-2") // in the holdout
	offers.Record(r, swipeAt("c-2", at(t, "2026-12-01T10:00:00-05:00")), p, true)
	tests := []struct{ ts, want string }{
		{"2026-12-02T22:00:00-05:00", "schedule: outside schedule: 22:00 is not within 08:00-21:00 (store time)"},
		{"2026-12-02T10:00:00-05:00", "cooldown: cooldown until 2026-12-03T10:00:00-05:00"},
		{"2026-12-04T10:00:00-05:00", "cap: cap reached: 1 per 720h0m0s"},
		{"2027-01-04T10:00:00-05:00", "held: holdout (10%): recorded, not sent"},
	}
	for _, tt := range tests {
		s := swipeAt("c-2", at(t, tt.ts))
		v := offers.Decide(r, s, p)
		if got := verdict(v); got != tt.want {
			t.Errorf("%s\n got %s\nwant %s", tt.ts, got, tt.want)
		}
		if c := offers.Check(r, s, p); c != v.Code {
			t.Errorf("%s: Check = %s, Decide = %s", tt.ts, c, v.Code)
		}
	}
}

func TestRecord(t *testing.T) {
	none := policyRule(t, "plain", "")
	holdout := policyRule(t, "measured", "holdout: 50%")
	weekly := policyRule(t, "weekly", "limits: { cooldown: 7d }")
	capped := policyRule(t, "capped", "limits: { max_per_card: { count: 16, per: 30d } }")
	unix := func(ts string) int64 { return at(t, ts).Unix() }
	t.Run("nothing for a rule without policy", func(t *testing.T) {
		p := loyalty.NewProfile("c-1")
		offers.Record(none, swipeAt("c-1", at(t, "2026-12-01T10:00:00-05:00")), p, false)
		if p.Offers != nil {
			t.Errorf("history %+v, want none", p.Offers)
		}
	})
	t.Run("held count only for a holdout without limits", func(t *testing.T) {
		p := loyalty.NewProfile("c-1")
		offers.Record(holdout, swipeAt("c-1", at(t, "2026-12-01T10:00:00-05:00")), p, true)
		offers.Record(holdout, swipeAt("c-1", at(t, "2026-12-02T10:00:00-05:00")), p, true)
		want := []loyalty.OfferHistory{{RuleID: "measured", Held: 2}}
		if !reflect.DeepEqual(p.Offers, want) {
			t.Errorf("history %+v, want %+v", p.Offers, want)
		}
	})
	t.Run("cooldown keeps the sends within 7 days of the newest, in event-time order", func(t *testing.T) {
		p := history(t, weekly, "2026-12-01T10:00:00-05:00", "2026-12-09T10:00:00-05:00", "2026-12-04T10:00:00-05:00", "2026-12-16T09:00:00-05:00")
		want := []loyalty.OfferHistory{{RuleID: "weekly",
			Sent:   []int64{unix("2026-12-09T10:00:00-05:00"), unix("2026-12-16T09:00:00-05:00")},
			Forgot: unix("2026-12-04T10:00:00-05:00")}}
		if !reflect.DeepEqual(p.Offers, want) {
			t.Errorf("history\n %+v\nwant\n %+v", p.Offers, want)
		}
	})
	t.Run("a send is kept as the whole second at or after it, held or not", func(t *testing.T) {
		p := loyalty.NewProfile("c-1")
		t0 := at(t, "2026-12-01T10:00:00-05:00")
		offers.Record(weekly, swipeAt("c-1", t0.Add(900*time.Millisecond)), p, false)
		offers.Record(weekly, swipeAt("c-1", t0.Add(8*24*time.Hour)), p, true)
		offers.Record(weekly, swipeAt("c-1", t0.Add(9*24*time.Hour+time.Nanosecond)), p, false)
		want := []loyalty.OfferHistory{{RuleID: "weekly",
			Sent:   []int64{t0.Unix() + 8*86400, t0.Unix() + 9*86400 + 1},
			Held:   1,
			Forgot: t0.Unix() + 1}}
		if !reflect.DeepEqual(p.Offers, want) {
			t.Errorf("history\n %+v\nwant\n %+v", p.Offers, want)
		}
	})
	t.Run("at most MaxOfferSends sends", func(t *testing.T) {
		p := loyalty.NewProfile("c-1")
		t0 := at(t, "2026-12-01T10:00:00-05:00")
		for i := range 20 {
			offers.Record(capped, swipeAt("c-1", t0.Add(time.Duration(i)*time.Hour)), p, false)
		}
		h := p.Offered("capped")
		if len(h.Sent) != loyalty.MaxOfferSends || h.Sent[0] != t0.Add(4*time.Hour).Unix() || h.Forgot != t0.Add(3*time.Hour).Unix() {
			t.Errorf("kept %d sends from %d, forgot %d; want 16 from the 5th, forgot the 4th", len(h.Sent), h.Sent[0], h.Forgot)
		}
	})
	t.Run("histories sorted by rule id", func(t *testing.T) {
		p := loyalty.NewProfile("c-1")
		s := swipeAt("c-1", at(t, "2026-12-01T10:00:00-05:00"))
		offers.Record(weekly, s, p, false)
		offers.Record(capped, s, p, false)
		offers.Record(holdout, s, p, true)
		var ids []string
		for _, h := range p.Offers {
			ids = append(ids, h.RuleID)
		}
		if !reflect.DeepEqual(ids, []string{"capped", "measured", "weekly"}) {
			t.Errorf("rule order %v", ids)
		}
	})
}

// TestCheckDoesNotAllocate: the engine runs Check for every rule hit.
func TestCheckDoesNotAllocate(t *testing.T) {
	r := policyRule(t, "coffee-replenish", `limits: { cooldown: 2d, max_per_card: { count: 3, per: 30d } }
schedule: { from: 2026-12-01, hours: "08:00-21:00", days: [mon, tue, wed, thu, fri] }
holdout: 10%`)
	p := history(t, r, "2026-12-01T10:00:00-05:00")
	for _, ts := range []string{"2026-12-01T22:00:00-05:00", "2026-12-02T10:00:00-05:00", "2026-12-09T10:00:00-05:00"} {
		s := swipeAt("c-1", at(t, ts))
		if n := testing.AllocsPerRun(100, func() { offers.Check(r, s, p) }); n != 0 {
			t.Errorf("%s: Check made %v allocations", ts, n)
		}
	}
}

// TestDecideExpired: an offer whose expiry (the swipe's ts plus the rule's
// expires_in) is not after the swipe's arrival is suppressed before any
// other check, held hits included; a zero Arrived is not checked.
func TestDecideExpired(t *testing.T) {
	r := policyRule(t, "quick", "holdout: 99.99%\n")
	r.ExpiresIn = 4 * time.Hour
	s := swipeAt("c-1", at(t, "2026-12-02T10:00:00-05:00"))
	p := loyalty.NewProfile("c-1")
	for _, tt := range []struct {
		arrived string
		want    string
	}{
		{"", "held: holdout (99.99%): recorded, not sent"},
		{"2026-12-02T13:59:59-05:00", "held: holdout (99.99%): recorded, not sent"},
		{"2026-12-02T14:00:00-05:00", "expired: expired: the offer would have expired at 2026-12-02T14:00:00-05:00, 0s before the swipe arrived at 2026-12-02T14:00:00-05:00"},
		{"2026-12-03T20:30:00Z", "expired: expired: the offer would have expired at 2026-12-02T14:00:00-05:00, 25h30m0s before the swipe arrived at 2026-12-03T15:30:00-05:00"},
	} {
		e := &offers.Env{Consent: offers.AllChannels}
		if tt.arrived != "" {
			e.Arrived = at(t, tt.arrived)
		}
		if got := verdict(e.Decide(r, s, p)); got != tt.want {
			t.Errorf("arrived %q\n got %s\nwant %s", tt.arrived, got, tt.want)
		}
		if v := e.Check(r, s, p); (v.Code == offers.Expired) != strings.HasPrefix(tt.want, "expired") {
			t.Errorf("arrived %q: Check says %s", tt.arrived, v.Code)
		}
	}
}
