package engine

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/aislecast/loyalty"
)

// decodeSwipeJSON parses a swipe message into w. It replaces
// json.Unmarshal(data, w) on the hot path, which spent most of its time in
// reflection, and accepts exactly the documents json.Unmarshal accepts into
// a wireSwipe, with the same result (FuzzSwipeJSON checks this):
//
//   - the top-level value is an object or null (null leaves w unchanged);
//   - keys match field names as encoding/json matches them: exactly, or
//     else under Unicode simple case folding, so "Total_Cents",
//     "\u0073wipe_id" and "\u017fwipe_id" (long s) all name a field;
//   - for a repeated key the last value wins; objects inside arrays merge
//     into the element a previous occurrence of the key left at that index,
//     as encoding/json reuses the slice;
//   - null leaves a string or integer unchanged and sets "v", "items" and
//     "redeemed_offers" to nil; [] sets a slice to an empty, non-nil one;
//   - integers are JSON numbers without fraction or exponent that fit in
//     64 bits ("1e3" and "12.0" are rejected);
//   - strings decode \uXXXX escapes and surrogate pairs, and turn lone
//     surrogates and each byte of invalid UTF-8 into U+FFFD;
//   - unknown fields may hold any JSON value, nested at most 10000 deep
//     in total, as encoding/json's scanner allows.
//
// The error names the byte offset and, inside a field, the field.
//
// The strings of w alias data (see viewString): they are valid while data
// is unchanged, and a swipe that outlives the message must own them
// (ownStrings).
func decodeSwipeJSON(data []byte, w *wireSwipe) error {
	d := swipeDecoder{data: data}
	return d.decode(w)
}

// decode runs decodeSwipeJSON with the decoder's buffers.
func (d *swipeDecoder) decode(w *wireSwipe) error {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return d.eof()
	}
	switch d.data[d.pos] {
	case '{':
		if err := d.swipe(w); err != nil {
			return err
		}
	case 'n':
		if err := d.literal("null"); err != nil {
			return err
		}
		d.null = true
	default:
		return d.typeError("a swipe object")
	}
	d.skipSpace()
	if d.pos < len(d.data) {
		return d.errorf("unexpected %s after the swipe object", quoteByte(d.data[d.pos]))
	}
	return nil
}

// maxDepth is encoding/json's limit on nested arrays and objects.
const maxDepth = 10000

// swipeDecoder is the state of one decodeSwipeJSON call.
type swipeDecoder struct {
	data []byte
	pos  int

	// field, index and sub name the value being decoded, for errors:
	// items[index].sub. index is -1 outside arrays.
	field string
	index int
	sub   string

	// itemBuf and offerBuf are the buffers a fresh "items" or
	// "redeemed_offers" array is decoded into (see array), and v is where
	// "v" is kept; a swipeReader lends its own so that a swipe costs no
	// allocation for them. Without them the decoder allocates.
	itemBuf  []loyalty.Item
	offerBuf []string
	v        *int

	// null is set when the message is JSON's null, which encoding/json
	// decodes as nothing at all; replaced, when a string held bytes that
	// are not UTF-8 or a lone surrogate escape, which both decode to
	// U+FFFD. The swipe reader rejects either (see swipeReader.read).
	null, replaced bool
}

func (d *swipeDecoder) swipe(w *wireSwipe) error {
	more, err := d.openObject(1)
	for more && err == nil {
		var key []byte
		if key, err = d.key(); err != nil {
			return err
		}
		d.field, d.index, d.sub = fieldName(key, swipeFields[:]), -1, ""
		switch d.field {
		case "v":
			err = d.version(&w.V)
		case "swipe_id":
			err = d.str(&w.SwipeID)
		case "card_id":
			err = d.str(&w.CardID)
		case "kind":
			err = d.kind(&w.Kind)
		case "store_id":
			err = d.str(&w.StoreID)
		case "aisle":
			err = d.str(&w.Aisle)
		case "lane":
			err = d.str(&w.Lane)
		case "ts":
			err = d.str(&w.TS)
		case "items":
			err = d.items(&w.Items)
		case "total_cents":
			err = d.int(&w.TotalCents)
		case "currency":
			err = d.str(&w.Currency)
		case "redeemed_offers":
			err = d.offers(&w.RedeemedOffers)
		default:
			err = d.skipValue(1)
		}
		if err != nil {
			return err
		}
		d.field = ""
		more, err = d.nextMember()
	}
	return err
}

