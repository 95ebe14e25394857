package engine

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/possim"
)

func sampleProfile() *loyalty.Profile {
	p := loyalty.NewProfile("card-42")
	t0 := time.Date(2026, 8, 1, 9, 0, 0, 0, time.FixedZone("", -5*3600))
	for i := 0; i < 40; i++ {
		s := &loyalty.Swipe{SwipeID: fmt.Sprint("s", i), CardID: "card-42", Kind: loyalty.KindPurchase, StoreID: "st", TS: t0.Add(time.Duration(i) * 53 * time.Hour)}
		for j, cat := range []string{"coffee", "dairy", "bakery", "produce"}[:1+i%4] {
			s.Items = append(s.Items, loyalty.Item{SKU: fmt.Sprintf("%s-%d", cat, (i+j)%7), Category: cat, Qty: int64(1 + j), UnitPriceCents: int64(199 + 100*j)})
			s.TotalCents += int64(1+j) * int64(199+100*j)
		}
		p.Apply(s)
		p.LastOffset = int64(1000 + i)
	}
	p.Offers = []loyalty.OfferHistory{
		{RuleID: "big-basket", Sent: []int64{1786000000, 1786400000, 1787000000}, Forgot: 1785000000},
		{RuleID: "coffee-replenish", Sent: []int64{1786500000}, Held: 4},
		{RuleID: "measured", Held: 1},
	}
	return p
}

func TestProfileCodecRoundTrip(t *testing.T) {
	late := sampleProfile()
	late.FirstSeen, late.LastSeen = -1<<63, 1<<63-1
	late.SKUs[0].LastBought, late.SKUs[1].LastBought = -1<<63, 1<<63-1 // time deltas beyond int64
	for _, p := range []*loyalty.Profile{loyalty.NewProfile("empty"), sampleProfile(), late} {
		enc := AppendProfile(nil, p)
		got, err := DecodeProfile(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("round trip changed the profile:\n got %+v\nwant %+v", got, p)
		}
		checkAtRest(t, enc, got)
		// A record of format 3, as changelogs written before format 4
		// hold, reads as the same profile.
		old := appendFormat3(nil, p)
		if got, err := DecodeProfile(old); err != nil || !reflect.DeepEqual(got, p) {
			t.Fatalf("format 3 record read as %+v, %v; want %+v", got, err, p)
		}
		checkAtRest(t, old, got)
	}
	p := sampleProfile()
	n := len(AppendProfile(nil, p))
	if hint := EncodedSizeHint(p); hint < n {
		t.Errorf("size hint %d below the encoding's %d bytes", hint, n)
	}
	t.Logf("realistic profile: %d bytes encoded (format 3: %d)", n, len(appendFormat3(nil, p)))
}

// A decoded profile's category histories share one array; growing one of
// them must not overwrite the next.
func TestDecodedCategoryDaysGrowApart(t *testing.T) {
	p, err := DecodeProfile(AppendProfile(nil, sampleProfile()))
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(p.Categories[1].Days)
	p.Apply(&loyalty.Swipe{SwipeID: "new", CardID: p.CardID, Kind: loyalty.KindPurchase, StoreID: "st",
		TS:    time.Unix(p.LastSeen, 0).Add(24 * time.Hour).In(time.FixedZone("", -5*3600)),
		Items: []loyalty.Item{{SKU: "x", Category: p.Categories[0].Name, Qty: 1, UnitPriceCents: 100}}, TotalCents: 100})
	if !reflect.DeepEqual(p.Categories[1].Days, want) {
		t.Fatalf("appending to %s changed the days of %s", p.Categories[0].Name, p.Categories[1].Name)
	}
}

// A profile stored and read back, as the engine does on a cache miss, and
// then changed by more swipes, as on the cache hits after it, encodes
// exactly as the same profile kept in memory throughout: the room the
// decoder leaves for growth (spare categories, SKUs and days, the category
// histories sharing one array) never changes what later swipes make of it,
// and the changelog bytes stay the same.
func TestStoredProfileAppliesLikeTheOriginal(t *testing.T) {
	store := NewMemStore(nil)                    // no cache: every Get decodes the at-rest form
	decoded := make(map[string]*loyalty.Profile) // read back from store, then changed in place
	simulate(t, 11, 40, func(n int, s *loyalty.Swipe, want *loyalty.Profile) {
		got := decoded[s.CardID]
		if got == nil || n%4 == 0 { // a miss: read it back
			var err error
			if got, err = store.Get(s.CardID); err != nil {
				t.Fatal(err)
			}
			if got == nil {
				got = loyalty.NewProfile(s.CardID)
			}
			decoded[s.CardID] = got
		}
		want.Apply(s)
		got.Apply(s)
		enc, fresh := AppendProfile(nil, got), AppendProfile(nil, want)
		if !slices.Equal(enc, fresh) {
			t.Fatalf("swipe %d (%s): the stored profile encodes as\n%x\nthe one kept in memory as\n%x", n, s.SwipeID, enc, fresh)
		}
		if err := store.Put(s.CardID, enc, got); err != nil {
			t.Fatal(err)
		}
	})
}

