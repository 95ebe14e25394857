//go:build linux && race

package kafkatest

// raceEnabled tells TestMain to build a copy of the test binary without
// the race detector for the verification, which it would slow tenfold.
const raceEnabled = true
