package bench

import (
	"fmt"
	"testing"

	"github.com/aislecast/loyalty/engine"
)

// BenchmarkStoreRestore measures the engine's side of a changelog restore
// without a broker: format 3 records of the heap figure's 90-day profiles,
// each under its own card id, put into a fresh in-memory store as
// restoreRecord puts them (converted to the at-rest form, names interned).
// One op is one record; the figure to compare with the restore benchmark
// of deploy/kafkatest is ns/op times the records restored:
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
	cache, err := engine.NewProfileCache(64 << 20)
	if err != nil {
		b.Fatal(err)
	}
	defer cache.Close()
	store := engine.NewMemStore(cache)
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
}