// simulate runs about 120 days of a chain of cards through f, swipe by
// swipe (past the history horizon, so that histories are pruned too),
// with the nth swipe's card's profile as kept in memory from its first
// swipe on; f applies the swipe to it. It returns those profiles by card.
func simulate(t *testing.T, seed int64, cards int, f func(n int, s *loyalty.Swipe, kept *loyalty.Profile)) map[string]*loyalty.Profile {
	t.Helper()
	start := time.Date(2026, 8, 3, 8, 0, 0, 0, time.UTC)
	g := possim.New(possim.Config{Seed: seed, Cards: cards, Start: start})
	kept := make(map[string]*loyalty.Profile)
	end := start.AddDate(0, 0, loyalty.HistoryDays+30)
	n := 0
	for g.Clock().Before(end) {
		s := g.Next().Swipe
		if s == nil {
			continue
		}
		n++
		p := kept[s.CardID]
		if p == nil {
			p = loyalty.NewProfile(s.CardID)
			kept[s.CardID] = p
		}
		f(n, s, p)
	}
	if n < 1000 {
		t.Fatalf("only %d swipes: the test covers too little", n)
	}
	return kept
}

// The pipeline decodes every swipe's profile into one room, whose lists
// the previous profile used and may have grown: profiles of cards big and
// small, one after another, with offer histories, each changed and stored
// before the next is read, encode exactly as the same profiles kept in
// memory throughout. Nothing of one profile shows in the next.
func TestRoomDecodesLikeAFreshProfile(t *testing.T) {
	store := newMemStore(&ProfileCache{})
	var room profileRoom
	kept := simulate(t, 12, 60, func(n int, s *loyalty.Swipe, want *loyalty.Profile) {
		got, err := store.getInto(s.CardID, &room)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil {
			got = room.fresh(s.CardID)
		}
		if enc, fresh := AppendProfile(nil, got), AppendProfile(nil, want); !slices.Equal(enc, fresh) {
			t.Fatalf("swipe %d (%s): decoded into the room as\n%x\nkept in memory as\n%x", n, s.SwipeID, enc, fresh)
		}
		for _, p := range []*loyalty.Profile{want, got} {
			p.Apply(s)
			// Offer histories of a few rules, some of whose ids are
			// longer than the decoder's buffer, and sends that grow.
			if n%3 == 0 {
				h := p.AddOffered(fmt.Sprintf("rule-%d%s", n%7, strings.Repeat("x", n%5*20)))
				h.Sent = append(h.Sent, s.TS.Unix())
				if len(h.Sent) > loyalty.MaxOfferSends {
					h.Forgot, h.Sent = h.Sent[0], h.Sent[1:]
				}
			}
		}
		enc := AppendProfile(nil, got)
		if fresh := AppendProfile(nil, want); !slices.Equal(enc, fresh) {
			t.Fatalf("swipe %d (%s): changed in the room it encodes as\n%x\nkept in memory as\n%x", n, s.SwipeID, enc, fresh)
		}
		if err := store.Put(s.CardID, enc, got); err != nil {
			t.Fatal(err)
		}
	})
	cards := slices.Sorted(maps.Keys(kept))
	i := 0
	if allocs := testing.AllocsPerRun(len(cards), func() {
		if _, err := store.getInto(cards[i%len(cards)], &room); err != nil {
			t.Fatal(err)
		}
		i++
	}); allocs != 0 && !raceEnabled { // the room has grown to the largest profile
		t.Errorf("a decode into a room allocates %.1f times", allocs)
	}
}

