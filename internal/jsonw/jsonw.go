// Package jsonw appends JSON values exactly as encoding/json writes them,
// for the hand-written encoders of the engine's hot path (offers and
// decision events), which must not drift from what a consumer using
// encoding/json would see.
package jsonw

import (
	"errors"
	"time"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// safeSet holds the ASCII bytes a JSON string holds as they are;
// htmlSafeSet those that stay as they are when HTML is escaped too.
var safeSet, htmlSafeSet = func() (safe, html [utf8.RuneSelf]bool) {
	for c := range utf8.RuneSelf {
		safe[c] = c >= 0x20 && c != '"' && c != '\\'
		html[c] = safe[c] && c != '<' && c != '>' && c != '&'
	}
	return safe, html
}()

// String appends s as a JSON string, as encoding/json writes it: quotes,
// backslashes and control characters escaped (\b, \f, \n, \r and \t by
// name), invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped, and,
// when escapeHTML is set (json.Marshal's default), <, > and & as \u003c,
// \u003e and \u0026.
func String[T string | []byte](dst []byte, s T, escapeHTML bool) []byte {
	safe := &safeSet
	if escapeHTML {
		safe = &htmlSafeSet
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default: // other control characters, and <, > and & for HTML
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := decodeRune(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += n
			continue
		}
		i += n
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Strings appends ss as a JSON array of strings, each as String writes
// it.
func Strings(dst []byte, ss []string, escapeHTML bool) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = String(dst, s, escapeHTML)
	}
	return append(dst, ']')
}

// decodeRune decodes the first rune of s without converting a []byte to a
// string (which could allocate).
func decodeRune[T string | []byte](s T) (rune, int) {
	var b [utf8.UTFMax]byte
	n := copy(b[:], s)
	return utf8.DecodeRune(b[:n])
}

// Time appends t as encoding/json writes a time.Time: quoted RFC 3339 with
// nanoseconds as needed. Like time.Time.MarshalJSON it fails for a year
// outside [0, 9999] or a zone offset of 24 hours or more, which RFC 3339
// cannot express; what it appended is then still there.
func Time(dst []byte, t time.Time) ([]byte, error) {
	dst = append(dst, '"')
	n0 := len(dst)
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	var err error
	switch {
	case len(dst) < n0+5 || dst[n0+4] != '-':
		err = errYear
	case dst[len(dst)-1] != 'Z':
		if c := dst[len(dst)-6]; '0' <= c && c <= '9' || num2(dst[len(dst)-5:]) >= 24 {
			err = errZone
		}
	}
	return append(dst, '"'), err
}

var (
	errYear = errors.New("time: year outside of range [0,9999]")
	errZone = errors.New("time: timezone hour outside of range [0,23]")
)

func num2(b []byte) byte { return 10*(b[0]-'0') + (b[1] - '0') }