var (
	swipeFields = [...]string{"v", "swipe_id", "card_id", "kind", "store_id", "aisle", "lane", "ts",
		"items", "total_cents", "currency", "redeemed_offers"}
	itemFields = [...]string{"sku", "category", "qty", "unit_price_cents"}
)

// item decodes one element of "items" into it, merging into what is there.
func (d *swipeDecoder) item(it *loyalty.Item) error {
	if d.pos < len(d.data) && d.data[d.pos] == 'n' {
		return d.literal("null")
	}
	if d.pos >= len(d.data) || d.data[d.pos] != '{' {
		return d.typeError("an item object")
	}
	more, err := d.openObject(3)
	for more && err == nil {
		var key []byte
		if key, err = d.key(); err != nil {
			return err
		}
		d.sub = fieldName(key, itemFields[:])
		switch d.sub {
		case "sku":
			err = d.str(&it.SKU)
		case "category":
			err = d.str(&it.Category)
		case "qty":
			err = d.int(&it.Qty)
		case "unit_price_cents":
			err = d.int(&it.UnitPriceCents)
		default:
			err = d.skipValue(3)
		}
		if err != nil {
			return err
		}
		d.sub = ""
		more, err = d.nextMember()
	}
	return err
}

// openObject reads the '{' at d.pos of an object at nesting depth depth,
// and reports whether a member follows.
func (d *swipeDecoder) openObject(depth int) (more bool, err error) {
	if depth > maxDepth {
		return false, d.errorf("exceeded max nesting depth %d", maxDepth)
	}
	d.pos++
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return false, nil
	}
	return true, nil
}

// key reads an object key and its colon, leaving d.pos at the value.
func (d *swipeDecoder) key() ([]byte, error) {
	if d.pos >= len(d.data) {
		return nil, d.eof()
	}
	if d.data[d.pos] != '"' {
		return nil, d.errorf("invalid character %s looking for beginning of object key string", quoteByte(d.data[d.pos]))
	}
	key, err := d.string()
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.pos >= len(d.data) {
		return nil, d.eof()
	}
	if d.data[d.pos] != ':' {
		return nil, d.errorf("invalid character %s after object key", quoteByte(d.data[d.pos]))
	}
	d.pos++
	d.skipSpace()
	return key, nil
}

// nextMember reads what follows a member's value, ',' or '}', and reports
// whether another member follows.
func (d *swipeDecoder) nextMember() (more bool, err error) {
	return d.next('}', "after object key:value pair")
}

// next reads the separator after an object member or array element: ','
// (another follows) or the container's closing byte.
func (d *swipeDecoder) next(closing byte, after string) (more bool, err error) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return false, d.eof()
	}
	switch d.data[d.pos] {
	case ',':
		d.pos++
		d.skipSpace()
		return true, nil
	case closing:
		d.pos++
		return false, nil
	}
	return false, d.errorf("invalid character %s %s", quoteByte(d.data[d.pos]), after)
}

// items decodes "items" into *s; see array.
func (d *swipeDecoder) items(s *[]loyalty.Item) error {
	return array(d, s, &d.itemBuf, d.item)
}

// offers decodes "redeemed_offers" into *s; see array.
func (d *swipeDecoder) offers(s *[]string) error {
	return array(d, s, &d.offerBuf, d.str)
}

// array decodes the array or null at d.pos into *s, each element with
// elem. Element i merges into (*s)[i], as in encoding/json, which reuses
// the slice an earlier occurrence of the key left, even beyond its length;
// see reuse. A fresh array (*s without capacity) is decoded into the
// buffer *buf, which keeps what it grew to, and *s gets it with its
// capacity cut to its length, so that a later occurrence of the key that
// grows it copies it to zeroed memory as encoding/json would.
func array[T any](d *swipeDecoder, s, buf *[]T, elem func(*T) error) error {
	more, err := openArray(d, s)
	if !more || err != nil {
		return err
	}
	fresh, old := cap(*s) == 0, *s
	b := (*buf)[:0]
	if fresh && cap(b) == 0 {
		b = make([]T, 0, 8)
	}
	for i := 0; ; i++ {
		var e *T
		if fresh {
			var zero T
			b = append(b, zero)
			e = &b[i]
		} else {
			old = reuse(old, i)
			e = &old[i]
		}
		d.index = i
		if err := elem(e); err != nil {
			return err
		}
		if more, err = d.nextElement(); err != nil {
			return err
		}
		if !more {
			if fresh {
				*buf = b
				*s = b[: i+1 : i+1]
			} else {
				*s = old[:i+1]
			}
			d.index = -1
			return nil
		}
	}
}

