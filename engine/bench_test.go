package engine

import (
	"encoding/json"
	"testing"

	"github.com/aislecast/loyalty"
)

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(goodSwipe)))
	for i := 0; i < b.N; i++ {
		if _, err := Decode([]byte("c-1"), []byte(goodSwipe), testNow, DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSwipeReader decodes as the pipeline does: one swipeReader,
// with its names cache, for every message.
func BenchmarkSwipeReader(b *testing.B) {
	r := swipeReader{names: newNameCache()}
	key, value := []byte("c-1"), []byte(goodSwipe)
	b.ReportAllocs()
	b.SetBytes(int64(len(goodSwipe)))
	for b.Loop() {
		if _, err := r.read(key, value, testNow, DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSwipeJSON compares the swipe parser Decode uses with
// encoding/json, which it replaced, on the same message.
func BenchmarkSwipeJSON(b *testing.B) {
	for _, bm := range []struct {
		name   string
		decode func([]byte, *wireSwipe) error
	}{
		{"hand", decodeSwipeJSON},
		{"encoding-json", func(data []byte, w *wireSwipe) error { return json.Unmarshal(data, w) }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(goodSwipe)))
			data := []byte(goodSwipe)
			for i := 0; i < b.N; i++ {
				var w wireSwipe
				if err := bm.decode(data, &w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkProfileCodec(b *testing.B) {
	p := sampleProfile()
	enc := AppendProfile(nil, p)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		buf := make([]byte, 0, 4096)
		for i := 0; i < b.N; i++ {
			buf = AppendProfile(buf[:0], p)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		var q *loyalty.Profile
		for i := 0; i < b.N; i++ {
			q, _ = DecodeProfile(enc)
		}
		_ = q
	})
}
