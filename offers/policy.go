package offers

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/rules"
)

// Code says why a rule that matched a swipe sent no offer. Its String is
// the short, stable form used as a metric label.
type Code uint8

// The outcomes of Check and Decide and of Arbitrate. The policy checks
// schedule, consent, quiet hours, cooldown, cap, holdout in that order;
// codes are numbered in the order they were added, so a new one goes last.
const (
	Pass        Code = iota // the offer may be sent
	Schedule                // outside the rule's dates, days or hours
	Cooldown                // too soon after the rule's last send to the card
	Cap                     // the card had the rule's max_per_card sends
	Holdout                 // the card is in the rule's holdout: recorded, never sent
	Arbitration             // other rules took the swipe's channels, or its group
	Consent                 // the card accepts offers on none of the rule's channels
	Quiet                   // every channel left is in its quiet hours at the store
	Budget                  // the rule's budget is spent (see Afford)
	Expired                 // the offer would have expired before its swipe arrived (see Env.Arrived)
)

var codeNames = [...]string{"pass", "schedule", "cooldown", "cap", "holdout", "arbitration", "consent", "quiet_hours", "budget", "expired"}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "code(" + strconv.Itoa(int(c)) + ")"
}

// Verdict is what a rule's offer policy says about one swipe that matched
// it. Send and Held are exclusive; when neither is set, Code and Reason say
// which check failed first.
type Verdict struct {
	Send bool
	Held bool // in the holdout: record as sent, never publish
	Code Code
	// Channels are the rule's channels the offer may go to when Send or
	// Held: those the card consented to and that are not quiet.
	Channels ChannelSet
	Reason   string // human-readable, with the time that decided; "" when sent
}

// Decide applies rule r's offer policy to swipe s of the card whose profile
// is p, and explains the first check that fails. It knows nothing of the
// store or the card's consent: it is Env.Decide with a nil Env. The
// checks, in order:
//
//   - expiry (Env.Arrived): the offer's expiry, the swipe's event time plus
//     the rule's expires_in, must be after the time the swipe arrived; an
//     offer already expired (a lane that was offline uploading its
//     backlog) is neither sent nor held.
//   - schedule: from/until dates, days and hours, all in the store's local
//     time: the swipe's instant in the store's zone (Env.Zone), or, for a
//     store the registry does not know, the UTC offset the swipe's ts
//     carries. With the zone, a lane clock still on standard time after
//     the spring change is judged by the store's real time. Hours that
//     run past midnight belong to the day they start on, for the dates
//     and days: with days [fri], "22:00-02:00" runs to Saturday 02:00.
//   - consent (Env.Consent): the rule's channels the card accepts offers
//     on; none left fails.
//   - quiet hours (Env.Quiet): of those, the channels not quiet at the
//     store's local time; none left fails. The survivors are the
//     Verdict's Channels.
//   - cooldown: the swipe's event time must be at least the cooldown after
//     the latest send of r to the card. The latest send is the latest in
//     event time, so a late swipe earlier than that send is always inside
//     the cooldown (a 09:00 swipe arriving after the 10:00 one was sent).
//     Sends are remembered to the whole second at or after them (see
//     Record), so a cooldown may end up to a second late, never early.
//   - max_per_card {count, per}: fewer than count sends of r to the card
//     after the event time minus per, sends later than the swipe included,
//     so a late swipe cannot slip in ahead of offers already made. If that
//     window reaches sends the profile no longer remembers (see
//     loyalty.OfferHistory.Forgot), the cap is treated as reached. As
//     sends are remembered to the whole second at or after them, a send
//     may count up to a second after it left the period, never for less
//     than the period.
//   - holdout: a stable fraction of cards per rule (FNV-1a of card and rule
//     id, modulo 10000) is held: Held is set and nothing is published.
//
// Decisions depend only on the rule, the swipe, the profile and the Env
// (the store registry, the consent table and the swipe's arrival as its
// record's timestamp says), never on the wall clock, so a replay decides
// as the live run did. Budgets are judged by Afford against
// a spend shared by every instance, which the caller holds.
func Decide(r *rules.Rule, s *loyalty.Swipe, p *loyalty.Profile) Verdict {
	return decide(r, ChannelsOf(r.Channels...), s, p, nil, true)
}

// Check is Decide without the explanation, for the hot path: Pass means
// send, Holdout means record as held.
func Check(r *rules.Rule, s *loyalty.Swipe, p *loyalty.Profile) Code {
	return decide(r, ChannelsOf(r.Channels...), s, p, nil, false).Code
}

