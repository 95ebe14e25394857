package engine_test

import (
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/internal/kfaketest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// givenUp runs the scenario of the tests below: a first instance
// processes a third of f's swipes; then the broker refuses every write to
// topic (too few in-sync replicas), the second third is produced, and a
// second instance joins, which takes the first instance's partitions from
// it while their writes are refused; the refusals end 10.3 s after the
// second instance joined, past the group's rebalance timeout (10 s), and
// the rest is produced. It returns the two running instances once every
// swipe is committed.
func givenUp(t *testing.T, f *fixture, topic string) (first, second *engine.Engine) {
	t.Helper()
	third := len(f.msgs) / 3
	f.produce(0, third)
	first, stopFirst := f.start()
	t.Cleanup(stopFirst)
	waitFor(t, "the first instance processed the first third", func() bool { return first.Stats().Swipes.Load() >= int64(third) })

	var until, refused atomic.Int64 // refuse writes to topic until this time (Unix ns)
	until.Store(math.MaxInt64)
	f.cluster.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		f.cluster.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		writes := slices.ContainsFunc(req.Topics, func(tp kmsg.ProduceRequestTopic) bool { return tp.Topic == topic })
		if writes && time.Now().UnixNano() < until.Load() {
			refused.Add(1)
			return kfaketest.Refuse(req, kerr.NotEnoughReplicas.Code), nil, true
		}
		return nil, nil, false
	})
	f.produce(third, 2*third)
	waitFor(t, "the first instance's writes refused", func() bool { return refused.Load() > 0 })
	second, stopSecond := f.start()
	t.Cleanup(stopSecond)
	joined := time.Now()
	until.Store(joined.Add(10*time.Second + 300*time.Millisecond).UnixNano())
	f.produce(2*third, len(f.msgs))
	waitFor(t, "every swipe committed", f.committedToEnd)
	t.Logf("every swipe committed %v after the second instance joined; %d writes to %s refused",
		time.Since(joined).Round(100*time.Millisecond), refused.Load(), topic)
	return first, second
}

// TestRevokedMemberStopsWriting: an instance whose changelog writes are
// refused when its partitions are taken gives them up before the group
// may hand them to another member. Writing on, its retries would land
// after the new owner's records and take the cards' last changelog
// values, which restore trusts, back before swipes already committed.
func TestRevokedMemberStopsWriting(t *testing.T) {
	f := newFixture(t, 3000, 0)
	f.resends = true // the swipes the first instance gave up on are replayed
	givenUp(t, f, engine.TopicChangelog)
	time.Sleep(6 * time.Second) // a retry still going backs off for up to 5 s
	f.check(len(f.msgs))
}

// TestGivenUpBudgetReleased: the budget an instance reserved for offers it
// never published, because it gave its partitions up with their offer
// writes (and the budget's records with them) refused, is not counted as
// spent: once the swipes are replayed and their offers published, every
// instance's ledger and the budget topic count each offer once.
func TestGivenUpBudgetReleased(t *testing.T) {
	f := newFixture(t, 3000, 0)
	f.setBudget(1, 1_000_000)
	a, b := givenUp(t, f, engine.TopicBudget)
	sent := int64(len(f.budgetOffers()))
	if want := int64(f.purchases(0, len(f.msgs))); sent != want {
		t.Errorf("%d offers of the budgeted rule, want one per purchase, %d", sent, want)
	}
	waitFor(t, "the budget topic counts every offer", func() bool { return f.budgetTopic().Count >= sent })
	if got := f.budgetTopic().Count; got != sent {
		t.Errorf("the budget topic counts %d offers, %d were sent", got, sent)
	}
	for name, e := range map[string]*engine.Engine{"first": a, "second": b} {
		waitFor(t, "the "+name+" instance's ledger caught up", func() bool { return e.BudgetSpent("budgeted").Count >= sent })
		if got := e.BudgetSpent("budgeted").Count; got != sent {
			t.Errorf("the %s instance's ledger counts %d offers, %d were sent", name, got, sent)
		}
	}
}
