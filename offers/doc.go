// Package offers turns rule hits into offers and publishes them.
//
// An offer's id is a hash of the rule id, the rule version and the swipe id,
// so the same swipe replayed after a crash or a rebalance produces the same
// offer id: apps deduplicate on it. Offers are keyed by card id and spread
// over partitions with the murmur2 hash that Java clients use, so every
// producer of a card's messages agrees on its partition.
package offers
