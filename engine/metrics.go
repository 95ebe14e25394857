package engine

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes the engine's counters to Prometheus. It reads Stats at
// scrape time, so the hot path pays nothing for metrics.
func (e *Engine) Collector() prometheus.Collector { return collector{e} }

type collector struct{ e *Engine }

var (
	descCounter = func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("offerd_"+name, help, labels, nil)
	}
	mSwipes     = descCounter("swipes_total", "Swipe messages read and processed.")
	mApplied    = descCounter("swipes_applied_total", "Swipes folded into a profile.")
	mDuplicates = descCounter("swipes_duplicate_total", "POS retries of a swipe id already applied; skipped.")
	mReplayed   = descCounter("swipes_replayed_total", "Redelivered swipes at or below a profile's applied offset; skipped.")
	mDLQ        = descCounter("swipes_dead_lettered_total", "Swipes sent to swipes.dlq, by reason.", "reason")
	mOffers     = descCounter("offers_published_total", "Offers published, by rule.", "rule")
	mSuppressed = descCounter("offers_suppressed_total", "Rule hits that published no offer, by rule and reason: schedule, consent, quiet_hours, cooldown, cap, holdout (recorded as sent, never published), arbitration or budget.", "rule", "reason")
	mUnknown    = descCounter("swipes_unknown_store_total", "Swipes with rule hits from stores the registry does not know; judged on the swipe's own UTC offset.")
	mTableRecs  = descCounter("table_records_total", "Records read from a table topic (stores, identities), tombstones and malformed ones included.", "topic")
	mTableBad   = descCounter("table_records_malformed_total", "Malformed records of a table topic: logged, and their key falls back to the default.", "topic")
	mStores     = prometheus.NewDesc("offerd_stores", "Stores in the registry (file and stores topic).", nil, nil)
	mConsents   = prometheus.NewDesc("offerd_consent_records", "Cards with a consent record from the identities topic.", nil, nil)
	mEvents     = descCounter("offer_events_total", "Decision events (sent, held, redeemed) published to offers.events.")
	mRedeemed   = descCounter("redemptions_total", "Offer ids redeemed by purchase swipes (redeemed_offers), one redeemed event each.")
	mIgnored    = descCounter("redemptions_ignored_total", "redeemed_offers entries that made no redeemed event, by reason: malformed-id or not-purchase.", "reason")
	mRuleErrors = descCounter("rule_errors_total", "Rule evaluations or offer renderings that failed.")
	mRestored   = descCounter("profiles_restored_total", "Profiles loaded from the changelog on partition assignment.")
	mChangelog  = descCounter("changelog_records_total", "Profile records written to the changelog.")
	mChangeB    = descCounter("changelog_bytes_total", "Bytes of profile records written to the changelog.")
	mProfiles   = prometheus.NewDesc("offerd_profiles", "Profiles held by this instance.", nil, nil)
	mUncompact  = prometheus.NewDesc("offerd_profiles_uncompacted", "Profiles still in the changelog's form as a restore left them (about 2.4 times the memory of the rest); compacted in the background once their partition serves (one found corrupt on the way stays so).", nil, nil)
	mProfBytes  = prometheus.NewDesc("offerd_profiles_bytes", "Bytes the profiles held in memory take as stored (compact, or as the changelog has them until compacted); their map entries and allocation rounding, 120-150 bytes a profile, come on top. Profiles on disk (--store-dir) are not counted.", nil, nil)
	mResumed    = descCounter("partitions_resumed_total", "Partitions assigned again that resumed with the profiles kept from the generation before, replaying only the changelog written since.")
	mCompacted  = descCounter("profiles_compacted_total", "Restored profiles converted to the compact in-memory form after their partition began serving.")
	mRetries    = descCounter("produce_retries_total", "Partitions of a batch write (offers, events, dead letters, changelog) that a broker refused with a temporary error (a leader moved, too few in-sync replicas) or did not answer, and that were sent again.")
	mReady      = prometheus.NewDesc("offerd_ready", "1 when the instance is in its group and writing.", nil, nil)
	mRules      = prometheus.NewDesc("offerd_rules", "Rules in the active rule set.", nil, nil)
	mRuleVer    = prometheus.NewDesc("offerd_rule_version", "Version of each rule in the active rule set; offers carry it.", []string{"rule"}, nil)
	mReloads    = descCounter("rules_reloads_total", "Rule sets swapped in from the offer-rules topic.")
	mRejected   = descCounter("rules_rejected_total", "offer-rules records that did not compile, by rule; the rule kept its previous version.", "rule")
	mBudget     = prometheus.NewDesc("offerd_budget", "A rule's budget: offers, or discount in cents.", []string{"rule", "unit"}, nil)
	mSpent      = prometheus.NewDesc("offerd_budget_spent", "What a rule's offers spent of its budget across all instances, as this one knows it: offers, or discount in cents.", []string{"rule", "unit"}, nil)
	mBudgetErrs = descCounter("budget_records_ignored_total", "Records of the offer-budget topic that could not be read.")
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mSwipes, mApplied, mDuplicates, mReplayed, mDLQ, mOffers,
		mSuppressed, mRuleErrors, mRestored, mChangelog, mChangeB, mProfiles, mUncompact, mProfBytes, mCompacted, mResumed, mRetries, mReady, mRules,
		mUnknown, mTableRecs, mTableBad, mStores, mConsents, mRuleVer, mReloads, mRejected,
		mBudget, mSpent, mBudgetErrs, mEvents, mRedeemed, mIgnored} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := &c.e.stats
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(mSwipes, s.Swipes.Load())
	counter(mApplied, s.Applied.Load())
	counter(mDuplicates, s.Duplicates.Load())
	counter(mReplayed, s.Replayed.Load())
	for _, r := range s.RejectsByReason() {
		counter(mDLQ, r.N, r.Name)
	}
	for _, r := range s.OffersByRule() {
		counter(mOffers, r.N, r.Name)
	}
	for _, r := range s.SuppressedByRule() {
		counter(mSuppressed, r.N, r.Rule, r.Reason)
	}
	counter(mUnknown, s.UnknownStores.Load())
	for _, t := range c.e.Tables() {
		counter(mTableRecs, t.Records, t.Topic)
		counter(mTableBad, t.Malformed, t.Topic)
	}
	ch <- prometheus.MustNewConstMetric(mStores, prometheus.GaugeValue, float64(c.e.policy.Stores.Len()))
	ch <- prometheus.MustNewConstMetric(mConsents, prometheus.GaugeValue, float64(c.e.policy.Consent.Len()))
	counter(mEvents, s.Events.Load())
	counter(mRedeemed, s.Redeemed.Load())
	for _, r := range s.RedemptionsIgnored() {
		counter(mIgnored, r.N, r.Name)
	}
	counter(mRuleErrors, s.RuleErrors.Load())
	counter(mRestored, s.Restored.Load())
	counter(mChangelog, s.Changelog.Load())
	counter(mChangeB, s.ChangeB.Load())
	ready := 0.0
	if c.e.Ready() {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(mProfiles, prometheus.GaugeValue, float64(c.e.Profiles()))
	ch <- prometheus.MustNewConstMetric(mUncompact, prometheus.GaugeValue, float64(c.e.Uncompacted()))
	ch <- prometheus.MustNewConstMetric(mProfBytes, prometheus.GaugeValue, float64(c.e.ProfileBytes()))
	counter(mCompacted, s.Compacted.Load())
	counter(mResumed, s.Resumed.Load())
	counter(mRetries, s.ProduceRetries.Load())
	ch <- prometheus.MustNewConstMetric(mReady, prometheus.GaugeValue, ready)
	rs := c.e.rules.Load()
	ch <- prometheus.MustNewConstMetric(mRules, prometheus.GaugeValue, float64(rs.Len()))
	for _, r := range rs.Rules() {
		ch <- prometheus.MustNewConstMetric(mRuleVer, prometheus.GaugeValue, float64(r.Version), r.ID)
	}
	counter(mReloads, c.e.ruleStats.reloads.Load())
	for _, r := range c.e.ruleStats.Rejected() {
		counter(mRejected, r.N, r.Name)
	}
	c.collectBudgets(ch)
	counter(mBudgetErrs, s.BudgetErrors.Load())
}

// collectBudgets reports the budgets of the active rules and the spend of
// every rule that has one.
func (c collector) collectBudgets(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	for _, r := range c.e.rules.Load().Rules() {
		if l := r.Limits; l != nil {
			if l.Budget > 0 {
				gauge(mBudget, l.Budget, r.ID, "offers")
			}
			if l.BudgetCents > 0 {
				gauge(mBudget, l.BudgetCents, r.ID, "cents")
			}
		}
	}
	for _, id := range c.e.budgets.Rules() {
		s := c.e.budgets.Spent(id)
		gauge(mSpent, s.Count, id, "offers")
		gauge(mSpent, s.Cents, id, "cents")
	}
}
