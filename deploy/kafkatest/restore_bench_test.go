//go:build linux

package kafkatest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/possim"
	"github.com/segmentio/kafka-go"
)

// TestRestoreBench measures how long one offerd takes to restore 100,000
// and then 1,000,000 profiles from the changelog of a real broker. It is
// a measurement, not a test, so it runs only with OFFERD_BENCH_RESTORE=1:
//
//	OFFERD_BENCH_RESTORE=1 go test -run RestoreBench -v -timeout 30m ./deploy/kafkatest/
//
// The profiles are realistic: those of 5,000 cards after 90 days of
// shopping, as the heap figure has them, copied under new card ids until
// there are enough, written straight into profiles.changelog as the
// engine writes them (uncompressed, to the card's murmur2 partition).
func TestRestoreBench(t *testing.T) {
	if os.Getenv("OFFERD_BENCH_RESTORE") != "1" {
		t.Skip("a measurement: set OFFERD_BENCH_RESTORE=1 to run it")
	}
	s := newScenario(t, 404)
	ctx := context.Background()
	s.createTopics()
	templates := realisticProfiles(t)
	sizes := make([]int, len(templates))
	for i, p := range templates {
		sizes[i] = len(engine.AppendProfile(nil, p))
	}
	slices.Sort(sizes)
	t.Logf("%d template profiles: encoded size median %d B, p99 %d B, max %d B",
		len(sizes), sizes[len(sizes)/2], sizes[len(sizes)*99/100], sizes[len(sizes)-1])

	w := &kafka.Writer{Addr: kafka.TCP(s.broker.addr), Topic: engine.TopicChangelog, Balancer: &kafka.Murmur2Balancer{}, Transport: s.client.Transport,
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 5000,
		BatchBytes: 900 << 10} // the changelog keeps the broker's default 1 MiB batch limit
	defer w.Close()
	written, bytes := 0, int64(0)
	for _, n := range []int{100_000, 1_000_000} {
		began := time.Now()
		for written < n {
			batch := make([]kafka.Message, 0, 5000)
			for ; written < n && len(batch) < cap(batch); written++ {
				p := *templates[written%len(templates)]
				p.CardID = fmt.Sprintf("bench-%07d", written)
				p.LastOffset = int64(written)
				v := engine.AppendProfile(nil, &p)
				batch = append(batch, kafka.Message{Key: []byte(p.CardID), Value: v})
				bytes += int64(len(p.CardID) + len(v))
			}
			if err := w.WriteMessages(ctx, batch...); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("changelog holds %d profiles, %d MB (%.0f B per record); written in %s",
			n, bytes>>20, float64(bytes)/float64(n), time.Since(began).Round(100*time.Millisecond))
		measureRestore(t, s, n)
	}
	measureRebalance(t, s, written)
	t.Logf("machine: %s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel())
}

// measureRestore starts one offerd and times it until it holds n profiles,
// and then until it has compacted them (converted them from the
// changelog's form to its in-memory form, in the background while serving).
func measureRestore(t *testing.T, s *scenario, n int) {
	t.Helper()
	began := time.Now()
	p := s.offerd()
	var ready, restored time.Duration
	deadline := time.Now().Add(10 * time.Minute)
	var m, atRestore map[string]float64
	for {
		var err error
		m, err = p.metrics()
		if err == nil && ready == 0 && m["offerd_ready"] == 1 {
			ready = time.Since(began)
		}
		if err == nil && restored == 0 && m["offerd_profiles"] == float64(n) {
			restored, atRestore = time.Since(began), m
		}
		if err == nil && restored > 0 && m["offerd_profiles_uncompacted"] == 0 {
			break
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("offerd holds %v of %d profiles, %v uncompacted (%v)\n%s", m["offerd_profiles"], n, m["offerd_profiles_uncompacted"], err, p.tail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	compacted := time.Since(began)
	time.Sleep(3 * time.Second) // for the memory freed after the last compaction
	if settled, err := p.metrics(); err == nil {
		m = settled
	}
	s.stopAll([]*proc{p})
	t.Logf("restore of %d profiles: %s from process start (ready after %s; logged: partitions assigned %s after the first log line, slowest partition restored in %s); heap in use %d MB, RSS %d MB; profiles stored in %.0f B each",
		n, restored.Round(10*time.Millisecond), ready.Round(10*time.Millisecond), assignedAfter(p), slowestLogged(p, "restored"),
		int64(atRestore["go_memstats_heap_inuse_bytes"])>>20, int64(atRestore["process_resident_memory_bytes"])>>20, atRestore["offerd_profiles_bytes"]/float64(n))
	t.Logf("compacted in the background by %s from process start (%s after the restore); 3 s later heap in use %d MB (allocated %d MB), RSS %d MB; profiles stored in %.0f B each",
		compacted.Round(10*time.Millisecond), (compacted - restored).Round(10*time.Millisecond),
		int64(m["go_memstats_heap_inuse_bytes"])>>20, int64(m["go_memstats_heap_alloc_bytes"])>>20, int64(m["process_resident_memory_bytes"])>>20,
		m["offerd_profiles_bytes"]/float64(n))
}

// measureRebalance starts one offerd on the n profiles, lets it restore
// and compact them, then starts a second in its group: the first keeps
// half of the partitions across the rebalance and resumes them with the
// profiles it has, the second restores the other half in full.
func measureRebalance(t *testing.T, s *scenario, n int) {
	t.Helper()
	a := s.offerd()
	deadline := time.Now().Add(10 * time.Minute)
	waitMetrics(t, a, deadline, "restore and compaction", func(m map[string]float64) bool {
		return m["offerd_profiles"] == float64(n) && m["offerd_profiles_uncompacted"] == 0
	})
	began := time.Now()
	b := s.offerd()
	waitMetrics(t, b, deadline, "the second instance's restore", func(m map[string]float64) bool { return m["offerd_ready"] == 1 })
	waitMetrics(t, a, deadline, "the first instance's resume", func(m map[string]float64) bool {
		return m["offerd_ready"] == 1 && m["offerd_partitions_resumed_total"] > 0
	})
	both := time.Since(began)
	s.stopAll([]*proc{a, b})
	t.Logf("rebalance with %d profiles: the first instance resumed the partitions it kept in at most %s, the second restored its own in at most %s; both ready %s after the second started",
		n, slowestLogged(a, "resumed with the profiles kept from the last generation"), slowestLogged(b, "restored"), both.Round(10*time.Millisecond))
}

// realisticProfiles returns the profiles the heap figure measures
// (bench/memory_test.go): those of 5,000 cards after 90 days of possim
// shopping, here ending today. Until 2026-11-27 they were the scenarios'
// feed folded (three weeks, median 935 B encoded), younger and smaller
// than the heap figure's (2,252 B on average).
func realisticProfiles(t *testing.T) []*loyalty.Profile {
	t.Helper()
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -loyalty.HistoryDays).Add(8 * time.Hour)
	g := possim.New(possim.Config{Seed: 7, Cards: 5000, Start: start})
	end := start.AddDate(0, 0, loyalty.HistoryDays)
	return g.Fold(func() bool { return g.Clock().Before(end) })
}

// assignedAfter returns how long after its first log line offerd logged
// its partitions assigned: the part of a restore's time spent starting,
// reading the tables and joining the group.
func assignedAfter(p *proc) string {
	data, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	var first time.Time
	for _, line := range strings.Split(string(data), "\n") {
		var rec struct {
			TS  string `json:"ts"` // ISO 8601, as offerd logs it
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", rec.TS)
		if err != nil {
			continue
		}
		if first.IsZero() {
			first = ts
		}
		if rec.Msg == "assigned" {
			return ts.Sub(first).Round(10 * time.Millisecond).String()
		}
	}
	return "never"
}

// slowestLogged returns the longest "took" of offerd's log lines with
// message msg.
func slowestLogged(p *proc, msg string) string {
	data, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	var slowest float64
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.Contains(line, `"msg":"`+msg+`"`) {
			continue
		}
		var took float64
		if i := strings.Index(line, `"took":`); i >= 0 {
			fmt.Sscanf(line[i+len(`"took":`):], "%g", &took)
		}
		slowest = max(slowest, took)
	}
	return (time.Duration(slowest * float64(time.Second))).Round(time.Millisecond).String()
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return "unknown CPU"
}
