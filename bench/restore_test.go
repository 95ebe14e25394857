package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/aislecast/loyalty/engine"
)

// BenchmarkStoreRestore measures the engine's side of a changelog restore
// without a broker: format 3 records of the heap figure's 90-day profiles,
// each under its own card id, put into a fresh in-memory store as
// restoreRecord puts them (kept in the changelog's form). One op is one
// record; the figure to compare with the restore benchmark of
// deploy/kafkatest is ns/op times the records restored. It also reports
// compact-ns/record: converting them afterwards to the at-rest form
// (names interned), which the engine does in the background once the
// partition serves:
//
//	go test -run XXX -bench StoreRestore -benchtime 200000x ./bench
func BenchmarkStoreRestore(b *testing.B) {
	templates := realisticProfiles(b)
	recs := make([][]byte, b.N)
	keys := make([]string, b.N)
	for i := range recs {
		p := *templates[i%len(templates)]
		p.CardID = fmt.Sprintf("bench-%07d", i)
		p.LastOffset = int64(i)
		keys[i] = p.CardID
		recs[i] = engine.AppendProfile(nil, &p)
	}
	store := engine.NewMemStore(nil)
	b.ResetTimer()
	for i, rec := range recs {
		if err := store.Put(keys[i], rec, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if store.Len() != b.N {
		b.Fatalf("store holds %d profiles, want %d", store.Len(), b.N)
	}
	began := time.Now()
	if n := engine.Compact(store); n != b.N {
		b.Fatalf("compacted %d profiles, want %d", n, b.N)
	}
	b.ReportMetric(float64(time.Since(began).Nanoseconds())/float64(b.N), "compact-ns/record")
}
