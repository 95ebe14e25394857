package engine

import (
	"encoding/binary"
	"fmt"
	"sync"
	"unsafe"

	"github.com/aislecast/loyalty"
)

// profileAtRest marks the form in which memStore keeps a profile: format 3
// with every category, SKU and store name replaced by its index in the
// instance's nameTable. A few thousand distinct names recur across
// millions of profiles, so this keeps one copy of each name per process
// instead of one per card, which is most of what makes a stored profile
// fit in a kilobyte. The form never leaves the process; the changelog and
// Encoded carry format 3, which stands alone.
const profileAtRest = 0x80 | profileFormat

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

// header reads a format 3 encoding up to its names and returns how many
// names of categories, SKUs and stores follow.
func (d *decoder) header() (counts [3]int, err error) {
	if d.byte() != profileFormat {
		return counts, fmt.Errorf("%w: unknown format", errCorrupt)
	}
	d.off += d.len() // the card id
	for range 13 {
		d.varint()
	}
	for i := range counts {
		counts[i] = d.len()
	}
	d.len() // category days
	return counts, d.err
}

// toAtRest appends to buf the at-rest form of data, an encoded profile in
// any format, interning its names in t. An old format is decoded and
// re-encoded first; a format 3 record is copied but for its names.
func toAtRest(buf, data []byte, t *nameTable) ([]byte, error) {
	if len(data) > 0 && data[0] != profileFormat {
		p, err := DecodeProfile(data)
		if err != nil {
			return buf, err
		}
		data = AppendProfile(nil, p)
	}
	d := decoder{b: data}
	counts, err := d.header()
	if err != nil {
		return buf, err
	}
	names := d.off
	start := len(buf)
	buf = append(buf, profileAtRest)
	buf = append(buf, data[1:names]...)
	header := len(buf)
	// Most names are known: look them up under the read lock, and only if
	// one is new do it again under the write lock.
	for _, write := range [...]bool{false, true} {
		if write {
			t.mu.Lock()
		} else {
			t.mu.RLock()
		}
		var ok bool
		buf, ok = t.appendIDs(buf, &d, names, counts, write)
		if write {
			t.mu.Unlock()
		} else {
			t.mu.RUnlock()
		}
		if d.err != nil {
			return buf[:start], d.err
		}
		if ok {
			break
		}
		buf = buf[:header]
	}
	return append(buf, d.rest()...), nil
}

// appendIDs reads the front-coded names at the start of names and appends
// their ids, leaving d after them. Without write it stops, reporting
// false, at the first name t does not know. The caller holds t.mu.
func (t *nameTable) appendIDs(buf []byte, d *decoder, names int, counts [3]int, write bool) ([]byte, bool) {
	d.off = names
	var name [256]byte
	for _, n := range counts {
		cur := name[:0]
		for range n {
			shared, rest := d.shared(), d.len()
			if d.err != nil || shared > len(cur) || rest > d.left() {
				d.fail("name")
				return buf, false
			}
			cur = append(cur[:shared], d.b[d.off:d.off+rest]...)
			d.off += rest
			id, ok := t.ids[string(cur)]
			if !ok {
				if !write {
					return buf, false
				}
				id = t.add(string(cur))
			}
			buf = binary.AppendUvarint(buf, uint64(id))
		}
	}
	return buf, true
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

// appendProfile appends to buf the at-rest form of p, given enc, p's
// format 3 encoding: enc with the names replaced by their ids in t. It
// takes the ids from p's names rather than reading them back from enc, and
// replaces each name in p by the table's copy, so that the next time p is
// stored its names are found by address. It is what a pipeline's store
// does with a profile every time a swipe changes it.
func (t *nameTable) appendProfile(buf, enc []byte, p *loyalty.Profile) ([]byte, error) {
	d := decoder{b: enc}
	counts, err := d.header()
	if err != nil {
		return buf, err
	}
	if counts != [3]int{len(p.Categories), len(p.SKUs), len(p.Stores)} {
		d.fail("name counts (not the profile's)")
	}
	names := d.off
	for range counts[0] + counts[1] + counts[2] {
		// Most names have one-byte lengths: skip those without the
		// checks of the general case below.
		if b := d.rest(); len(b) >= 2 && b[0] < 0x80 && b[1] < 0x80 && int(b[1]) <= len(b)-2 {
			d.off += 2 + int(b[1])
			continue
		}
		d.shared() // with the previous name
		rest := d.len()
		if d.err != nil || rest > d.left() {
			d.fail("name")
			break
		}
		d.off += rest
	}
	if d.err != nil {
		return buf, d.err
	}
	buf = append(buf, profileAtRest)
	buf = append(buf, enc[1:names]...)
	header := len(buf)
	// Under the read lock the names are looked up and replaced by the
	// table's copies; only if one is new is the write lock taken, to add it.
	var missing bool
	t.mu.RLock()
	buf = eachName(p, buf, func(buf []byte, s *string) []byte {
		id, ok := t.idOf(*s)
		if !ok {
			if id, ok = t.ids[*s]; ok {
				*s = t.names[id]
			}
		}
		if !ok {
			missing = true
			return buf
		}
		return binary.AppendUvarint(buf, uint64(id))
	})
	t.mu.RUnlock()
	if missing {
		buf = buf[:header]
		t.mu.Lock()
		buf = eachName(p, buf, func(buf []byte, s *string) []byte {
			id, ok := t.ids[*s]
			if !ok {
				id = t.add(*s)
			}
			*s = t.names[id]
			return binary.AppendUvarint(buf, uint64(id))
		})
		t.mu.Unlock()
	}
	return append(buf, d.rest()...), nil
}

// eachName calls f on every category, SKU and store name of p, in the
// order of the encoding, threading buf through.
func eachName(p *loyalty.Profile, buf []byte, f func([]byte, *string) []byte) []byte {
	for i := range p.Categories {
		buf = f(buf, &p.Categories[i].Name)
	}
	for i := range p.SKUs {
		buf = f(buf, &p.SKUs[i].SKU)
	}
	for i := range p.Stores {
		buf = f(buf, &p.Stores[i].StoreID)
	}
	return buf
}

// nameIDs reads the name ids of the at-rest form into p.
func (d *decoder) nameIDs(p *loyalty.Profile) {
	t := d.table
	t.mu.RLock()
	defer t.mu.RUnlock()
	name := func() string {
		id := d.uvarint()
		if d.err != nil || id >= uint64(len(t.names)) {
			d.fail("name id")
			return ""
		}
		return t.names[id]
	}
	for i := range p.Categories {
		p.Categories[i].Name = name()
	}
	for i := range p.SKUs {
		p.SKUs[i].SKU = name()
	}
	for i := range p.Stores {
		p.Stores[i].StoreID = name()
	}
}

// decodeAtRest reads a profile in the form toAtRest wrote, or in a
// changelog format (a record the store could not convert is kept as it
// came, so that reading it fails where it is used, as it always did).
func decodeAtRest(data []byte, t *nameTable) (*loyalty.Profile, error) {
	if len(data) == 0 || data[0] != profileAtRest {
		return DecodeProfile(data)
	}
	d := decoder{b: data[1:], table: t}
	p := d.profile()
	if d.err == nil && d.left() != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errCorrupt, d.left())
	}
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}
