package rules

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
)

// exampleCell is a table cell that is one condition in backticks.
var exampleCell = regexp.MustCompile("^`([^`]+)`$")

// TestReadmeRuleReference compiles every example condition of the README's
// rule reference (the last cell of a table row, when it is one condition
// in backticks) and runs it on a swipe, so the reference documents only
// what works.
func TestReadmeRuleReference(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "### Rule reference\n")
	if start < 0 {
		t.Fatal("README has no Rule reference section")
	}
	section := text[start:]
	if end := strings.Index(section[1:], "\n### "); end >= 0 {
		section = section[:end+1]
	}
	p := history(t)
	s := purchase("p9", at(10, 10, 30), item("coffee-0007", "coffee", 1300))
	n := 0
	for line := range strings.Lines(section) {
		cells := strings.Split(strings.TrimSpace(line), "|")
		if len(cells) < 4 {
			continue
		}
		m := exampleCell.FindStringSubmatch(strings.TrimSpace(cells[len(cells)-2]))
		if m == nil {
			continue
		}
		n++
		src := m[1]
		prog, w, err := compileExpr(src, expr.AsBool())
		if err != nil || len(w.errs) > 0 {
			t.Errorf("README example %s does not compile: %v %v", src, err, w.errs)
			continue
		}
		e := (&Set{}).NewEvaluator()
		e.bind(s, p)
		if out, err := e.vm.Run(prog, &e.env); err != nil {
			t.Errorf("README example %s fails: %v", src, err)
		} else if _, ok := out.(bool); !ok {
			t.Errorf("README example %s returns %T", src, out)
		}
	}
	t.Logf("%d example conditions", n)
	if n < 20 {
		t.Errorf("found %d examples in the rule reference; the table format changed?", n)
	}
}
