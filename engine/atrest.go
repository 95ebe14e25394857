package engine

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"unsafe"

	"github.com/aislecast/loyalty"
)

// profileAtRest marks the form in which memStore keeps a profile: format
// 4 (see AppendProfile) with every category, SKU and store name replaced
// by its id in the instance's nameTable. A few thousand distinct names
// recur across millions of profiles, so the table keeps one copy of each
// per process instead of one per card. A 90-day profile of the
// chain-sized catalogue takes about 750 bytes at rest, 1,800 in format 4
// and 2,250 in format 3, whose fields were whole-byte varints. The form
// never leaves the process, so it may change freely; the changelog and
// Encoded carry format 4, which stands alone.
const profileAtRest = 0x80 | profileFormat

// The kinds of names a profile holds. Each kind has ids of its own in a
// nameTable, numbered as the kind's names are first stored, so that the
// few hundred categories take ids below a few hundred however many SKUs
// the catalogue has, and the ids a profile holds stay small.
const (
	kindCategory = iota
	kindSKU
	kindStore
	nameKinds
)

// nameTable interns the names of categories, SKUs and stores for the
// at-rest form. It only grows: its size is that of the catalogue (tens of
// bytes per distinct name), not of the card base. Every partition of an
// instance shares it, so it is safe for concurrent use.
type nameTable struct {
	mu    sync.RWMutex
	ids   map[string]uint32
	names []string
	// The table's copies of the names live in chunks of an arena, each
	// name right after its id (4 bytes, little-endian), so that a name the
	// table gave out tells its id by where it is: a profile decoded from
	// the at-rest form, or stored once before, holds those copies, and is
	// stored again without a map look-up per name. A name's bytes and its
	// id are never rewritten; chunks grows only (which also keeps every
	// chunk alive), and the last chunk is the one being filled.
	chunks [][]byte
	// kinds numbers, for each kind of name, the names used as that kind.
	kinds [nameKinds]kindIDs
}

// kindIDs are the ids of one kind of name.
type kindIDs struct {
	names []string // by the kind's id: the table's copy of the name
	ids   []uint32 // by the name's id in the table: 1 + the kind's id, or 0
}

// kindID returns the kind's id for the name with id name. The caller
// holds t.mu.
func (t *nameTable) kindID(kind int, name uint32) (uint32, bool) {
	ids := t.kinds[kind].ids
	if int(name) < len(ids) && ids[name] != 0 {
		return ids[name] - 1, true
	}
	return 0, false
}

// addKind gives the name with id name an id of the kind; the caller holds
// t.mu for writing and has found none.
func (t *nameTable) addKind(kind int, name uint32) uint32 {
	k := &t.kinds[kind]
	id := uint32(len(k.names))
	k.names = append(k.names, t.names[name])
	if n := int(name) + 1; n > len(k.ids) {
		k.ids = append(k.ids, make([]uint32, max(n, len(t.names))-len(k.ids))...)
	}
	k.ids[name] = id + 1
	return id
}

// nameChunkSize is the size of an arena chunk: thousands of names.
const nameChunkSize = 64 << 10

// known returns the table's copy of name s, if the table has it.
func (t *nameTable) known(s string) (string, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	id, ok := t.ids[s]
	if !ok {
		return "", false
	}
	return t.names[id], true
}

// idOf returns the id of s if s is the table's own copy of a name. The
// caller holds t.mu.
func (t *nameTable) idOf(s string) (uint32, bool) {
	if len(s) == 0 {
		return 0, false
	}
	at := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	// Newest first: a catalogue's recent names are the ones being stored.
	for i := len(t.chunks) - 1; i >= 0; i-- {
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(t.chunks[i])))
		if at < lo+4 || at >= lo+uintptr(len(t.chunks[i])) {
			continue
		}
		// The 4 bytes before s are in the same chunk: its id, if s is
		// where the table put a name (and not a piece of one).
		b := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.StringData(s)), -4)), 4)
		id := binary.LittleEndian.Uint32(b)
		if int(id) < len(t.names) && unsafe.StringData(t.names[id]) == unsafe.StringData(s) && len(t.names[id]) == len(s) {
			return id, true
		}
		return 0, false
	}
	return 0, false
}

