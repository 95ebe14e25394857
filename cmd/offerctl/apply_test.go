package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty/engine"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

const thanksRule = `id: thanks
when: swipe.total_cents > 5000
channels: [mobile]
offer:
  title: %s
  coupon: { discount_percent: 10 }
`

// TestApply runs apply against an embedded broker as a marketer would,
// step by step, and checks the topic after each step.
func TestApply(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := strings.Join(c.ListenAddrs(), ",")
	client := &kafka.Client{Addr: kafka.TCP(c.ListenAddrs()...), Timeout: 10 * time.Second}
	dir := t.TempDir()
	file := filepath.Join(dir, "thanks.yaml")
	bad := write(t, t.TempDir(), "bad.yaml", "id: broken\nwhen: swipe.total_cents > \"lots\"\nchannels: [mobile]\noffer: { title: x }\n")
	last := t.TempDir()
	lastA := write(t, last, "a.yaml", strings.Replace(fmt.Sprintf(thanksRule, "A"), "id: thanks", "id: last\nversion: 2147483647", 1))
	lastB := write(t, last, "b.yaml", strings.Replace(fmt.Sprintf(thanksRule, "B"), "id: thanks", "id: last", 1))
	write(t, dir, "more.yaml", strings.Replace(fmt.Sprintf(thanksRule, "A"), "id: thanks", "id: first", 1)+"---\n"+strings.Replace(fmt.Sprintf(thanksRule, "B"), "id: thanks", "id: second", 1))

	steps := []struct {
		name     string
		title    string   // written to thanks.yaml first, when set
		args     []string // after "apply"
		code     int
		stdout   []string // substrings, in order
		versions string   // the topic's state afterwards: id=version, 0 for a tombstone
	}{
		{name: "invalid file publishes nothing", args: []string{file, bad}, title: "Thanks", code: 1,
			stdout: []string{bad + ":2:"}, versions: "map[]"},
		{name: "dry run publishes nothing", args: []string{file, "--dry-run"}, code: 0,
			stdout: []string{"thanks: created v1"}, versions: "map[]"},
		{name: "create", args: []string{dir}, code: 0,
			stdout: []string{"first: created v1", "second: created v1", "thanks: created v1"}, versions: "map[first:1 second:1 thanks:1]"},
		{name: "unchanged files publish nothing", args: []string{dir}, code: 0,
			stdout: []string{"first: unchanged v1", "second: unchanged v1", "thanks: unchanged v1"}, versions: "map[first:1 second:1 thanks:1]"},
		{name: "changed rule bumps its version", title: "Thank you", args: []string{"--brokers", brokers, file}, code: 0,
			stdout: []string{"thanks: updated v2 (was v1)"}, versions: "map[first:1 second:1 thanks:2]"},
		{name: "delete", args: []string{"--delete", "second", "--delete", "nope"}, code: 0,
			stdout: []string{"second: deleted (was v1)", "nope: not in offer-rules"}, versions: "map[first:1 second:0 thanks:2]"},
		{name: "the last version", args: []string{lastA}, code: 0,
			stdout: []string{"last: created v2147483647"}, versions: "map[first:1 last:2147483647 second:0 thanks:2]"},
		{name: "no version after the last", args: []string{lastB}, code: 1, versions: "map[first:1 last:2147483647 second:0 thanks:2]"},
		{name: "apply and delete the same rule", args: []string{file, "--delete", "thanks"}, code: 2},
		{name: "nothing to do", args: []string{"--dry-run"}, code: 2},
		{name: "missing file", args: []string{filepath.Join(dir, "nope.yaml")}, code: 2},
	}
	for _, st := range steps {
		if st.title != "" {
			write(t, dir, "thanks.yaml", fmt.Sprintf(thanksRule, st.title))
		}
		args := append([]string{"apply"}, st.args...)
		if !strings.Contains(strings.Join(args, " "), "--brokers") {
			args = append(args, "--brokers", brokers)
		}
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != st.code {
			t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", st.name, code, st.code, out.String(), errb.String())
		}
		rest := out.String()
		for _, want := range st.stdout {
			i := strings.Index(rest, want)
			if i < 0 {
				t.Fatalf("%s: stdout lacks %q (in order):\n%s", st.name, want, out.String())
			}
			rest = rest[i+len(want):]
		}
		if st.versions == "" {
			continue
		}
		state, err := engine.ReadRules(context.Background(), client)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for id, h := range state {
			got[id] = h.Version
			if !h.Latest.Deleted() && (!strings.Contains(h.Latest.AppliedBy, "@") || h.Latest.AppliedAt == "") {
				t.Errorf("%s: record of %s lacks who applied it and when: %+v", st.name, id, h.Latest)
			}
		}
		if fmt.Sprint(got) != st.versions {
			t.Errorf("%s: topic holds %v, want %s\nstdout: %s", st.name, got, st.versions, out.String())
		}
	}
	if state, _ := engine.ReadRules(context.Background(), client); !strings.Contains(string(state["thanks"].Latest.Doc), "Thank you") {
		t.Errorf("thanks v2 holds\n%s", state["thanks"].Latest.Doc)
	}
}
