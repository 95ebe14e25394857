package engine

import "sync"

// committer commits the swipe offsets of one generation's partitions. The
// partitions commit concurrently, but a generation has one connection to
// the group coordinator and kafka-go's Conn busy-waits (a read deadline
// set per spin) while another request's answer is pending: six partitions
// committing at once spent a tenth of the engine's CPU there. So commits
// are grouped: while one request is in flight, the offsets the others ask
// for collect, and the first of them to find the connection free sends
// them all in one request.
type committer struct {
	gen     offsetCommitter
	mu      sync.Mutex
	cond    sync.Cond
	busy    bool          // a request is in flight
	pending map[int]int64 // offsets for the next request, by partition
	round   *commitRound  // the request pending will go out in
}

// offsetCommitter is what committer needs of a *kafka.Generation.
type offsetCommitter interface {
	CommitOffsets(map[string]map[int]int64) error
}

// commitRound is one commit request and its outcome.
type commitRound struct {
	done bool
	err  error
}

func newCommitter(gen offsetCommitter) *committer {
	c := &committer{gen: gen, pending: make(map[int]int64), round: &commitRound{}}
	c.cond.L = &c.mu
	return c
}

// commit commits offset as the next offset to read of the swipes
// partition and returns once a request that carried it was answered, with
// that request's error.
func (c *committer) commit(partition int, offset int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending[partition] = offset
	r := c.round
	for !r.done {
		if c.busy {
			c.cond.Wait()
			continue
		}
		c.busy = true
		offsets, cur := c.pending, c.round
		c.pending, c.round = make(map[int]int64, len(offsets)), &commitRound{}
		c.mu.Unlock()
		err := c.gen.CommitOffsets(map[string]map[int]int64{TopicSwipes: offsets})
		c.mu.Lock()
		cur.done, cur.err = true, err
		c.busy = false
		c.cond.Broadcast()
	}
	return r.err
}
