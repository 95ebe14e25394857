// Package bench holds the engine's benchmarks and what they need: a
// generator of realistic rule sets and the harness that compares the
// engine with a baseline measured in the same run.
//
// The core benchmark (core_test.go) runs the engine's per-swipe pipeline
// without a broker; the heap benchmark (memory_test.go) fills the
// engine's profile store with realistic profiles and reports heap bytes
// per profile and what the GC did. The end-to-end figures run through a broker, the
// embedded one or a real Kafka: Throughput relays one swipes topic with a
// raw kafka-go relay (relay.go) and with the engine alternately, and
// Latency sends the same paced stream through each and times every swipe
// to its output. cmd/e2e prints them as tables. See README.md for how to
// run each figure and what it printed last time.
package bench
