// Package rules reads the offer rules marketers write and decides, for each
// swipe, which of them fire.
//
// A rule file holds one rule or several YAML documents separated by "---".
// Each rule has an id, a version, a priority, a condition ("when"), the
// channels to send on and the offer: title and body templates, a coupon and
// an expiry; limits, schedule and holdout are parsed and validated here and
// enforced by package offers, budgets with the spend the engine shares
// between its instances. Parse decodes a
// file through yaml.Node, so that every problem, including one inside an
// expression or a template, is reported as "file:line:col: rule <id>:
// message", and compiles the condition once with expr against a typed
// environment: swipe (*loyalty.Swipe), profile (*loyalty.Profile, which
// already includes the swipe), now (the swipe's event time, so replays and
// backtests decide as the live run did) and the helpers categorySpend,
// spend, daysSinceBought, hasBought, inBasket and basketHas.
//
// Conditions name fields as the swipe JSON schema does (swipe.kind,
// swipe.total_cents, item.unit_price_cents) and the profile's in the same
// snake_case (profile.spend_cents), through the expr struct tags of package
// loyalty, so marketers write what the point of sale sends; a Go field name
// is refused with the name to use. Offer templates are Go text/template and
// keep Go names ({{ .Swipe.TotalCents }}).
//
// Literal windows and swipe kinds are checked and rewritten at compile time
// into calls expr makes without reflection; the kinds a condition requires
// also index the rule. A Set is an immutable, sorted and indexed collection
// of compiled rules, shared by all workers and swapped whole on reload; each
// worker evaluates it with its own Evaluator, which owns an expr VM and the
// environment the helpers read, so evaluating a swipe allocates next to
// nothing. Evaluator.Explain is the dry run's slow path: it evaluates a
// condition part by part to say which part was false and what it saw.
package rules
