// Package engine runs the offer engine on Kafka: it consumes swipes as a
// member of a consumer group, keeps the profile of every card of the
// partitions it owns, evaluates the rules and publishes offers.
//
// The model, one partition at a time:
//
//   - Ownership. Partition p of swipes and partition p of
//     profiles.changelog belong together. When the group assigns p, the
//     engine restores p's profiles from the changelog (Store: in memory, or
//     on disk with DiskStore) before it processes a swipe of p. In memory,
//     a restore keeps each record as the changelog has it; once p serves,
//     they are converted in the background to the compact at-rest form, at
//     most half a core while swipes flow. A record (codec.go) is a bit
//     stream after the profile's names; the at-rest form (atrest.go,
//     bits.go) is the same stream after the names' ids in a table the
//     instance interns them in, so converting a record, and storing a
//     profile a swipe changed, copy the stream. A partition the same instance
//     is assigned again after a rebalance resumes with the profiles it
//     held, replaying only the changelog written since (keep.go).
//   - The core. A Pipeline (partition.go) is the broker-free part: decode
//     and validate (decode.go, swipejson.go), fold into the profile, match
//     the rules, judge the offer policy (store zones, consent, quiet hours,
//     cooldowns, caps, holdouts, budgets) and arbitrate, build the offers
//     and the decision events. Backtests and dry runs run it directly.
//   - The order that makes crashes harmless (consume.go). Per batch:
//     offers, dead letters, decision events and budget spend are published
//     and acked; then the changed profiles go to the changelog and are
//     acked; then the swipe offsets are committed. A flusher overlaps the
//     next batch's processing with these writes without ever letting a
//     commit pass an unacked write. A swipe at or below a profile's applied
//     offset is skipped, so a replay after a crash re-sends offers with the
//     same ids and never counts a swipe twice.
//   - Tables every instance reads whole (table.go): the store registry
//     (stores topic, over the --stores file), consent (identities), the
//     rules (offer-rules, hot-reloaded: rulesync.go) and the budget spend
//     (offer-budget: budget.go). The engine joins its group only once they
//     are loaded.
//
// Everything the engine counts is in Stats and exported as Prometheus
// metrics by Engine.Collector (metrics.go).
package engine
