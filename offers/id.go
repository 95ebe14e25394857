package offers

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strconv"
)

// ID is the deterministic offer id of a rule version's offer for a swipe:
// the first 128 bits of SHA-256 over the three parts, in hex.
func ID(ruleID string, version int, swipeID string) string {
	sum := idSum(ruleID, version, swipeID)
	return hex.EncodeToString(sum[:16])
}

// idSum is the SHA-256 an offer id is the start of.
func idSum(ruleID string, version int, swipeID string) [sha256.Size]byte {
	var buf [128]byte
	b := append(buf[:0], ruleID...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(version), 10)
	b = append(b, 0)
	b = append(b, swipeID...)
	return sha256.Sum256(b)
}

var couponAlphabet = base32.NewEncoding("ABCDEFGHJKLMNPQRSTUVWXYZ23456789").WithPadding(base32.NoPadding)

// CouponCode derives a ten-character code from an offer id: no I/1 or O/0,
// so it can be read out at a till, and the same offer gets the same code.
func CouponCode(offerID string) string {
	var buf [16]byte // an id's bytes, decoded without allocating
	raw := buf[:]
	if len(offerID) > 2*len(buf) {
		raw = make([]byte, hex.DecodedLen(len(offerID)))
	}
	if n, err := hex.Decode(raw, []byte(offerID)); err == nil && n >= 7 {
		return couponCode(raw[:7])
	}
	sum := sha256.Sum256([]byte(offerID)) // not hex: any string gets a code
	return couponCode(sum[:7])
}

// couponCode is the code of the offer whose id starts with the seven bytes
// raw.
func couponCode(raw []byte) string {
	var code [12]byte
	return string(appendCode(code[:0], raw))
}

// appendCode appends the coupon code of the offer whose id starts with the
// seven bytes raw.
func appendCode(dst, raw []byte) []byte {
	var code [12]byte // base32 of seven bytes: 12 characters
	couponAlphabet.Encode(code[:], raw[:7])
	return append(dst, code[:10]...)
}

// idAndCode returns ID(ruleID, version, swipeID) and its CouponCode, from
// one hash and in one allocation: Build makes both for every offer.
func idAndCode(ruleID string, version int, swipeID string) (id, code string) {
	sum := idSum(ruleID, version, swipeID)
	var buf [2*16 + 10]byte
	b := hex.AppendEncode(buf[:0], sum[:16])
	both := string(appendCode(b, sum[:7]))
	return both[:2*16], both[2*16:]
}
