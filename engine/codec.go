package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/aislecast/loyalty"
)

// profileFormat is the first byte of every encoded profile; bump it when
// the layout changes and keep decoding the old ones. Format 1 ends after
// the recent swipe ids; format 2 adds the offer history; format 3 is the
// compact layout with the visit, basket, store and repurchase figures, in
// varints; format 4 (see AppendProfile) has format 3's fields, most of
// them in a bit stream, the one the in-memory store keeps (see
// appendProfile).
const (
	profileFormat1 = 1
	profileFormat2 = 2
	profileFormat3 = 3
	profileFormat  = 4
)

// maxListLen bounds list lengths read from the changelog, so a corrupt
// record cannot make the decoder allocate gigabytes.
const maxListLen = 1 << 16

// maxNamesLen bounds the total length of the names of one profile once
// their shared prefixes are expanded.
const maxNamesLen = 1 << 20

// AppendProfile appends the binary encoding of p to buf, in format 4. It
// is what the changelog holds, so it is built for size, and what the
// in-memory store keeps, so it is built to become that form cheaply:
//
//   - first the lead (see appendLead): the card id, and the numbers of
//     categories, SKUs and stores;
//   - then the names of the categories, SKUs and stores, sorted as the
//     profile keeps them and front-coded (the length shared with the
//     previous name, then the rest), so "coffee-0007" after "coffee-0003"
//     costs three bytes;
//   - then the body (see appendBody): every other field in a bit stream,
//     each number in a few bits, and the event times the profile keeps
//     per category, SKU and store, few distinct values (one per purchase
//     visit), written once, sorted and delta-coded, and referred to by
//     index.
//
// The at-rest form is the same but for the names, which it replaces by
// their ids in the instance's name table: storing a profile the pipeline
// has just encoded copies the lead and the body (see
// nameTable.fromRecord), and a restore's record converts the same way.
//
// Every profile has exactly one encoding: DecodeProfile rejects anything
// AppendProfile would not have written.
func AppendProfile(buf []byte, p *loyalty.Profile) []byte {
	buf = appendLead(append(buf, profileFormat), p)
	return appendBody(appendNames(buf, p), p)
}

// appendNames appends the names of p's categories, SKUs and stores, each
// kind front-coded (see appendName).
func appendNames(buf []byte, p *loyalty.Profile) []byte {
	prev := ""
	for i := range p.Categories {
		buf, prev = appendName(buf, prev, p.Categories[i].Name), p.Categories[i].Name
	}
	prev = ""
	for i := range p.SKUs {
		buf, prev = appendName(buf, prev, p.SKUs[i].SKU), p.SKUs[i].SKU
	}
	prev = ""
	for i := range p.Stores {
		buf, prev = appendName(buf, prev, p.Stores[i].StoreID), p.Stores[i].StoreID
	}
	return buf
}

// timeIndex numbers the distinct event times a profile refers to (its
// last visit and the last purchase or visit of each category, SKU and
// store) in sorted order, for AppendProfile. They are few (about one per
// purchase visit) among a hundred or more references, so they are found
// through a small open-addressing hash table rather than a search: a
// sorted-slice version spent half of the encoding in binary searches
// whose branches the processor cannot predict.
type timeIndex struct {
	sorted []int64 // the distinct times, ascending, in sorted[:n]
	n      int
	keys   []int64  // the table: a time, where ranks is not 0
	ranks  []uint32 // 1 + the time's index in sorted; 0 is an empty slot
	shift  uint
}

// timeRoom is room for a timeIndex, for its callers to keep on the
// stack: 256 references, more than most profiles have (1 + categories +
// SKUs + stores: about 130 for a regular card of the chain-sized
// catalogue, up to 350 for the busiest); build allocates for more.
type timeRoom struct {
	keys   [512]int64
	ranks  [512]uint32
	sorted [256]int64
}

