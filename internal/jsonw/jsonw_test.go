package jsonw

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// marshal is what encoding/json writes for v, with or without HTML escaping.
func marshal(t testing.TB, v any, escapeHTML bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

var strings = []string{
	"", "plain", "Offer 12 for card-00042", `q"b\`, "\x00\x01\b\t\n\v\f\r\x1f\x7f",
	"<b>Tom & Jerry</b>", "é, 日本, 🎉", "\u2028\u2029", "\xff\xfe", "a\xc3", "\xed\xa0\x80", "€\xe2\x82",
}

// TestStringMatchesEncodingJSON: String writes every string, escapes and
// broken UTF-8 included, byte for byte as encoding/json does, with and
// without HTML escaping, from a string and from bytes.
func TestStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range strings {
		for _, html := range []bool{true, false} {
			want := marshal(t, s, html)
			if got := String(nil, s, html); !bytes.Equal(got, want) {
				t.Errorf("String(%q, html=%v) = %s, encoding/json %s", s, html, got, want)
			}
			if got := String([]byte("x"), []byte(s), html); !bytes.Equal(got[1:], want) || got[0] != 'x' {
				t.Errorf("String([]byte %q, html=%v) = %s, encoding/json %s", s, html, got, want)
			}
		}
	}
}

// TestStringsMatchesEncodingJSON: Strings writes arrays of one, two and
// all the test strings as encoding/json does.
func TestStringsMatchesEncodingJSON(t *testing.T) {
	for _, ss := range [][]string{strings[:1], strings[1:3], strings} {
		for _, html := range []bool{true, false} {
			if got, want := Strings(nil, ss, html), marshal(t, ss, html); !bytes.Equal(got, want) {
				t.Errorf("Strings(%q, html=%v) = %s, encoding/json %s", ss, html, got, want)
			}
		}
	}
}

func FuzzString(f *testing.F) {
	for _, s := range strings {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, html bool) {
		if got, want := String(nil, s, html), marshal(t, s, html); !bytes.Equal(got, want) {
			t.Fatalf("String(%q, html=%v) = %s, encoding/json %s", s, html, got, want)
		}
	})
}

// TestTimeMatchesEncodingJSON: Time writes what time.Time.MarshalJSON
// does, and fails where it fails.
func TestTimeMatchesEncodingJSON(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 1, 10, 0, 0, 500, time.FixedZone("", -5*3600)),
		time.Date(2027, 1, 31, 23, 59, 59, 123456789, time.FixedZone("", 5*3600+1800)),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600)),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", -100*3600)),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 23*3600+59*60)),
		{},
	} {
		want, wantErr := tm.MarshalJSON()
		got, err := Time([]byte("x"), tm)
		if (err != nil) != (wantErr != nil) {
			t.Errorf("Time(%v): error %v, MarshalJSON's %v", tm, err, wantErr)
			continue
		}
		if err == nil && (got[0] != 'x' || !bytes.Equal(got[1:], want)) {
			t.Errorf("Time(%v) = %s, MarshalJSON %s", tm, got, want)
		}
	}
}
