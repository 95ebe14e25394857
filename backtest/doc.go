// Package backtest replays swipe history through the engine's own code to
// show what offer rules would have done before they go live.
//
// Run feeds each Source (a JSON-lines file, or one partition of a swipes
// topic) through its own engine.Pipeline, the broker-free core the live
// engine runs per partition: the same decoding and dead-lettering, profile
// updates, rule evaluation, offer policy (schedule in the store's zone,
// consent, quiet hours, cooldown, cap, holdout: Options.Policy is what
// offerd's --stores, --quiet-hours and --consent-default set), budgets,
// arbitration and offer building. Apart from budgets, every decision
// depends only on a card's own swipes and the policy, so how the history
// is split into sources does not change any offer as long as each card's
// swipes keep their order, which a topic's partitions and a file written
// in production order both do. A budget is shared by all cards: when a
// rule has one, the sources are merged by the time each message was sent
// and replayed in that order, one at a time, so the offers a budget pays
// for before it runs out are the same on every run.
//
// Nothing here reads the wall clock. The pipeline judges whether a swipe's
// event time is plausible against a simulated clock: the message's Kafka
// timestamp (when the point of sale sent it, which is about when the live
// engine judged it), or, for a bare swipe line without one, the swipe's own
// event time. Old history is therefore replayed, not rejected as old, and
// a swipe the live engine found absurdly far off is dead-lettered here too.
//
// The Report counts, per rule, the offers, cards and discount the rule
// would have committed and the hits its policy and arbitration held back,
// with the totals and dead letters by reason, from the same counters the
// engine exports as metrics.
package backtest