// index returns the index of p's times, built in r if it fits.
func (r *timeRoom) index(p *loyalty.Profile) timeIndex {
	ti := timeIndex{keys: r.keys[:], ranks: r.ranks[:], sorted: r.sorted[:]}
	ti.build(p)
	return ti
}

// build fills the index with p's times, in the table it was given if that
// is big enough.
func (ti *timeIndex) build(p *loyalty.Profile) {
	refs := 1 + len(p.Categories) + len(p.SKUs) + len(p.Stores)
	size, bits := 64, uint(6)
	for size < 2*refs {
		size, bits = size*2, bits+1
	}
	ti.shift = 64 - bits
	if size <= len(ti.keys) && refs <= len(ti.sorted) {
		ti.keys, ti.ranks = ti.keys[:size], ti.ranks[:size]
	} else {
		ti.keys, ti.ranks, ti.sorted = make([]int64, size), make([]uint32, size), make([]int64, refs)
	}
	ti.add(p.LastVisit)
	for i := range p.Categories {
		ti.add(p.Categories[i].LastBought)
	}
	for i := range p.SKUs {
		ti.add(p.SKUs[i].LastBought)
	}
	for i := range p.Stores {
		ti.add(p.Stores[i].LastVisit)
	}
	slices.Sort(ti.sorted[:ti.n])
	for i, t := range ti.sorted[:ti.n] {
		ti.ranks[ti.slot(t)] = uint32(i) + 1
	}
}

// slot is where t is in the table, or the empty slot where it would go.
func (ti *timeIndex) slot(t int64) int {
	mask := len(ti.keys) - 1
	i := int((uint64(t) * 0x9e3779b97f4a7c15) >> ti.shift)
	for ti.ranks[i] != 0 && ti.keys[i] != t {
		i = (i + 1) & mask
	}
	return i
}

// add puts t in the table unless it is there.
func (ti *timeIndex) add(t int64) {
	i := ti.slot(t)
	if ti.ranks[i] == 0 {
		ti.keys[i], ti.ranks[i] = t, 1 // ranked once all are in
		ti.sorted[ti.n] = t
		ti.n++
	}
}

// rank is t's index among the sorted times; t is one of them.
func (ti *timeIndex) rank(t int64) uint64 { return uint64(ti.ranks[ti.slot(t)] - 1) }

// appendName appends s front-coded against prev: the length of their
// common prefix, then the rest of s as a string.
func appendName(buf []byte, prev, s string) []byte {
	n := sharedPrefix(prev, s)
	rest := s[n:]
	if n < 0x80 && len(rest) < 0x80 { // both one-byte varints: the usual case
		buf = append(buf, byte(n), byte(len(rest)))
		return append(buf, rest...)
	}
	buf = binary.AppendUvarint(buf, uint64(n))
	return appendString(buf, rest)
}

// sharedPrefix is the length of the common prefix of a and b. It compares
// eight bytes at a time: a profile's names are encoded on every swipe, and
// sorted names share most of their bytes ("coffee-0007", "coffee-0012").
func sharedPrefix(a, b string) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := le64(a[i:]) ^ le64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// le64 reads the first eight bytes of s as a little-endian word; the
// compiler turns it into one load.
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// EncodedSizeHint is an upper estimate of the encoding's length, for
// sizing a buffer to encode into.
func EncodedSizeHint(p *loyalty.Profile) int {
	n := 128 + len(p.CardID) + 16*len(p.Days) + 7*len(p.RecentSwipes)
	for i := range p.Categories {
		n += 48 + len(p.Categories[i].Name) + 12*len(p.Categories[i].Days)
	}
	for i := range p.SKUs {
		n += 32 + len(p.SKUs[i].SKU)
	}
	for i := range p.Stores {
		n += 32 + len(p.Stores[i].StoreID)
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

// errCorrupt is returned for any encoded profile that cannot be read.
var errCorrupt = errors.New("corrupt profile encoding")

// DecodeProfile reads a profile written by AppendProfile, in the current
// format or an older one still found in changelogs: format 3 (the same
// fields in varints), format 2 (no visit, basket, store or repurchase
// figures) and format 1 (no offer history either). It never panics on bad
// input; it returns an error naming what could not be read.
func DecodeProfile(data []byte) (*loyalty.Profile, error) {
	d := decoder{b: data}
	var p *loyalty.Profile
	switch f := d.byte(); {
	case d.err != nil:
		return nil, d.err
	case f == profileFormat:
		p = d.profile()
	case f == profileFormat3:
		p = d.profile3()
	case f == profileFormat1 || f == profileFormat2:
		p = d.profile2(f)
	default:
		return nil, fmt.Errorf("%w: unknown format %d", errCorrupt, f)
	}
	if d.err == nil && d.left() != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errCorrupt, d.left())
	}
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}