// add interns a name the table does not have, copying it into the
// arena; the caller holds t.mu for writing.
func (t *nameTable) add(name string) uint32 {
	if t.ids == nil {
		t.ids = make(map[string]uint32)
	}
	id := uint32(len(t.names))
	last := len(t.chunks) - 1
	if need := 4 + len(name); last < 0 || cap(t.chunks[last])-len(t.chunks[last]) < need {
		t.chunks = append(t.chunks, make([]byte, 0, max(nameChunkSize, need)))
		last++
	}
	arena := binary.LittleEndian.AppendUint32(t.chunks[last], id)
	start := len(arena)
	arena = append(arena, name...) // within capacity: never moves
	t.chunks[last] = arena
	copied := unsafe.String(unsafe.SliceData(arena[start:]), len(name))
	if len(name) == 0 {
		copied = ""
	}
	t.names = append(t.names, copied)
	t.ids[copied] = id
	return id
}

// The exp-Golomb orders of the at-rest form's fields (see bits.go), each
// about the bit length of the field's common values in the simulator's
// 90-day profiles: one more for signed fields, which are zigzag-coded.
// Any value of a field fits whatever its order; a value far above it
// takes more bits, never fewer.
const (
	kFirstSeen  = 32 // Unix seconds
	kSeenSpan   = 23 // LastSeen after FirstSeen: up to months
	kSpend      = 17 // lifetime cents of a card
	kBasket     = 14 // cents of the largest purchase
	kCount      = 4  // visits, units, list lengths
	kSmall      = 1  // most of a profile's numbers: a few at most
	kOffset     = 22 // a swipe's offset in its partition
	kCategoryID = 6  // a category's id: hundreds in a catalogue
	kSKUID      = 10 // a SKU's id: thousands
	kStoreID    = 5  // a store's id
	kTime       = 16 // seconds between the times a profile refers to
	kDayGap     = 3  // days between two days of a history, less one
	kDayCents   = 11 // cents spent in a category on a day
	kVisitCents = 13 // cents spent on a day
)

// atRestHead is the order of each of the 13 figures at the head of the
// body of format 4 and the at-rest form (in format 3, varints, in the
// same order): FirstSeen, LastSeen after it, Visits, Checkins, Scans,
// SpendCents, Units, MaxBasket, Returns, ReturnCents, NewestDay after
// LastSeen's day, TooOld, LastOffset.
var atRestHead = [...]uint{kFirstSeen, kSeenSpan, kCount, kSmall, kSmall, kSpend, kCount + 2, kBasket, kSmall, kBasket, kSmall, kSmall, kOffset}

// rankWidth is how many bits a rank in a time table of n entries takes:
// the fewest that hold n-1.
func rankWidth(n int) uint {
	if n < 2 {
		return 0
	}
	return uint(bits.Len(uint(n - 1)))
}

// nameK is the order of the i-th name id of a profile with nc categories
// and ns SKUs.
func nameK(i, nc, ns int) uint {
	switch {
	case i < nc:
		return kCategoryID
	case i < nc+ns:
		return kSKUID
	}
	return kStoreID
}

// sentK is the order of the j-th time an offer was sent: the first is
// written whole, the others as the time since the one before.
func sentK(j int) uint {
	if j == 0 {
		return kFirstSeen
	}
	return kTime
}

// appendProfile appends to buf the at-rest form of p, interning its names
// in t: the lead (see appendLead), the ids of its category, SKU and store
// names, each in its kind's id space, as a bit stream of their own padded
// to a whole byte, then the body (see appendBody), the same bytes as
// format 4's body.
//
// Each name in p is replaced by the table's copy, so that the next time p
// is stored its names are found by address.
func (t *nameTable) appendProfile(buf []byte, p *loyalty.Profile) []byte {
	buf = t.appendFront(appendLead(append(buf, profileAtRest), p), p)
	return appendBody(buf, p)
}

// appendFront appends the ids of p's names, as appendProfile lays them
// out.
func (t *nameTable) appendFront(buf []byte, p *loyalty.Profile) []byte {
	var idBuf [256]uint32
	return appendIDs(buf, t.profileIDs(p, idBuf[:0]), len(p.Categories), len(p.SKUs))
}

