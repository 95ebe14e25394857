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
// keep Go names ({{ .Swipe.TotalCents }}); one that is only text and plain
// field references is rendered by appending its parts, with the same
// result, and anything else by text/template (template.go).
//
// Literal windows and swipe kinds are checked and rewritten at compile time
// into calls expr makes without reflection. A Set is an immutable, sorted
// and indexed collection of compiled rules, shared by all workers and
// swapped whole on reload. Its index (index.go) files each rule under a
// fact its condition needs (the swipe's kind or store, a category or SKU
// in the basket or the profile, a threshold on a figure), so that Match
// runs only the conditions that can be true, and the cost of a swipe grows
// with the rules that concern it, not with the size of the set.
// Conditions in the common shapes also compile to Go closures (native.go);
// the others run on the expr VM. Each worker evaluates with its own
// Evaluator, which owns an expr VM, the environment the helpers read and a
// per-swipe memo of the facts rules test, so evaluating a swipe allocates
// nothing for native conditions.
// Evaluator.Explain is the dry run's slow path: it evaluates a condition
// part by part to say which part was false and what it saw.
package rules
