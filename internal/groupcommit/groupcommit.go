// Package groupcommit commits the offsets of a consumer group
// generation's partitions in grouped requests. The engine and the
// benchmark's raw relay share it, so both talk to the group coordinator
// the same way.
package groupcommit

import "sync"

// A Committer commits the offsets of one topic's partitions for one
// generation. The partitions commit concurrently, but a generation has one connection to
// the group coordinator and kafka-go's Conn busy-waits (a read deadline
// set per spin) while another request's answer is pending: six partitions
// committing at once spent a tenth of the engine's CPU there (kafka-go v0.4.51). So commits
// are grouped: while one request is in flight, the offsets the others ask
// for collect, and go out together in one request once it is answered.
type Committer struct {
	gen     OffsetCommitter
	topic   string
	mu      sync.Mutex
	cond    sync.Cond
	busy    bool          // a sender is running
	pending map[int]int64 // offsets for the next request, by partition
	round   *commitRound  // the request pending will go out in
	// failed, if set, is called with the error of every request that
	// failed, outside the lock.
	failed func(error)
}

// OffsetCommitter is what a Committer needs of a *kafka.Generation.
type OffsetCommitter interface {
	CommitOffsets(map[string]map[int]int64) error
}

// commitRound is one commit request and its outcome.
type commitRound struct {
	done bool
	err  error
}

// New returns a Committer of topic's offsets through gen. A failed
// request's error goes to the Commit calls whose offsets it carried, and
// to failed, if not nil.
func New(gen OffsetCommitter, topic string, failed func(error)) *Committer {
	c := &Committer{gen: gen, topic: topic, pending: make(map[int]int64), round: &commitRound{}, failed: failed}
	c.cond.L = &c.mu
	return c
}

// Commit commits offset as the next offset to read of the topic's
// partition and returns once a request that carried it was answered, with
// that request's error.
func (c *Committer) Commit(partition int, offset int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending[partition] = offset
	r := c.round
	c.start()
	for !r.done {
		c.cond.Wait()
	}
	return r.err
}

// Request asks for offset to be committed as the next offset to read of
// the topic's partition, and returns at once. It goes out with the next
// request to the coordinator, unless the partition asks for a later one
// before that. A Commit of the partition after it waits for it too.
func (c *Committer) Request(partition int, offset int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending[partition] = offset
	c.start()
}

// start starts a sender unless one runs; the caller holds c.mu.
func (c *Committer) start() {
	if c.busy {
		return
	}
	c.busy = true
	go c.send()
}

// send sends the pending offsets, one request at a time, until none are
// pending.
func (c *Committer) send() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.pending) > 0 {
		offsets, cur := c.pending, c.round
		c.pending, c.round = make(map[int]int64, len(offsets)), &commitRound{}
		c.mu.Unlock()
		err := c.gen.CommitOffsets(map[string]map[int]int64{c.topic: offsets})
		if err != nil && c.failed != nil {
			c.failed(err)
		}
		c.mu.Lock()
		cur.done, cur.err = true, err
		c.cond.Broadcast()
	}
	c.busy = false
}