// reuse returns s extended, if need be, to hold element i, the one after
// the last decoded, as encoding/json extends it: up to cap(s) the elements
// keep the values they had, so a null element leaves them as they were.
func reuse[T any](s []T, i int) []T {
	switch {
	case i < len(s):
		return s
	case i < cap(s):
		return s[:i+1]
	}
	var zero T
	return append(s, zero)
}

// openArray reads the start of the array or null at d.pos for the slice
// *s, at nesting depth 2, and reports whether an element follows. As in
// encoding/json, null sets *s to nil and [] to an empty slice.
func openArray[T any](d *swipeDecoder, s *[]T) (more bool, err error) {
	if d.pos >= len(d.data) {
		return false, d.eof()
	}
	switch d.data[d.pos] {
	case 'n':
		*s = nil
		return false, d.literal("null")
	case '[':
	default:
		return false, d.typeError("an array")
	}
	d.pos++
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		*s = []T{}
		return false, nil
	}
	return true, nil
}

// nextElement reads what follows an array element, ',' or ']', and
// reports whether another element follows.
func (d *swipeDecoder) nextElement() (more bool, err error) {
	return d.next(']', "after array element")
}

// fieldName returns the name in names that key matches as encoding/json
// matches keys to field names, or "" if none does. All names are lower-case
// ASCII, so key matches a name if it equals it after mapping A-Z, U+017F
// (long s) and U+212A (Kelvin sign) to a-z, s and k: those are the only
// runes whose simple case folding reaches a lower-case ASCII letter.
func fieldName(key []byte, names []string) string {
	for _, n := range names {
		if string(key) == n {
			return n
		}
	}
	var arr [16]byte
	folded := arr[:0]
	for i := 0; i < len(key); {
		c := key[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
			i++
		case c < utf8.RuneSelf:
			i++
		case c == 0xc5 && i+1 < len(key) && key[i+1] == 0xbf: // U+017F ſ
			c = 's'
			i += 2
		case c == 0xe2 && i+2 < len(key) && key[i+1] == 0x84 && key[i+2] == 0xaa: // U+212A K
			c = 'k'
			i += 3
		default:
			return ""
		}
		if len(folded) == len(arr) {
			return ""
		}
		folded = append(folded, c)
	}
	for _, n := range names {
		if string(folded) == n {
			return n
		}
	}
	return ""
}

// version decodes "v": null clears it.
func (d *swipeDecoder) version(v **int) error {
	if d.pos < len(d.data) && d.data[d.pos] == 'n' {
		*v = nil
		return d.literal("null")
	}
	var n int64
	if err := d.int(&n); err != nil {
		return err
	}
	if *v == nil {
		if d.v == nil {
			d.v = new(int)
		}
		*v = d.v
	}
	**v = int(n)
	return nil
}

// int decodes an integer that fits in an int64; null leaves n unchanged.
func (d *swipeDecoder) int(n *int64) error {
	if d.pos >= len(d.data) {
		return d.eof()
	}
	c := d.data[d.pos]
	if c == 'n' {
		return d.literal("null")
	}
	if c != '-' && (c < '0' || c > '9') {
		return d.typeError("an integer")
	}
	start := d.pos
	isInt, err := d.number()
	if err != nil {
		return err
	}
	lit := d.data[start:d.pos]
	if !isInt {
		return d.errorAt(start, "expected an integer, found number %s", lit)
	}
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	var u uint64
	for _, c := range lit {
		if u > (1<<64-1)/10 {
			return d.errorAt(start, "number %s does not fit in 64 bits", d.data[start:d.pos])
		}
		u = u*10 + uint64(c-'0')
		if u < uint64(c-'0') {
			return d.errorAt(start, "number %s does not fit in 64 bits", d.data[start:d.pos])
		}
	}
	switch {
	case !neg && u <= 1<<63-1:
		*n = int64(u)
	case neg && u <= 1<<63:
		*n = int64(-u)
	default:
		return d.errorAt(start, "number %s does not fit in 64 bits", d.data[start:d.pos])
	}
	return nil
}

