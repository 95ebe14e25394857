package engine

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// dirtyPathStore is the in-memory store without its room: a pipeline
// over it keeps each profile a batch changed decoded in the batch, as it
// does over a disk store.
type dirtyPathStore struct {
	Store
	m *memStore
}

func (s dirtyPathStore) names() *nameTable { return s.m.names() }

// roomRules read and grow the offer histories (cooldowns, caps, a
// holdout) and the category days a swipe adds.
const roomRules = `
id: big
priority: 20
when: swipe.kind == "purchase" && swipe.total_cents >= 3000
channels: [mobile]
offer: {title: Big, coupon: {discount_cents: 500}}
limits: {cooldown: 2d, max_per_card: {count: 3, per: 30d}}
---
id: cat3
priority: 10
when: swipe.kind == "purchase" && categorySpend("c3", "30d") > 500
channels: [mobile, email]
offer: {title: C3, coupon: {discount_cents: 100}}
limits: {cooldown: 1d}
---
id: hold
priority: 5
when: swipe.kind == "purchase" && daysSinceBought("c1") >= 0
channels: [pos]
offer: {title: H, coupon: {discount_cents: 100}}
holdout: 30%
limits: {max_per_card: {count: 5, per: 7d}}
---
id: visits
priority: 4
when: profile.visits >= 3 && profile.visits <= 40
channels: [email]
offer: {title: V, coupon: {discount_cents: 100}}
limits: {cooldown: 3d}
`

// TestRoomMatchesDirtyPath: a pipeline that decodes every profile into
// its room, overwriting the last one, publishes, records and stores
// exactly what one that keeps each changed profile decoded does, over
// random batches on a few cards: POS retries, replayed offsets, returns
// and check-ins, and baskets that add more categories to a profile than
// the room has spare days for.
func TestRoomMatchesDirtyPath(t *testing.T) {
	const cards = 6
	seeds := int64(30)
	if raceEnabled {
		seeds = 8 // ten times slower; the race detector has little to find in one goroutine
	}
	for seed := int64(1); seed <= seeds; seed++ {
		rng := rand.New(rand.NewSource(seed))
		room := testPipelineOn(t, 0, roomRules, nil)
		ms := newMemStore(&ProfileCache{})
		dirty := testPipelineOn(t, 0, roomRules, dirtyPathStore{ms, ms})
		if room.rooms == nil || dirty.rooms != nil {
			t.Fatal("want one pipeline with a room and one without")
		}
		start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
		var offset int64
		var ids []string
		out := 0
		for batch := range 20 {
			for range 1 + rng.Intn(40) {
				card := fmt.Sprintf("c-%d", rng.Intn(cards))
				id := fmt.Sprintf("%s-%d", card, offset)
				if len(ids) > 0 && rng.Intn(10) == 0 {
					id = ids[rng.Intn(len(ids))] // a POS retry
				}
				ids = append(ids, id)
				kind := []string{"purchase", "purchase", "purchase", "checkin", "return"}[rng.Intn(5)]
				var items []string
				total := 0
				if kind != "checkin" {
					for range 1 + rng.Intn(25) {
						price := 100 + rng.Intn(900)
						items = append(items, fmt.Sprintf(`{"sku":"k%d","category":"c%d","qty":1,"unit_price_cents":%d}`, rng.Intn(200), rng.Intn(60), price))
						total += price
					}
				}
				ts := start.Add(time.Duration(rng.Intn(40*24)) * time.Hour)
				value := fmt.Sprintf(`{"v":1,"swipe_id":%q,"card_id":%q,"kind":%q,"store_id":"s%d","ts":%q,"items":[%s],"total_cents":%d}`,
					id, card, kind, rng.Intn(3), ts.Format(time.RFC3339), strings.Join(items, ","), total)
				o := offset
				if offset > 3 && rng.Intn(15) == 0 {
					o = offset - 3 // replayed after a crash
				} else {
					offset++
				}
				for _, p := range []*Pipeline{room, dirty} {
					m := kafka.Message{Topic: TopicSwipes, Offset: o, Key: []byte(card), Value: []byte(value)}
					p.Process(&m)
				}
			}
			outR, clR, err := room.EndBatch()
			if err != nil {
				t.Fatal(err)
			}
			outD, clD, err := dirty.EndBatch()
			if err != nil {
				t.Fatal(err)
			}
			if len(outR) != len(outD) || len(clR) != len(clD) {
				t.Fatalf("seed %d batch %d: room %d out and %d changelog records, dirty path %d and %d", seed, batch, len(outR), len(clR), len(outD), len(clD))
			}
			for i := range outR {
				if outR[i].Topic != outD[i].Topic || !bytes.Equal(outR[i].Value, outD[i].Value) {
					t.Fatalf("seed %d batch %d, out %d:\n room       %s %s\n dirty path %s %s", seed, batch, i, outR[i].Topic, outR[i].Value, outD[i].Topic, outD[i].Value)
				}
			}
			for i := range clR {
				if !bytes.Equal(clR[i].Key, clD[i].Key) || !bytes.Equal(clR[i].Value, clD[i].Value) {
					t.Fatalf("seed %d batch %d: changelog record %d (card %s) differs", seed, batch, i, clR[i].Key)
				}
			}
			out += len(outR)
			room.StartBatch()
			dirty.StartBatch()
		}
		if out == 0 {
			t.Fatalf("seed %d: nothing published; the comparison compared nothing", seed)
		}
		for c := range cards {
			card := fmt.Sprintf("c-%d", c)
			r, _, _ := room.store.(*memStore).Encoded(card)
			d, _, _ := ms.Encoded(card)
			if !bytes.Equal(r, d) {
				t.Fatalf("seed %d: the stored profiles of %s differ", seed, card)
			}
		}
	}
}
