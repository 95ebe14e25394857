package offers_test

import (
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// sendsOn is a verdict in one line with the channels it may send on.
func sendsOn(v offers.Verdict) string {
	if v.Send || v.Held {
		return verdict(v) + " on " + v.Channels.String()
	}
	return verdict(v)
}

// TestEnvScheduleInStoreZone: with the store's zone known, a schedule is
// judged on the store's real local time at the swipe's instant, whatever
// offset the POS clock wrote: a lane that has not switched to daylight
// saving time yet (or back from it) is judged right. The swipes are the
// fake clock; a late swipe is judged by its own event time.
func TestEnvScheduleInStoreZone(t *testing.T) {
	ny := &offers.Env{Zone: zone(t, "America/New_York"), Consent: offers.AllChannels}
	berlin := &offers.Env{Zone: zone(t, "Europe/Berlin"), Consent: offers.AllChannels}
	day := policyRule(t, "day", `schedule: { hours: "08:00-21:00" }`)
	monday := policyRule(t, "monday", `schedule: { from: 2026-03-09, days: [mon] }`)
	tests := []struct {
		name string
		env  *offers.Env
		r    *rules.Rule
		ts   string
		want string
	}{
		// America/New_York: 2026-03-08 02:00 EST becomes 03:00 EDT.
		{"spring: lane still on EST at 07:30 is 08:30 EDT", ny, day, "2026-03-08T07:30:00-05:00", "send on mobile"},
		{"spring: the same lane clock without a registry", nil, day, "2026-03-08T07:30:00-05:00",
			"schedule: outside schedule: 07:30 is not within 08:00-21:00 (store time)"},
		{"spring: lane on EDT", ny, day, "2026-03-08T07:30:00-04:00", "schedule: outside schedule: 07:30 is not within 08:00-21:00 (store time)"},
		{"spring: a stale EST Sunday 23:30 is Monday 00:30 EDT", ny, monday, "2026-03-08T23:30:00-05:00", "send on mobile"},
		{"spring: EDT Sunday 23:30 is Sunday", ny, monday, "2026-03-08T23:30:00-04:00",
			"schedule: outside schedule: 2026-03-08 is before 2026-03-09 (store time)"},
		{"late swipe from before the spring change", ny, day, "2026-03-07T20:30:00-05:00", "send on mobile"},
		{"late swipe from before the spring change, after hours", ny, day, "2026-03-07T21:30:00-05:00",
			"schedule: outside schedule: 21:30 is not within 08:00-21:00 (store time)"},
		// 2026-11-01 02:00 EDT becomes 01:00 EST.
		{"fall: lane still on EDT at 08:30 is 07:30 EST", ny, day, "2026-11-01T08:30:00-04:00",
			"schedule: outside schedule: 07:30 is not within 08:00-21:00 (store time)"},
		{"fall: lane on EST", ny, day, "2026-11-01T08:30:00-05:00", "send on mobile"},
		{"fall: lane still on EDT at 21:30 is 20:30 EST", ny, day, "2026-11-01T21:30:00-04:00", "send on mobile"},
		{"a POS that sends UTC", ny, day, "2026-12-02T14:00:00Z", "send on mobile"},
		{"a POS that sends UTC, 07:00 in the store", ny, day, "2026-12-02T12:00:00Z",
			"schedule: outside schedule: 07:00 is not within 08:00-21:00 (store time)"},
		// Europe/Berlin: 2026-03-29 02:00 CET becomes 03:00 CEST; 2026-10-25
		// 03:00 CEST becomes 02:00 CET.
		{"Berlin spring: lane still on CET at 07:30 is 08:30 CEST", berlin, day, "2026-03-29T07:30:00+01:00", "send on mobile"},
		{"Berlin fall: lane still on CEST at 08:30 is 07:30 CET", berlin, day, "2026-10-25T08:30:00+02:00",
			"schedule: outside schedule: 07:30 is not within 08:00-21:00 (store time)"},
		{"Berlin fall: lane on CET", berlin, day, "2026-10-25T08:30:00+01:00", "send on mobile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := swipeAt("c-1", at(t, tt.ts))
			if got := sendsOn(tt.env.Decide(tt.r, s, loyalty.NewProfile("c-1"))); got != tt.want {
				t.Errorf("%s\n got %s\nwant %s", tt.ts, got, tt.want)
			}
		})
	}
}

