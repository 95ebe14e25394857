package groupcommit

import (
	"errors"
	"runtime"
	"sync"
	"testing"
)

// recordingGen answers commit requests in order, holding the first one
// until released, and remembers what each request carried.
type recordingGen struct {
	mu       sync.Mutex
	requests []map[int]int64
	first    chan struct{} // closed when the first request arrives
	release  chan struct{} // the first request returns once closed
	err      error
}

func (g *recordingGen) CommitOffsets(offsets map[string]map[int]int64) error {
	g.mu.Lock()
	g.requests = append(g.requests, offsets["swipes"])
	n := len(g.requests)
	g.mu.Unlock()
	if n == 1 {
		close(g.first)
		<-g.release
	}
	return g.err
}

func TestGroupsCommitsWhileOneIsInFlight(t *testing.T) {
	g := &recordingGen{first: make(chan struct{}), release: make(chan struct{})}
	c := New(g, "swipes", nil)

	done := make(chan error, 4)
	go func() { done <- c.Commit(0, 10) }()
	<-g.first // partition 0's request is in flight
	for p := 1; p <= 3; p++ {
		go func() { done <- c.Commit(p, int64(100*p)) }()
	}
	// Wait until all three are parked behind the request in flight.
	waitPending(c, 3)
	close(g.release)
	for range 4 {
		if err := <-done; err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	if len(g.requests) != 2 {
		t.Fatalf("%d requests %v, want 2: the one in flight, then the other three together", len(g.requests), g.requests)
	}
	want := map[int]int64{1: 100, 2: 200, 3: 300}
	for p, off := range want {
		if g.requests[1][p] != off {
			t.Fatalf("second request %v, want %v", g.requests[1], want)
		}
	}
}

func TestReturnsTheErrorOfTheRequestThatCarriedTheOffset(t *testing.T) {
	boom := errors.New("rebalance in progress")
	g := &recordingGen{first: make(chan struct{}), release: make(chan struct{}), err: boom}
	close(g.release)
	c := New(g, "swipes", nil)
	if err := c.Commit(2, 7); !errors.Is(err, boom) {
		t.Fatalf("commit = %v, want %v", err, boom)
	}
	if len(g.requests) != 1 || g.requests[0][2] != 7 {
		t.Fatalf("requests %v, want one carrying partition 2 at offset 7", g.requests)
	}
}

// Request returns at once, even while a request is in flight; the latest
// offset a partition asked for goes out with the next request, and a
// Commit waits for that.
func TestRequestDoesNotWait(t *testing.T) {
	g := &recordingGen{first: make(chan struct{}), release: make(chan struct{})}
	c := New(g, "swipes", nil)
	c.Request(0, 10)
	<-g.first // in flight, and held
	c.Request(0, 20)
	c.Request(0, 30)
	done := make(chan error)
	go func() { done <- c.Commit(1, 5) }()
	waitPending(c, 2)
	close(g.release)
	if err := <-done; err != nil {
		t.Fatalf("commit: %v", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.requests) != 2 || g.requests[0][0] != 10 || g.requests[1][0] != 30 || g.requests[1][1] != 5 {
		t.Fatalf("requests %v, want partition 0 at 10, then 0 at 30 with 1 at 5", g.requests)
	}
}

// A failed request's error reaches the callback, whether a Commit or a
// Request sent the offset.
func TestFailedRequestsAreReported(t *testing.T) {
	boom := errors.New("not coordinator")
	g := &recordingGen{first: make(chan struct{}), release: make(chan struct{}), err: boom}
	close(g.release)
	var mu sync.Mutex
	var got []error
	c := New(g, "swipes", func(err error) { mu.Lock(); got = append(got, err); mu.Unlock() })
	c.Request(3, 1)
	if err := c.Commit(3, 2); !errors.Is(err, boom) {
		t.Fatalf("commit = %v, want %v", err, boom)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) == 0 || len(got) != len(g.requests) {
		t.Fatalf("%d errors reported for %d failed requests", len(got), len(g.requests))
	}
}

// waitPending waits until n partitions' offsets wait for the next request.
func waitPending(c *Committer, n int) {
	for {
		c.mu.Lock()
		k := len(c.pending)
		c.mu.Unlock()
		if k == n {
			return
		}
		runtime.Gosched()
	}
}
