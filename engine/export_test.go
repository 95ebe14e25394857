package engine_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
)

// waitFor polls cond until it holds and returns how long that took. The
// minute it allows only keeps a broken engine from hanging the test;
// nothing asserts a duration.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > time.Minute {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

func decodeOffer(b []byte) (loyalty.Offer, error) {
	var o loyalty.Offer
	err := json.Unmarshal(b, &o)
	return o, err
}