// number reads a JSON number and reports whether it is an integer (no
// fraction, no exponent).
func (d *swipeDecoder) number() (isInt bool, err error) {
	isInt = true
	if d.data[d.pos] == '-' {
		d.pos++
	}
	switch {
	case d.pos >= len(d.data):
		return false, d.eof()
	case d.data[d.pos] == '0':
		d.pos++
	case '1' <= d.data[d.pos] && d.data[d.pos] <= '9':
		d.digits()
	default:
		return false, d.errorf("invalid character %s in numeric literal", quoteByte(d.data[d.pos]))
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		isInt = false
		d.pos++
		if err := d.someDigits("after decimal point in numeric literal"); err != nil {
			return false, err
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		isInt = false
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if err := d.someDigits("in exponent of numeric literal"); err != nil {
			return false, err
		}
	}
	return isInt, nil
}

func (d *swipeDecoder) someDigits(where string) error {
	if d.pos >= len(d.data) {
		return d.eof()
	}
	if c := d.data[d.pos]; c < '0' || c > '9' {
		return d.errorf("invalid character %s %s", quoteByte(c), where)
	}
	d.digits()
	return nil
}

func (d *swipeDecoder) digits() {
	for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
		d.pos++
	}
}

// str decodes a string; null leaves s unchanged.
func (d *swipeDecoder) str(s *string) error {
	if d.pos < len(d.data) && d.data[d.pos] == 'n' {
		return d.literal("null")
	}
	if d.pos >= len(d.data) || d.data[d.pos] != '"' {
		return d.typeError("a string")
	}
	b, err := d.string()
	if err != nil {
		return err
	}
	*s = viewString(b)
	return nil
}

// kind decodes "kind" as str does, but a valid kind is its constant, which
// does not alias the message.
func (d *swipeDecoder) kind(k *loyalty.Kind) error {
	if d.pos < len(d.data) && d.data[d.pos] == 'n' {
		return d.literal("null")
	}
	if d.pos >= len(d.data) || d.data[d.pos] != '"' {
		return d.typeError("a string")
	}
	b, err := d.string()
	if err != nil {
		return err
	}
	switch loyalty.Kind(b) {
	case loyalty.KindPurchase:
		*k = loyalty.KindPurchase
	case loyalty.KindCheckin:
		*k = loyalty.KindCheckin
	case loyalty.KindScan:
		*k = loyalty.KindScan
	case loyalty.KindReturn:
		*k = loyalty.KindReturn
	default:
		*k = loyalty.Kind(viewString(b))
	}
	return nil
}

// viewString returns b as a string without copying it. The decoder's
// strings are views of the message (or of the buffer an escaped string
// was decoded into, which nothing else holds) until ownStrings copies the
// ones a swipe keeps into one allocation: most of a message is strings,
// and one allocation for each of them was most of the decoder's cost.
func viewString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// string reads the string at d.pos and returns its decoded bytes, which
// may alias d.data.
func (d *swipeDecoder) string() ([]byte, error) {
	start := d.pos + 1
	ascii := true
	for i := start; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			if ascii || utf8.Valid(d.data[start:i]) {
				d.pos = i + 1
				return d.data[start:i], nil
			}
			return d.unquote(start)
		case c == '\\' || c < ' ':
			return d.unquote(start)
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	d.pos = len(d.data)
	return nil, d.eof()
}

// unquote decodes the string whose contents start at start as
// encoding/json's unquote does. Few strings need it, so it allocates.
func (d *swipeDecoder) unquote(start int) ([]byte, error) {
	b := make([]byte, 0, 64)
	i := start
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return b, nil
		case c < ' ':
			d.pos = i
			return nil, d.errorf("invalid character %s in string literal", quoteByte(c))
		case c == '\\':
			if i+1 >= len(d.data) {
				d.pos = len(d.data)
				return nil, d.eof()
			}
			switch e := d.data[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, err := d.hex4(i + 2)
				if err != nil {
					return nil, err
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r2 := u4(d.data[i:]); r2 >= 0 {
						if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
							r = pair
							i += 6
						} else {
							r, d.replaced = utf8.RuneError, true
						}
					} else {
						r, d.replaced = utf8.RuneError, true
					}
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				d.pos = i + 1
				return nil, d.errorf("invalid character %s in string escape code", quoteByte(e))
			}
			i += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(d.data[i:])
			if r == utf8.RuneError && size == 1 {
				d.replaced = true
			}
			b = utf8.AppendRune(b, r)
			i += size
		}
	}
	d.pos = len(d.data)
	return nil, d.eof()
}

