package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aislecast/loyalty"
)

// TestDemo runs the demo as a user would and checks what it prints: offers
// as JSON lines on stdout, a summary on stderr, exit status 0.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a broker and a feed for seconds")
	}
	var out, errb bytes.Buffer
	code := run([]string{"--demo", "--duration", "8s", "--history-days", "14", "--cards", "300", "--rate", "400"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	n := 0
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var o loyalty.Offer
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil || o.OfferID == "" || o.CardID == "" || !loyalty.ValidChannel(o.Channel) {
			t.Fatalf("stdout line is not an offer (%v): %s", err, sc.Text())
		}
		n++
	}
	if n == 0 {
		t.Fatal("the demo printed no offers")
	}
	for _, want := range []string{"== offerd demo summary ==", "swipes processed", "dead-lettered", "offers published", "offers printed (live)", "offers redeemed"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, errb.String())
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"--nope"}, {"extra"}, {}, {"--demo", "--log-level", "loud"}, {"--demo", "--profile-cache-mb", "-1"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("offerd %v: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
	// Values out of their flag's range, which ran on ignored, panicked,
	// or failed later.
	for _, flagValue := range [][2]string{{"--cards", "-1"}, {"--bad-fraction", "5"}, {"--duration", "-5s"}, {"--partitions", "0"},
		{"--broker-port", "70000"}, {"--rate", "-5"}, {"--history-days", "-2"}} {
		var out, errb bytes.Buffer
		if code := run([]string{"--demo", flagValue[0], flagValue[1]}, &out, &errb); code != 2 || !strings.Contains(errb.String(), flagValue[0]) {
			t.Errorf("offerd --demo %s %s: exit %d, want 2 and a message naming the flag (%s)", flagValue[0], flagValue[1], code, errb.String())
		}
	}
}

// An OFFERD_ variable with a value its flag cannot take is a usage error
// naming the variable, not the flag's zero value.
func TestUsageErrorsFromEnvironment(t *testing.T) {
	t.Setenv("OFFERD_DURATION", "banana")
	var out, errb bytes.Buffer
	if code := run([]string{"--demo"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `OFFERD_DURATION: invalid value "banana"`) {
		t.Errorf("exit %d, want 2 and a message naming OFFERD_DURATION (%s)", code, errb.String())
	}
}

// TestPolicyFlags: a bad --quiet-hours or --consent-default is a usage
// error (exit 2); an invalid store registry stops offerd with the file's
// line and column (exit 1) before it contacts a broker.
func TestPolicyFlags(t *testing.T) {
	for _, args := range [][]string{{"--demo", "--quiet-hours", "mobile=9pm-8am"}, {"--demo", "--consent-default", "fax=deny"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 || !strings.Contains(errb.String(), args[1]) {
			t.Errorf("offerd %v: exit %d, want 2 naming %s (%s)", args, code, args[1], errb.String())
		}
	}
	path := filepath.Join(t.TempDir(), "stores.yaml")
	if err := os.WriteFile(path, []byte("s001: { time_zone: America/New_York }\ns002: { time_zone: Mars/Olympus }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"--rules", "../../rules/examples", "--stores", path}, &out, &errb)
	if want := path + `:2:20: store s002: unknown time_zone "Mars/Olympus"`; code != 1 || !strings.Contains(errb.String(), want) {
		t.Errorf("exit %d, stderr %q; want 1 and %q", code, errb.String(), want)
	}
}
