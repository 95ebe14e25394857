package rules

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is a problem in a rule file, located at the line and column of the
// offending YAML node (or, for an expression, of the offending character).
// Line and Col are 1-based; 0 means unknown (an unreadable file, say).
type Error struct {
	File   string
	Line   int
	Col    int
	RuleID string // empty when the rule's id is unknown
	Msg    string
}

// Error formats e as "file:line:col: rule <id>: message", the form editors
// and CI annotators recognise. The rule part is left out when the id is
// unknown, and line:col when the position is.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.RuleID != "" {
		b.WriteString("rule ")
		b.WriteString(e.RuleID)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in a set of rule files, sorted by file,
// line and column. It is the error type of Parse, LoadPaths and NewSet, so a
// marketer sees all mistakes at once instead of one per attempt.
type ErrorList []*Error

// Error lists one error per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// sort orders the list by file, line and column, keeping the order of
// errors at the same position.
func (l ErrorList) sort() {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col),
		)
	})
}

// err returns the sorted list as an error, or nil when it is empty, so that
// callers never hold a non-nil error interface wrapping an empty list.
func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	l.sort()
	return l
}
