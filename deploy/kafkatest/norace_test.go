//go:build linux && !race

package kafkatest

const raceEnabled = false
