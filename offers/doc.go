// Package offers turns rule hits into offers and publishes them.
//
// An offer's id is a hash of the rule id, the rule version and the swipe id,
// so the same swipe replayed after a crash or a rebalance produces the same
// offer id: apps deduplicate on it. Offers are keyed by card id and spread
// over partitions with the murmur2 hash that Java clients use, so every
// producer of a card's messages agrees on its partition.
//
// The offer policy (Decide, Check, Record) judges a rule hit on the rule,
// the swipe and the card's profile, plus an Env: the store's time zone
// (schedules and quiet hours are in the store's local time), the channels
// the card consented to, and the quiet hours per channel. The first check
// that fails gives a Code whose String is a metric label; Arbitrate then
// shares each channel among the hits that may still send on it.
package offers
