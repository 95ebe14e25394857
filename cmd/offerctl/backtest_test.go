package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty/backtest"
	"github.com/aislecast/loyalty/possim"
	"github.com/segmentio/kafka-go"
)

// history writes n simulated messages as swipegen --out does.
func history(t *testing.T, n int) string {
	t.Helper()
	g := possim.New(possim.Config{Seed: 3, Cards: 100, BadFraction: 0.05,
		Faults: []string{possim.FaultMalformedJSON, possim.FaultKeyMismatch, possim.FaultTotalMismatch}})
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i := range n {
		m := g.Next()
		if err := enc.Encode(backtest.NewRecord(&kafka.Message{Topic: "swipes", Offset: int64(i), Time: g.Clock(), Key: m.Key, Value: m.Value})); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), "history.jsonl")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBacktestCommand(t *testing.T) {
	const n = 1500
	file := history(t, n)
	backtestJSON := func(t *testing.T, args ...string) backtest.Report {
		t.Helper()
		var out, errb bytes.Buffer
		args = append([]string{"backtest", "--rules", "../../rules/examples", "--swipes", file, "--json"}, args...)
		if code := run(args, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if strings.Contains(errb.String(), "\r") {
			t.Errorf("progress line written to a non-terminal: %q", errb.String())
		}
		var rep backtest.Report
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out.String())
		}
		return rep
	}

	all := backtestJSON(t)
	if all.Swipes != n || all.Applied+all.Duplicates+all.DeadLetters != n || all.DeadLetters == 0 {
		t.Errorf("totals do not add up to the %d messages: %+v", n, all)
	}
	if len(all.DeadLettersByReason) != 3 { // malformed, key-mismatch, amount
		t.Errorf("dead letters by reason %v, want the three injected faults", all.DeadLettersByReason)
	}
	var offered int64
	for _, r := range all.Rules {
		offered += r.Offers
		if r.Triggers > r.Offers || r.Cards > r.Triggers || (r.Offers > 0) != (r.DiscountCents > 0) {
			t.Errorf("rule %s: inconsistent %+v", r.Rule, r)
		}
	}
	if offered != all.Offers || offered == 0 {
		t.Errorf("rules offered %d, total %d", offered, all.Offers)
	}

	// A window counts only its swipes; the earlier ones warm up the
	// profiles, the later ones are skipped.
	from, to := "2026-11-10T00:00:00Z", "2026-11-17T00:00:00Z"
	win := backtestJSON(t, "--from", from, "--to", to)
	if win.Warmup == 0 || win.After == 0 || win.Swipes+win.Warmup+win.After != n {
		t.Errorf("window: %d counted, %d warm-up, %d after; want all %d messages in one of them", win.Swipes, win.Warmup, win.After, n)
	}
	if win.Offers >= all.Offers || win.Offers == 0 {
		t.Errorf("window made %d offers, the whole history %d", win.Offers, all.Offers)
	}

	var out, errb bytes.Buffer
	if code := run([]string{"backtest", "--rules", "../../rules/examples", "--swipes", file}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"rule ", "offers  triggers  cards  discount  holdout", "coffee-replenish ", "\nswipes 1500: applied "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}

	for _, args := range [][]string{
		{"backtest", "--swipes", file},
		{"backtest", "--rules", "../../rules/examples"},
		{"backtest", "--rules", "../../rules/examples", "--swipes", file, "--topic", "swipes"},
		{"backtest", "--rules", "../../rules/examples", "--swipes", file, "--from", "yesterday"},
		{"backtest", "--rules", "../../rules/examples", "--swipes", file, "--from", "2026-11-10", "--to", "2026-11-01"},
	} {
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"":                          {},
		"2026-11-10":                time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC),
		"2026-11-10T08:00:00-05:00": time.Date(2026, 11, 10, 13, 0, 0, 0, time.UTC),
	} {
		if got, err := parseTime(in); err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

// TestBacktestPolicyFlags: offerctl backtest takes offerd's --stores,
// --quiet-hours and --consent-default and replays under them.
func TestBacktestPolicyFlags(t *testing.T) {
	dir := t.TempDir()
	rulesFile := policyRules
	stores := write(t, dir, "stores.yaml", "s1: { name: NYC, time_zone: America/New_York }\n")
	// 08:30 on a lane clock on EST after the spring change: 09:30 in the store.
	swipes := write(t, dir, "history.jsonl", `{"v": 1, "swipe_id": "a", "card_id": "c1", "kind": "checkin", "store_id": "s1", "ts": "2026-03-10T08:30:00-05:00", "total_cents": 0}`+"\n")
	args := []string{"backtest", "--rules", rulesFile, "--swipes", swipes, "--max-offers-per-channel", "5"}

	var out, errb bytes.Buffer
	if code := run(append(args, "--json", "--stores", stores, "--consent-default", "email=deny", "--quiet-hours", "mobile=09:00-10:00"), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep backtest.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	got := map[string]string{}
	for _, r := range rep.Rules {
		got[r.Rule] = fmt.Sprint(r.Offers, r.Suppressed)
	}
	want := map[string]string{"counted": "0 map[quiet_hours:1]", "mail": "0 map[consent:1]", "morning": "0 map[schedule:1]",
		"push": "0 map[quiet_hours:1]", "tiny-budget": "0 map[budget:1]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("offers and suppressions %v, want %v", got, want)
	}

	for _, bad := range [][]string{{"--quiet-hours", "mobile=9pm-8am"}, {"--consent-default", "fax=deny"}} {
		if code := run(append(args, bad...), &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2", bad, code)
		}
	}
	if code := run(append(args, "--stores", write(t, dir, "bad.yaml", "s1: { time_zone: Mars/Olympus }\n")), &out, &errb); code != 1 {
		t.Errorf("bad store registry: exit %d, want 1", code)
	}
}