// putVarint writes what binary.PutVarint writes.
func TestPutVarint(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, -8193, 1 << 40, -1 << 63, 1<<63 - 1} {
		got, want := make([]byte, binary.MaxVarintLen64), make([]byte, binary.MaxVarintLen64)
		got = got[:putVarint(got, 0, v)]
		want = want[:binary.PutVarint(want, v)]
		if !slices.Equal(got, want) {
			t.Errorf("putVarint(%d) = %x, want %x", v, got, want)
		}
	}
}

// format1 is a changelog record written before offer histories existed
// (format 1, by the encoder of that time): card-7 after one purchase of two
// coffee-1 at 4.50 on 2026-08-01 09:00 -05:00, at offset 12.
const format1 = "0106636172642d37c0efefa60dc0efefa60d020000880e0000f4c202001801f4c202880e0106636f66666565880e04c0efefa60d01f4c202880e0108636f666665652d3104c0efefa60d0149d178b507ffd808"

func TestDecodeProfileFormat1(t *testing.T) {
	data, _ := hex.DecodeString(format1)
	got, err := DecodeProfile(data)
	if err != nil {
		t.Fatal(err)
	}
	want := loyalty.NewProfile("card-7")
	want.Apply(&loyalty.Swipe{SwipeID: "s1", CardID: "card-7", Kind: loyalty.KindPurchase, StoreID: "st",
		TS:    time.Date(2026, 8, 1, 9, 0, 0, 0, time.FixedZone("", -5*3600)),
		Items: []loyalty.Item{{SKU: "coffee-1", Category: "coffee", Qty: 2, UnitPriceCents: 450}}, TotalCents: 900})
	want.LastOffset = 12
	// Format 1 knew nothing of these; they start counting afresh.
	want.Stores, want.MaxBasket = nil, 0
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("format 1 decoded as\n %+v\nwant\n %+v", got, want)
	}
	// Written back, it is in the current format and keeps everything.
	again := AppendProfile(nil, got)
	if again[0] != profileFormat {
		t.Errorf("re-encoded in format %d, want %d", again[0], profileFormat)
	}
	if p, err := DecodeProfile(again); err != nil || !reflect.DeepEqual(p, want) {
		t.Errorf("format 1 profile re-encoded: %+v, %v", p, err)
	}
}

// format2 is a changelog record of format 2, by the encoder of that time:
// card-9 after two purchases at store st (2026-08-01 09:00 -05:00 two
// coffee-1 at 4.50 and milk-2 at 1.99; 2026-08-04 18:30 one coffee-1), at
// offset 31, with one held-out send of coffee-replenish.
const format2 = "0206636172642d39c0efefa60df0d793a70d0400009a180000fac202003e02f4c20296110684070206636f666665658c1506f0d793a70d02f4c202880e0684070564616972798e0302c0efefa60d01f4c2028e030208636f666665652d3106f0d793a70d066d696c6b2d3202c0efefa60d0249d178b507ffd80830cc78b507fcd8080110636f666665652d7265706c656e697368020001c0879aa70d"

func TestDecodeProfileFormat2(t *testing.T) {
	data, _ := hex.DecodeString(format2)
	got, err := DecodeProfile(data)
	if err != nil {
		t.Fatal(err)
	}
	z := time.FixedZone("", -5*3600)
	want := loyalty.NewProfile("card-9")
	want.Apply(&loyalty.Swipe{SwipeID: "s1", CardID: "card-9", Kind: loyalty.KindPurchase, StoreID: "st",
		TS:    time.Date(2026, 8, 1, 9, 0, 0, 0, z),
		Items: []loyalty.Item{{SKU: "coffee-1", Category: "coffee", Qty: 2, UnitPriceCents: 450}, {SKU: "milk-2", Category: "dairy", Qty: 1, UnitPriceCents: 199}}, TotalCents: 1099})
	want.Apply(&loyalty.Swipe{SwipeID: "s2", CardID: "card-9", Kind: loyalty.KindPurchase, StoreID: "st",
		TS:    time.Date(2026, 8, 4, 18, 30, 0, 0, z),
		Items: []loyalty.Item{{SKU: "coffee-1", Category: "coffee", Qty: 1, UnitPriceCents: 450}}, TotalCents: 450})
	want.LastOffset = 31
	want.Offers = []loyalty.OfferHistory{{RuleID: "coffee-replenish", Sent: []int64{1785938400}, Held: 1}}
	// Derived from the old record: units, the latest visit, a visit per
	// day. Not derivable, so counted from the next purchase on: stores and
	// the largest basket.
	want.Stores, want.MaxBasket = nil, 0
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("format 2 decoded as\n %+v\nwant\n %+v", got, want)
	}
	again := AppendProfile(nil, got)
	if p, err := DecodeProfile(again); err != nil || !reflect.DeepEqual(p, want) {
		t.Errorf("format 2 profile re-encoded: %+v, %v", p, err)
	}
}

