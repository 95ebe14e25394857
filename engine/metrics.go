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
	mSuppressed = descCounter("offers_suppressed_total", "Rule hits that published no offer, by rule and reason: schedule, cooldown, cap, holdout (recorded as sent, never published) or arbitration.", "rule", "reason")
	mEvents     = descCounter("offer_events_total", "Decision events (sent, held, redeemed) published to offers.events.")
	mRedeemed   = descCounter("redemptions_total", "Offer ids redeemed by purchase swipes (redeemed_offers), one redeemed event each.")
	mIgnored    = descCounter("redemptions_ignored_total", "redeemed_offers entries that made no redeemed event, by reason: malformed-id or not-purchase.", "reason")
	mRuleErrors = descCounter("rule_errors_total", "Rule evaluations or offer renderings that failed.")
	mRestored   = descCounter("profiles_restored_total", "Profiles loaded from the changelog on partition assignment.")
	mChangelog  = descCounter("changelog_records_total", "Profile records written to the changelog.")
	mChangeB    = descCounter("changelog_bytes_total", "Bytes of profile records written to the changelog.")
	mProfiles   = prometheus.NewDesc("offerd_profiles", "Profiles held by this instance.", nil, nil)
	mReady      = prometheus.NewDesc("offerd_ready", "1 when the instance is in its group and writing.", nil, nil)
	mRules      = prometheus.NewDesc("offerd_rules", "Rules in the active rule set.", nil, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mSwipes, mApplied, mDuplicates, mReplayed, mDLQ, mOffers,
		mSuppressed, mEvents, mRedeemed, mIgnored, mRuleErrors, mRestored, mChangelog, mChangeB, mProfiles, mReady, mRules} {
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
	ch <- prometheus.MustNewConstMetric(mReady, prometheus.GaugeValue, ready)
	ch <- prometheus.MustNewConstMetric(mRules, prometheus.GaugeValue, float64(c.e.rules.Load().Len()))
}