// fromRecord appends to buf the at-rest form of p, given rec, p's format 4
// encoding: rec's lead and body are copied, and only the name ids are
// written. It is what a pipeline's store does with a profile every time a
// swipe changes it, and costs a fraction of writing the body again. A
// record in another format is ignored, and p encoded whole.
func (t *nameTable) fromRecord(buf, rec []byte, p *loyalty.Profile) []byte {
	lead, body, ok := recordParts(rec)
	if !ok {
		return t.appendProfile(buf, p)
	}
	buf = append(append(buf, profileAtRest), rec[1:lead]...)
	buf = t.appendFront(buf, p)
	return append(buf, rec[body:]...)
}

// recordParts returns where the names and the body of a format 4 record
// start, or false for a record in another format or cut short.
func recordParts(rec []byte) (lead, body int, ok bool) {
	if len(rec) == 0 || rec[0] != profileFormat {
		return 0, 0, false
	}
	d := decoder{b: rec, off: 1}
	d.span()
	counts := d.counts()
	lead = d.off
	for range counts[0] + counts[1] + counts[2] {
		d.shared()
		if n := d.len(); n > d.left() {
			d.fail("name")
		} else {
			d.off += n
		}
	}
	return lead, d.off, d.err == nil
}

// appendLead appends what format 4 and the at-rest form start with, after
// their format byte: the card id, then the numbers of p's categories,
// SKUs and stores, as varints.
func appendLead(buf []byte, p *loyalty.Profile) []byte {
	return appendCounts(appendString(buf, p.CardID), [...]int{len(p.Categories), len(p.SKUs), len(p.Stores)})
}

// appendCounts appends the numbers of categories, SKUs and stores that end
// the lead.
func appendCounts(buf []byte, counts [3]int) []byte {
	for _, n := range counts {
		buf = binary.AppendUvarint(buf, uint64(n))
	}
	return buf
}

// counts reads what appendCounts wrote.
func (d *decoder) counts() [3]int {
	return [...]int{d.len(), d.len(), d.len()}
}

// appendIDs appends the name ids of a profile with nc categories and ns
// SKUs as a bit stream, padded to a whole byte.
func appendIDs(buf []byte, ids []uint32, nc, ns int) []byte {
	w := bitWriter{buf: buf}
	for i, id := range ids {
		w.uint(uint64(id), nameK(i, nc, ns))
	}
	return w.done()
}

// appendBody appends the body of format 4 and of the at-rest form: a bit
// stream of, in order,
//
//   - the card's figures (FirstSeen, LastSeen after it, …, LastOffset: see
//     atRestHead), the numbers of the profile's days and of the
//     categories' days, and the table of event times it refers to (see
//     timeIndex), sorted, each after the one before; every reference to
//     the table below is an index into it in the fewest bits that hold
//     the table's last index (rankWidth);
//   - its day history newest first, the newest day relative to
//     LastVisit's and each older one as the gap to the one after;
//   - per category: its last purchase's rank, its day history as the
//     card's (from LastBought), then its lifetime spend and units as what
//     they add to the history's sum and day count (usually nothing);
//   - per SKU and store: the rank of its time, then its units or visits;
//   - the recent swipe hashes, loyalty.SwipeHashBits bits each, and the
//     offer history.
//
// Lists are in the order of the names before the body.
func appendBody(buf []byte, p *loyalty.Profile) []byte {
	var room timeRoom
	ti := room.index(p)
	times := ti.sorted[:ti.n]
	width := rankWidth(len(times))

	w := bitWriter{buf: buf}
	catDays := 0
	for i := range p.Categories {
		catDays += len(p.Categories[i].Days)
	}
	w.front([...]int64{p.FirstSeen, p.LastSeen - p.FirstSeen, p.Visits, p.Checkins, p.Scans,
		p.SpendCents, p.Units, p.MaxBasket, p.Returns, p.ReturnCents, int64(p.NewestDay) - p.LastSeen/86400, p.TooOld, p.LastOffset},
		len(p.Days), catDays, times)
	w.bits(ti.rank(p.LastVisit), width)
	w.days(p.Days, p.LastVisit, kVisitCents, true)
	for i := range p.Categories {
		c := &p.Categories[i]
		w.bits(ti.rank(c.LastBought), width)
		w.uint(uint64(len(c.Days)), kSmall)
		sum := w.days(c.Days, c.LastBought, kDayCents, false)
		w.int(c.SpendCents-sum, kSmall)
		w.int(c.Units-int64(len(c.Days)), kSmall)
	}
	for i := range p.SKUs {
		w.bits(ti.rank(p.SKUs[i].LastBought), width)
		w.int(p.SKUs[i].Units-1, kSmall)
	}
	for i := range p.Stores {
		w.bits(ti.rank(p.Stores[i].LastVisit), width)
		w.int(p.Stores[i].Visits-1, kSmall)
	}
	w.uint(uint64(len(p.RecentSwipes)), kCount)
	for _, h := range p.RecentSwipes {
		w.bits(h&(1<<loyalty.SwipeHashBits-1), loyalty.SwipeHashBits)
	}
	w.uint(uint64(len(p.Offers)), kSmall)
	for i := range p.Offers {
		o := &p.Offers[i]
		w.uint(uint64(len(o.RuleID)), kCount)
		for j := range len(o.RuleID) {
			w.bits(uint64(o.RuleID[j]), 8)
		}
		w.int(o.Held, kSmall)
		w.int(o.Forgot, kFirstSeen)
		w.uint(uint64(len(o.Sent)), kSmall)
		prev := int64(0)
		for j, s := range o.Sent {
			w.int(s-prev, sentK(j))
			prev = s
		}
	}
	return w.done()
}