func TestDecodeProfileRejectsCorruption(t *testing.T) {
	enc := AppendProfile(nil, sampleProfile())
	v1, _ := hex.DecodeString(format1)
	v2, _ := hex.DecodeString(format2)
	v3 := appendFormat3(nil, sampleProfile())
	for _, bad := range [][]byte{nil, {9}, {4}, {3}, enc[:len(enc)/2], enc[:len(enc)-1], append(append([]byte(nil), enc...), 0),
		append(append([]byte(nil), v1...), 0), append([]byte{profileFormat}, v1[1:]...),
		append([]byte{profileFormat}, v2[1:]...), append([]byte{profileFormat2}, enc[1:]...),
		v3[:len(v3)-1], append([]byte{profileFormat}, v3[1:]...), append([]byte{profileFormat3}, enc[1:]...)} {
		if _, err := DecodeProfile(bad); err == nil {
			t.Errorf("accepted corrupt encoding of %d bytes", len(bad))
		}
	}
}

// Swipes within the decoder's limits (1,000 items, names of 256 bytes)
// cannot build a profile whose record DecodeProfile refuses: a profile
// keeps at most loyalty.TopCategories categories, whose names fit
// maxNamesLen.
func TestManyLongCategoriesRoundTrip(t *testing.T) {
	if maxNames := loyalty.TopCategories * DefaultLimits.MaxIDSize; maxNames > maxNamesLen {
		t.Fatalf("names of a full profile take up to %d bytes, more than a record may hold (%d)", maxNames, maxNamesLen)
	}
	p := loyalty.NewProfile("card-1")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	pad := strings.Repeat("x", DefaultLimits.MaxIDSize-10)
	for n := range 5 {
		s := &loyalty.Swipe{V: 1, SwipeID: fmt.Sprint("s", n), CardID: p.CardID, Kind: loyalty.KindPurchase, StoreID: "s1", TS: t0.Add(time.Duration(n) * time.Hour)}
		for i := range DefaultLimits.MaxItems {
			s.Items = append(s.Items, loyalty.Item{SKU: "k", Category: fmt.Sprintf("%s%010d", pad, n*DefaultLimits.MaxItems+i), Qty: 1, UnitPriceCents: 1})
			s.TotalCents++
		}
		p.Apply(s)
	}
	rec := AppendProfile(nil, p)
	got, err := DecodeProfile(rec)
	if err != nil {
		t.Fatalf("profile of %d categories encoded as %d bytes does not decode: %v", len(p.Categories), len(rec), err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Fatal("decoded as a different profile")
	}
	checkAtRest(t, rec, p)
}

// DecodeProfile rejects a number written in a longer code than the
// writer's whose value passes 64 bits: read on, it would wrap round to an
// ordinary value, and a profile would have two encodings. Here FirstSeen
// 0 (order 32) is written with 32 leading zeros, q = 2^32+1, so that
// (q-1)<<32 wraps to 0.
func TestDecodeProfileRejectsOverlongCode(t *testing.T) {
	p := loyalty.NewProfile("x")
	enc := AppendProfile(nil, p)
	lead := len(appendLead([]byte{profileFormat}, p)) // no names: the body follows
	r := bitReader{b: enc[lead:]}
	if r.bits(33) != 1 { // FirstSeen 0 as written: a one, then 32 zeros
		t.Fatal("unexpected body")
	}
	w := bitWriter{buf: append([]byte(nil), enc[:lead]...)}
	w.bits(0, 32)
	w.bits(1, 1)
	w.bits(1, 32)
	w.bits(0, 32)
	for r.left() > 0 {
		w.bits(r.bits(1), 1)
	}
	bad := w.done()
	if got, err := DecodeProfile(bad); err == nil {
		t.Fatalf("accepted a %d-byte record that encodes again as %d bytes (FirstSeen %d)",
			len(bad), len(AppendProfile(nil, got)), got.FirstSeen)
	}
}

// checkAtRest fails t unless p, decoded from enc, comes back the same
// from the at-rest form, by every way there: from enc, as a restore's
// compaction takes it; from p and its format 4 record, as a pipeline
// stores it; and from p alone.
func checkAtRest(t *testing.T, enc []byte, p *loyalty.Profile) {
	t.Helper()
	var table nameTable
	rest, err := toAtRest(nil, enc, &table)
	if err != nil {
		t.Fatalf("record %x: %v", enc, err)
	}
	if again := table.appendProfile(nil, p); string(again) != string(rest) {
		t.Fatalf("at rest from the profile %x, from its record %x", again, rest)
	}
	if again := table.fromRecord(nil, AppendProfile(nil, p), p); string(again) != string(rest) {
		t.Fatalf("at rest from the profile and its format 4 record %x, from its record %x", again, rest)
	}
	got, err := decodeAtRest(rest, &table)
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("at rest as %x and back: %+v, %v; want %+v", rest, got, err, p)
	}
}

