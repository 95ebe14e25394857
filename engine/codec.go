package engine

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/aislecast/loyalty"
)

// profileFormat is the first byte of every encoded profile; bump it when
// the layout changes and keep decoding the old ones. Format 1 ends after
// the recent swipe ids; format 2 adds the offer history.
const (
	profileFormat1 = 1
	profileFormat  = 2
)

// maxListLen bounds list lengths read from the changelog, so a corrupt
// record cannot make the decoder allocate gigabytes.
const maxListLen = 1 << 16

// AppendProfile appends the binary encoding of p to buf: varints throughout,
// days stored as deltas, so a realistic profile takes a few hundred bytes in
// the changelog and in memory.
func AppendProfile(buf []byte, p *loyalty.Profile) []byte {
	buf = append(buf, profileFormat)
	buf = appendString(buf, p.CardID)
	for _, v := range [...]int64{p.FirstSeen, p.LastSeen, p.Visits, p.Checkins, p.Scans,
		p.SpendCents, p.Returns, p.ReturnCents, int64(p.NewestDay), p.TooOld, p.LastOffset} {
		buf = binary.AppendVarint(buf, v)
	}
	buf = appendDays(buf, p.Days)
	buf = binary.AppendUvarint(buf, uint64(len(p.Categories)))
	for i := range p.Categories {
		c := &p.Categories[i]
		buf = appendString(buf, c.Name)
		buf = binary.AppendVarint(buf, c.SpendCents)
		buf = binary.AppendVarint(buf, c.Units)
		buf = binary.AppendVarint(buf, c.LastBought)
		buf = appendDays(buf, c.Days)
	}
	buf = binary.AppendUvarint(buf, uint64(len(p.SKUs)))
	for i := range p.SKUs {
		s := &p.SKUs[i]
		buf = appendString(buf, s.SKU)
		buf = binary.AppendVarint(buf, s.Units)
		buf = binary.AppendVarint(buf, s.LastBought)
	}
	buf = binary.AppendUvarint(buf, uint64(len(p.RecentSwipes)))
	for _, h := range p.RecentSwipes {
		buf = binary.LittleEndian.AppendUint64(buf, h)
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

// EncodedSizeHint is an upper estimate of the encoding's length, so the
// buffer of a stored profile is allocated once.
func EncodedSizeHint(p *loyalty.Profile) int {
	n := 96 + len(p.CardID) + 12*len(p.Days) + 9*len(p.RecentSwipes)
	for i := range p.Categories {
		n += 32 + len(p.Categories[i].Name) + 12*len(p.Categories[i].Days)
	}
	for i := range p.SKUs {
		n += 24 + len(p.SKUs[i].SKU)
	}
	for i := range p.Offers {
		n += 24 + len(p.Offers[i].RuleID) + 10*len(p.Offers[i].Sent)
	}
	return n
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendDays(buf []byte, ds []loyalty.DaySpend) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(ds)))
	var prev int32
	for _, d := range ds {
		buf = binary.AppendVarint(buf, int64(d.Day-prev))
		buf = binary.AppendVarint(buf, d.Cents)
		prev = d.Day
	}
	return buf
}

// errCorrupt is returned for any encoded profile that cannot be read.
var errCorrupt = errors.New("corrupt profile encoding")

// DecodeProfile reads a profile written by AppendProfile, in the current
// format or format 1 (changelog records written before offer histories
// existed; they decode with none). It never panics on bad input; it
// returns an error naming what could not be read.
func DecodeProfile(data []byte) (*loyalty.Profile, error) {
	d := decoder{b: data}
	f := d.byte()
	if d.err != nil {
		return nil, d.err
	}
	if f != profileFormat && f != profileFormat1 {
		return nil, fmt.Errorf("%w: unknown format %d", errCorrupt, f)
	}
	p := &loyalty.Profile{CardID: d.string()}
	var day int64
	for _, v := range [...]*int64{&p.FirstSeen, &p.LastSeen, &p.Visits, &p.Checkins, &p.Scans,
		&p.SpendCents, &p.Returns, &p.ReturnCents, &day, &p.TooOld, &p.LastOffset} {
		*v = d.varint()
	}
	p.NewestDay = int32(day)
	p.Days = d.days()
	if n := d.len(); n > 0 {
		p.Categories = make([]loyalty.CategoryStats, n)
		for i := range p.Categories {
			c := &p.Categories[i]
			c.Name = d.string()
			c.SpendCents = d.varint()
			c.Units = d.varint()
			c.LastBought = d.varint()
			c.Days = d.days()
		}
	}
	if n := d.len(); n > 0 {
		p.SKUs = make([]loyalty.SKUStats, n)
		for i := range p.SKUs {
			s := &p.SKUs[i]
			s.SKU = d.string()
			s.Units = d.varint()
			s.LastBought = d.varint()
		}
	}
	if n := d.len(); n > 0 {
		p.RecentSwipes = make([]uint64, n)
		for i := range p.RecentSwipes {
			p.RecentSwipes[i] = d.uint64()
		}
	}
	if f == profileFormat {
		p.Offers = d.offers()
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}

// decoder reads varint fields; the first failure sticks in err and every
// later read returns zero.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or invalid %s", errCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail("format byte")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// The varint readers reject overlong encodings (a last byte of zero), so
// every profile has one encoding and a decoded record re-encodes to itself.

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 || (n > 1 && d.b[n-1] == 0) {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) len() int {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || (n > 1 && d.b[n-1] == 0) || v > maxListLen || v > uint64(len(d.b)) {
		d.fail("length")
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

func (d *decoder) string() string {
	n := d.len()
	if d.err != nil || n > len(d.b) {
		d.fail("string")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) uint64() uint64 {
	if len(d.b) < 8 {
		d.fail("swipe hash")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) days() []loyalty.DaySpend {
	n := d.len()
	if n == 0 {
		return nil
	}
	ds := make([]loyalty.DaySpend, n)
	var prev int64
	for i := range ds {
		prev += d.varint()
		ds[i] = loyalty.DaySpend{Day: int32(prev), Cents: d.varint()}
	}
	return ds
}

func (d *decoder) offers() []loyalty.OfferHistory {
	n := d.len()
	if n == 0 {
		return nil
	}
	os := make([]loyalty.OfferHistory, n)
	for i := range os {
		o := &os[i]
		o.RuleID = d.string()
		o.Held = d.varint()
		o.Forgot = d.varint()
		if k := d.len(); k > 0 {
			o.Sent = make([]int64, k)
			var prev int64
			for j := range o.Sent {
				prev += d.varint()
				o.Sent[j] = prev
			}
		}
		if d.err != nil {
			return nil
		}
	}
	return os
}