// front writes what the body starts with: the head figures (in the order
// of atRestHead), the numbers of the profile's days (nd) and of the
// categories' days (ncd), and the time table, its first time after
// FirstSeen (head[0]).
func (w *bitWriter) front(head [len(atRestHead)]int64, nd, ncd int, times []int64) {
	for i, k := range atRestHead {
		w.int(head[i], k)
	}
	w.uint(uint64(nd), kCount)
	w.uint(uint64(ncd), kCount)
	w.uint(uint64(len(times)), kCount)
	for i, tm := range times {
		if i == 0 {
			w.int(tm-head[0], kTime)
		} else {
			w.uint(uint64(tm)-uint64(times[i-1])-1, kTime)
		}
	}
}

// days writes a day history newest first: the newest day as its distance
// from the day of anchor (the time of the last purchase, whose day it
// usually is, give or take a time zone), each older one as its gap to the
// one after, less one. It returns the sum of the days' cents.
func (w *bitWriter) days(ds []loyalty.DaySpend, anchor int64, kCents uint, visits bool) int64 {
	var sum int64
	next := anchor / 86400
	for i := len(ds) - 1; i >= 0; i-- {
		d := &ds[i]
		if i == len(ds)-1 {
			w.int(int64(d.Day)-next, kSmall)
		} else {
			w.int(next-int64(d.Day)-1, kDayGap)
		}
		w.int(d.Cents, kCents)
		if visits {
			w.int(int64(d.Visits)-1, kSmall)
		}
		sum += d.Cents
		next = int64(d.Day)
	}
	return sum
}

// profileIDs appends to ids the ids, each in its kind's space, of p's
// category, SKU and store names in that order, adding the names the table
// lacks, and replaces each name in p by the table's copy.
func (t *nameTable) profileIDs(p *loyalty.Profile, ids []uint32) []uint32 {
	// Most names are known, and most of those are the table's copies:
	// look them up under the read lock, and only if one is new do it
	// again under the write lock.
	t.mu.RLock()
	ids, ok := t.lookupIDs(p, ids, false)
	t.mu.RUnlock()
	if !ok {
		t.mu.Lock()
		ids, _ = t.lookupIDs(p, ids[:0], true)
		t.mu.Unlock()
	}
	return ids
}

// lookupIDs is profileIDs under t.mu; without write it stops at the first
// name (or kind of name) the table lacks and reports false.
func (t *nameTable) lookupIDs(p *loyalty.Profile, ids []uint32, write bool) ([]uint32, bool) {
	for i := range p.Categories {
		id, ok := t.lookup(kindCategory, &p.Categories[i].Name, write)
		if !ok {
			return ids, false
		}
		ids = append(ids, id)
	}
	for i := range p.SKUs {
		id, ok := t.lookup(kindSKU, &p.SKUs[i].SKU, write)
		if !ok {
			return ids, false
		}
		ids = append(ids, id)
	}
	for i := range p.Stores {
		id, ok := t.lookup(kindStore, &p.Stores[i].StoreID, write)
		if !ok {
			return ids, false
		}
		ids = append(ids, id)
	}
	return ids, true
}