// The at-rest form reads anything it is given without panicking, and what
// it reads is a profile it can store again. Read into a room that every
// input of the run shares, as a pipeline's is, it reads the same: refused
// alike, or stored as the same bytes.
func FuzzDecodeAtRest(f *testing.F) {
	var table nameTable
	var room profileRoom
	for _, p := range []*loyalty.Profile{sampleProfile(), loyalty.NewProfile("x")} {
		f.Add(table.appendProfile(nil, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 0 {
			data = append([]byte{profileAtRest}, data[1:]...) // the input is not ours to change
		}
		p, err := decodeAtRest(data, &table)
		inRoom, roomErr := decodeInto(data, &table, &room, "x")
		if (err == nil) != (roomErr == nil) {
			t.Fatalf("%x: read alone: %v; read into the room: %v", data, err, roomErr)
		}
		if err != nil {
			return
		}
		again := table.appendProfile(nil, p)
		if fromRoom := table.appendProfile(nil, inRoom); string(fromRoom) != string(again) {
			t.Fatalf("%x: read alone and stored as %x; read into the room and stored as %x", data, again, fromRoom)
		}
		if q, err := decodeAtRest(again, &table); err != nil || !reflect.DeepEqual(q, p) {
			t.Fatalf("%x read as %+v, stored as %x, read back as %+v, %v", data, p, again, q, err)
		}
	})
}

func FuzzDecodeProfile(f *testing.F) {
	f.Add(AppendProfile(nil, sampleProfile()))
	f.Add(AppendProfile(nil, loyalty.NewProfile("x")))
	f.Add(appendFormat3(nil, sampleProfile()))
	f.Add(appendFormat3(nil, loyalty.NewProfile("x")))
	v1, _ := hex.DecodeString(format1)
	f.Add(v1)
	v2, _ := hex.DecodeString(format2)
	f.Add(v2)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeProfile(data)
		// What a restore's compaction makes of the record: refused as
		// DecodeProfile refuses it, or the same profile. Compaction copies
		// a format 4 record's body without reading it, so one it accepts
		// may still fail, but then where it is read, as DecodeProfile
		// fails on it.
		var table nameTable
		rest, restErr := toAtRest(nil, data, &table)
		switch {
		case restErr == nil:
			q, restErr := decodeAtRest(rest, &table)
			if (restErr == nil) != (err == nil) || (err == nil && !reflect.DeepEqual(q, p)) {
				t.Fatalf("%x: at rest as %x, read back as %+v, %v; DecodeProfile read %+v, %v", data, rest, q, restErr, p, err)
			}
		case err == nil:
			t.Fatalf("%x: DecodeProfile reads it, toAtRest says %v", data, restErr)
		}
		if err != nil {
			return
		}
		again := AppendProfile(nil, p)
		checkAtRest(t, again, p)
		if data[0] == profileFormat3 {
			// Format 3 too has one encoding per profile.
			if old := appendFormat3(nil, p); string(old) != string(data) {
				t.Fatalf("format 3 decode/encode not stable: %x vs %x", old, data)
			}
		}
		if data[0] != profileFormat {
			// An old record is rewritten in the current format and keeps
			// all it had.
			q, err := DecodeProfile(again)
			if err != nil || !reflect.DeepEqual(q, p) {
				t.Fatalf("old record %x: re-encoded as %x, decoded %+v, %v; want %+v", data, again, q, err, p)
			}
			return
		}
		// Whatever decodes must encode back to the same bytes.
		if string(again) != string(data) {
			t.Fatalf("decode/encode not stable: %x vs %x", again, data)
		}
	})
}
