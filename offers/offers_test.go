package offers_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
)

func TestIDIsStable(t *testing.T) {
	// The expected value was computed outside Go as the first 16 bytes of
	// sha256("coffee-replenish\x003\x00s001-L01-1"). It is a contract with
	// the apps that deduplicate on it: changing the derivation re-sends
	// every offer after an upgrade.
	tests := []struct {
		rule    string
		version int
		swipe   string
		want    string
	}{
		{"coffee-replenish", 3, "s001-L01-1", "9098fb986abedc9ba71a88f6c1589951"},
	}
	for _, tt := range tests {
		got := offers.ID(tt.rule, tt.version, tt.swipe)
		if got != offers.ID(tt.rule, tt.version, tt.swipe) {
			t.Fatal("ID is not deterministic")
		}
		if got != tt.want {
			t.Errorf("ID(%s, %d, %s) = %s, want %s", tt.rule, tt.version, tt.swipe, got, tt.want)
		}
	}
	distinct := map[string]bool{}
	for _, in := range [][3]any{{"a", 1, "s"}, {"a", 2, "s"}, {"b", 1, "s"}, {"a", 1, "t"}, {"a", 11, ""}, {"a1", 1, ""}} {
		distinct[offers.ID(in[0].(string), in[1].(int), in[2].(string))] = true
	}
	if len(distinct) != 6 {
		t.Fatalf("rule, version and swipe must each change the id; got %d distinct of 6", len(distinct))
	}
}

func TestCouponCode(t *testing.T) {
	id := offers.ID("r", 1, "s")
	code := offers.CouponCode(id)
	if !regexp.MustCompile(`^[A-HJ-NP-Z2-9]{10}$`).MatchString(code) {
		t.Fatalf("code %q is not ten unambiguous characters", code)
	}
	if code != offers.CouponCode(id) || code == offers.CouponCode(offers.ID("r", 2, "s")) {
		t.Fatal("codes must be stable per offer and differ between offers")
	}
}

const rule = `
id: thanks
version: 2
when: swipe.kind == "purchase"
channels: [mobile]
offer:
  title: "Thanks, {{ .Swipe.StoreID }}"
  body: "You spent {{ cents .Swipe.TotalCents }}."
  coupon: { discount_percent: 15, categories: [coffee] }
  expires_in: 2d
`

// hit is the first rule of src and a purchase of 12.34 at 10:00 EST on
// 2026-11-20 by card c-9, swipe sw-1, in store s004, applied to the card's
// profile.
func hit(t testing.TB, src string) (*rules.Rule, *loyalty.Swipe, *loyalty.Profile) {
	t.Helper()
	rs, err := rules.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 20, 10, 0, 0, 0, time.FixedZone("", -5*3600))
	s := &loyalty.Swipe{V: 1, SwipeID: "sw-1", CardID: "c-9", Kind: loyalty.KindPurchase, StoreID: "s004", TS: ts,
		Items: []loyalty.Item{{SKU: "coffee-1", Category: "coffee", Qty: 1, UnitPriceCents: 1234}}, TotalCents: 1234}
	p := loyalty.NewProfile("c-9")
	p.Apply(s)
	return rs[0], s, p
}

func TestBuild(t *testing.T) {
	r, s, p := hit(t, rule)
	ts := s.TS
	o, err := offers.Build(r, "mobile", s, p)
	if err != nil {
		t.Fatal(err)
	}
	want := loyalty.Offer{
		OfferID: offers.ID("thanks", 2, "sw-1"), CardID: "c-9", RuleID: "thanks", RuleVersion: 2, Channel: "mobile",
		Title: "Thanks, s004", Body: "You spent 12.34.",
		Coupon:  loyalty.Coupon{Code: offers.CouponCode(offers.ID("thanks", 2, "sw-1")), DiscountPercent: 15, Categories: []string{"coffee"}},
		StoreID: "s004", TriggerSwipeID: "sw-1", CreatedAt: ts, ExpiresAt: ts.Add(48 * time.Hour),
	}
	a, _ := json.Marshal(o)
	b, _ := json.Marshal(want)
	if string(a) != string(b) {
		t.Fatalf("built\n %s\nwant\n %s", a, b)
	}
	enc, err := offers.Encode(&o)
	if err != nil || string(enc) != string(a) {
		t.Fatalf("Encode: %s, %v", enc, err)
	}
}

// TestCouponCodeOfAnyString: ids that are not 32 hex digits (longer, odd,
// short, not hex) still get a stable ten-character code from the alphabet.
func TestCouponCodeOfAnyString(t *testing.T) {
	long := offers.ID("r", 1, "s") + offers.ID("r", 2, "s") + "ab"
	for _, id := range []string{"", "abc", "0123456789abcd", "0123456789abc", long, long + "x", "not hex at all, ü"} {
		code := offers.CouponCode(id)
		if len(code) != 10 || strings.ContainsAny(code, "IO01") || code != offers.CouponCode(id) {
			t.Errorf("CouponCode(%q) = %q", id, code)
		}
	}
	if offers.CouponCode("0123456789abcd") != offers.CouponCode("0123456789abcdef") {
		t.Error("two hex ids with the same first seven bytes got different codes")
	}
}
