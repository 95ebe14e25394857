package offers_test

import (
	"encoding/json"
	"math/rand"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/offers"
)

// TestAppendOfferMatchesEncodingJSON: the hand-written encoder writes, byte
// for byte, what json.Marshal writes for the same offer, so the two can
// never drift: apps parse these bytes, and offer_id and every other field
// must read the same whichever encoder wrote them. The offers cover strings
// that need escapes (quotes, control characters, HTML, U+2028, broken
// UTF-8), unicode, empty and nil fields, zero and negative numbers, and
// times in several zones.
func TestAppendOfferMatchesEncodingJSON(t *testing.T) {
	texts := []string{"", "Thanks, friend", `say "hi" \ bye`, "line\nbreak\ttab\r\b\f\x00\x1f\x7f",
		"<b>20% off</b> & more", "Café crème, 日本茶, 🎉", "\u2028\u2029", "bad \xff\xfe utf8", "cut \xe2\x82"}
	zones := []*time.Location{time.UTC, time.FixedZone("", -5*3600), time.FixedZone("", 5*3600+1800), time.FixedZone("CET", 3600)}
	rng := rand.New(rand.NewSource(1))
	pick := func() string { return texts[rng.Intn(len(texts))] }
	picks := func() []string {
		switch rng.Intn(3) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		ss := make([]string, 1+rng.Intn(3))
		for i := range ss {
			ss[i] = pick()
		}
		return ss
	}
	var all []loyalty.Offer
	all = append(all, loyalty.Offer{}) // every field empty or zero
	for i := 0; i < 500; i++ {
		ts := time.Date(2026, 12, 1, 10, 0, 0, rng.Intn(3)*int(time.Millisecond)/2, zones[rng.Intn(len(zones))])
		id := offers.ID(pick(), rng.Intn(5), pick())
		all = append(all, loyalty.Offer{
			OfferID: id, CardID: pick(), RuleID: pick(), RuleVersion: rng.Intn(5) - 1, Channel: pick(),
			Title: pick(), Body: pick(),
			Coupon: loyalty.Coupon{Code: offers.CouponCode(id), DiscountPercent: rng.Intn(3) * 10, DiscountCents: int64(rng.Intn(3)-1) * 250,
				SKUs: picks(), Categories: picks()},
			StoreID: pick(), TriggerSwipeID: pick(), CreatedAt: ts, ExpiresAt: ts.Add(time.Duration(rng.Intn(100)) * time.Hour),
		})
	}
	for i := range all {
		o := &all[i]
		want, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		got, err := offers.AppendOffer([]byte("prefix"), o)
		if err != nil {
			t.Fatalf("AppendOffer(%+v): %v", o, err)
		}
		if string(got) != "prefix"+string(want) {
			t.Fatalf("AppendOffer\n %s\njson.Marshal\n prefix%s", got, want)
		}
	}
}

// TestAppendOfferFailsLikeEncodingJSON: a time that RFC 3339 cannot express
// is an error, as it is for json.Marshal, never a malformed offer.
func TestAppendOfferFailsLikeEncodingJSON(t *testing.T) {
	o := loyalty.Offer{OfferID: "o", CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ExpiresAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := json.Marshal(&o); err == nil {
		t.Fatal("json.Marshal accepted year 10000")
	}
	if b, err := offers.AppendOffer([]byte("prefix"), &o); err == nil || string(b) != "prefix" {
		t.Fatalf("AppendOffer accepted year 10000 or kept a partial offer: %s, %v", b, err)
	}
}

// BenchmarkOffer measures what the engine does for each rule that wins a
// swipe: build the offer and append its wire form to a reused buffer.
// encoding-json is the same with json.Marshal, which it replaced.
func BenchmarkOffer(b *testing.B) {
	r, s, p := hit(b, benchRule)
	for _, bm := range []struct {
		name   string
		encode func([]byte, *loyalty.Offer) ([]byte, error)
	}{
		{"append", offers.AppendOffer},
		{"encoding-json", func(_ []byte, o *loyalty.Offer) ([]byte, error) { return json.Marshal(o) }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				o, err := offers.Build(r, loyalty.ChannelMobile, s, p)
				if err != nil {
					b.Fatal(err)
				}
				if buf, err = bm.encode(buf[:0], &o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

const benchRule = `
id: gen-00012
when: 'swipe.kind == "purchase"'
channels: [mobile]
offer:
  title: "Offer 12 for {{ .Swipe.CardID }}"
  coupon: { discount_percent: 15, categories: [coffee] }
`
