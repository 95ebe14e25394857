//go:build linux

package kafkatest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aislecast/loyalty/engine"
	"github.com/segmentio/kafka-go"
)

// The feed of every scenario: 200,000 swipes from 20,000 cards, 1% faulty,
// snappy-compressed so that the oversized faults fit a produce request.
const (
	feedCount      = 200_000
	feedCards      = 20_000
	feedBadShare   = "0.01"
	partitions     = 6
	group          = "offerd-kafkatest"
	termTimeout    = 25 * time.Second // a graceful stop: finish, commit, leave
	readyTimeout   = 2 * time.Minute
	drainTimeout   = 6 * time.Minute
	restoreSamples = 300
)

// feedStart is the event time of the first swipe: a fixed number of days
// before today, so that the feed's three weeks of simulated time end well
// in the past and well inside the engine's 400-day plausibility window on
// whatever day the suite runs.
func feedStart() string {
	return time.Now().UTC().AddDate(0, 0, -60).Format("2006-01-02")
}

// scenario is one run of offerd instances on a fresh broker.
type scenario struct {
	t      *testing.T
	dir    string
	broker *broker
	client *kafka.Client
	rng    *rand.Rand
	seed   int64
	began  time.Time

	mu    sync.Mutex
	procs []*proc // every process started, for cleanup and logs
	n     int     // offerd processes started, for names
}

func newScenario(t *testing.T, seed int64) *scenario {
	needKafka(t)
	s := &scenario{t: t, dir: t.TempDir(), seed: seed, rng: rand.New(rand.NewPCG(uint64(seed), 1)), began: time.Now()}
	s.broker = startBroker(t)
	// A transport of its own: kafka.DefaultTransport would keep pooled
	// connections to the previous scenario's broker on the same address.
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	s.client = &kafka.Client{Addr: kafka.TCP(s.broker.addr), Timeout: 15 * time.Second, Transport: tr}
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.procs {
			if !p.exited() {
				p.kill9()
			}
		}
		if t.Failed() {
			for _, p := range s.procs {
				t.Logf("---- last lines of %s (%s)\n%s", p.name, filepath.Base(p.log), p.tail(25))
			}
		}
	})
	t.Logf("seed %d, feed starting %s", seed, feedStart())
	return s
}

// createTopics creates the topics as offerd would, for runs that produce
// before any offerd has started. The broker has only just come up, so a
// few failures are expected.
func (s *scenario) createTopics() {
	s.t.Helper()
	var err error
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err = engine.EnsureTopics(ctx, s.client, engine.Topics(partitions), 1)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	s.t.Fatalf("create topics: %v", err)
}

// offerd starts one instance with a fresh admin port.
func (s *scenario) offerd() *proc {
	s.mu.Lock()
	s.n++
	name := "offerd-" + strconv.Itoa(s.n)
	s.mu.Unlock()
	admin := freeAddr(s.t)
	p := startProc(s.t, s.dir, name, "offerd",
		"--brokers", s.broker.addr,
		"--rules", filepath.Join(suite.root, "rules", "examples"),
		"--group", group,
		"--admin", admin,
		"--partitions", strconv.Itoa(partitions),
		// The feed's event times start 60 days back, so nearly every offer
		// would have expired on arrival: send them, to check that none is
		// lost. The oracle does the same.
		"--send-expired-offers",
		"--log-level", "info")
	p.admin = admin
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p
}

// swipegen starts the feed at rate swipes per second (0: as fast as the
// broker takes them).
func (s *scenario) swipegen(rate int) *proc {
	p := startProc(s.t, s.dir, "swipegen", "swipegen",
		"--brokers", s.broker.addr,
		"--topic", engine.TopicSwipes,
		"--count", strconv.Itoa(feedCount),
		"--rate", strconv.Itoa(rate),
		"--cards", strconv.Itoa(feedCards),
		"--bad-fraction", feedBadShare,
		"--seed", strconv.FormatInt(s.seed, 10),
		"--start", feedStart(),
		"--compression", "snappy")
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p
}

