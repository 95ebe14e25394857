// Package loyalty is the domain language of the loyalty-card offer engine:
// the swipes that point-of-sale systems send, the purchase profile kept per
// card, and the offers sent back to the shopper. It does no I/O and depends
// on nothing else of the engine's, so reading it tells the whole product.
//
// A Swipe is one interaction at a store (a purchase, a check-in, a scan or a
// return). The engine folds every swipe into the card's Profile on event
// time, so replaying the same swipes in any order within the history horizon
// gives the same profile. Offer rules (package rules) read the profile and
// the swipe; the offers they produce (package offers) carry a deterministic
// id, so a swipe that is replayed after a crash yields the same offer id and
// consumers can drop the duplicate.
package loyalty
