package engine_test

import (
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/internal/kfaketest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRevokedMemberStopsWriting: an instance whose changelog writes are
// refused when a second instance joins, and so cannot release its
// partitions, gives up on them before the group may hand them to the
// second (after its rebalance timeout, 10 s). Writing on, its retries
// would land after the new owner's records and take the cards' last
// changelog values, which restore trusts, back before swipes already
// committed. The broker refuses every changelog write (too few in-sync
// replicas) from before the second instance joins until 10.3 s after.
func TestRevokedMemberStopsWriting(t *testing.T) {
	f := newFixture(t, 3000, 0)
	f.resends = true // the swipes the first instance gave up on are replayed
	third := len(f.msgs) / 3
	f.produce(0, third)
	a, stopA := f.start()
	defer stopA()
	waitFor(t, "the first instance processed the first third", func() bool { return a.Stats().Swipes.Load() >= int64(third) })

	var until, refused atomic.Int64 // refuse changelog writes until this time (Unix ns)
	until.Store(math.MaxInt64)
	f.cluster.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		f.cluster.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		if len(req.Topics) == 1 && req.Topics[0].Topic == engine.TopicChangelog && time.Now().UnixNano() < until.Load() {
			refused.Add(1)
			return kfaketest.Refuse(req, kerr.NotEnoughReplicas.Code), nil, true
		}
		return nil, nil, false
	})
	f.produce(third, 2*third)
	waitFor(t, "the first instance's changelog writes refused", func() bool { return refused.Load() > 0 })
	_, stopB := f.start()
	defer stopB()
	joined := time.Now()
	until.Store(joined.Add(10*time.Second + 300*time.Millisecond).UnixNano())
	f.produce(2*third, len(f.msgs))
	waitFor(t, "every swipe committed", f.committedToEnd)
	t.Logf("every swipe committed %v after the second instance joined; %d changelog writes refused", time.Since(joined).Round(100*time.Millisecond), refused.Load())
	time.Sleep(6 * time.Second) // a retry still going backs off for up to 5 s
	stopA()
	stopB()
	f.check(len(f.msgs))
}
