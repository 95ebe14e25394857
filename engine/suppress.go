package engine

import (
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
)

// A swipe at 10,000 rules has about a hundred hits, and most of them send
// nothing: counting each in a map keyed by rule id and code hashed and
// compared the id on every hit. The batch counts them instead in an array
// indexed by the rule's ordinal in the rule set (rules.Evaluator.
// MatchOrdinals) and the code, and folds the counts into its map, by rule
// id, once per batch: when the batch is counted (suppressions, which Stats
// reads), or when its rule set changes and the ordinals with it.

// codeSlots is the number of codes counted per rule in the array; a code
// beyond it (none today) is counted in the map directly.
const codeSlots = 16

// hitCounts counts the suppressed hits of a batch by rule ordinal and code.
type hitCounts struct {
	rules []*rules.Rule // the rule set the ordinals number
	n     []int32       // by ordinal*codeSlots + code
	used  []int32       // the indexes of n that are not 0
}

// setRules numbers the rules of rs from now on; fold the counts of the
// rules before first.
func (h *hitCounts) setRules(rs []*rules.Rule) {
	if len(rs) == len(h.rules) && (len(rs) == 0 || &rs[0] == &h.rules[0]) {
		return
	}
	h.rules = rs
	if want := len(rs) * codeSlots; cap(h.n) < want {
		h.n = make([]int32, want)
	} else {
		h.n = h.n[:want]
	}
}

// suppress counts a hit of the rule with ordinal ord that sent nothing,
// for code c.
func (b *batch) suppress(ord int32, c offers.Code) {
	h := &b.hits
	if c >= codeSlots {
		b.suppressed[suppression{h.rules[ord].ID, c}]++
		return
	}
	i := int(ord)*codeSlots + int(c)
	if h.n[i] == 0 {
		h.used = append(h.used, int32(i))
	}
	h.n[i]++
}

// foldSuppressed moves the batch's counts from its array into its map of
// suppressed hits by rule id and code. It may be called any number of
// times.
func (b *batch) foldSuppressed() {
	h := &b.hits
	for _, i := range h.used {
		b.suppressed[suppression{h.rules[i/codeSlots].ID, offers.Code(i % codeSlots)}] += int64(h.n[i])
		h.n[i] = 0
	}
	h.used = h.used[:0]
}

// suppressions is the batch's suppressed hits by rule and code.
func (b *batch) suppressions() map[suppression]int64 {
	b.foldSuppressed()
	return b.suppressed
}
