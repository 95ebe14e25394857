package engine

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
)

// The format 3 encoder, as the engine had it until format 4 replaced it:
// changelogs written before then hold its records, which DecodeProfile and
// a restore's compaction (transcode) still read, and the tests write them
// to check that they do.

// appendFormat3 appends the binary encoding of p to buf, in format 3. It was
// what the changelog and the in-memory store hold, so it is built for size:
//
//   - integers are varints; times and days are deltas (NewestDay from
//     LastSeen's day, LastSeen from FirstSeen, a history's first day from
//     NewestDay);
//   - the names of categories, SKUs and stores come first, sorted as the
//     profile keeps them and front-coded (the length shared with the
//     previous name, then the rest), so "coffee-0007" after "coffee-0003"
//     costs three bytes;
//   - the event times the profile keeps per category, SKU and store are
//     few distinct values (one per purchase visit), so they are written
//     once, sorted and delta-coded, and referred to by index.
//
// Every profile has exactly one encoding: DecodeProfile rejects anything
// appendFormat3 would not have written.
func appendFormat3(buf []byte, p *loyalty.Profile) []byte {
	var room timeRoom
	ti := room.index(p)
	times := ti.sorted[:ti.n]

	buf = append(buf, profileFormat3)
	buf = appendString(buf, p.CardID)
	for _, v := range [...]int64{p.FirstSeen, p.LastSeen - p.FirstSeen, p.Visits, p.Checkins, p.Scans,
		p.SpendCents, p.Units, p.MaxBasket, p.Returns, p.ReturnCents, int64(p.NewestDay) - p.LastSeen/86400, p.TooOld, p.LastOffset} {
		buf = binary.AppendVarint(buf, v)
	}
	catDays := 0
	for i := range p.Categories {
		catDays += len(p.Categories[i].Days)
	}
	for _, n := range [...]int{len(p.Categories), len(p.SKUs), len(p.Stores), catDays} {
		buf = binary.AppendUvarint(buf, uint64(n))
	}
	buf = appendNames(buf, p)

	buf = binary.AppendUvarint(buf, uint64(len(times)))
	for i, t := range times {
		if i == 0 {
			buf = binary.AppendVarint(buf, t-p.FirstSeen)
		} else {
			buf = binary.AppendUvarint(buf, uint64(t-times[i-1]))
		}
	}
	buf = binary.AppendUvarint(buf, ti.rank(p.LastVisit))
	buf = appendDays(buf, p.Days, p.NewestDay, true)
	for i := range p.Categories {
		c := &p.Categories[i]
		buf = binary.AppendVarint(buf, c.SpendCents)
		buf = binary.AppendVarint(buf, c.Units)
		buf = binary.AppendUvarint(buf, ti.rank(c.LastBought))
		buf = appendDays(buf, c.Days, p.NewestDay, false)
	}
	for i := range p.SKUs {
		buf = binary.AppendVarint(buf, p.SKUs[i].Units)
		buf = binary.AppendUvarint(buf, ti.rank(p.SKUs[i].LastBought))
	}
	for i := range p.Stores {
		buf = binary.AppendVarint(buf, p.Stores[i].Visits)
		buf = binary.AppendUvarint(buf, ti.rank(p.Stores[i].LastVisit))
	}
	buf = binary.AppendUvarint(buf, uint64(len(p.RecentSwipes)))
	for _, h := range p.RecentSwipes {
		buf = append(buf, byte(h), byte(h>>8), byte(h>>16), byte(h>>24), byte(h>>32), byte(h>>40))
	}
	buf = binary.AppendUvarint(buf, uint64(len(p.Offers)))
	for i := range p.Offers {
		o := &p.Offers[i]
		buf = appendString(buf, o.RuleID)
		buf = binary.AppendVarint(buf, o.Held)
		buf = binary.AppendVarint(buf, o.Forgot)
		buf = binary.AppendUvarint(buf, uint64(len(o.Sent)))
		var prev int64
		for _, t := range o.Sent {
			buf = binary.AppendVarint(buf, t-prev)
			prev = t
		}
	}
	return buf
}

// appendDays appends a day history, the first day as its distance back
// from newest, each later one as the distance from the one before. It is
// the bulk of an encoding (a day per category and day bought in), so it
// writes into room made once rather than appending varint by varint.
func appendDays(buf []byte, ds []loyalty.DaySpend, newest int32, visits bool) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(ds)))
	buf = slices.Grow(buf, len(ds)*3*binary.MaxVarintLen64)
	n, b := len(buf), buf[:cap(buf)]
	prev := int64(newest)
	for i := range ds {
		d := &ds[i]
		day := int64(d.Day)
		if i == 0 {
			n = putVarint(b, n, prev-day)
		} else {
			n = putVarint(b, n, day-prev)
		}
		n = putVarint(b, n, d.Cents)
		if visits {
			n = putVarint(b, n, int64(d.Visits))
		}
		prev = day
	}
	return b[:n]
}

// putVarint writes v at b[n:] as binary.PutVarint does and returns the
// position after it. Unlike binary.PutVarint it is inlined: day
// histories are most of what a swipe re-encodes, two or three varints a
// day.
func putVarint(b []byte, n int, v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		b[n] = byte(u) | 0x80
		u >>= 7
		n++
	}
	b[n] = byte(u)
	return n + 1
}

// A busy card's format 3 record reads back: one whose time table has
// more entries than bytes follow a reference to its newest entries (a
// time's index was read as a length, bounded by the bytes left).
func TestFormat3ManyTimes(t *testing.T) {
	p := loyalty.NewProfile("card-busy")
	t0 := time.Date(2026, 8, 1, 9, 0, 0, 0, time.UTC)
	for i := range 220 { // a purchase every ~9 hours for 80 days
		cat := fmt.Sprintf("cat-%03d", i)
		s := &loyalty.Swipe{V: 1, SwipeID: fmt.Sprint("s", i), CardID: p.CardID, Kind: loyalty.KindPurchase,
			StoreID: "s001", TS: t0.Add(time.Duration(i) * 529 * time.Minute),
			Items: []loyalty.Item{{SKU: cat + "-1", Category: cat, Qty: 1, UnitPriceCents: 250}}, TotalCents: 250}
		p.Apply(s)
	}
	p.LastOffset = 4711
	rec := appendFormat3(nil, p)
	got, err := DecodeProfile(rec)
	if err != nil {
		t.Fatalf("format 3 record of %d bytes, %d categories: %v", len(rec), len(p.Categories), err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Fatal("format 3 record read as a different profile")
	}
	var table nameTable
	if _, err := toAtRest(nil, rec, &table); err != nil {
		t.Fatalf("restore's compaction of the record: %v", err)
	}
}