// TestEnvCooldownAcrossDST: a cooldown is elapsed time, not wall-clock
// time: a day after 10:00 EST on the eve of the spring change is 11:00 EDT,
// and the explanation is in the store's zone, not the lane clock's.
func TestEnvCooldownAcrossDST(t *testing.T) {
	ny := &offers.Env{Zone: zone(t, "America/New_York"), Consent: offers.AllChannels}
	r := policyRule(t, "daily", `limits: { cooldown: 1d }`)
	p := history(t, r, "2026-03-07T10:00:00-05:00")
	tests := []struct{ ts, want string }{
		{"2026-03-08T10:30:00-04:00", "cooldown: cooldown until 2026-03-08T11:00:00-04:00"},
		{"2026-03-08T09:30:00-05:00", "cooldown: cooldown until 2026-03-08T11:00:00-04:00"}, // lane still on EST
		{"2026-03-08T11:00:00-04:00", "send on mobile"},
		{"2026-03-07T09:00:00-05:00", "cooldown: cooldown until 2026-03-08T11:00:00-04:00"}, // late swipe
	}
	for _, tt := range tests {
		if got := sendsOn(ny.Decide(r, swipeAt("c-1", at(t, tt.ts)), p)); got != tt.want {
			t.Errorf("%s\n got %s\nwant %s", tt.ts, got, tt.want)
		}
	}
}

// TestEnvQuietHours: a channel in its quiet hours at the store is dropped;
// a rule left with no channel sends nothing (quiet_hours). Windows may run
// past midnight and are judged on the store's clock.
func TestEnvQuietHours(t *testing.T) {
	quiet, err := offers.ParseQuietHours("mobile=21:00-08:00, email=none, pos=none")
	if err != nil {
		t.Fatal(err)
	}
	ny := &offers.Env{Zone: zone(t, "America/New_York"), Consent: offers.AllChannels, Quiet: quiet}
	push := policyRule(t, "push", "")
	both := policyRule(t, "both", "")
	both.Channels = []string{"mobile", "email"}
	tests := []struct {
		name string
		env  *offers.Env
		r    *rules.Rule
		ts   string
		want string
	}{
		{"before the quiet hours", ny, push, "2026-12-02T20:59:00-05:00", "send on mobile"},
		{"quiet hours start", ny, push, "2026-12-02T21:00:00-05:00", "quiet_hours: quiet hours: 21:00 is within mobile 21:00-08:00 (store time)"},
		{"midnight", ny, push, "2026-12-03T00:00:00-05:00", "quiet_hours: quiet hours: 00:00 is within mobile 21:00-08:00 (store time)"},
		{"the last quiet minute", ny, push, "2026-12-03T07:59:00-05:00", "quiet_hours: quiet hours: 07:59 is within mobile 21:00-08:00 (store time)"},
		{"quiet hours end", ny, push, "2026-12-03T08:00:00-05:00", "send on mobile"},
		{"the other channel still sends", ny, both, "2026-12-02T23:00:00-05:00", "send on email"},
		{"both channels outside quiet hours", ny, both, "2026-12-02T12:00:00-05:00", "send on mobile, email"},
		{"store clock, not the lane's: stale EST 07:30 is 08:30 EDT", ny, push, "2026-03-08T07:30:00-05:00", "send on mobile"},
		{"store clock, not UTC", ny, push, "2026-12-03T03:00:00Z", "quiet_hours: quiet hours: 22:00 is within mobile 21:00-08:00 (store time)"},
		{"07:00 in the store", ny, push, "2026-12-02T12:00:00Z", "quiet_hours: quiet hours: 07:00 is within mobile 21:00-08:00 (store time)"},
		{"unknown store: the swipe's own offset", &offers.Env{Consent: offers.AllChannels, Quiet: quiet}, push, "2026-12-02T12:00:00Z", "send on mobile"},
		{"no quiet hours configured", &offers.Env{Consent: offers.AllChannels}, push, "2026-12-02T23:00:00-05:00", "send on mobile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := swipeAt("c-1", at(t, tt.ts))
			if got := sendsOn(tt.env.Decide(tt.r, s, loyalty.NewProfile("c-1"))); got != tt.want {
				t.Errorf("%s\n got %s\nwant %s", tt.ts, got, tt.want)
			}
		})
	}
}

