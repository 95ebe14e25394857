package engine

import (
	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
)

// Outcome is what Process did with one rule whose condition held on a
// swipe, or failed to evaluate, as a dry run explains it (SetExplain).
type Outcome struct {
	Rule *rules.Rule
	// Code is Pass for a rule that won arbitration, else why it sent
	// nothing: a code of the offer policy (Holdout for a held hit),
	// Budget or Arbitration.
	Code offers.Code
	// Reason says why in words, with the time or figures that decided;
	// "" for a winner.
	Reason string
	// Err is the condition's evaluation error, the error rendering the
	// rule's offer for the swipe (the rule then neither sends nor holds),
	// or for a winner the error of an offer that could not be encoded.
	Err error
	// Sent are the channels a winner's offers were published on, Lost
	// those of its channels that other rules won.
	Sent, Lost []string
}

// SetExplain makes Process explain its decisions: it judges every rule
// hit with offers.Env.Decide instead of Check and calls fn with the
// outcome of each hit and each rule that failed to evaluate, in the order
// Process decides them (policy, budget, arbitration, offer building). A
// dry run of one swipe thereby takes the live engine's own path; nil, the
// default, keeps the hot path free of explanations.
func (p *Pipeline) SetExplain(fn func(*Outcome)) { p.explain = fn }

// check applies rule r's offer policy in env, with the reason when
// explaining; chs are r's channels.
func (p *Pipeline) check(env *offers.Env, r *rules.Rule, chs offers.ChannelSet, s *loyalty.Swipe, prof *loyalty.Profile) offers.Verdict {
	if p.explain != nil {
		return env.Decide(r, s, prof)
	}
	return env.CheckChannels(r, chs, s, prof)
}

// overBudget is the verdict on a hit whose rule's budget cannot pay for
// its offer, with the spend that decided when explaining.
func (p *Pipeline) overBudget(r *rules.Rule, s *loyalty.Swipe) offers.Verdict {
	if p.explain == nil {
		return offers.Verdict{Code: offers.Budget}
	}
	return offers.Afford(r, p.budget.Spent(r.ID), offers.Cost(r, s), true)
}

// explainWinner reports a rule that won arbitration on the channels of
// award a, published on sent; err is the last offer that failed to build.
func (p *Pipeline) explainWinner(a *offers.Award, sent []string, err error) {
	o := &Outcome{Rule: a.Rule, Sent: append([]string(nil), sent...), Err: err}
	for _, ch := range a.Rule.Channels {
		if !a.WonOn(ch) {
			o.Lost = append(o.Lost, ch)
		}
	}
	p.explain(o)
}