// hex4 reads the four hex digits of a \u escape at i.
func (d *swipeDecoder) hex4(i int) (rune, error) {
	var r rune
	for j := i; j < i+4; j++ {
		if j >= len(d.data) {
			d.pos = len(d.data)
			return 0, d.eof()
		}
		v := hexVal(d.data[j])
		if v < 0 {
			d.pos = j
			return 0, d.errorf("invalid character %s in \\u hexadecimal character escape", quoteByte(d.data[j]))
		}
		r = r<<4 | v
	}
	return r, nil
}

// u4 decodes a \uXXXX escape at the start of b, or returns -1.
func u4(b []byte) rune {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range b[2:6] {
		v := hexVal(c)
		if v < 0 {
			return -1
		}
		r = r<<4 | v
	}
	return r
}

func hexVal(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// skipValue checks and skips any JSON value, of nesting depth at most
// maxDepth counting the depth containers around it.
func (d *swipeDecoder) skipValue(depth int) error {
	if d.pos >= len(d.data) {
		return d.eof()
	}
	switch c := d.data[d.pos]; c {
	case '"':
		_, err := d.string()
		return err
	case '{':
		more, err := d.openObject(depth + 1)
		for more && err == nil {
			if _, err = d.key(); err != nil {
				return err
			}
			if err = d.skipValue(depth + 1); err != nil {
				return err
			}
			more, err = d.nextMember()
		}
		return err
	case '[':
		if depth+1 > maxDepth {
			return d.errorf("exceeded max nesting depth %d", maxDepth)
		}
		d.pos++
		d.skipSpace()
		if d.pos < len(d.data) && d.data[d.pos] == ']' {
			d.pos++
			return nil
		}
		for {
			if err := d.skipValue(depth + 1); err != nil {
				return err
			}
			d.skipSpace()
			if d.pos >= len(d.data) {
				return d.eof()
			}
			switch d.data[d.pos] {
			case ',':
				d.pos++
				d.skipSpace()
			case ']':
				d.pos++
				return nil
			default:
				return d.errorf("invalid character %s after array element", quoteByte(d.data[d.pos]))
			}
		}
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		if c == '-' || '0' <= c && c <= '9' {
			_, err := d.number()
			return err
		}
		return d.errorf("invalid character %s looking for beginning of value", quoteByte(c))
	}
}

// literal reads lit, which starts with the byte at d.pos.
func (d *swipeDecoder) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if d.pos >= len(d.data) {
			return d.eof()
		}
		if d.data[d.pos] != lit[i] {
			return d.errorf("invalid character %s in literal %s (expecting %q)", quoteByte(d.data[d.pos]), lit, lit[i])
		}
		d.pos++
	}
	return nil
}

func (d *swipeDecoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// typeError reports that the value at d.pos is not the wanted kind. It is
// a syntax error if no JSON value starts there.
func (d *swipeDecoder) typeError(want string) error {
	if d.pos >= len(d.data) {
		return d.eof()
	}
	var found string
	switch c := d.data[d.pos]; {
	case c == '{':
		found = "object"
	case c == '[':
		found = "array"
	case c == '"':
		found = "string"
	case c == 't' || c == 'f':
		found = "bool"
	case c == 'n':
		found = "null"
	case c == '-' || '0' <= c && c <= '9':
		found = "number"
	default:
		return d.errorf("invalid character %s looking for beginning of value", quoteByte(c))
	}
	return d.errorf("expected %s, found %s", want, found)
}

func (d *swipeDecoder) eof() error {
	return fmt.Errorf("unexpected end of JSON input at byte %d%s", len(d.data), d.where(": in "))
}

func (d *swipeDecoder) errorf(format string, args ...any) error {
	return d.errorAt(d.pos, format, args...)
}

func (d *swipeDecoder) errorAt(off int, format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s%s", off, d.where(""), fmt.Sprintf(format, args...))
}

// where names the field being decoded, after prefix and followed by ": ",
// or returns "" at the top level.
func (d *swipeDecoder) where(prefix string) string {
	if d.field == "" {
		return ""
	}
	s := d.field
	if d.index >= 0 {
		s += "[" + strconv.Itoa(d.index) + "]"
		if d.sub != "" {
			s += "." + d.sub
		}
	}
	if prefix != "" {
		return prefix + s
	}
	return s + ": "
}

// quoteByte shows c for an error message.
func quoteByte(c byte) string {
	if c >= utf8.RuneSelf {
		return fmt.Sprintf("byte 0x%02x", c)
	}
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	return strconv.QuoteRune(rune(c))
}