// waitReady waits until every instance answers /readyz with 200.
func (s *scenario) waitReady(ps ...*proc) {
	s.t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for _, p := range ps {
		for {
			if p.exited() {
				s.t.Fatalf("%s exited while starting: %s\n%s", p.name, p.cmd.ProcessState, p.tail(30))
			}
			if ok, _ := p.ready(); ok {
				break
			}
			if time.Now().After(deadline) {
				s.t.Fatalf("%s not ready within %s\n%s", p.name, readyTimeout, p.tail(30))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// committed returns the sum of the group's committed offsets; 0 while the
// broker does not answer.
func (s *scenario) committed() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := groupOffsets(ctx, s.client, group, engine.TopicSwipes, partitions)
	if err != nil {
		return 0
	}
	var n int64
	for _, o := range c {
		n += max(o, 0)
	}
	return n
}

// waitCommitted waits until the group has committed n swipes, failing if
// one of the running instances exits.
func (s *scenario) waitCommitted(n int64, running []*proc) {
	s.t.Helper()
	deadline := time.Now().Add(drainTimeout)
	for s.committed() < n {
		s.checkAlive(running)
		if time.Now().After(deadline) {
			s.t.Fatalf("the group committed %d swipes in %s, want %d", s.committed(), drainTimeout, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *scenario) checkAlive(running []*proc) {
	s.t.Helper()
	for _, p := range running {
		if p.exited() {
			s.t.Fatalf("%s exited unexpectedly: %s\n%s", p.name, p.cmd.ProcessState, p.tail(30))
		}
	}
}

// waitDrained waits until the group's committed offset equals the end
// offset on every swipes partition, the end offsets add up to the feed,
// and that holds for two seconds.
func (s *scenario) waitDrained(running []*proc) {
	s.t.Helper()
	deadline := time.Now().Add(drainTimeout)
	stable := 0
	var last string
	for stable < 5 {
		s.checkAlive(running)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, e, err := groupOffsets(ctx, s.client, group, engine.TopicSwipes, partitions)
		cancel()
		done := err == nil
		var total int64
		for p := range e {
			total += e[p]
			done = done && c[p] == e[p]
		}
		if done && total == feedCount {
			stable++
		} else {
			stable = 0
		}
		last = fmt.Sprintf("committed %v, end %v (%d swipes), error %v", c, e, total, err)
		if time.Now().After(deadline) {
			s.t.Fatalf("not drained within %s: %s", drainTimeout, last)
		}
		time.Sleep(400 * time.Millisecond)
	}
	s.t.Logf("drained after %s: %s", time.Since(s.began).Round(time.Second), last)
}

// stopAll stops the instances with SIGTERM, all at once; each must finish,
// commit, leave the group and exit 0 promptly.
func (s *scenario) stopAll(ps []*proc) {
	s.t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(ps))
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.term(termTimeout)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			s.t.Errorf("graceful stop: %v\n%s", err, ps[i].tail(30))
		}
	}
}

// sumMetric adds a metric over instances that answer.
func sumMetric(ps []*proc, name string) float64 {
	var v float64
	for _, p := range ps {
		if m, err := p.metrics(); err == nil {
			v += m[name]
		}
	}
	return v
}

// finish is the end of every scenario: wait until the group has committed
// every swipe, stop the instances, check the topics against the oracle,
// then start one instance alone and check the profiles it restores.
func (s *scenario) finish(running []*proc, figures string) {
	t := s.t
	s.waitDrained(running)
	replays := sumMetric(running, "offerd_swipes_replayed_total")
	s.stopAll(running)
	processed := time.Since(s.began)

	rep := s.verify()
	if rep == nil {
		return
	}
	t.Logf("%s; swipes %d (%d rejected, %d POS retries) from %d cards; offers %d published for %d expected (%d exact re-sends); dead letters %d (%d re-sent); changelog %d records, %d bytes = %.0f B per swipe; replayed swipes skipped (surviving instances) %.0f; run %s, oracle %s, check %s",
		figures, rep.Swipes, rep.Rejected, rep.Retries, rep.Cards, rep.Offers, rep.OffersExpected, rep.OfferRepeats,
		rep.DeadLetters, rep.DeadLetterRepeats, rep.ChangelogRecords, rep.ChangelogBytes,
		float64(rep.ChangelogBytes)/float64(rep.Swipes), replays, processed.Round(time.Second),
		rep.OracleTook.Round(time.Second), rep.CheckTook.Round(time.Second))
	if rep.Swipes != feedCount {
		t.Errorf("swipes topic holds %d messages, swipegen sent %d", rep.Swipes, feedCount)
	}

	t.Run("restore", func(t *testing.T) {
		began := time.Now()
		p := s.offerd()
		s.waitReady(p)
		// Ready means in the group; the partitions restore after that.
		waitMetrics(t, p, time.Now().Add(readyTimeout), fmt.Sprintf("all %d profiles restored", rep.Profiles),
			func(m map[string]float64) bool { return m["offerd_profiles"] == float64(rep.Profiles) })
		restored := time.Since(began)
		bad := 0
		for card, data := range rep.Sampled {
			if err := checkServed(p, card, data); err != nil {
				if bad++; bad <= 10 {
					t.Error(err)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%d of %d sampled profiles differ after the restore", bad, len(rep.Sampled))
		}
		// Compacted in the background, the profiles take a fraction of
		// the changelog's bytes (format 3 as it left the engine).
		m := waitMetrics(t, p, time.Now().Add(readyTimeout), "the restored profiles compacted",
			func(m map[string]float64) bool { return m["offerd_profiles_uncompacted"] == 0 })
		if m["offerd_swipes_total"] != 0 {
			t.Errorf("the restored instance processed %v swipes after the group had committed all", m["offerd_swipes_total"])
		}
		stored, record := m["offerd_profiles_bytes"]/float64(rep.Profiles), float64(rep.ChangelogBytes)/float64(rep.ChangelogRecords)
		if stored <= 0 || stored >= record {
			t.Errorf("compacted profiles take %.0f B each (offerd_profiles_bytes), a changelog record %.0f B on average", stored, record)
		}
		s.stopAll([]*proc{p})
		t.Logf("one instance restored %d profiles and served %d sampled ones equal to the changelog, %s after start; compacted, %.0f B each (a changelog record: %.0f B on average)",
			rep.Profiles, len(rep.Sampled), restored.Round(10*time.Millisecond), stored, record)
	})
}

// TestKill9 runs three instances while swipegen produces and SIGKILLs a
// random one, restarting it at once, six times. Each kill comes 1.5 to 3
// seconds after the group is back at work from the previous one (the
// committed offsets move again), so that it lands in the middle of
// batches rather than in the rebalance that the previous kill caused.
func TestKill9(t *testing.T) {
	s := newScenario(t, 101)
	ps := []*proc{s.offerd(), s.offerd(), s.offerd()}
	s.waitReady(ps...)
	gen := s.swipegen(0)

	const kills = 6
	var trace []string
	for range kills {
		s.waitProgress(ps, 20*time.Second)
		time.Sleep(time.Duration(1500+s.rng.IntN(1500)) * time.Millisecond)
		i := s.rng.IntN(len(ps))
		at := s.committed()
		ps[i].kill9()
		ps[i] = s.offerd()
		trace = append(trace, fmt.Sprintf("%s at %d committed, %s", ps[i].name, at, time.Since(s.began).Round(100*time.Millisecond)))
		s.checkAlive(ps)
	}
	t.Logf("kills (restarted instance, when): %s", strings.Join(trace, "; "))
	if err := gen.wait(5 * time.Minute); err != nil {
		t.Fatalf("swipegen: %v\n%s", err, gen.tail(20))
	}
	t.Logf("swipegen: %s", gen.tail(1))
	s.finish(ps, fmt.Sprintf("kill -9: %d kills of 3 instances", kills))
}

// waitProgress waits until the group commits more than it had committed
// when called, or until timeout (the feed may be all done).
func (s *scenario) waitProgress(running []*proc, timeout time.Duration) {
	from := s.committed()
	deadline := time.Now().Add(timeout)
	for s.committed() <= from && time.Now().Before(deadline) {
		s.checkAlive(running)
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRebalance scales the group from one instance to three and back to
// two while swipegen produces; the instance scaled down by SIGTERM must
// finish its batch, commit, leave the group and exit 0.
func TestRebalance(t *testing.T) {
	s := newScenario(t, 202)
	ps := []*proc{s.offerd()}
	s.waitReady(ps...)
	gen := s.swipegen(12_000)

	s.waitCommitted(feedCount/5, ps)
	ps = append(ps, s.offerd(), s.offerd())
	s.waitReady(ps...)
	t.Logf("scaled to 3 at %d committed", s.committed())

	s.waitCommitted(feedCount*11/20, ps)
	leaving := ps[s.rng.IntN(len(ps))]
	at := s.committed()
	began := time.Now()
	if err := leaving.term(termTimeout); err != nil {
		t.Fatalf("scale-down by SIGTERM: %v\n%s", err, leaving.tail(30))
	}
	t.Logf("scaled to 2 at %d committed: %s exited 0 after %s", at, leaving.name, time.Since(began).Round(10*time.Millisecond))
	var rest []*proc
	for _, p := range ps {
		if p != leaving {
			rest = append(rest, p)
		}
	}
	if err := gen.wait(5 * time.Minute); err != nil {
		t.Fatalf("swipegen: %v\n%s", err, gen.tail(20))
	}
	s.finish(rest, "rebalance 1 → 3 → 2")
}

// TestBrokerRestart produces the whole feed first, then runs two
// instances and SIGKILLs the broker a third of the way through. The
// instances must ride out the outage: /readyz says 503 while the broker is
// gone and 200 once it is back, and nothing is lost.
func TestBrokerRestart(t *testing.T) {
	s := newScenario(t, 303)
	ctx := context.Background()
	s.createTopics()
	gen := s.swipegen(0)
	if err := gen.wait(5 * time.Minute); err != nil {
		t.Fatalf("swipegen: %v\n%s", err, gen.tail(20))
	}
	ps := []*proc{s.offerd(), s.offerd()}
	s.waitCommitted(feedCount/3, ps)
	at := s.committed()
	if out, err := s.broker.script(ctx, "kill"); err != nil {
		t.Fatalf("kafka.sh kill: %v\n%s", err, out)
	}
	down := time.Now()

	// Poll readiness while the broker restarts.
	restarted := make(chan error, 1)
	var out string
	go func() {
		var err error
		out, err = s.broker.script(ctx, "start")
		restarted <- err
	}()
	saw503 := make([]bool, len(ps))
	var restartErr error
poll:
	for {
		select {
		case restartErr = <-restarted:
			break poll
		case <-time.After(200 * time.Millisecond):
		}
		for i, p := range ps {
			if ok, err := p.ready(); err == nil && !ok {
				saw503[i] = true
			}
		}
	}
	if restartErr != nil {
		t.Fatalf("kafka.sh start: %v\n%s", restartErr, out)
	}
	outage := time.Since(down)
	for i, p := range ps {
		if !saw503[i] {
			t.Errorf("%s never answered /readyz with 503 during the %s broker outage", p.name, outage.Round(time.Second))
		}
	}
	back := time.Now()
	s.waitReady(ps...)
	t.Logf("broker killed at %d of %d committed; back after %s; instances ready again %s later",
		at, feedCount, outage.Round(100*time.Millisecond), time.Since(back).Round(100*time.Millisecond))
	s.finish(ps, "broker restart with 2 instances")
}