// lookup returns the kind's id of name *s, replacing *s by the table's
// copy; with write it adds what the table lacks, and without it reports
// false for that. The caller holds t.mu.
func (t *nameTable) lookup(kind int, s *string, write bool) (uint32, bool) {
	id, ok := t.idOf(*s)
	if !ok {
		if id, ok = t.ids[*s]; !ok {
			if !write {
				return 0, false
			}
			id = t.add(*s)
		}
		*s = t.names[id]
	}
	kid, ok := t.kindID(kind, id)
	if !ok {
		if !write {
			return 0, false
		}
		kid = t.addKind(kind, id)
	}
	return kid, true
}

// toAtRest appends to buf the at-rest form of data, a changelog record,
// interning its names in t: what a restore's records become once their
// partition serves (see memStore.compact).
//
// A format 4 record has the at-rest form's lead and body: only its names
// are read, turned into ids, and the body is copied as it is. The body is
// not read, so a record whose names are sound but whose body is corrupt is
// converted, and fails when it is read, as DecodeProfile fails on the
// record. A format 3 record is read field by field and written again
// without the profile being built (transcode); an older one is decoded
// first. What it writes reads back as the profile DecodeProfile reads.
func toAtRest(buf, data []byte, t *nameTable) ([]byte, error) {
	start := len(buf)
	var err error
	switch {
	case len(data) > 0 && data[0] == profileFormat:
		buf, err = convert(buf, data, t)
	case len(data) > 0 && data[0] == profileFormat3:
		buf, err = transcode(buf, data, t)
	default:
		var p *loyalty.Profile
		if p, err = DecodeProfile(data); err == nil {
			buf = t.appendProfile(buf, p)
		}
	}
	if err != nil {
		return buf[:start], err
	}
	return buf, nil
}

// convert is toAtRest for a format 4 record.
func convert(buf, data []byte, t *nameTable) ([]byte, error) {
	d := decoder{b: data, off: 1}
	d.span()
	counts := d.counts()
	if d.err != nil {
		return buf, d.err
	}
	buf = append(append(buf, profileAtRest), data[1:d.off]...)
	var idBuf [256]uint32
	ids, err := t.recordIDs(&d, counts, idBuf[:0])
	if err != nil {
		return buf, err
	}
	buf = appendIDs(buf, ids, counts[0], counts[1])
	return append(buf, d.rest()...), nil
}

// transcode is toAtRest for a format 3 record. Format 3 has the fields of
// the at-rest form in the same order but for a few the bit stream wants
// sooner (the number of the profile's days, before the names); they are
// read first, and the rest is written as it is read.
func transcode(buf, data []byte, t *nameTable) ([]byte, error) {
	d := decoder{b: data, off: 1}
	n := d.len()
	if d.err != nil || n > d.left() {
		return buf, fmt.Errorf("%w: truncated or invalid card id", errCorrupt)
	}
	buf = append(append(buf, profileAtRest), data[1:d.off+n]...)
	d.off += n
	var head [len(atRestHead)]int64
	for i := range head {
		head[i] = d.varint()
	}
	nc, ns, nst, ncd := d.len(), d.len(), d.len(), d.len()
	if d.err != nil {
		return buf, d.err
	}
	var idBuf [256]uint32
	ids, err := t.recordIDs(&d, [3]int{nc, ns, nst}, idBuf[:0])
	if err != nil {
		return buf, err
	}
	var timeBuf [256]int64
	var usedBuf [256]bool
	times, used := d.times(head[0], nc, ns, nst, timeBuf[:0], usedBuf[:0])
	width := rankWidth(len(times))
	rank := func() int { return d.timeRef(used) }
	lastVisit := rank()
	nd := d.peekLen()
	if d.err != nil {
		return buf, d.err
	}

	w := bitWriter{buf: appendIDs(appendCounts(buf, [...]int{nc, ns, nst}), ids, nc, ns)}
	w.front(head, nd, ncd, times)
	w.bits(uint64(lastVisit), width)
	var dayBuf [64]loyalty.DaySpend
	newest := d.int32(head[10] + (head[0]+head[1])/86400)
	w.days(d.days(dayBuf[:0], newest, true), times[lastVisit], kVisitCents, true)
	read := 0
	for range nc {
		spend, units, i := d.varint(), d.varint(), rank()
		days := d.days(dayBuf[:0], newest, false)
		w.bits(uint64(i), width)
		w.uint(uint64(len(days)), kSmall)
		sum := w.days(days, times[i], kDayCents, false)
		w.int(spend-sum, kSmall)
		w.int(units-int64(len(days)), kSmall)
		read += len(days)
	}
	if d.err == nil && read != ncd {
		d.fail("category day count")
	}
	for range ns + nst {
		v, i := d.varint(), rank()
		w.bits(uint64(i), width)
		w.int(v-1, kSmall)
	}
	if d.err == nil && slices.Contains(used, false) {
		d.fail("time table (an unused entry)")
	}
	nr := d.len()
	w.uint(uint64(nr), kCount)
	for range nr {
		w.bits(d.hash(6), loyalty.SwipeHashBits)
	}
	no := d.len()
	w.uint(uint64(no), kSmall)
	for range no {
		rule := d.string()
		w.uint(uint64(len(rule)), kCount)
		for j := range len(rule) {
			w.bits(uint64(rule[j]), 8)
		}
		w.int(d.varint(), kSmall)
		w.int(d.varint(), kFirstSeen)
		m := d.len()
		w.uint(uint64(m), kSmall)
		for j := range m {
			w.int(d.varint(), sentK(j))
		}
	}
	if d.err == nil && d.left() != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errCorrupt, d.left())
	}
	return w.done(), d.err
}

