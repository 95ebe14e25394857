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
// for collect, and the first of them to find the connection free sends
// them all in one request.
type Committer struct {
	gen     OffsetCommitter
	topic   string
	mu      sync.Mutex
	cond    sync.Cond
	busy    bool          // a request is in flight
	pending map[int]int64 // offsets for the next request, by partition
	round   *commitRound  // the request pending will go out in
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

// New returns a Committer of topic's offsets through gen.
func New(gen OffsetCommitter, topic string) *Committer {
	c := &Committer{gen: gen, topic: topic, pending: make(map[int]int64), round: &commitRound{}}
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
	for !r.done {
		if c.busy {
			c.cond.Wait()
			continue
		}
		c.busy = true
		offsets, cur := c.pending, c.round
		c.pending, c.round = make(map[int]int64, len(offsets)), &commitRound{}
		c.mu.Unlock()
		err := c.gen.CommitOffsets(map[string]map[int]int64{c.topic: offsets})
		c.mu.Lock()
		cur.done, cur.err = true, err
		c.busy = false
		c.cond.Broadcast()
	}
	return r.err
}