// decide judges rule r, whose channels are want, as Decide does.
func decide(r *rules.Rule, want ChannelSet, s *loyalty.Swipe, p *loyalty.Profile, e *Env, explain bool) Verdict {
	if e != nil && !e.Arrived.IsZero() {
		if exp := s.TS.Add(r.ExpiresIn); !exp.After(e.Arrived) {
			v := Verdict{Code: Expired}
			if explain {
				v.Reason = fmt.Sprintf("expired: the offer would have expired at %s, %s before the swipe arrived at %s",
					exp.Format(time.RFC3339), e.Arrived.Sub(exp).Round(time.Second), e.Arrived.In(exp.Location()).Format(time.RFC3339))
			}
			return v
		}
	}
	local := e.Local(s)
	if sc := r.Schedule; sc != nil {
		if why, ok := inSchedule(sc, local, explain); !ok {
			return Verdict{Code: Schedule, Reason: why}
		}
	}
	chs, v, ok := e.reachable(want, local, explain)
	if !ok {
		return v
	}
	if l := r.Limits; l != nil && (l.Cooldown > 0 || l.MaxPerCard != nil) {
		if h := p.Offered(r.ID); h != nil && len(h.Sent) > 0 {
			if v, ok := withinLimits(l, h, local, explain); !ok {
				return v
			}
		}
	}
	if r.Holdout > 0 && HeldOut(s.CardID, r.ID, r.Holdout) {
		v := Verdict{Held: true, Code: Holdout, Channels: chs}
		if explain {
			v.Reason = "holdout (" + strconv.FormatFloat(math.Round(r.Holdout*1e6)/1e4, 'f', -1, 64) + "%): recorded, not sent"
		}
		return v
	}
	return Verdict{Send: true, Channels: chs}
}

// inSchedule judges the store-time instant ts against schedule sc. Hours
// that run past midnight make a window that belongs to the day it starts
// on: "22:00-02:00" on days [fri] runs from Friday 22:00 to Saturday 02:00,
// and the dates and days are those of the window's start, as a marketer
// who wrote "Friday night" means.
func inSchedule(sc *rules.Schedule, ts time.Time, explain bool) (string, bool) {
	const storeTime = " (store time)"
	m := ts.Hour()*60 + ts.Minute()
	day, wd, whose := loyalty.DayOf(ts), ts.Weekday(), ""
	if sc.HasHours && sc.UntilMinute < sc.FromMinute && m < sc.UntilMinute {
		day, wd = day-1, (wd+6)%7 // the small hours of the window that began the day before
		if explain {
			whose = ", whose " + clock(sc.FromMinute) + "-" + clock(sc.UntilMinute) + " window this is,"
		}
	}
	if sc.HasFrom && day < sc.From {
		if !explain {
			return "", false
		}
		return fmt.Sprintf("outside schedule: %s%s is before %s"+storeTime, date(day), whose, date(sc.From)), false
	}
	if sc.HasUntil && day > sc.Until {
		if !explain {
			return "", false
		}
		return fmt.Sprintf("outside schedule: %s%s is after %s"+storeTime, date(day), whose, date(sc.Until)), false
	}
	if len(sc.Days) > 0 {
		ok := false
		for _, d := range sc.Days {
			ok = ok || d == wd
		}
		if !ok {
			if !explain {
				return "", false
			}
			return fmt.Sprintf("outside schedule: %s%s is not among %s"+storeTime, wd, whose, days(sc.Days)), false
		}
	}
	if sc.HasHours {
		if !rules.InHours(m, sc.FromMinute, sc.UntilMinute) {
			if !explain {
				return "", false
			}
			return fmt.Sprintf("outside schedule: %s is not within %s-%s"+storeTime, clock(m), clock(sc.FromMinute), clock(sc.UntilMinute)), false
		}
	}
	return "", true
}

