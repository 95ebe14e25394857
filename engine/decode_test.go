package engine

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/possim"
)

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

const goodSwipe = `{"v":1,"swipe_id":"s-1","card_id":"c-1","kind":"purchase","store_id":"st-1",
 "ts":"2026-11-25T10:00:00-05:00","items":[{"sku":"coffee-1","category":"coffee","qty":2,"unit_price_cents":899},
 {"sku":"milk-1","category":"dairy","qty":1,"unit_price_cents":250}],"total_cents":2048,"currency":"USD"}`

// edit returns goodSwipe with old replaced by new.
func edit(old, new string) string {
	if !strings.Contains(goodSwipe, old) {
		panic("edit: " + old + " not in goodSwipe")
	}
	return strings.Replace(goodSwipe, old, new, 1)
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct{ name, key, value string }{
		{"purchase", "c-1", goodSwipe},
		{"unknown fields are kept for forward compatibility", "c-1", edit(`"currency":"USD"`, `"currency":"USD","loyalty_tier":"gold"`)},
		{"UTC zone", "c-1", edit("2026-11-25T10:00:00-05:00", "2026-11-25T15:00:00Z")},
		{"checkin without money", "c-1", `{"v":1,"swipe_id":"s-2","card_id":"c-1","kind":"checkin","store_id":"st-1","ts":"2026-11-25T10:00:00-05:00","total_cents":0}`},
		{"a day ahead is clock skew", "c-1", edit("2026-11-25T10:00:00-05:00", "2026-11-27T06:00:00-05:00")},
		{"U+FFFD itself, escaped and not", "c-1", edit(`"swipe_id":"s-1"`, `"swipe_id":"s-\ufffd-\uFFFD-�"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Decode([]byte(tt.key), []byte(tt.value), testNow, DefaultLimits)
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if s.CardID != "c-1" || s.TS.IsZero() {
				t.Fatalf("decoded %+v", s)
			}
		})
	}
	s, _ := Decode([]byte("c-1"), []byte(goodSwipe), testNow, DefaultLimits)
	if _, off := s.TS.Zone(); off != -5*3600 || s.TotalCents != 2048 || len(s.Items) != 2 {
		t.Fatalf("purchase decoded wrong: zone offset %d, %+v", off, s)
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name, key, value string
		reason, msg      string
	}{
		{"empty", "c-1", "", "empty", "empty message"},
		{"oversized", "c-1", edit(`"currency":"USD"`, `"currency":"USD","aisle":"`+strings.Repeat("x", MaxSwipeBytes)+`"`), "oversized", "bytes, limit 1048576"},
		{"too many redemptions", "c-1", edit(`"currency":"USD"`, `"currency":"USD","redeemed_offers":[`+strings.TrimSuffix(strings.Repeat(`"0123456789abcdef0123456789abcdef",`, 1001), ",")+`]`), "oversized", "1001 redeemed_offers, limit 1000"},
		{"malformed JSON", "c-1", goodSwipe[:40], "malformed", "malformed JSON: unexpected end of JSON input"},
		{"not an object", "c-1", `[1,2]`, "malformed", "malformed JSON"},
		{"missing version", "c-1", edit(`"v":1,`, ``), "version", `missing schema version "v"`},
		{"unknown version", "c-1", edit(`"v":1`, `"v":2`), "version", "unknown schema version v=2 (this engine reads v=1)"},
		{"missing swipe id", "c-1", edit(`"swipe_id":"s-1"`, `"swipe_id":""`), "missing-id", "missing swipe_id"},
		{"missing card id", "", edit(`"card_id":"c-1"`, `"card_id":" "`), "missing-id", "missing card_id"},
		{"missing store id", "c-1", edit(`"store_id":"st-1",`, ``), "missing-id", "missing store_id"},
		{"key mismatch", "c-2", goodSwipe, "key-mismatch", `Kafka key "c-2" does not match card_id "c-1"`},
		{"bad kind", "c-1", edit(`"kind":"purchase"`, `"kind":"refund"`), "kind", `unknown kind "refund"`},
		{"missing ts", "c-1", edit(`"ts":"2026-11-25T10:00:00-05:00",`, ``), "time", "missing ts"},
		{"no zone", "c-1", edit("2026-11-25T10:00:00-05:00", "2026-11-25T10:00:00"), "time", "has no time zone"},
		{"not a time", "c-1", edit("2026-11-25T10:00:00-05:00", "yesterday"), "time", `ts "yesterday" is not an RFC 3339 time`},
		{"far past", "c-1", edit("2026-11-25T10:00:00-05:00", "1999-01-01T10:00:00Z"), "time", "days in the past (limit 400 days)"},
		{"far future", "c-1", edit("2026-11-25T10:00:00-05:00", "2099-01-01T10:00:00Z"), "time", "in the future (limit 24h0m0s)"},
		{"negative total", "c-1", edit(`"total_cents":2048`, `"total_cents":-2048`), "amount", "negative total_cents -2048"},
		{"negative price", "c-1", edit(`"unit_price_cents":250`, `"unit_price_cents":-250`), "amount", "item 2 (sku milk-1): negative unit_price_cents -250"},
		{"zero qty", "c-1", edit(`"qty":2`, `"qty":0`), "amount", "item 1 (sku coffee-1): qty 0 must be positive"},
		{"absurd qty", "c-1", edit(`"qty":2`, `"qty":9000000000`), "amount", "qty 9000000000 is implausible"},
		{"total mismatch", "c-1", edit(`"total_cents":2048`, `"total_cents":2000`), "amount", "items sum to 2048 cents but total_cents is 2000"},
		{"purchase without items", "c-1", `{"v":1,"swipe_id":"s-2","card_id":"c-1","kind":"purchase","store_id":"st-1","ts":"2026-11-25T10:00:00-05:00","total_cents":100}`, "amount", "purchase without items"},
		{"checkin with money", "c-1", `{"v":1,"swipe_id":"s-2","card_id":"c-1","kind":"checkin","store_id":"st-1","ts":"2026-11-25T10:00:00-05:00","total_cents":100}`, "amount", "items sum to 0 cents but total_cents is 100"},
		{"item without sku", "c-1", edit(`"sku":"milk-1",`, ``), "item", "item 2: missing sku"},
		{"item without category", "c-1", edit(`"category":"dairy",`, ``), "item", "item 2 (sku milk-1): missing category"},
		{"wrong type", "c-1", edit(`"total_cents":2048`, `"total_cents":"2048"`), "malformed", "malformed JSON"},
		{"null", "c-1", ` null `, "malformed", "not null"},
		// Both would read as "s-\uFFFD" (encoding/json's reading), the
		// same swipe id as a third such swipe of the card's.
		{"swipe id not UTF-8", "c-1", edit(`"swipe_id":"s-1"`, "\"swipe_id\":\"s-\xff\""), "malformed", "not valid UTF-8"},
		{"half a surrogate pair", "c-1", edit(`"store_id":"st-1"`, `"store_id":"st-\ud800"`), "malformed", "not valid UTF-8"},
		{"card id not UTF-8", "c\xff", edit(`"card_id":"c-1"`, "\"card_id\":\"c\xff\""), "malformed", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.key), []byte(tt.value), testNow, DefaultLimits)
			var rej *RejectError
			if !errors.As(err, &rej) {
				t.Fatalf("got %v, want a rejection", err)
			}
			if rej.Reason != tt.reason || !strings.Contains(rej.Msg, tt.msg) {
				t.Fatalf("got %s: %q\nwant %s: containing %q", rej.Reason, rej.Msg, tt.reason, tt.msg)
			}
		})
	}
}

// FuzzDecode checks that no input crashes the decoder, that every failure
// is a RejectError with a reason, and that what it accepts is consistent.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("c-1"), []byte(goodSwipe))
	f.Add([]byte("c-1"), []byte(`{"v":1}`))
	f.Add([]byte(""), []byte(`{"v":1,"swipe_id":"a","card_id":"","kind":"scan","store_id":"x","ts":"2026-11-25T10:00:00Z"}`))
	f.Add([]byte("c-1"), []byte(edit(`"qty":2`, `"qty":4611686018427387904`)))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		s, err := Decode(key, value, testNow, DefaultLimits)
		if err != nil {
			var rej *RejectError
			if !errors.As(err, &rej) || rej.Reason == "" || rej.Msg == "" {
				t.Fatalf("error %v is not a RejectError with reason and message", err)
			}
			return
		}
		if s.CardID != string(key) || s.SwipeID == "" || !s.Kind.Valid() || s.TotalCents < 0 {
			t.Fatalf("accepted an invalid swipe: %+v", s)
		}
		var sum int64
		for _, it := range s.Items {
			sum += it.LineCents()
		}
		if (s.Kind == "purchase" || s.Kind == "return") && sum != s.TotalCents {
			t.Fatalf("accepted items summing to %d with total %d", sum, s.TotalCents)
		}
	})
}

// readerStream is messages on which a reused swipeReader could leak one
// swipe into the next: baskets shrinking and growing, optional fields
// coming and going, repeated keys, and rejects between them.
func readerStream() (keys, values [][]byte) {
	values = [][]byte{
		[]byte(edit(`"currency":"USD"`, `"currency":"USD","aisle":"7","lane":"3","redeemed_offers":["0123456789abcdef0123456789abcdef","x"]`)),
		[]byte(`{"v":1,"swipe_id":"s-2","card_id":"c-1","kind":"checkin","store_id":"st-2","ts":"2026-11-25T10:00:00Z","total_cents":0}`),
		[]byte(edit(`"currency":"USD"`, `"currency":"USD","items":[{"qty":1}],"items":[{"sku":"a","category":"b"},{"sku":"c","category":"d","qty":1}]`)),
		[]byte(edit(`{"sku":"milk-1"`, `{"sku":"milk\u002d1"`)),
		[]byte(edit(`"qty":1`, `"qty":-1`)),
		[]byte(goodSwipe),
		[]byte(edit(`"kind":"purchase"`, `"kind":"scan"`)),
	}
	for range values {
		keys = append(keys, []byte("c-1"))
	}
	g := possim.New(possim.Config{Seed: 1, Cards: 100, BadFraction: 0.2})
	for range 300 {
		m := g.Next()
		keys, values = append(keys, m.Key), append(values, m.Value)
	}
	return keys, values
}

// A reused swipeReader, with or without a names cache, decodes every
// message of a stream exactly as Decode does on its own.
func TestSwipeReaderMatchesDecode(t *testing.T) {
	for _, names := range []*nameCache{nil, newNameCache(nil)} {
		r := swipeReader{names: names}
		keys, values := readerStream()
		for i, v := range values {
			key := keys[i]
			want, wantErr := Decode(key, v, testNow, DefaultLimits)
			got, gotErr := r.read(key, v, testNow, DefaultLimits)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Fatalf("read(%q): error %v, Decode: %v", v, gotErr, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("read(%q):\n%+v\nDecode:\n%+v", v, got, want)
			}
		}
	}
}

// A swipe keeps no memory of its message: the caller may reuse the bytes
// (kafka-go and the fuzzer do) while profiles keep the swipe's names.
func TestDecodedStringsAreOwned(t *testing.T) {
	msg := edit(`"currency":"USD"`, `"currency":"USD","aisle":"7","lane":"3","redeemed_offers":["r-1"]`)
	want, err := Decode([]byte("c-1"), []byte(msg), testNow, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	for _, names := range []*nameCache{nil, newNameCache(nil)} {
		r := swipeReader{names: names}
		key, value := []byte("c-1"), []byte(msg)
		for _, decode := range []func() (*loyalty.Swipe, error){
			func() (*loyalty.Swipe, error) { return Decode(key, value, testNow, DefaultLimits) },
			func() (*loyalty.Swipe, error) { return r.read(key, value, testNow, DefaultLimits) },
		} {
			copy(value, msg)
			s, err := decode()
			if err != nil {
				t.Fatal(err)
			}
			got := *s
			got.Items = slices.Clone(s.Items)
			for i := range value {
				value[i] = 'x'
			}
			if !reflect.DeepEqual(&got, want) {
				t.Fatalf("after the message bytes changed, the swipe is\n%+v\nwant\n%+v", &got, want)
			}
		}
	}
}

// The names cache hands out one shared copy of each name it holds, and a
// name whose slot another name took is copied again, never lost.
func TestNameCacheInterns(t *testing.T) {
	c := newNameCache(nil)
	buf := []byte("coffee-0007")
	a := c.intern(viewString(buf))
	b := c.intern(string(buf))
	if a != "coffee-0007" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatalf("intern gave %q and %q, want one shared copy", a, b)
	}
	copy(buf, "tea-0001000")
	if a != "coffee-0007" {
		t.Fatalf("interned name aliases its input: %q", a)
	}
	for i := range 5 * nameSlots { // more names than slots
		name := fmt.Sprintf("sku-%d", i)
		if got := c.intern(name); got != name {
			t.Fatalf("intern(%q) = %q", name, got)
		}
	}
}

// With the store's name table behind it, the cache interns a name the
// table holds as the table's own copy, whose id storing a profile finds
// by its address, and a name the table does not hold as a copy of its
// own, without adding it: only stored profiles grow the table.
func TestNameCacheSharesTheTablesNames(t *testing.T) {
	var tab nameTable
	tab.mu.Lock()
	tab.add("coffee")
	tab.mu.Unlock()
	c := newNameCache(&tab)
	for range 2 { // a miss, then a hit on the slot
		got := c.intern(string([]byte("coffee")))
		tab.mu.RLock()
		_, isTables := tab.idOf(got)
		tab.mu.RUnlock()
		if got != "coffee" || !isTables {
			t.Fatalf("intern(coffee) = %q, the table's copy: %v", got, isTables)
		}
	}
	tea := c.intern(string([]byte("tea")))
	if _, ok := tab.known("tea"); ok || tea != "tea" {
		t.Fatalf("intern(tea) = %q and added it to the table", tea)
	}
	// Once a stored profile brings the name into the table, the slot
	// takes the table's copy.
	tab.mu.Lock()
	tab.add("tea")
	tab.mu.Unlock()
	got := c.intern("tea")
	tab.mu.RLock()
	_, isTables := tab.idOf(got)
	tab.mu.RUnlock()
	if !isTables {
		t.Fatal("intern(tea) kept its own copy after the table got the name")
	}
}

// FuzzSwipeReader decodes two messages with one swipeReader and requires
// the second to come out as Decode gives it: nothing of the first leaks.
func FuzzSwipeReader(f *testing.F) {
	_, values := readerStream()
	for i := 1; i < len(values) && i < 40; i++ {
		f.Add(values[i-1], values[i])
	}
	f.Fuzz(func(t *testing.T, first, second []byte) {
		r := swipeReader{names: newNameCache(nil)}
		key := []byte("c-1")
		r.read(key, first, testNow, DefaultLimits)
		want, wantErr := Decode(key, second, testNow, DefaultLimits)
		got, gotErr := r.read(key, second, testNow, DefaultLimits)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
			t.Fatalf("after %q, read(%q) = %+v, %v\nDecode: %+v, %v", first, second, got, gotErr, want, wantErr)
		}
	})
}
