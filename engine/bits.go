package engine

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// The at-rest form (see atrest.go) is a bit stream: most of a profile's
// numbers are small (counts, units, gaps of days) and take two to five
// bits there where a varint takes eight. Values go in least significant
// bit first, and integers in an exp-Golomb code of an order chosen per
// field: the order k is the number of low bits written as they are, so a
// field whose values are mostly below 2^k costs k+1 bits for those, and
// larger values a few bits more for every doubling.

// bitWriter appends a bit stream to buf.
type bitWriter struct {
	buf []byte
	acc uint64 // the bits not yet appended, in the low n bits
	n   uint
}

// bits writes the low n bits of v (n < 64); v has no bits above them.
// Shift counts are masked to 63 here and below: they are below 64 anyway,
// and the mask spares the compiler's code for larger ones.
func (w *bitWriter) bits(v uint64, n uint) {
	w.acc |= v << (w.n & 63)
	w.n += n
	if w.n >= 64 {
		w.buf = binary.LittleEndian.AppendUint64(w.buf, w.acc)
		w.n -= 64
		// The w.n bits of v that did not fit (none when w.n is 0, and
		// then n - w.n < 64, so v's shift leaves nothing).
		w.acc = v >> ((n - w.n) & 63) & (1<<(w.n&63) - 1)
	}
}

// uint writes u in the exp-Golomb code of order k, 1 ≤ k < 64: z zero
// bits and a one, where z+1 is the length of q = u>>k + 1, then q's low
// z bits, then u's low k bits. With k ≥ 1, q cannot overflow.
func (w *bitWriter) uint(u uint64, k uint) {
	q := u>>(k&63) + 1
	z := uint(bits.Len64(q)-1) & 63
	if n := 2*z + 1 + k; n < 64 {
		w.bits((q<<1|1)<<z&(1<<((2*z+1)&63)-1)|(u&(1<<(k&63)-1))<<((2*z+1)&63), n)
		return
	}
	w.long(u, k, q, z)
}

// long writes the code uint writes when it takes 64 bits or more.
func (w *bitWriter) long(u uint64, k uint, q uint64, z uint) {
	for range z {
		w.bits(0, 1)
	}
	w.bits(1, 1)
	for i := range z + k {
		if i < z {
			w.bits(q>>i&1, 1)
		} else {
			w.bits(u>>(i-z)&1, 1)
		}
	}
}

// int writes v zigzag-coded (0, -1, 1, -2, … as 0, 1, 2, 3, …) in the
// exp-Golomb code of order k.
func (w *bitWriter) int(v int64, k uint) {
	w.uint(uint64(v<<1)^uint64(v>>63), k)
}

// done appends the bits still held, the last byte padded with zeros, and
// returns the buffer.
func (w *bitWriter) done() []byte {
	for ; w.n > 0; w.n -= min(w.n, 8) {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
	}
	return w.buf
}

// bitReader reads what a bitWriter wrote. Past the end it reads zeros and
// notes it: the first failure sticks in bad, and the caller checks it
// (with end) once, rather than on every read.
type bitReader struct {
	b   []byte
	pos uint // in bits
	bad bool
}

// peek returns the stream from pos on: at least 57 bits of it, zeros
// past the end.
func (r *bitReader) peek() uint64 {
	i := r.pos >> 3
	var w uint64
	if i+8 <= uint(len(r.b)) {
		w = binary.LittleEndian.Uint64(r.b[i:])
	} else {
		for j := uint(len(r.b)); j > i; j-- {
			w = w<<8 | uint64(r.b[j-1])
		}
	}
	return w >> (r.pos & 7)
}

// bits reads n bits, n ≤ 64.
func (r *bitReader) bits(n uint) uint64 {
	if n > 56 {
		lo := r.bits(32)
		return lo | r.bits(n-32)<<32
	}
	v := r.peek() & (1<<(n&63) - 1)
	r.pos += n
	return v
}

// uint reads a value written by bitWriter.uint with the same k.
func (r *bitReader) uint(k uint) uint64 {
	w := r.peek()
	z := uint(bits.TrailingZeros64(w|1<<63)) & 63
	if n := 2*z + 1 + k; n <= 57 {
		r.pos += n
		q := 1<<z | w>>((z+1)&63)&(1<<z-1)
		return (q-1)<<(k&63) | w>>((2*z+1)&63)&(1<<(k&63)-1)
	}
	return r.long(k)
}

// long reads a code of more than 57 bits, or the end of the stream, one
// bit at a time.
func (r *bitReader) long(k uint) uint64 {
	z := uint(0)
	for r.bits(1) == 0 {
		if z++; z > 63 || r.pos > 8*uint(len(r.b)) {
			r.bad = true
			return 0
		}
	}
	q := 1<<z | r.bits(z)
	if q-1 > math.MaxUint64>>k {
		// The value would not fit 64 bits: no writer wrote this code, and
		// read on, it would wrap round to a value written another way.
		r.bad = true
		return 0
	}
	return (q-1)<<k | r.bits(k)
}

// int reads a value written by bitWriter.int with the same k.
func (r *bitReader) int(k uint) int64 {
	u := r.uint(k)
	return int64(u>>1) ^ -int64(u&1)
}

// count reads a list length written with uint: at most maxListLen, and
// no more than the bits left, since every element takes at least one.
func (r *bitReader) count(k uint) int {
	n := r.uint(k)
	if n > maxListLen || n > uint64(r.left()) {
		r.bad = true
		return 0
	}
	return int(n)
}

// align skips the bits that pad the stream to a whole byte, which must be
// zeros.
func (r *bitReader) align() {
	if pad := -r.pos & 7; r.bits(pad) != 0 {
		r.bad = true
	}
}

// left is how many bits are left to read, 0 past the end.
func (r *bitReader) left() uint {
	if end := 8 * uint(len(r.b)); r.pos < end {
		return end - r.pos
	}
	return 0
}

// end reports whether the stream was read to its end exactly: no read
// past it, and nothing but the last byte's zero padding left.
func (r *bitReader) end() bool {
	end := 8 * uint(len(r.b))
	return !r.bad && r.pos <= end && end-r.pos < 8 && (r.pos == end || r.peek() == 0)
}
