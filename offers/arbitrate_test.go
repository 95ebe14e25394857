package offers_test

import (
	"strings"
	"testing"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
)

// arbRules parses rules written one a line as
// "id priority channels coupon [group]", e.g. "a 10 mobile+email 5%", as
// hits that may send on their channels except those marked ~: the card
// cannot receive them ("a 10 mobile+~email 5%").
func arbRules(t *testing.T, lines ...string) []offers.Hit {
	t.Helper()
	var src strings.Builder
	var reach []offers.ChannelSet
	for _, l := range lines {
		f := strings.Fields(l)
		var ok []string
		for _, ch := range strings.Split(f[2], "+") {
			if !strings.HasPrefix(ch, "~") {
				ok = append(ok, ch)
			}
		}
		reach = append(reach, offers.ChannelsOf(ok...))
		f[2] = strings.ReplaceAll(f[2], "~", "")
		coupon := "discount_cents: " + f[3]
		if pct, ok := strings.CutSuffix(f[3], "%"); ok {
			coupon = "discount_percent: " + pct
		}
		src.WriteString("---\nid: " + f[0] + "\npriority: " + f[1] + "\nwhen: \"true\"\nchannels: [" +
			strings.ReplaceAll(f[2], "+", ", ") + "]\noffer: {title: T, coupon: {" + coupon + "}}\n")
		if len(f) > 4 {
			src.WriteString("group: " + f[4] + "\n")
		}
	}
	rs, err := rules.Parse("arb.yaml", []byte(src.String()))
	if err != nil {
		t.Fatal(err)
	}
	hits := make([]offers.Hit, len(rs))
	for i, r := range rs {
		hits[i] = offers.Hit{Rule: r, Channels: reach[i]}
	}
	return hits
}

// outcome is an arbitration result in one line per rule, in rank order:
// "b: mobile" for a winner, "a: lost arbitration to ..." for a loser.
func outcome(awards []offers.Award) string {
	var lines []string
	for i := range awards {
		a := &awards[i]
		if !a.Won() {
			lines = append(lines, a.Rule.ID+": "+a.Reason())
			continue
		}
		var chs []string
		for _, ch := range a.Rule.Channels {
			if a.WonOn(ch) {
				chs = append(chs, ch)
			}
		}
		lines = append(lines, a.Rule.ID+": "+strings.Join(chs, "+"))
	}
	return strings.Join(lines, "\n")
}

func TestArbitrate(t *testing.T) {
	s := &loyalty.Swipe{CardID: "c-1", Kind: loyalty.KindPurchase, TotalCents: 2000}
	tests := []struct {
		name  string
		rules []string
		k     int
		want  string
	}{
		{"higher priority wins", []string{"a 10 mobile 500", "b 20 mobile 100"}, 1,
			"b: mobile\na: lost arbitration to rule b on channel mobile"},
		// 20% of the 20.00 basket is worth 4.00, more than 3.00 off.
		{"then the higher expected value", []string{"a 10 mobile 300", "b 10 mobile 20%"}, 1,
			"b: mobile\na: lost arbitration to rule b on channel mobile"},
		{"then the smaller id", []string{"b 10 mobile 400", "a 10 mobile 20%"}, 1,
			"a: mobile\nb: lost arbitration to rule a on channel mobile"},
		{"k offers per channel", []string{"a 10 mobile 100", "b 20 mobile 100", "c 30 mobile 100"}, 2,
			"c: mobile\nb: mobile\na: lost arbitration to rule b on channel mobile"},
		{"channels are arbitrated separately", []string{"a 10 email 100", "b 20 mobile 100"}, 1,
			"b: mobile\na: email"},
		{"a rule wins the channels still free", []string{"a 10 mobile+email 100", "b 20 mobile 100"}, 1,
			"b: mobile\na: email"},
		{"k below 1 counts as 1", []string{"a 10 mobile 100", "b 20 mobile 100"}, 0,
			"b: mobile\na: lost arbitration to rule b on channel mobile"},
		{"one rule per group", []string{"a 10 email 100 coffee", "b 20 mobile 100 coffee", "c 5 pos 100"}, 1,
			"b: mobile\na: lost arbitration to rule b in group coffee\nc: pos"},
		// The group goes to its first rule that wins a channel.
		{"a group rule that lost its channel does not claim the group", []string{"x 30 mobile 100", "a 20 mobile 100 coffee", "b 10 email 100 coffee"}, 1,
			"x: mobile\na: lost arbitration to rule x on channel mobile\nb: email"},
		// Arbitration sees only the channels the card can receive.
		{"a channel the card cannot receive is left to others", []string{"a 10 mobile 100", "b 20 ~mobile+email 100"}, 1,
			"b: email\na: mobile"},
		{"an unreachable channel takes no slot", []string{"a 30 ~mobile+email 100", "b 20 mobile 100"}, 1,
			"a: email\nb: mobile"},
		{"no hits", nil, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outcome(offers.Arbitrate(arbRules(t, tt.rules...), s, tt.k, nil)); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestArbitrateDoesNotAllocate(t *testing.T) {
	hits := arbRules(t, "a 10 mobile+email 100 g", "b 20 mobile 100 g", "c 30 pos+mobile 20%", "d 5 email 100")
	s := &loyalty.Swipe{CardID: "c-1", TotalCents: 2000}
	awards := make([]offers.Award, 0, len(hits))
	if n := testing.AllocsPerRun(100, func() { awards = offers.Arbitrate(hits, s, 1, awards[:0]) }); n != 0 {
		t.Errorf("Arbitrate made %v allocations", n)
	}
	if want := "c: pos+mobile\nb: lost arbitration to rule c on channel mobile\na: email\nd: lost arbitration to rule a on channel email"; outcome(awards) != want {
		t.Errorf("got\n%s\nwant\n%s", outcome(awards), want)
	}
}