// profileBlock is a decoded profile with room for its stores and recent
// swipe hashes, which are never more than loyalty.TopStores and
// loyalty.RecentSwipeIDs: one allocation instead of three per decode, and
// the lists never grow out of it.
type profileBlock struct {
	p      loyalty.Profile
	stores [loyalty.TopStores]loyalty.StoreVisits
	recent [loyalty.RecentSwipeIDs]uint64
}

// lists makes the profile's lists of nc categories, ns SKUs and nst
// stores, as every decoder lays them out, in room's arrays when room is
// not nil.
func (blk *profileBlock) lists(nc, ns, nst int, room *profileRoom) {
	p := &blk.p
	// A spare category and two spare SKUs (up to loyalty.TopSKUs): a
	// profile is decoded to be changed, and the swipe that changes it
	// often adds one, which would otherwise copy the whole list into a
	// new one twice its size.
	if nc > 0 {
		if room != nil {
			p.Categories = roomList(&room.cats, nc+1)[:nc]
		} else {
			p.Categories = make([]loyalty.CategoryStats, nc, nc+1)
		}
	}
	if ns > 0 {
		spare := ns + max(0, min(2, loyalty.TopSKUs-ns))
		if room != nil {
			p.SKUs = roomList(&room.skus, spare)[:ns]
		} else {
			p.SKUs = make([]loyalty.SKUStats, ns, spare)
		}
	}
	switch {
	case nst > len(blk.stores):
		p.Stores = make([]loyalty.StoreVisits, nst)
	case nst > 0:
		p.Stores = blk.stores[:nst]
	}
}

// profile reads the rest of a format 4 record.
func (d *decoder) profile() *loyalty.Profile {
	blk := d.lead(nil, "")
	if d.err != nil {
		return nil
	}
	if d.names(&blk.p); d.err != nil {
		return nil
	}
	r := bitReader{b: d.rest()}
	if r.body(blk, nil); !r.end() {
		d.fail("profile")
		return nil
	}
	d.off = len(d.b)
	return &blk.p
}

