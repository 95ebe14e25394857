package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestThroughputEmbedded runs the throughput figure small on the embedded
// broker, so that the harness cannot rot unnoticed: both sides must
// process every swipe in every round and the report must carry the figure.
func TestThroughputEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an embedded broker and the engine")
	}
	b, stop, err := StartEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// Generous bounds: this test checks that the harness works, never how
	// fast; CI runs it under the race detector on a busy machine.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	const n = 5000
	res, err := Throughput(ctx, b, ThroughputConfig{Swipes: n, Rules: 10, RunTimeout: 2 * time.Minute, Progress: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 4 {
		t.Fatalf("%d runs, want 4 (relay, engine, relay, engine)", len(res.Runs))
	}
	for i, run := range res.Runs {
		want := []string{"relay", "engine"}[i%2]
		if run.Side != want || run.Swipes != n {
			t.Errorf("run %d: %s processed %d swipes, want %s processing %d", i+1, run.Side, run.Swipes, want, n)
		}
		if run.Side == "engine" && run.DLQ != int64(res.Mix.Bad) {
			t.Errorf("run %d: engine dead-lettered %d swipes, want the %d bad ones", i+1, run.DLQ, res.Mix.Bad)
		}
	}
	if len(res.Warmup) != 2 || res.Warmup[0].Side != "relay" || res.Warmup[1].Side != "engine" || res.Warmup[0].Swipes != n || res.Warmup[1].Swipes != n {
		t.Errorf("warm-up passes (relay, engine) missing or short: %+v", res.Warmup)
	}
	if r := res.MedianRatio(); !(r > 0) {
		t.Errorf("median ratio %v, want a positive number", r)
	}
	var out strings.Builder
	res.Print(&out)
	for _, s := range []string{"engine/relay", "median", "GOMAXPROCS", "embedded kfake"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, out.String())
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
