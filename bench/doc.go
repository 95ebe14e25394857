// Package bench holds the engine's benchmarks and what they need: a
// generator of realistic rule sets and the harness that compares the
// engine with a baseline measured in the same run. See README.md for how
// to run each figure and what it printed last time.
package bench