// TestEnvConsent: the card's consent narrows the rule's channels; a rule
// left with none sends nothing (consent). Consent is checked after the
// schedule and before quiet hours, limits and the holdout, so a card that
// accepts none of a rule's channels is not even recorded as held.
func TestEnvConsent(t *testing.T) {
	quiet, err := offers.ParseQuietHours("email=20:00-08:00")
	if err != nil {
		t.Fatal(err)
	}
	three := policyRule(t, "three", "")
	three.Channels = []string{"mobile", "pos", "email"}
	held := policyRule(t, "coffee-replenish", "holdout: 10%") // c-2 is in its holdout
	held.Channels = []string{"mobile", "email"}
	sched := policyRule(t, "sched", `schedule: { hours: "08:00-21:00" }`)
	sched.Channels = []string{"email"}
	weekly := policyRule(t, "weekly", `limits: { cooldown: 7d }`)
	weekly.Channels = []string{"email"}
	sent := history(t, weekly, "2026-12-01T10:00:00-05:00")
	noon, night := "2026-12-02T12:00:00-05:00", "2026-12-02T22:00:00-05:00"
	tests := []struct {
		name    string
		consent offers.ChannelSet
		r       *rules.Rule
		card    string
		p       *loyalty.Profile
		ts      string
		want    string
	}{
		{"every channel allowed", offers.AllChannels, three, "c-1", nil, noon, "send on mobile, pos, email"},
		{"opted out of mobile", offers.ChannelsOf("pos", "email"), three, "c-1", nil, noon, "send on pos, email"},
		{"opted out of everything", 0, three, "c-1", nil, noon, "consent: no consent: the card does not accept offers on mobile, pos, email"},
		{"accepts only a channel the rule does not use", offers.ChannelsOf("pos"), held, "c-1", nil, noon,
			"consent: no consent: the card does not accept offers on mobile, email"},
		{"the channel left is quiet", offers.ChannelsOf("email"), three, "c-1", nil, night,
			"quiet_hours: quiet hours: 22:00 is within email 20:00-08:00 (store time)"},
		{"held out on the channels it could have had", offers.ChannelsOf("email"), held, "c-2", nil, noon,
			"held: holdout (10%): recorded, not sent on email"},
		{"no consent: not held either", offers.ChannelsOf("pos"), held, "c-2", nil, noon,
			"consent: no consent: the card does not accept offers on mobile, email"},
		{"schedule first", 0, sched, "c-1", nil, night, "schedule: outside schedule: 22:00 is not within 08:00-21:00 (store time)"},
		{"consent before cooldown", 0, weekly, "c-1", sent, noon, "consent: no consent: the card does not accept offers on email"},
		{"cooldown after consent", offers.AllChannels, weekly, "c-1", sent, noon, "cooldown: cooldown until 2026-12-08T10:00:00-05:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := &offers.Env{Zone: zone(t, "America/New_York"), Consent: tt.consent, Quiet: quiet}
			p := tt.p
			if p == nil {
				p = loyalty.NewProfile(tt.card)
			}
			s := swipeAt(tt.card, at(t, tt.ts))
			v := env.Decide(tt.r, s, p)
			if got := sendsOn(v); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if c := env.Check(tt.r, s, p); c.Code != v.Code || c.Channels != v.Channels || c.Reason != "" {
				t.Errorf("Check = %+v, Decide = %+v", c, v)
			}
		})
	}
}