// profile3 reads the rest of a format 3 record.
func (d *decoder) profile3() *loyalty.Profile {
	blk := &profileBlock{}
	p := &blk.p
	p.CardID = d.string()
	var since, day int64
	for _, v := range [...]*int64{&p.FirstSeen, &since, &p.Visits, &p.Checkins, &p.Scans,
		&p.SpendCents, &p.Units, &p.MaxBasket, &p.Returns, &p.ReturnCents, &day, &p.TooOld, &p.LastOffset} {
		*v = d.varint()
	}
	p.LastSeen = p.FirstSeen + since
	p.NewestDay = d.int32(day + p.LastSeen/86400)
	nc, ns, nst, ncd := d.len(), d.len(), d.len(), d.len()
	if d.err != nil {
		return nil
	}
	blk.lists(nc, ns, nst, nil)
	d.names(p)

	// The time table is on the stack but for the largest profiles.
	var timeBuf [128]int64
	var usedBuf [128]bool
	times, used := d.times(p.FirstSeen, nc, ns, nst, timeBuf[:0], usedBuf[:0])
	time := func() int64 {
		if i := d.timeRef(used); d.err == nil {
			return times[i]
		}
		return 0
	}
	p.LastVisit = time()
	// The profile's days and every category's share one array, each with
	// one spare slot after them: the next swipe in the category is most
	// often on a new day, and appends it there without reallocating. The
	// full slice expressions make a second append reallocate instead of
	// overwriting the next category's days.
	nd := d.peekLen()
	var days, catDays []loyalty.DaySpend
	if nd+ncd > 0 {
		days = make([]loyalty.DaySpend, 0, nd+1+ncd+len(p.Categories))
		catDays = days[nd+1 : nd+1]
	}
	if p.Days = d.days(days[:0:min(nd+1, cap(days))], p.NewestDay, true); len(p.Days) == 0 {
		p.Days = nil
	}
	read := 0
	for i := range p.Categories {
		c := &p.Categories[i]
		c.SpendCents = d.varint()
		c.Units = d.varint()
		c.LastBought = time()
		n := len(catDays)
		catDays = d.days(catDays, p.NewestDay, false)
		if end := len(catDays); end > n {
			read += end - n
			spare := min(end+1, cap(catDays))
			c.Days = catDays[n:end:spare]
			catDays = catDays[:spare]
		}
	}
	if d.err == nil && read != ncd {
		d.fail("category day count")
	}
	for i := range p.SKUs {
		p.SKUs[i].Units = d.varint()
		p.SKUs[i].LastBought = time()
	}
	for i := range p.Stores {
		p.Stores[i].Visits = d.varint()
		p.Stores[i].LastVisit = time()
	}
	if d.err == nil && slices.Contains(used, false) {
		d.fail("time table (an unused entry)")
	}
	p.RecentSwipes = d.recent(6, blk.recent[:0])
	p.Offers = d.offers()
	return p
}

// names reads the front-coded names of p's categories, SKUs and stores
// into a single string, so a decoded profile costs one allocation for all
// of them. A first pass finds the total length.
func (d *decoder) names(p *loyalty.Profile) {
	lists := [...]int{len(p.Categories), len(p.SKUs), len(p.Stores)}
	start, total := d.off, 0
	for _, n := range lists {
		prev := 0
		for range n {
			shared := d.shared()
			rest := d.len()
			if d.err != nil || shared > prev || rest > d.left() {
				d.fail("name")
				return
			}
			d.off += rest
			prev = shared + rest
			total += prev
			if total > maxNamesLen {
				d.fail("names (too long)")
				return
			}
		}
	}
	var sb strings.Builder
	sb.Grow(total)
	d.off = start
	for l, n := range lists {
		var prev string
		for i := range n {
			shared, rest := d.shared(), d.len()
			suffix := d.b[d.off : d.off+rest]
			d.off += rest
			if shared < len(prev) && rest > 0 && suffix[0] == prev[shared] {
				d.fail("name (prefix not shared in full)")
				return
			}
			from := sb.Len()
			sb.WriteString(prev[:shared])
			sb.Write(suffix)
			name := sb.String()[from:]
			switch l {
			case 0:
				p.Categories[i].Name = name
			case 1:
				p.SKUs[i].SKU = name
			case 2:
				p.Stores[i].StoreID = name
			}
			prev = name
		}
	}
}

