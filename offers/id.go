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
	var buf [128]byte
	b := append(buf[:0], ruleID...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(version), 10)
	b = append(b, 0)
	b = append(b, swipeID...)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

var couponAlphabet = base32.NewEncoding("ABCDEFGHJKLMNPQRSTUVWXYZ23456789").WithPadding(base32.NoPadding)

// CouponCode derives a ten-character code from an offer id: no I/1 or O/0,
// so it can be read out at a till, and the same offer gets the same code.
func CouponCode(offerID string) string {
	raw, err := hex.DecodeString(offerID)
	if err != nil || len(raw) < 7 {
		sum := sha256.Sum256([]byte(offerID))
		raw = sum[:]
	}
	return couponAlphabet.EncodeToString(raw[:7])[:10]
}
