package rules

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
)

// designRule is the example of DESIGN.md ("Rules"); its title template,
// unlike its condition, uses Go field names and a field the profile has.
const designRule = `id: coffee-replenish
version: 3                      # bumped by apply; offers carry it
priority: 50                    # higher wins arbitration
group: coffee                   # at most one rule of a group fires per swipe
when: swipe.kind == "checkin" && daysSinceBought("coffee") >= 12 && categorySpend("coffee", "90d") > 2000
channels: [mobile]
offer:
  title: "Running low on coffee, {{ .Swipe.Aisle | default \"friend\" }}?"
  body: "20% off any coffee in aisle 7 today."
  coupon: { discount_percent: 20, categories: [coffee] }
  expires_in: 4h
limits: { cooldown: 7d, max_per_card: { count: 2, per: 30d }, budget: { count: 50000 } }
schedule: { from: 2026-12-01, until: 2027-01-31, hours: "08:00-21:00", days: [mon, tue, wed, thu, fri, sat] }
holdout: 10%                    # stable per card; measured, never sent
`

func TestParseDesignExample(t *testing.T) {
	rs, err := Parse("coffee.yaml", []byte(designRule))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("got %d rules, want 1", len(rs))
	}
	r := rs[0]
	day := func(s string) int32 { d, _ := time.Parse(time.DateOnly, s); return loyalty.DayOf(d) }
	checks := []struct {
		name      string
		got, want any
	}{
		{"ID", r.ID, "coffee-replenish"},
		{"Version", r.Version, 3},
		{"Priority", r.Priority, 50},
		{"Group", r.Group, "coffee"},
		{"When", r.When, `swipe.kind == "checkin" && daysSinceBought("coffee") >= 12 && categorySpend("coffee", "90d") > 2000`},
		{"Channels", r.Channels, []string{"mobile"}},
		{"Title", r.Title, `Running low on coffee, {{ .Swipe.Aisle | default "friend" }}?`},
		{"Body", r.Body, "20% off any coffee in aisle 7 today."},
		{"Coupon", r.Coupon, Coupon{DiscountPercent: 20, Categories: []string{"coffee"}}},
		{"ExpiresIn", r.ExpiresIn, 4 * time.Hour},
		{"Limits", *r.Limits, Limits{Cooldown: 7 * 24 * time.Hour, MaxPerCard: &Cap{Count: 2, Per: 30 * 24 * time.Hour}, Budget: 50000}},
		{"Schedule", *r.Schedule, Schedule{
			From: day("2026-12-01"), Until: day("2027-01-31"), HasFrom: true, HasUntil: true,
			FromMinute: 8 * 60, UntilMinute: 21 * 60, HasHours: true,
			Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday},
		}},
		{"Holdout", r.Holdout, 0.10},
		{"File", r.File, "coffee.yaml"},
		{"Line", r.Line, 1},
		{"kinds (index)", r.kinds, []loyalty.Kind{loyalty.KindCheckin}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestParseDefaultsAndDocuments(t *testing.T) {
	src := `# several rules in one file
---
id: a
when: "true"
channels: [pos, email]
offer: { title: A, coupon: { discount_cents: 500, skus: [sku-1] } }
---
---
id: b_2
when: swipe.total_cents > 0
channels: [mobile]
offer:
  title: B
  expires_in: 1d12h
`
	rs, err := Parse("multi.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("got %d rules, want 2 (empty documents are skipped)", len(rs))
	}
	a, b := rs[0], rs[1]
	if a.Version != 1 || a.Priority != 0 || a.ExpiresIn != DefaultExpiresIn || a.Line != 3 {
		t.Errorf("a: version %d priority %d expires %v line %d; want defaults 1, 0, 24h and line 3", a.Version, a.Priority, a.ExpiresIn, a.Line)
	}
	if want := (Coupon{DiscountCents: 500, SKUs: []string{"sku-1"}}); !reflect.DeepEqual(a.Coupon, want) {
		t.Errorf("a.Coupon = %+v, want %+v", a.Coupon, want)
	}
	if a.Limits != nil || a.Schedule != nil || a.Holdout != 0 {
		t.Errorf("a: limits, schedule and holdout should be unset")
	}
	if a.kinds != nil {
		t.Errorf("a.kinds = %v, want nil (any kind)", a.kinds)
	}
	if b.ID != "b_2" || b.ExpiresIn != 36*time.Hour || b.Line != 9 || b.Coupon.DiscountPercent != 0 || b.Coupon.DiscountCents != 0 {
		t.Errorf("b = %+v", b)
	}
}

// TestParseErrors is the catalogue of rule file mistakes and what the
// marketer is told about each.
func TestParseErrors(t *testing.T) {
	const tail = "\nchannels: [mobile]\noffer: {title: T}\n"
	tests := []struct {
		name string
		src  string
		want string // every line of the ErrorList
	}{
		{"unknown field", "id: r\nwhen: \"true\"\nchanel: [pos]" + tail,
			"f.yaml:3:1: rule r: unknown field chanel; known fields: id, version, priority, group, when, channels, offer, limits, schedule, holdout"},
		{"unknown offer field", "id: r\nwhen: \"true\"\nchannels: [pos]\noffer:\n  title: T\n  titel: U\n",
			"f.yaml:6:3: rule r: unknown field titel; known fields: title, body, coupon, expires_in"},
		{"missing id", "when: \"true\"" + tail,
			"f.yaml:1:1: missing required field id"},
		{"bad id", "id: Coffee Time\nwhen: \"true\"" + tail,
			`f.yaml:1:5: invalid id "Coffee Time": use lower-case letters, digits, '-' and '_', starting with a letter or digit`},
		{"missing when", "id: r" + tail,
			`f.yaml:1:1: rule r: missing required field when (the condition, e.g. when: swipe.kind == "checkin")`},
		{"missing channels", "id: r\nwhen: \"true\"\noffer: {title: T}\n",
			"f.yaml:1:1: rule r: missing required field channels (a list of mobile, pos, email)"},
		{"bad channel", "id: r\nwhen: \"true\"\nchannels: [mobile, sms]\noffer: {title: T}\n",
			`f.yaml:3:20: rule r: unknown channel "sms"; channels are mobile, pos, email`},
		{"empty channels", "id: r\nwhen: \"true\"\nchannels: []\noffer: {title: T}\n",
			"f.yaml:3:11: rule r: channels must name at least one of mobile, pos, email"},
		{"channels not a list", "id: r\nwhen: \"true\"\nchannels: pos\noffer: {title: T}\n",
			"f.yaml:3:11: rule r: channels must be a list, e.g. [a, b]"},
		{"missing title", "id: r\nwhen: \"true\"\nchannels: [pos]\noffer: {body: B}\n",
			"f.yaml:4:8: rule r: missing required field offer.title"},
		{"version zero", "id: r\nversion: 0\nwhen: \"true\"" + tail,
			"f.yaml:2:10: rule r: version must be from 1 to 2147483647, not 0"},
		{"version past the last", "id: r\nversion: 9223372036854775807\nwhen: \"true\"" + tail,
			"f.yaml:2:10: rule r: version must be from 1 to 2147483647, not 9223372036854775807"},
		{"priority not a number", "id: r\npriority: high\nwhen: \"true\"" + tail,
			`f.yaml:2:11: rule r: priority must be an integer, not "high"`},
		{"discount percent too big", "id: r\nwhen: \"true\"\nchannels: [pos]\noffer: {title: T, coupon: {discount_percent: 120}}\n",
			"f.yaml:4:46: rule r: discount_percent must be 1 to 100, not 120"},
		{"discount cents zero", "id: r\nwhen: \"true\"\nchannels: [pos]\noffer: {title: T, coupon: {discount_cents: 0}}\n",
			"f.yaml:4:44: rule r: discount_cents must be more than 0, not 0"},
		{"both discounts", "id: r\nwhen: \"true\"\nchannels: [pos]\noffer: {title: T, coupon: {discount_percent: 5, discount_cents: 100}}\n",
			"f.yaml:4:65: rule r: coupon has both discount_percent and discount_cents; give only one"},
		{"no discount", "id: r\nwhen: \"true\"\nchannels: [pos]\noffer: {title: T, coupon: {skus: [a]}}\n",
			"f.yaml:4:27: rule r: coupon needs discount_percent (1 to 100) or discount_cents (more than 0)"},
		{"bad expires_in", "id: r\nwhen: \"true\"\nchannels: [pos]\noffer: {title: T, expires_in: 2 weeks}\n",
			`f.yaml:4:31: rule r: offer.expires_in must be a positive duration such as 7d, 4h or 30m, not "2 weeks"`},
		{"bad holdout", "id: r\nwhen: \"true\"\nholdout: 10" + tail,
			`f.yaml:3:10: rule r: holdout must be a percentage from 0% to below 100%, such as 10%, not "10"`},
		{"holdout not a number", "id: r\nwhen: \"true\"\nholdout: NaN%" + tail,
			`f.yaml:3:10: rule r: holdout must be a percentage from 0% to below 100%, such as 10%, not "NaN%"`},
		{"cooldown too long", "id: r\nwhen: \"true\"\nlimits: {cooldown: 213504d}" + tail,
			`f.yaml:3:20: rule r: limits.cooldown must be at most 106751d, not "213504d"`},
		{"bad schedule", "id: r\nwhen: \"true\"\nschedule: {hours: 8-21, days: [mon, funday]}" + tail,
			"f.yaml:3:19: rule r: schedule.hours must look like \"08:00-21:00\", not \"8-21\"\n" +
				`f.yaml:3:37: rule r: unknown day "funday"; days are mon, tue, wed, thu, fri, sat, sun`},
		{"bad limits", "id: r\nwhen: \"true\"\nlimits: {cooldown: soon, max_per_card: {count: 0}}" + tail,
			"f.yaml:3:20: rule r: limits.cooldown must be a positive duration such as 7d, 4h or 30m, not \"soon\"\n" +
				"f.yaml:3:40: rule r: limits.max_per_card needs per (a period such as 30d)\n" +
				"f.yaml:3:48: rule r: limits.max_per_card.count must be at least 1, not 0"},
		{"empty budget", "id: r\nwhen: \"true\"\nlimits: {budget: {}}" + tail,
			"f.yaml:3:18: rule r: limits.budget needs count (offers) or discount_cents (money), or both"},
		{"money budget without a coupon", "id: r\nwhen: \"true\"\nlimits: {budget: {count: 10, discount_cents: 5000}}" + tail,
			"f.yaml:3:46: rule r: limits.budget.discount_cents needs an offer.coupon with a discount: an offer without one spends no money; use limits.budget.count"},
		{"budget zero", "id: r\nwhen: \"true\"\nlimits: {budget: {discount_cents: 0}}" + tail,
			"f.yaml:3:35: rule r: limits.budget.discount_cents must be at least 1, not 0\n" +
				"f.yaml:3:35: rule r: limits.budget.discount_cents needs an offer.coupon with a discount: an offer without one spends no money; use limits.budget.count"},
		{"bad group", "id: r\nwhen: \"true\"\ngroup: Coffee Deals" + tail,
			`f.yaml:3:8: rule r: invalid group "Coffee Deals": use lower-case letters, digits, '-' and '_', starting with a letter or digit`},
		{"cap over history", "id: r\nwhen: \"true\"\nlimits: {max_per_card: {count: 17, per: 30d}}" + tail,
			"f.yaml:3:32: rule r: limits.max_per_card.count must be at most 16 (the sends a profile remembers), not 17"},
		{"empty hours", "id: r\nwhen: \"true\"\nschedule: {hours: \"09:00-09:00\"}" + tail,
			`f.yaml:3:19: rule r: schedule.hours "09:00-09:00" is empty: give different start and end times (an end before the start runs past midnight)`},
		{"hours past midnight", "id: r\nwhen: \"true\"\nschedule: {hours: \"20:00-24:30\"}" + tail,
			`f.yaml:3:19: rule r: schedule.hours ends after 24:00 in "20:00-24:30"`},
		{"bad window literal", `id: r` + "\n" + `when: categorySpend("coffee", "120d") > 0` + tail,
			`f.yaml:2:31: rule r: when: bad window "120d": use "<N>d" with N from 1 to 90, or "lifetime"`},
		{"bad spend window", `id: r` + "\n" + `when: spend("week") > 0` + tail,
			`f.yaml:2:13: rule r: when: bad window "week": use "<N>d" with N from 1 to 90, or "lifetime"`},
		{"unknown kind", `id: r` + "\n" + `when: swipe.kind == "checkout"` + tail,
			`f.yaml:2:21: rule r: when: unknown swipe kind "checkout"; kinds are purchase, checkin, scan, return`},
		{"type error", `id: r` + "\n" + `when: swipe.total_cents > "100"` + tail,
			`f.yaml:2:25: rule r: when: invalid operation: > (mismatched types int64 and string)`},
		{"unknown identifier", `id: r` + "\n" + `when: profile.visits > 3 && basket.Size > 2` + tail,
			`f.yaml:2:29: rule r: when: unknown name basket`},
		{"unknown field of swipe", `id: r` + "\n" + `when: swipe.Total > 3` + tail,
			`f.yaml:2:13: rule r: when: type loyalty.Swipe has no field Total; fields are v, swipe_id, card_id, kind, store_id, aisle, lane, ts, items, total_cents, currency, redeemed_offers`},
		// Conditions use the schema's names; Go's are refused with the right one.
		{"Go field name", `id: r` + "\n" + `when: swipe.TotalCents > 3` + tail,
			`f.yaml:2:13: rule r: when: type loyalty.Swipe has no field TotalCents; did you mean total_cents?`},
		{"camel case", `id: r` + "\n" + `when: profile.spendCents > 3` + tail,
			`f.yaml:2:15: rule r: when: type loyalty.Profile has no field spendCents; did you mean spend_cents?`},
		{"Go field name of an item", `id: r` + "\n" + `when: swipe.items[0].UnitPriceCents > 3` + tail,
			`f.yaml:2:22: rule r: when: type loyalty.Item has no field UnitPriceCents; did you mean unit_price_cents?`},
		{"Go field name in a predicate", `id: r` + "\n" + `when: any(profile.categories, .SpendCents > 3)` + tail,
			`f.yaml:2:32: rule r: when: type loyalty.CategoryStats has no field SpendCents; did you mean spend_cents?`},
		{"bookkeeping field", `id: r` + "\n" + `when: profile.LastOffset > 3` + tail,
			`f.yaml:2:15: rule r: when: type loyalty.Profile has no field LastOffset (it is internal bookkeeping, not visible to rules)`},
		{"bookkeeping field of a category", `id: r` + "\n" + `when: len(profile.categories[0].days) > 3` + tail,
			`f.yaml:2:33: rule r: when: type loyalty.CategoryStats has no field days (it is internal bookkeeping, not visible to rules)`},
		{"not a bool", `id: r` + "\n" + `when: swipe.total_cents` + tail,
			`f.yaml:2:7: rule r: when: expected bool, but got int64`},
		{"wall clock disabled", `id: r` + "\n" + `when: now() > now` + tail,
			`f.yaml:2:7: rule r: when: time.Time is not callable`},
		{"syntax error plain", `id: r` + "\n" + `when: swipe.total_cents >> 3` + tail,
			`f.yaml:2:26: rule r: when: unexpected token Operator(">")`},
		{"syntax error double-quoted with escapes", `id: r` + "\n" + `when: "swipe.store_id == \"s1\" &&& true"` + tail,
			`f.yaml:2:35: rule r: when: unexpected token Operator("&")`},
		{"syntax error single-quoted", `id: r` + "\n" + `when: 'swipe.store_id == ''s1'' ) true'` + tail,
			`f.yaml:2:33: rule r: when: unexpected token Bracket(")")`},
		{"syntax error in | block", "id: r\nwhen: |\n  swipe.kind == \"purchase\"\n    && swipe.total_cents > 100 )" + tail,
			`f.yaml:4:32: rule r: when: unexpected token Bracket(")")`},
		{"type error in > block", "id: r\nwhen: >\n    swipe.kind == \"purchase\" &&\n    swipe.store_id > 3" + tail,
			`f.yaml:4:20: rule r: when: invalid operation: > (mismatched types string and int)`},
		{"template field typo", "id: r\nwhen: \"true\"\nchannels: [pos]\noffer:\n  title: Hi {{ .Profile.FirstName }}\n",
			`f.yaml:5:10: rule r: offer.title: can't evaluate field FirstName in type *loyalty.Profile (at .Profile.FirstName)`},
		{"template field of limits the rule has not", "id: r\nwhen: \"true\"\nchannels: [pos]\noffer:\n  title: Only {{ .Rule.Limits.Budget }} left\n",
			`f.yaml:5:10: rule r: offer.title: nil pointer evaluating *rules.Limits.Budget (at .Rule.Limits.Budget)`},
		{"template syntax", "id: r\nwhen: \"true\"\nchannels: [pos]\noffer:\n  title: T\n  body: \"{{ .Swipe.TotalCents | cent }}\"\n",
			`f.yaml:6:9: rule r: offer.body: function "cent" not defined`},
		// yaml.v3 reports a line but no column.
		{"yaml syntax", "id: r\nchannels: [pos]\n\nwhen: a: b\n",
			"f.yaml:4:1: invalid YAML: mapping values are not allowed in this context"},
		// ... and neither for a character YAML does not allow.
		{"control character", "id: r\nwhen: x\x00\n",
			"f.yaml:2:8: invalid YAML: control character U+0000"},
		{"not UTF-8", "id: r\nwhen: \"caf\xe9 \u00e9\"\n",
			"f.yaml:2:11: invalid YAML: byte 0xe9 is not UTF-8"},
		{"not a mapping", "- id: r\n",
			"f.yaml:1:1: a rule must be a mapping with fields id, version, priority, group, when, channels, offer, limits, schedule, holdout"},
		{"several errors, in order", "id: r\nwhen: swipe.bogus\nchannels: [fax]\noffer: {title: T, coupon: {discount_percent: 0}}\n",
			"f.yaml:2:13: rule r: when: type loyalty.Swipe has no field bogus; fields are v, swipe_id, card_id, kind, store_id, aisle, lane, ts, items, total_cents, currency, redeemed_offers\n" +
				`f.yaml:3:12: rule r: unknown channel "fax"; channels are mobile, pos, email` + "\n" +
				"f.yaml:4:46: rule r: discount_percent must be 1 to 100, not 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Parse("f.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse succeeded with %d rules; want error\n%s", len(rs), tt.want)
			}
			var el ErrorList
			if !errors.As(err, &el) {
				t.Fatalf("error is %T, want ErrorList", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestYAMLParserErrorLine checks the line of the errors yaml.v3's parser,
// not its scanner, finds: the decoder reports their line counting from 0.
func TestYAMLParserErrorLine(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
	}{
		{"unclosed flow list", "id: r\nwhen: \"true\"\nchannels: [mobile\noffer: {title: T}\n", 3},
		{"key indented wrong", "id: r\nwhen: \"true\"\nchannels: [mobile]\noffer:\n  title: T\n body: x\n", 6},
		{"sequence after mapping", "- id: r\nwhen: \"true\"\n", 2},
		{"undefined tag handle on line 1", "id: !x!y r\n", 1},
	}
	for _, tt := range tests {
		_, err := Parse("f.yaml", []byte(tt.src))
		var el ErrorList
		if !errors.As(err, &el) || len(el) != 1 {
			t.Fatalf("%s: err = %v, want one error", tt.name, err)
		}
		if el[0].Line != tt.line {
			t.Errorf("%s: %v: line %d, want %d", tt.name, el[0], el[0].Line, tt.line)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{File: "a.yaml", Line: 3, Col: 7, RuleID: "x", Msg: "m"}, "a.yaml:3:7: rule x: m"},
		{&Error{File: "a.yaml", Line: 3, Col: 7, Msg: "m"}, "a.yaml:3:7: m"},
		{&Error{File: "a.yaml", Msg: "permission denied"}, "a.yaml: permission denied"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"4h", 4 * time.Hour, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"d", 0, false},
		{"-1d", 0, false},
		{"7days", 0, false},
		{"", 0, false},
		{"106751d", 106751 * 24 * time.Hour, true},
		{"106750d24h", 106751 * 24 * time.Hour, true},
		{"106751d1ns", 0, false},
		{"106751d23h48m", 0, false}, // past the longest time.Duration
		{"213504d", 0, false},       // 2⁶⁴ ns and 25 minutes
		{"99999999999999999999d", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseWindow(t *testing.T) {
	for _, w := range []string{"0d", "91d", "7", "d", "-3d", "1w", "Lifetime", ""} {
		if _, err := parseWindow(w); err == nil || !strings.Contains(err.Error(), "bad window") {
			t.Errorf("parseWindow(%q) err = %v, want bad window", w, err)
		}
	}
	for w, want := range map[string]int{"1d": 1, "7d": 7, "90d": 90, "lifetime": 0} {
		if got, err := parseWindow(w); err != nil || got != want {
			t.Errorf("parseWindow(%q) = %d, %v; want %d", w, got, err, want)
		}
	}
}

// TestParseBudget: a budget counts offers, money, or both.
func TestParseBudget(t *testing.T) {
	const head = "id: r\nwhen: \"true\"\nchannels: [mobile]\noffer: {title: T, coupon: {discount_percent: 10}}\n"
	tests := []struct {
		budget string
		want   Limits
	}{
		{"{count: 50000}", Limits{Budget: 50000}},
		{"{discount_cents: 1000000}", Limits{BudgetCents: 1000000}},
		{"{count: 500, discount_cents: 25000}", Limits{Budget: 500, BudgetCents: 25000}},
	}
	for _, tt := range tests {
		rs, err := Parse("b.yaml", []byte(head+"limits: {budget: "+tt.budget+"}\n"))
		if err != nil {
			t.Fatalf("%s: %v", tt.budget, err)
		}
		if got := *rs[0].Limits; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("budget %s: limits %+v, want %+v", tt.budget, got, tt.want)
		}
	}
}