// recordIDs reads the front-coded names of a format 3 or 4 record,
// counts[k] of kind k, and appends their ids as appendProfile writes
// them, adding the names the table lacks.
func (t *nameTable) recordIDs(d *decoder, counts [3]int, ids []uint32) ([]uint32, error) {
	names := d.off
	for _, write := range [...]bool{false, true} {
		if write {
			t.mu.Lock()
		} else {
			t.mu.RLock()
		}
		var ok bool
		ids, ok = t.readIDs(d, counts, ids[:0], write)
		if write {
			t.mu.Unlock()
		} else {
			t.mu.RUnlock()
		}
		if d.err != nil || ok {
			break
		}
		d.off = names
	}
	return ids, d.err
}

// readIDs is recordIDs under t.mu; without write it stops at the first
// name the table lacks and reports false. It checks what decoder.names
// checks.
func (t *nameTable) readIDs(d *decoder, counts [3]int, ids []uint32, write bool) ([]uint32, bool) {
	var buf [256]byte
	total := 0
	for kind, n := range counts {
		cur := buf[:0]
		for range n {
			shared, rest := d.shared(), d.len()
			if d.err != nil || shared > len(cur) || rest > d.left() {
				d.fail("name")
				return ids, false
			}
			suffix := d.b[d.off : d.off+rest]
			d.off += rest
			if shared < len(cur) && rest > 0 && suffix[0] == cur[shared] {
				d.fail("name (prefix not shared in full)")
				return ids, false
			}
			if total += shared + rest; total > maxNamesLen {
				d.fail("names (too long)")
				return ids, false
			}
			cur = append(cur[:shared], suffix...)
			id, ok := t.ids[string(cur)]
			if !ok {
				if !write {
					return ids, false
				}
				id = t.add(string(cur))
			}
			kid, ok := t.kindID(kind, id)
			if !ok {
				if !write {
					return ids, false
				}
				kid = t.addKind(kind, id)
			}
			ids = append(ids, kid)
		}
	}
	return ids, true
}

// decodeAtRest reads a profile in the form appendProfile wrote, or in a
// changelog format (a record the store could not convert is kept as it
// came, so that reading it fails where it is used, as it always did). The
// profile's lists are laid out as DecodeProfile lays them out.
func decodeAtRest(data []byte, t *nameTable) (*loyalty.Profile, error) {
	return decodeInto(data, t, nil, "")
}

