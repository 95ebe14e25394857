package main

import (
	"fmt"
	"io"
	_ "time/tzdata" // store time zones load on machines without a zone database

	"github.com/aislecast/loyalty/engine"
)

// policy is the offer policy offerd's --stores, --quiet-hours and
// --consent-default flags describe, for command cmd; on failure it is nil
// and the exit status is 2 for a bad spec, 1 for an invalid store registry.
func policy(pf *engine.PolicyFlags, cmd string, stderr io.Writer) (*engine.Policy, int) {
	pol, usage, err := pf.Policy()
	switch {
	case err == nil:
		return pol, 0
	case usage:
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return nil, 2
	default:
		fmt.Fprintln(stderr, err) // file:line:col: store <id>: message
		return nil, 1
	}
}
