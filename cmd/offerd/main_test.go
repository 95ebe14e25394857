package main

import (
	"bufio"
	"bytes"
	"encoding/json"
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
	for _, args := range [][]string{{"--nope"}, {"extra"}, {}, {"--demo", "--log-level", "loud"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("offerd %v: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
}