// times reads the table of event times, the first relative to first (the
// profile's FirstSeen), of a profile with nc categories,
// ns SKUs and nst stores, and returns it with a slice to mark the entries
// used. It reads into times and used, zeroed, if they have room.
func (d *decoder) times(first int64, nc, ns, nst int, times []int64, used []bool) ([]int64, []bool) {
	n := d.len()
	if d.err != nil || n > 1+nc+ns+nst {
		d.fail("time table")
		return nil, nil
	}
	if n <= cap(times) && n <= cap(used) {
		times, used = times[:n], used[:n]
	} else {
		times, used = make([]int64, n), make([]bool, n)
	}
	for i := range times {
		if i == 0 {
			times[i] = first + d.varint()
			continue
		}
		// The difference of two int64 may exceed math.MaxInt64; the sum
		// wraps back to the exact value, and only a corrupt delta lands at
		// or below the previous time.
		t := times[i-1] + int64(d.uvarint())
		if t <= times[i-1] {
			d.fail("time table (not increasing)")
			return nil, nil
		}
		times[i] = t
	}
	return times, used
}

// timeRef reads a reference to an entry of a profile's time table (see
// times), marks it used and returns its index: 0 for a bad one, with the
// failure noted.
func (d *decoder) timeRef(used []bool) int {
	// An index into the table, not a length: it is bounded by the table,
	// not by the bytes left (the newest times, with the highest indexes,
	// are referred to near the record's end).
	v := d.uvarint()
	if d.err != nil || v >= uint64(len(used)) {
		d.fail("time index")
		return 0
	}
	used[v] = true
	return int(v)
}

// profile2 reads the rest of a format 1 or 2 record. The figures those
// formats lacked are derived where the old record allows: units from the
// categories, the latest visit from the latest purchase in any category,
// one visit for every day with purchases. Repurchase intervals and store
// visits start counting with the next purchase.
func (d *decoder) profile2(format byte) *loyalty.Profile {
	p := &loyalty.Profile{CardID: d.string()}
	var day int64
	for _, v := range [...]*int64{&p.FirstSeen, &p.LastSeen, &p.Visits, &p.Checkins, &p.Scans,
		&p.SpendCents, &p.Returns, &p.ReturnCents, &day, &p.TooOld, &p.LastOffset} {
		*v = d.varint()
	}
	p.NewestDay = int32(day)
	p.Days = d.days2()
	for i := range p.Days {
		p.Days[i].Visits = 1
	}
	if n := d.len(); n > 0 {
		p.Categories = make([]loyalty.CategoryStats, n)
		for i := range p.Categories {
			c := &p.Categories[i]
			c.Name = d.string()
			c.SpendCents = d.varint()
			c.Units = d.varint()
			c.LastBought = d.varint()
			c.Days = d.days2()
			p.Units += c.Units
			p.LastVisit = max(p.LastVisit, c.LastBought)
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
	p.RecentSwipes = d.recent(8, nil)
	if format == profileFormat2 {
		p.Offers = d.offers()
	}
	return p
}

// decoder reads varint fields; the first failure sticks in err and every
// later read returns zero.
//
// A read moves off, never b: storing a slice (a pointer) through d costs a
// write barrier whenever the garbage collector is marking, which it often
// is in a busy engine, and a decode made hundreds of them.
type decoder struct {
	b   []byte // the input; b[off:] is what is left to read
	off int
	err error
}

// rest is what is left to read.
func (d *decoder) rest() []byte { return d.b[d.off:] }

// left is how many bytes are left to read.
func (d *decoder) left() int { return len(d.b) - d.off }

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or invalid %s", errCorrupt, what)
	}
	d.off = len(d.b)
}

