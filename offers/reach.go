package offers

import (
	"fmt"
	"strings"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/rules"
)

// ChannelSet is a set of offer channels: bit i stands for
// loyalty.Channels[i]. The zero ChannelSet is empty.
type ChannelSet uint32

// AllChannels holds every channel of loyalty.Channels.
var AllChannels = ChannelSet(1)<<min(len(loyalty.Channels), 32) - 1

// ChannelsOf is the set of the known channels among chs.
func ChannelsOf(chs ...string) ChannelSet {
	var s ChannelSet
	for _, ch := range chs {
		if i := channelIndex(ch); i >= 0 {
			s |= 1 << i
		}
	}
	return s
}

// Has reports whether ch is in the set.
func (s ChannelSet) Has(ch string) bool {
	i := channelIndex(ch)
	return i >= 0 && s&(1<<i) != 0
}

// String lists the set's channels in the order of loyalty.Channels,
// separated by commas, or "none".
func (s ChannelSet) String() string {
	var names []string
	for i, ch := range loyalty.Channels {
		if i < 32 && s&(1<<i) != 0 {
			names = append(names, ch)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Env is what the offer policy knows about a swipe beyond its rule, the
// swipe itself and the card's profile: where the store stands, which
// channels the card consented to and the quiet hours of each channel. The
// engine fills one per swipe from its store registry and consent table.
//
// A nil *Env is today's behaviour without a registry: schedules are judged
// by the swipe's own UTC offset, every channel is allowed and none is
// quiet.
type Env struct {
	// Zone is the store's time zone. The swipe's instant is converted to
	// it, so a POS clock still on the old offset across a daylight saving
	// change is judged by the store's real local time. Nil: the offset the
	// swipe's ts carries.
	Zone *time.Location
	// Consent is the channels the card may be sent offers on.
	Consent ChannelSet
	// Quiet is the quiet hours per channel, in the store's local time; nil
	// means none.
	Quiet *QuietHours
	// Arrived is when the swipe reached Kafka: its record's timestamp. An
	// offer that would have expired by then is not sent (Expired). Zero:
	// not checked.
	Arrived time.Time
}

// Local is the swipe's event time on the store's clock.
func (e *Env) Local(s *loyalty.Swipe) time.Time {
	if e == nil || e.Zone == nil {
		return s.TS
	}
	return s.TS.In(e.Zone)
}

// Decide applies rule r's offer policy to swipe s of the card whose
// profile is p, given what e says about the store and the card; see the
// package function Decide.
func (e *Env) Decide(r *rules.Rule, s *loyalty.Swipe, p *loyalty.Profile) Verdict {
	return decide(r, ChannelsOf(r.Channels...), s, p, e, true)
}

// Check is e.Decide without the explanation, for the hot path: Send means
// publish on Verdict.Channels, Held means record as held.
func (e *Env) Check(r *rules.Rule, s *loyalty.Swipe, p *loyalty.Profile) Verdict {
	return decide(r, ChannelsOf(r.Channels...), s, p, e, false)
}

// CheckChannels is e.Check for a rule whose channels the caller already
// holds as a set, chs = ChannelsOf(r.Channels...): the engine keeps that
// set per rule of its rule set rather than comparing channel names on
// every hit.
func (e *Env) CheckChannels(r *rules.Rule, chs ChannelSet, s *loyalty.Swipe, p *loyalty.Profile) Verdict {
	return decide(r, chs, s, p, e, false)
}

// reachable narrows the rule's channels, want, to those the card consented to and
// that are not quiet at local time t. When none is left it returns the
// failing Code: Consent when consent alone leaves none, Quiet
// otherwise.
func (e *Env) reachable(want ChannelSet, t time.Time, explain bool) (ChannelSet, Verdict, bool) {
	if e == nil {
		return want, Verdict{}, true
	}
	consented := want & e.Consent
	if consented == 0 {
		v := Verdict{Code: Consent}
		if explain {
			v.Reason = "no consent: the card does not accept offers on " + want.String()
		}
		return 0, v, false
	}
	open := consented
	if e.Quiet != nil {
		open &^= e.Quiet.At(t)
	}
	if open == 0 {
		v := Verdict{Code: Quiet}
		if explain {
			v.Reason = e.Quiet.explain(consented, t)
		}
		return 0, v, false
	}
	return open, Verdict{}, true
}

// QuietHours are, per channel, a daily window of store-local time in
// which no offer is sent on that channel (e-mail can wait, a phone buzzing
// at 23:00 cannot). The zero QuietHours has none.
type QuietHours struct {
	w [32]quietWindow // by index in loyalty.Channels
}

type quietWindow struct {
	from, until int // minutes after midnight, as rules.ParseHours
	set         bool
}

// ParseQuietHours reads quiet hours written as comma-separated
// channel=HH:MM-HH:MM pairs, "none" for a channel without quiet hours:
// "mobile=21:00-08:00,email=none". A window whose end is before its start
// runs past midnight. Channels not named have none.
func ParseQuietHours(spec string) (*QuietHours, error) {
	q := &QuietHours{}
	err := eachChannel(spec, func(ch, val string) error {
		i := channelIndex(ch)
		if val == "none" {
			q.w[i] = quietWindow{}
			return nil
		}
		from, until, err := rules.ParseHours(val)
		if err != nil {
			return fmt.Errorf("quiet hours of %s %v", ch, err)
		}
		q.w[i] = quietWindow{from: from, until: until, set: true}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return q, nil
}

// ParseConsentDefault reads which channels a card without a consent record
// may be sent offers on, written as comma-separated channel=allow or
// channel=deny pairs: "mobile=allow,pos=allow,email=deny". Channels not
// named are allowed.
func ParseConsentDefault(spec string) (ChannelSet, error) {
	set := AllChannels
	err := eachChannel(spec, func(ch, val string) error {
		switch val {
		case "allow":
			set |= ChannelsOf(ch)
		case "deny":
			set &^= ChannelsOf(ch)
		default:
			return fmt.Errorf("consent default of %s must be allow or deny, not %q", ch, val)
		}
		return nil
	})
	return set, err
}

// eachChannel calls fn for every channel=value pair of a comma-separated
// spec, refusing unknown channels.
func eachChannel(spec string, fn func(ch, val string) error) error {
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		ch, val, ok := strings.Cut(part, "=")
		ch, val = strings.TrimSpace(ch), strings.TrimSpace(val)
		if !ok || val == "" {
			return fmt.Errorf("%q: want channel=value", part)
		}
		if channelIndex(ch) < 0 {
			return fmt.Errorf("%q: unknown channel %q; channels are %s", part, ch, strings.Join(loyalty.Channels, ", "))
		}
		if err := fn(ch, val); err != nil {
			return err
		}
	}
	return nil
}

// At is the set of channels that are quiet at local time t (its wall
// clock in its own location).
func (q *QuietHours) At(t time.Time) ChannelSet {
	var quiet ChannelSet
	m := t.Hour()*60 + t.Minute()
	for i := range loyalty.Channels {
		if w := q.w[i]; w.set && rules.InHours(m, w.from, w.until) {
			quiet |= 1 << i
		}
	}
	return quiet
}

// String writes the quiet hours in the form ParseQuietHours reads, channels
// without quiet hours left out; "" when there are none.
func (q *QuietHours) String() string {
	var parts []string
	for i, ch := range loyalty.Channels {
		if w := q.w[i]; w.set {
			parts = append(parts, ch+"="+clock(w.from)+"-"+clock(w.until))
		}
	}
	return strings.Join(parts, ",")
}

func (q *QuietHours) explain(chs ChannelSet, t time.Time) string {
	var parts []string
	for i, ch := range loyalty.Channels {
		if w := q.w[i]; w.set && chs&(1<<i) != 0 {
			parts = append(parts, ch+" "+clock(w.from)+"-"+clock(w.until))
		}
	}
	return fmt.Sprintf("quiet hours: %s is within %s (store time)", clock(t.Hour()*60+t.Minute()), strings.Join(parts, ", "))
}