// decodeInto is decodeAtRest into room, when it is not nil, of the
// profile stored as card's. A record in a changelog format, which only a
// restore's records not yet compacted are, is decoded on its own.
func decodeInto(data []byte, t *nameTable, room *profileRoom, card string) (*loyalty.Profile, error) {
	if len(data) == 0 || data[0] != profileAtRest {
		return DecodeProfile(data)
	}
	d := decoder{b: data, off: 1}
	blk := d.lead(room, card)
	if d.err != nil {
		return nil, d.err
	}
	r := bitReader{b: d.rest()}
	r.names(&blk.p, t)
	r.align()
	if r.body(blk, room); !r.end() {
		return nil, fmt.Errorf("%w: the at-rest form of card %q", errCorrupt, blk.p.CardID)
	}
	if room != nil {
		blk.p.SpareDays(room.spare[:])
	}
	return &blk.p, nil
}

// lead reads what format 4 and the at-rest form start with after their
// format byte (see appendLead), and makes the profile's lists: in a new
// block, or with room not nil in room's, over the profile it held. A
// record whose card id is card takes card as the profile's, so as not to
// copy it.
func (d *decoder) lead(room *profileRoom, card string) *profileBlock {
	id := d.span()
	n := d.counts()
	if d.err != nil {
		return nil
	}
	var blk *profileBlock
	if room != nil {
		blk = &room.blk
		blk.p = loyalty.Profile{}
	} else {
		blk = &profileBlock{}
	}
	blk.lists(n[0], n[1], n[2], room)
	if string(id) == card {
		blk.p.CardID = card
	} else {
		blk.p.CardID = string(id)
	}
	return blk
}

// body reads the body of format 4 and of the at-rest form (see
// appendBody) into blk's profile, whose lists are made and named, using
// room's arrays for the rest when room is not nil. It reads nothing once
// the stream is bad; the caller checks r.end.
func (r *bitReader) body(blk *profileBlock, room *profileRoom) {
	if r.bad {
		return
	}
	p := &blk.p
	nc, ns, nst := len(p.Categories), len(p.SKUs), len(p.Stores)
	var head [len(atRestHead)]int64
	for i, k := range atRestHead {
		head[i] = r.int(k)
	}
	nd, ncd, ntimes := r.count(kCount), r.count(kCount), r.count(kCount)
	if r.bad || ntimes > 1+nc+ns+nst {
		r.bad = true
		return
	}
	p.FirstSeen, p.LastSeen = head[0], head[0]+head[1]
	p.Visits, p.Checkins, p.Scans, p.SpendCents, p.Units = head[2], head[3], head[4], head[5], head[6]
	p.MaxBasket, p.Returns, p.ReturnCents = head[7], head[8], head[9]
	newest := head[10] + p.LastSeen/86400
	p.NewestDay = int32(newest)
	if int64(p.NewestDay) != newest {
		r.bad = true
	}
	p.TooOld, p.LastOffset = head[11], head[12]

	var timeBuf [128]int64
	var usedBuf [128]bool
	times, used := timeBuf[:0], usedBuf[:0]
	if ntimes > len(timeBuf) {
		times, used = make([]int64, 0, ntimes), make([]bool, 0, ntimes)
	}
	used = used[:ntimes]
	for i := range ntimes {
		if i == 0 {
			times = append(times, p.FirstSeen+r.int(kTime))
			continue
		}
		// A wrapped sum lands at or below the time before: corrupt.
		if t := times[i-1] + int64(r.uint(kTime)+1); t > times[i-1] {
			times = append(times, t)
		} else {
			r.bad = true
			return
		}
	}
	width := rankWidth(ntimes)
	time := func() int64 {
		i := r.bits(width)
		if i >= uint64(ntimes) {
			r.bad = true
			return 0
		}
		used[i] = true
		return times[i]
	}

	// The profile's days and every category's share one array, as in
	// decoder.profile3.
	var days []loyalty.DaySpend
	switch {
	case nd+ncd == 0:
	case room != nil:
		days = roomList(&room.days, nd+1+ncd+nc)
	default:
		days = make([]loyalty.DaySpend, nd+1+ncd+nc)
	}
	p.LastVisit = time()
	if nd > 0 {
		p.Days = days[: nd : nd+1]
		r.days(p.Days, p.LastVisit, kVisitCents, true)
	}
	// Each category's days with a spare slot after them, as there.
	at, read := nd+1, 0
	for i := range p.Categories {
		c := &p.Categories[i]
		c.LastBought = time()
		k := r.count(kSmall)
		if read += k; read > ncd || r.bad {
			r.bad = true
			return
		}
		var sum int64
		if k > 0 {
			c.Days = days[at : at+k : at+k+1]
			sum = r.days(c.Days, c.LastBought, kDayCents, false)
			at += k + 1
		}
		c.SpendCents = sum + r.int(kSmall)
		c.Units = int64(k) + r.int(kSmall)
	}
	if read != ncd {
		r.bad = true
	}
	for i := range p.SKUs {
		p.SKUs[i].LastBought = time()
		p.SKUs[i].Units = r.int(kSmall) + 1
	}
	for i := range p.Stores {
		p.Stores[i].LastVisit = time()
		p.Stores[i].Visits = r.int(kSmall) + 1
	}
	if slices.Contains(used, false) {
		r.bad = true // the table holds only times referred to
	}
	if k := r.count(kCount); k > 0 {
		p.RecentSwipes = blk.recent[:0]
		if k > len(blk.recent) {
			p.RecentSwipes = make([]uint64, 0, k)
		}
		for range k {
			p.RecentSwipes = append(p.RecentSwipes, r.bits(loyalty.SwipeHashBits))
		}
	}
	if k := r.count(kSmall); k > 0 && !r.bad {
		r.offers(p, k, room)
	}
}