// TestParseFlags: the two per-channel settings offerd takes as flags.
func TestParseFlags(t *testing.T) {
	quiet := func(spec string) (string, error) {
		q, err := offers.ParseQuietHours(spec)
		if err != nil {
			return "", err
		}
		return q.String(), nil
	}
	consent := func(spec string) (string, error) {
		set, err := offers.ParseConsentDefault(spec)
		return set.String(), err
	}
	tests := []struct {
		parse           func(string) (string, error)
		spec, want, err string
	}{
		{quiet, "", "", ""},
		{quiet, "mobile=21:00-08:00", "mobile=21:00-08:00", ""},
		{quiet, " mobile = 21:00-08:00 , email=none, pos=12:00-13:30", "mobile=21:00-08:00,pos=12:00-13:30", ""},
		{quiet, "mobile=21:00-08:00,mobile=none", "", ""},
		{quiet, "sms=21:00-08:00", "", `"sms=21:00-08:00": unknown channel "sms"; channels are mobile, pos, email`},
		{quiet, "mobile", "", `"mobile": want channel=value`},
		{quiet, "mobile=9pm-8am", "", `quiet hours of mobile must look like "08:00-21:00", not "9pm-8am"`},
		{quiet, "mobile=08:00-08:00", "", `quiet hours of mobile "08:00-08:00" is empty: give different start and end times (an end before the start runs past midnight)`},
		{consent, "", "mobile, pos, email", ""},
		{consent, "email=deny", "mobile, pos", ""},
		{consent, "mobile=deny,pos=deny,email=deny", "none", ""},
		{consent, "mobile=deny,mobile=allow", "mobile, pos, email", ""},
		{consent, "email=no", "", `consent default of email must be allow or deny, not "no"`},
		{consent, "fax=deny", "", `"fax=deny": unknown channel "fax"; channels are mobile, pos, email`},
	}
	for _, tt := range tests {
		got, err := tt.parse(tt.spec)
		switch {
		case tt.err != "":
			if err == nil || err.Error() != tt.err {
				t.Errorf("%q: error %v, want %s", tt.spec, err, tt.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tt.spec, err)
		case got != tt.want:
			t.Errorf("%q: got %q, want %q", tt.spec, got, tt.want)
		}
	}
}

// TestEnvCheckDoesNotAllocate: the engine runs Check with an Env for every
// rule hit.
func TestEnvCheckDoesNotAllocate(t *testing.T) {
	quiet, err := offers.ParseQuietHours("mobile=21:00-08:00")
	if err != nil {
		t.Fatal(err)
	}
	env := &offers.Env{Zone: zone(t, "America/New_York"), Consent: offers.ChannelsOf("mobile", "pos"), Quiet: quiet}
	r := policyRule(t, "coffee-replenish", `limits: { cooldown: 2d }
schedule: { from: 2026-12-01, hours: "08:00-22:00" }`)
	p := history(t, r, "2026-12-01T10:00:00-05:00")
	for _, ts := range []string{"2026-12-01T23:00:00-05:00", "2026-12-01T21:30:00-05:00", "2026-12-02T10:00:00-05:00", "2026-12-09T10:00:00-05:00"} {
		s := swipeAt("c-1", at(t, ts))
		if n := testing.AllocsPerRun(100, func() { env.Check(r, s, p) }); n != 0 {
			t.Errorf("%s: Check made %v allocations", ts, n)
		}
	}
}