func (d *decoder) byte() byte {
	if d.left() <= 0 {
		d.fail("format byte")
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

// The varint readers reject overlong encodings (a last byte of zero), so
// every profile has one encoding and a decoded record re-encodes to itself.

func (d *decoder) varint() int64 {
	b := d.rest()
	if len(b) > 0 && b[0] < 0x80 { // one byte, the most common
		d.off++
		return int64(b[0]>>1) ^ -int64(b[0]&1)
	}
	v, n := binary.Varint(b)
	if n <= 0 || (n > 1 && b[n-1] == 0) {
		d.fail("varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) uvarint() uint64 {
	b := d.rest()
	if len(b) > 0 && b[0] < 0x80 { // one byte, the most common
		d.off++
		return uint64(b[0])
	}
	v, n := binary.Uvarint(b)
	if n <= 0 || (n > 1 && b[n-1] == 0) {
		d.fail("uvarint")
		return 0
	}
	d.off += n
	return v
}

// int32 narrows v, failing when it does not fit.
func (d *decoder) int32(v int64) int32 {
	if v != int64(int32(v)) {
		d.fail("day")
		return 0
	}
	return int32(v)
}

// peekLen is the length len would read, without reading it.
func (d *decoder) peekLen() int {
	off := d.off
	n := d.len()
	if d.err == nil {
		d.off = off
	}
	return n
}

func (d *decoder) len() int {
	b := d.rest()
	if len(b) > 0 && b[0] < 0x80 && int(b[0]) <= len(b) { // one byte, the most common
		d.off++
		return int(b[0])
	}
	v, n := binary.Uvarint(b)
	if n <= 0 || (n > 1 && b[n-1] == 0) || v > maxListLen || v > uint64(len(b)) {
		d.fail("length")
		return 0
	}
	d.off += n
	return int(v)
}

// shared reads how many bytes a front-coded name shares with the name
// before it. Unlike a length, it is not bounded by the bytes left to
// read, since those bytes are not read: the caller checks it against the
// name before.
func (d *decoder) shared() int {
	v := d.uvarint()
	if v > maxNamesLen {
		d.fail("shared length")
		return 0
	}
	return int(v)
}

func (d *decoder) string() string { return string(d.span()) }

// span reads a length and returns that many bytes, not copied.
func (d *decoder) span() []byte {
	n := d.len()
	if d.err != nil || n > d.left() {
		d.fail("string")
		return nil
	}
	b := d.b[d.off : d.off+n]
	d.off += n
	return b
}

// hash reads a swipe id hash of size bytes.
func (d *decoder) hash(size int) uint64 {
	b := d.rest()
	if len(b) < size {
		d.fail("swipe hash")
		return 0
	}
	var v uint64
	for i := size - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	d.off += size
	return v
}

// days appends to ds a day history of a format 3 record: its length, then
// each day as its distance from the one before (the first as its distance
// back from newest), its cents and, with visits, its visit count, all
// varints.
func (d *decoder) days(ds []loyalty.DaySpend, newest int32, visits bool) []loyalty.DaySpend {
	n := d.len()
	if n == 0 {
		return ds
	}
	if ds == nil {
		ds = make([]loyalty.DaySpend, 0, n+1) // a spare slot for the next day
	}
	prev := int64(newest)
	for i := range n {
		v := d.varint()
		if i == 0 {
			prev -= v
		} else {
			prev += v
		}
		day := loyalty.DaySpend{Day: d.int32(prev), Cents: d.varint()}
		if visits {
			day.Visits = d.int32(d.varint())
		}
		if d.err != nil {
			return ds
		}
		ds = append(ds, day)
	}
	return ds
}

// days2 reads a day history of formats 1 and 2.
func (d *decoder) days2() []loyalty.DaySpend {
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

// recent reads the recent swipe hashes: six bytes each in format 3,
// eight in formats 1 and 2, whose hashes are cut to loyalty.SwipeHashBits
// so that a retry of a swipe applied before the upgrade is still
// recognised. Of more than loyalty.RecentSwipeIDs, the oldest are dropped.
// It reads into room if it is big enough.
func (d *decoder) recent(size int, room []uint64) []uint64 {
	n := d.len()
	if n == 0 {
		return nil
	}
	var hs []uint64
	if n <= cap(room) {
		hs = room[:n]
	} else {
		hs = make([]uint64, n)
	}
	for i := range hs {
		hs[i] = d.hash(size) & (1<<loyalty.SwipeHashBits - 1)
	}
	if size != 6 && n > loyalty.RecentSwipeIDs {
		hs = hs[n-loyalty.RecentSwipeIDs:]
	}
	return hs
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