func withinLimits(l *rules.Limits, h *loyalty.OfferHistory, ts time.Time, explain bool) (Verdict, bool) {
	t := ts.Unix()
	if l.Cooldown > 0 {
		until := h.Sent[len(h.Sent)-1] + seconds(l.Cooldown)
		if t < until {
			v := Verdict{Code: Cooldown}
			if explain {
				v.Reason = "cooldown until " + instant(until, ts)
			}
			return v, false
		}
	}
	if c := l.MaxPerCard; c != nil {
		from := t - seconds(c.Per)
		if h.Forgot > from {
			v := Verdict{Code: Cap}
			if explain {
				v.Reason = fmt.Sprintf("cap %d per %s unknown: the period from %s reaches sends no longer remembered; not sent", c.Count, c.Per, instant(from, ts))
			}
			return v, false
		}
		n := 0
		for i := len(h.Sent) - 1; i >= 0 && h.Sent[i] > from; i-- {
			n++
		}
		if n >= c.Count {
			v := Verdict{Code: Cap}
			if explain {
				v.Reason = fmt.Sprintf("cap reached: %d per %s", c.Count, c.Per)
			}
			return v, false
		}
	}
	return Verdict{}, true
}

// HeldOut reports whether a card is in a rule's holdout of the given
// fraction: FNV-1a 64 of card id, a zero byte and rule id, modulo 10000,
// below fraction × 10000. It depends on nothing else, so a card stays in
// or out of a rule's holdout across restarts, replays and rule versions.
func HeldOut(cardID, ruleID string, fraction float64) bool {
	return holdoutBucket(cardID, ruleID) < uint64(math.Round(fraction*10000))
}

func holdoutBucket(cardID, ruleID string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(cardID); i++ {
		h ^= uint64(cardID[i])
		h *= 1099511628211
	}
	h *= 1099511628211 // the zero separator: h ^= 0 is a no-op
	for i := 0; i < len(ruleID); i++ {
		h ^= uint64(ruleID[i])
		h *= 1099511628211
	}
	return h % 10000
}

// Record notes in p that rule r sent an offer on swipe s, or would have
// and held it out. Call it once per rule per swipe that passed Decide and
// won arbitration, or was held, not once per channel. Held sends count
// for the cooldown and cap like published ones, so the holdout sees the
// same policy as everyone else. Only what the rule's policy needs is kept:
// nothing for a rule without cooldown, cap or holdout, and sends within its
// longest period (cooldown or cap period) of its newest send, at most
// loyalty.MaxOfferSends of them.
func Record(r *rules.Rule, s *loyalty.Swipe, p *loyalty.Profile, held bool) {
	keep := keepFor(r.Limits)
	if keep == 0 && !held {
		return
	}
	h := p.AddOffered(r.ID)
	if held {
		h.Held++
	}
	if keep == 0 {
		return
	}
	// Insert in event-time order: a late swipe's send goes before later ones.
	// The send is kept as the whole second at or after it (10:00:00.9 as
	// 10:00:01), so the cooldown and cap, which compare whole seconds,
	// hold in full and err by under a second on the safe side: a send
	// kept as the second before it would let a swipe 0.9 s short of the
	// cooldown's end through, and fall out of a cap's period 0.9 s early.
	t := s.TS.Unix()
	if s.TS.Nanosecond() > 0 {
		t++
	}
	i := len(h.Sent)
	for i > 0 && h.Sent[i-1] > t {
		i--
	}
	h.Sent = append(h.Sent, 0)
	copy(h.Sent[i+1:], h.Sent[i:])
	h.Sent[i] = t

	newest := h.Sent[len(h.Sent)-1]
	n := 0
	for n < len(h.Sent) && (h.Sent[n] <= newest-keep || len(h.Sent)-n > loyalty.MaxOfferSends) {
		h.Forgot = max(h.Forgot, h.Sent[n])
		n++
	}
	if n > 0 {
		h.Sent = append(h.Sent[:0], h.Sent[n:]...)
	}
}

// keepFor is how long, in seconds before its newest send, a rule's sends
// matter: its cooldown or its cap period, whichever is longer.
func keepFor(l *rules.Limits) int64 {
	if l == nil {
		return 0
	}
	keep := seconds(l.Cooldown)
	if l.MaxPerCard != nil {
		keep = max(keep, seconds(l.MaxPerCard.Per))
	}
	return keep
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// instant formats Unix seconds as RFC 3339 in the swipe's (the store's) zone.
func instant(unix int64, ts time.Time) string {
	return time.Unix(unix, 0).In(ts.Location()).Format(time.RFC3339)
}

func date(day int32) string {
	return time.Unix(int64(day)*86400, 0).UTC().Format(time.DateOnly)
}

func clock(minute int) string { return fmt.Sprintf("%02d:%02d", minute/60, minute%60) }

func days(ds []time.Weekday) string {
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = strings.ToLower(d.String()[:3])
	}
	return strings.Join(names, ", ")
}
