// Package possim simulates the point-of-sale systems of a grocery chain:
// a deterministic, realistic stream of loyalty-card swipes for the swipes
// topic, with the faults and irregularities real POS traffic has.
//
// A Generator holds a population of cards. Each card has a home store
// (three in ten also use a second one), a rhythm (weekly on the same day,
// or every few days, or several times a day; activity follows a Pareto law
// so the top tenth of cards make well over a third of the swipes), a usual
// hour between 8:00 and 21:00 local time that moves to midday on weekends,
// a basket size, and a few favourite categories it buys again on their own
// interval, such as the coffee lover who buys the same two coffees every
// 10 to 20 days. Baskets hold 1 to 25 lines from a chain-sized catalog
// (Categories): 347 categories in 30 departments, each department led by
// its most popular category, named after it ("coffee" is ground coffee,
// next to "coffee-pods", "coffee-beans", "coffee-filters"), with 11 to 48
// SKUs a category, about 9,000 in all ("coffee-0007"), the low numbers
// selling most. SKUs are priced in cents in their category's range, and
// prices do not depend on the seed. App users check in on entry and
// sometimes scan an item in the aisle; now and then a card returns part of
// its last purchase at the service desk.
//
// Stores stand in New York, Chicago, Denver, Los Angeles, Boston, Dallas,
// Phoenix, Seattle and so on, and every ts carries its store's offset. The
// generator runs a simulated clock: Next returns the swipes of all cards
// interleaved in event-time order, except that about 1% of good swipes
// arrive hours to days late (Message.Late) and about 0.5% are sent twice by
// the POS (Message.Retry, the same bytes seconds to minutes later).
//
// A share of messages (Config.BadFraction) carries exactly one fault from
// Faults, spread evenly: malformed JSON, an unknown schema version, missing
// ids, negative amounts, totals that do not add up, unknown kinds, times
// without a zone or absurdly far off, a Kafka key that is not the card, an
// empty value, and values over 1 MiB (at most one per OversizedEvery
// messages). Message.Bad names it, so tests can check that the engine
// dead-letters each with the right reason.
//
// Shoppers redeem offers when told about them: Generator.Offered feeds an
// offer the engine sent back into the simulation, and the card's next
// purchase before the offer expires names it in redeemed_offers with
// probability Config.RedeemFraction. The daemon's demo mode feeds back
// every offer it publishes.
//
// The same Config gives the same bytes, message by message, on every run
// and machine, as long as no offers are fed back. Produce writes a
// generator's messages to Kafka in batches, at a fixed rate or as fast as
// the writer takes them; cmd/swipegen and the daemon's demo mode both use
// it.
package possim
