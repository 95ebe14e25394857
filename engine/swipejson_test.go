package engine

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/possim"
)

// trickySwipes are documents on which a hand-written JSON decoder easily
// differs from encoding/json. Each is checked against encoding/json by
// TestSwipeJSONMatchesEncodingJSON and seeds FuzzSwipeJSON.
var trickySwipes = []string{
	// the top level
	`null`, ` null `, "\t\r\n{}\n", `{}`, `[]`, `"x"`, `1`, `true`, `nul`, `{} {}`, `{}x`, `null x`,
	"\xef\xbb\xbf{}", `{"v":1,}`, `{,}`, `{"v"}`, `{"v" 1}`, `{"v":1 "kind":"scan"}`, `{"v":1`, `{"v":`, `{"v`, `{`,

	// wrong types
	edit(`"total_cents":2048`, `"total_cents":"2048"`),
	edit(`"total_cents":2048`, `"total_cents":true`),
	edit(`"total_cents":2048`, `"total_cents":{}`),
	edit(`"total_cents":2048`, `"total_cents":[2048]`),
	edit(`"v":1`, `"v":"1"`),
	edit(`"v":1`, `"v":true`),
	edit(`"kind":"purchase"`, `"kind":1`),
	edit(`"kind":"purchase"`, `"kind":["purchase"]`),
	edit(`"swipe_id":"s-1"`, `"swipe_id":{"id":"s-1"}`),
	edit(`"swipe_id":"s-1"`, `"swipe_id":false`),
	edit(`"qty":2`, `"qty":"2"`),
	edit(`"sku":"milk-1"`, `"sku":7`),
	edit(`"items":[`, `"items":{"a":`),
	edit(`"items":[`, `"items":"`),
	edit(`"items":[`, `"items":[1,`),
	edit(`"items":[`, `"items":["x",`),
	edit(`"items":[`, `"items":[[],`),
	`{"redeemed_offers":["a",1]}`, `{"redeemed_offers":"a"}`, `{"redeemed_offers":[["a"]]}`, `{"redeemed_offers":{}}`,

	// integers
	edit(`"total_cents":2048`, `"total_cents":1e3`),
	edit(`"total_cents":2048`, `"total_cents":12.0`),
	edit(`"total_cents":2048`, `"total_cents":2048.5`),
	edit(`"total_cents":2048`, `"total_cents":2048E0`),
	edit(`"total_cents":2048`, `"total_cents":-0`),
	edit(`"total_cents":2048`, `"total_cents":-`),
	edit(`"total_cents":2048`, `"total_cents":02048`),
	edit(`"total_cents":2048`, `"total_cents":+2048`),
	edit(`"total_cents":2048`, `"total_cents":2048.`),
	edit(`"total_cents":2048`, `"total_cents":.5`),
	edit(`"total_cents":2048`, `"total_cents":1e`),
	edit(`"total_cents":2048`, `"total_cents":1e+`),
	edit(`"total_cents":2048`, `"total_cents":0x10`),
	edit(`"total_cents":2048`, `"total_cents":NaN`),
	edit(`"total_cents":2048`, `"total_cents":9223372036854775807`),
	edit(`"total_cents":2048`, `"total_cents":9223372036854775808`),
	edit(`"total_cents":2048`, `"total_cents":-9223372036854775808`),
	edit(`"total_cents":2048`, `"total_cents":-9223372036854775809`),
	edit(`"total_cents":2048`, `"total_cents":18446744073709551615`),
	edit(`"total_cents":2048`, `"total_cents":18446744073709551616`),
	edit(`"total_cents":2048`, `"total_cents":99999999999999999999999`),
	edit(`"qty":2`, `"qty":4611686018427387904`),
	edit(`"qty":2`, `"qty":-1`),
	edit(`"v":1`, `"v":1.0`),
	edit(`"v":1`, `"v":0`),
	edit(`"v":1`, `"v":-1`),

	// null, absent, repeated keys
	edit(`"v":1,`, ``),
	edit(`"v":1`, `"v":null`),
	edit(`"v":1`, `"v":1,"v":null`),
	edit(`"v":1`, `"v":null,"v":1`),
	edit(`"v":1`, `"v":0,"v":1`),
	edit(`"total_cents":2048`, `"total_cents":null`),
	edit(`"total_cents":2048`, `"total_cents":2048,"total_cents":null`),
	edit(`"total_cents":2048`, `"total_cents":1,"total_cents":2048`),
	edit(`"swipe_id":"s-1"`, `"swipe_id":"s-1","swipe_id":null`),
	edit(`"swipe_id":"s-1"`, `"swipe_id":"s-0","swipe_id":"s-1"`),
	edit(`"currency":"USD"`, `"currency":"USD","items":null`),
	edit(`"currency":"USD"`, `"currency":"USD","items":[]`),
	edit(`"currency":"USD"`, `"currency":"USD","items":[{"qty":5}]`),
	edit(`"currency":"USD"`, `"currency":"USD","items":[null,null,null]`),
	edit(`"currency":"USD"`, `"currency":"USD","items":[{"qty":5}],"items":[null,null]`),
	edit(`"currency":"USD"`, `"currency":"USD","items":[],"items":[null,null]`),
	edit(`"currency":"USD"`, `"currency":"USD","items":null,"items":[null,null]`),
	edit(`"currency":"USD"`, `"currency":"USD","items":[{"qty":5}],"items":[{"sku":"x"},{},{}]`),
	edit(`"sku":"milk-1"`, `"sku":"milk-1","sku":null,"SKU":"milk-2"`),
	edit(`"qty":2`, `"qty":null`),
	`{"items":[null]}`, `{"items":[{}]}`, `{"items":[ ]}`, `{"items":[{"sku":"a"},null]}`,
	`{"items":[{"sku":"a","qty":1},{"sku":"b"},{"sku":"c"}],"items":[{"qty":5}],"items":[null,null,null,null]}`,
	`{"redeemed_offers":null}`, `{"redeemed_offers":[]}`, `{"redeemed_offers":[null]}`, `{"redeemed_offers":["a",null]}`,
	`{"redeemed_offers":["a","b","c"],"redeemed_offers":["x"],"redeemed_offers":[null,null,null,null]}`,
	`{"redeemed_offers":["a","b"],"redeemed_offers":[],"redeemed_offers":[null,null]}`,
	`{"redeemed_offers":["a","b"],"redeemed_offers":null,"redeemed_offers":[null,null]}`,
	`{"redeemed_offers":["a","b","c","d","e","f","g","h","i","j"]}`,
	`{"items":[{},{},{},{},{},{},{},{},{},{"sku":"10"}]}`,

	// key matching
	edit(`"total_cents"`, `"TOTAL_CENTS"`),
	edit(`"total_cents"`, `"Total_Cents"`),
	edit(`"card_id"`, `"Card_ID"`),
	edit(`"swipe_id"`, `"\u017fwipe_id"`),            // ſ folds to s
	edit(`"kind"`, `"\u212aind"`),                    // Kelvin sign folds to k
	edit(`"kind"`, `"\u212Aind"`),                    // in upper-case hex
	edit(`"kind"`, "\"\xe2\x84\xaaind\""),            // raw UTF-8
	edit(`"swipe_id"`, "\"\xc5\xbfwipe_id\""),        // raw UTF-8
	edit(`"items"`, `"\u0130tems"`),                  // İ does not fold to i
	edit(`"items"`, `"\u0131tems"`),                  // nor does ı
	edit(`"swipe_id"`, `"\u0073wipe_id"`),            // an escaped ASCII letter
	edit(`"swipe_id"`, `"swipe_id\u0000"`),           // a NUL is not ignored
	edit(`"swipe_id"`, `"swipe id"`),                 // no other folding
	edit(`"swipe_id"`, `"swipeid"`),                  // no other folding
	edit(`"swipe_id"`, "\"swipe_id\xff\""),           // invalid UTF-8 in a key
	edit(`"unit_price_cents"`, `"UNIT_PRICE_CENTS"`), // inside items
	edit(`"unit_price_cents"`, `"unit_price_\u017f\u212aents"`),
	`{"\u017f\u017f\u017f\u017f\u017f\u017f\u017f\u017f\u017f\u017f\u017f\u017f\u017f\u017f\u017f\u017f\u017f":1}`,
	`{"` + strings.Repeat("x", 300) + `":1}`,

	// unknown fields
	edit(`"currency":"USD"`, `"currency":"USD","loyalty_tier":"gold"`),
	edit(`"currency":"USD"`, `"currency":"USD","x":{"a":[1,2.5e-3,{"b":null}],"c":true,"d":false,"e":"\u00e9"}`),
	edit(`"currency":"USD"`, `"currency":"USD","x":[[[[[]]]]],"y":{}`),
	edit(`"currency":"USD"`, `"currency":"USD","x":[1,]`),
	edit(`"currency":"USD"`, `"currency":"USD","x":{"a":1,}`),
	edit(`"currency":"USD"`, `"currency":"USD","x":{"a"}`),
	edit(`"currency":"USD"`, `"currency":"USD","x":{1:1}`),
	edit(`"currency":"USD"`, `"currency":"USD","x":tru`),
	edit(`"currency":"USD"`, `"currency":"USD","x":True`),
	edit(`"currency":"USD"`, `"currency":"USD","x":-01`),
	edit(`"currency":"USD"`, `"currency":"USD","x":1.5e+7`),
	edit(`"currency":"USD"`, `"currency":"USD","x":"\x"`),
	edit(`"currency":"USD"`, `"currency":"USD","x":[1 2]`),
	edit(`"currency":"USD"`, `"currency":"USD","x":'a'`),
	edit(`"qty":2`, `"qty":2,"note":{"gift":[true]}`),
	edit(`"qty":2`, `"qty":2,"note":[`),
	`{"x":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
	`{"x":` + strings.Repeat(`{"a":`, 9999) + `1` + strings.Repeat("}", 9999) + `}`,
	`{"x":` + strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat("}", 10000) + `}`,
	`{"items":[{"x":` + strings.Repeat("[", 9997) + strings.Repeat("]", 9997) + `}]}`,
	`{"items":[{"x":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}]}`,

	// strings
	edit(`"currency":"USD"`, `"currency":"USD","aisle":"`+strings.Repeat(`ab\"\u00e9\ud83d\ude00`, 40)+`"`),
	edit(`"currency":"USD"`, `"currency":"U\"S\\D\/\b\f\n\r\t"`),
	edit(`"currency":"USD"`, `"currency":"\u0055\u0053\u0044"`),
	edit(`"currency":"USD"`, `"currency":"\u00e9\u00E9\uFFFF\u0000"`),
	edit(`"currency":"USD"`, `"currency":"\ud83d\ude00"`),       // a surrogate pair
	edit(`"currency":"USD"`, `"currency":"\ud83d"`),             // a lone high surrogate
	edit(`"currency":"USD"`, `"currency":"\ude00"`),             // a lone low surrogate
	edit(`"currency":"USD"`, `"currency":"\ude00\ud83d"`),       // the wrong way round
	edit(`"currency":"USD"`, `"currency":"\ud83d\ud83d\ude00"`), // high, then a pair
	edit(`"currency":"USD"`, `"currency":"\ud83d\u0041"`),       // high, then not low
	edit(`"currency":"USD"`, `"currency":"\ud83d\n"`),
	edit(`"currency":"USD"`, `"currency":"\ud83dx\ude00"`),
	edit(`"currency":"USD"`, `"currency":"\ud83d\uZZZZ"`),
	edit(`"currency":"USD"`, `"currency":"\ud83d\u12"`),
	edit(`"currency":"USD"`, `"currency":"\u12"`),
	edit(`"currency":"USD"`, `"currency":"\u12G4"`),
	edit(`"currency":"USD"`, `"currency":"\U0055"`),
	edit(`"currency":"USD"`, `"currency":"\a"`),
	edit(`"currency":"USD"`, `"currency":"\'"`),
	edit(`"currency":"USD"`, "\"currency\":\"U\tSD\""),
	edit(`"currency":"USD"`, "\"currency\":\"U\x00SD\""),
	edit(`"currency":"USD"`, "\"currency\":\"U\x7fSD\""),
	edit(`"currency":"USD"`, "\"currency\":\"\xff\xfe\""),         // invalid bytes
	edit(`"currency":"USD"`, "\"currency\":\"\xed\xa0\x80\""),     // an encoded surrogate
	edit(`"currency":"USD"`, "\"currency\":\"\xc3\""),             // a cut-off rune
	edit(`"currency":"USD"`, "\"currency\":\"\xc3\\n\xa9\""),      // cut by an escape
	edit(`"currency":"USD"`, "\"currency\":\"\xf0\x9f\x98\x80\""), // a valid 4-byte rune
	edit(`"currency":"USD"`, "\"currency\":\"\xc0\xaf\""),         // overlong
	edit(`"currency":"USD"`, "\"currency\":\"\xf4\x90\x80\x80\""), // beyond U+10FFFF
	edit(`"currency":"USD"`, "\"currency\":\"caf\xc3\xa9\\u00e9\xff\""),
	edit(`"currency":"USD"`, `"currency":"USD\"`),
	edit(`"currency":"USD"`, `"currency":"USD\`),
	edit(`"currency":"USD"`, `"currency":"`+strings.Repeat(`\u00e9`, 100)+`"`),
	edit(`"kind":"purchase"`, `"kind":"purch\u0061se"`),
	edit(`"kind":"purchase"`, `"kind":"PURCHASE"`),

	// whitespace
	edit(`"v":1,`, " \"v\" \t:\r\n1 \n, "),
	edit(`"items":[`, "\"items\" : [ "),
	edit(`"v":1,`, "\"v\":1\f,"),
	edit(`"v":1,`, "\"v\":1\u00a0,"),
}

// possimMessages returns messages from the POS simulator, a fifth of them
// bad, skipping values too large to be useful fuzz seeds.
func possimMessages(n int) [][]byte {
	g := possim.New(possim.Config{Seed: 1, Cards: 100, BadFraction: 0.2})
	var out [][]byte
	for len(out) < n {
		if m := g.Next(); len(m.Value) <= 16<<10 {
			out = append(out, m.Value)
		}
	}
	return out
}

// checkSwipeJSON requires decodeSwipeJSON to agree with json.Unmarshal
// into a wireSwipe on data: both reject it, or both accept it with deeply
// equal results.
func checkSwipeJSON(t *testing.T, data []byte) {
	t.Helper()
	var want, got wireSwipe
	wantErr := json.Unmarshal(data, &want)
	gotErr := decodeSwipeJSON(data, &got)
	switch {
	case wantErr != nil && gotErr == nil:
		t.Fatalf("accepted %q\nwhich encoding/json rejects: %v\ndecoded %+v", data, wantErr, got)
	case wantErr == nil && gotErr != nil:
		t.Fatalf("rejected %q: %v\nwhich encoding/json accepts as %+v", data, gotErr, want)
	case wantErr == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("decoded %q as\n%#v\nencoding/json gives\n%#v", data, got, want)
	case gotErr != nil && !errorShape.MatchString(gotErr.Error()):
		t.Fatalf("error %q for %q does not say where", gotErr, data)
	}
}

var errorShape = regexp.MustCompile(`^(at byte \d+: |unexpected end of JSON input at byte \d+)`)

func TestSwipeJSONMatchesEncodingJSON(t *testing.T) {
	for _, s := range trickySwipes {
		checkSwipeJSON(t, []byte(s))
	}
	for _, v := range possimMessages(500) {
		checkSwipeJSON(t, v)
	}
}

// FuzzSwipeJSON runs decodeSwipeJSON and json.Unmarshal into a wireSwipe
// on the same input and requires them to agree.
func FuzzSwipeJSON(f *testing.F) {
	f.Add([]byte(goodSwipe))
	for _, s := range trickySwipes {
		if len(s) <= 4096 {
			f.Add([]byte(s))
		}
	}
	for _, v := range possimMessages(200) {
		f.Add(v)
	}
	f.Fuzz(checkSwipeJSON)
}

func TestSwipeJSONValues(t *testing.T) {
	one := 1
	tests := []struct {
		name, in string
		want     wireSwipe
	}{
		{"absent v is nil", `{}`, wireSwipe{}},
		{"null v is nil", `{"v":null}`, wireSwipe{}},
		{"zero v is not nil", `{"v":0}`, wireSwipe{V: new(int)}},
		{"last key wins", `{"v":2,"V":1,"kind":"scan","KIND":null}`, wireSwipe{V: &one, Kind: "scan"}},
		{"keys fold", `{"ſwipe_id":"a","\u212aind":"b","CARD_ID":"c"}`, wireSwipe{SwipeID: "a", Kind: "b", CardID: "c"}},
		{"escapes", `{"lane":"\u00e9\ud83d\ude00\ud83d\"\n"}`, wireSwipe{Lane: "é😀\uFFFD\"\n"}},
		{"invalid UTF-8", "{\"lane\":\"a\xffb\xed\xa0\x80\"}", wireSwipe{Lane: "a\uFFFDb\uFFFD\uFFFD\uFFFD"}},
		{"null items", `{"items":[{"sku":"a"}],"items":null}`, wireSwipe{}},
		{"empty items", `{"items":null,"items":[]}`, wireSwipe{Items: []loyalty.Item{}}},
		{"items merge", `{"items":[{"sku":"a","qty":1},{"sku":"b"}],"items":[{"qty":5}],"items":[null,null]}`,
			wireSwipe{Items: []loyalty.Item{{SKU: "a", Qty: 5}, {SKU: "b"}}}},
		{"offers", `{"redeemed_offers":["a",null,"c"]}`, wireSwipe{RedeemedOffers: []string{"a", "", "c"}}},
		{"top-level null", ` null `, wireSwipe{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got wireSwipe
			if err := decodeSwipeJSON([]byte(tt.in), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
			checkSwipeJSON(t, []byte(tt.in))
		})
	}
}

func TestSwipeJSONErrors(t *testing.T) {
	tests := []struct{ in, msg string }{
		{edit(`"total_cents":2048`, `"total_cents":"2048"`), `malformed JSON: at byte 274: total_cents: expected an integer, found string`},
		{edit(`"qty":1`, `"qty":1.5`), `malformed JSON: at byte 233: items[1].qty: expected an integer, found number 1.5`},
		{edit(`"qty":1`, `"qty":1e400`), `malformed JSON: at byte 233: items[1].qty: expected an integer, found number 1e400`},
		{edit(`"v":1`, `"v":99999999999999999999`), `malformed JSON: at byte 5: v: number 99999999999999999999 does not fit in 64 bits`},
		{edit(`"kind":"purchase"`, `"kind":purchase`), `malformed JSON: at byte 47: kind: invalid character 'p' looking for beginning of value`},
		{edit(`"items":[`, `"items":{`), `malformed JSON: at byte 119: items: expected an array, found object`},
		{edit(`"items":[`, `"items":[7,`), `malformed JSON: at byte 120: items[0]: expected an item object, found number`},
		{edit(`"sku":"milk-1"`, `"sku":"milk\q"`), `malformed JSON: at byte 205: items[1].sku: invalid character 'q' in string escape code`},
		{goodSwipe[:40], `malformed JSON: unexpected end of JSON input at byte 40`},
		{goodSwipe[:50], `malformed JSON: unexpected end of JSON input at byte 50: in kind`},
		{goodSwipe[:130], `malformed JSON: unexpected end of JSON input at byte 130: in items[0].sku`},
		{goodSwipe + "}", `malformed JSON: at byte 296: unexpected '}' after the swipe object`},
		{`[` + goodSwipe + `]`, `malformed JSON: at byte 0: expected a swipe object, found array`},
		{"{\"lane\":\"a\x01\"}", `malformed JSON: at byte 10: lane: invalid character '\x01' in string literal`},
		{"{\"lane\":\xff}", `malformed JSON: at byte 8: lane: invalid character byte 0xff looking for beginning of value`},
		{`{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, `malformed JSON: at byte 10004: exceeded max nesting depth 10000`},
	}
	for _, tt := range tests {
		_, err := Decode([]byte("c-1"), []byte(tt.in), testNow, DefaultLimits)
		var rej *RejectError
		if !errors.As(err, &rej) || rej.Reason != "malformed" || rej.Msg != tt.msg {
			t.Errorf("Decode(%.60q):\n got %v\nwant %s", tt.in, err, tt.msg)
		}
	}
}
