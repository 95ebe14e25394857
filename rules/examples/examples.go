// Package examples ships the sample offer rules, so that offerd --demo and
// the tests load the very files a marketer reads in rules/examples.
package examples

import "embed"

// FS holds the sample rule files (*.yaml).
//
//go:embed *.yaml
var FS embed.FS
