package offers

import (
	"time"

	"github.com/segmentio/kafka-go"
)

// NewWriter returns a writer for offer and dead-letter topics: every write
// waits for all in-sync replicas, keys go to partitions by murmur2 like the
// Java client, and a batch leaves after at most a millisecond because the
// shopper is waiting. The writer takes the topic from each message.
func NewWriter(transport kafka.RoundTripper, brokers ...string) *kafka.Writer {
	return &kafka.Writer{
		Addr:                   kafka.TCP(brokers...),
		Balancer:               &kafka.Murmur2Balancer{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           time.Millisecond,
		BatchSize:              10000,
		BatchBytes:             16 << 20, // dead-lettered swipes may be over 1 MiB
		MaxAttempts:            5,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        time.Second,
		AllowAutoTopicCreation: false,
		Transport:              transport,
	}
}
