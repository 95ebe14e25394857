//go:build race

package engine

// raceEnabled tells tests that count allocations that the race detector,
// which allocates on its own, is on.
const raceEnabled = true