// offers reads the k offer histories that end the body into p, using
// room's arrays when room is not nil.
func (r *bitReader) offers(p *loyalty.Profile, k int, room *profileRoom) {
	if room != nil {
		p.Offers = roomList(&room.offers, k)
		room.sent = room.sent[:0]
	} else {
		p.Offers = make([]loyalty.OfferHistory, k)
	}
	var idBuf [64]byte
	for i := range p.Offers {
		o := &p.Offers[i]
		rule := idBuf[:0]
		if room != nil {
			rule = room.id[:0]
		}
		for range r.count(kCount) {
			rule = append(rule, byte(r.bits(8)))
		}
		if room != nil {
			o.RuleID, room.id = room.ruleID(rule), rule
		} else {
			o.RuleID = string(rule)
		}
		o.Held = r.int(kSmall)
		o.Forgot = r.int(kFirstSeen)
		if m := r.count(kSmall); m > 0 {
			var sent []int64
			if room != nil {
				start := len(room.sent)
				room.sent = append(room.sent, make([]int64, m)...)
				sent = room.sent[start : start+m : start+m]
			} else {
				sent = make([]int64, m)
			}
			prev := int64(0)
			for j := range sent {
				prev += r.int(sentK(j))
				sent[j] = prev
			}
			o.Sent = sent
		}
		if r.bad {
			return
		}
	}
}

// names reads the name ids of p's categories, SKUs and stores into p: the
// table's copies of the names.
func (r *bitReader) names(p *loyalty.Profile, t *nameTable) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	name := func(kind int, k uint) string {
		names := t.kinds[kind].names
		id := r.uint(k)
		if id >= uint64(len(names)) {
			r.bad = true
			return ""
		}
		return names[id]
	}
	for i := range p.Categories {
		p.Categories[i].Name = name(kindCategory, kCategoryID)
	}
	for i := range p.SKUs {
		p.SKUs[i].SKU = name(kindSKU, kSKUID)
	}
	for i := range p.Stores {
		p.Stores[i].StoreID = name(kindStore, kStoreID)
	}
}

// days reads into ds, of the history's length, a day history written by
// bitWriter.days, and returns the sum of its cents.
func (r *bitReader) days(ds []loyalty.DaySpend, anchor int64, kCents uint, visits bool) int64 {
	var sum int64
	next := anchor / 86400
	for i := len(ds) - 1; i >= 0; i-- {
		var day int64
		if i == len(ds)-1 {
			day = next + r.int(kSmall)
		} else {
			day = next - 1 - r.int(kDayGap)
		}
		d := loyalty.DaySpend{Day: int32(day), Cents: r.int(kCents)}
		if int64(d.Day) != day {
			r.bad = true
		}
		if visits {
			v := r.int(kSmall) + 1
			if d.Visits = int32(v); int64(d.Visits) != v {
				r.bad = true
			}
		}
		ds[i] = d
		sum += d.Cents
		next = day
	}
	return sum
}
