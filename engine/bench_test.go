package engine

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/possim"
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
	r := swipeReader{names: newNameCache(nil)}
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

// steadyProfiles returns realistic profiles: those of a few hundred
// possim cards after 90 days of shopping, the larger ones first.
func steadyProfiles(tb testing.TB) []*loyalty.Profile {
	tb.Helper()
	start := time.Date(2026, 8, 3, 8, 0, 0, 0, time.UTC)
	g := possim.New(possim.Config{Seed: 7, Cards: 300, Start: start})
	end := start.AddDate(0, 0, loyalty.HistoryDays)
	ps := g.Fold(func() bool { return g.Clock().Before(end) })
	slices.SortFunc(ps, func(a, b *loyalty.Profile) int {
		return len(AppendProfile(nil, b)) - len(AppendProfile(nil, a))
	})
	return ps
}

// BenchmarkSteadyProfileCodec measures the codec on a steady-state profile
// (the one at the 20th percentile of encoded size among 300 cards after
// 90 days, about a kilobyte): encode as the changelog holds it, the
// pipeline's store of a changed profile (encode, then the at-rest form),
// and the decodes of a cache miss (at rest) and of a changelog record.
func BenchmarkSteadyProfileCodec(b *testing.B) {
	ps := steadyProfiles(b)
	p := ps[len(ps)/5]
	enc := AppendProfile(nil, p)
	var names nameTable
	rest, err := toAtRest(nil, enc, &names)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("profile: %d bytes encoded, %d at rest, %d categories, %d SKUs", len(enc), len(rest), len(p.Categories), len(p.SKUs))
	buf := make([]byte, 0, 4096)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = AppendProfile(buf[:0], p)
		}
	})
	b.Run("store", func(b *testing.B) {
		b.ReportAllocs()
		q, err := decodeAtRest(rest, &names)
		if err != nil {
			b.Fatal(err)
		}
		var at []byte
		for b.Loop() {
			buf = AppendProfile(buf[:0], q)
			at = names.fromRecord(at[:0], buf, q) // as memStore.Put does
		}
	})
	b.Run("decode-at-rest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeAtRest(rest, &names); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeProfile(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
