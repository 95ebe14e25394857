package engine

import (
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/offers"
)

// Policy is what the offer policy needs beyond the rules, shared by every
// partition: the store registry (each store's time zone, which is also
// the clock a swipe's day and the rules' now are taken on), the cards'
// consent and the quiet hours per channel. Nil fields mean no registry
// (days, now and schedules on the swipe's own offset), every channel
// allowed, and no quiet hours.
type Policy struct {
	Stores  *StoreRegistry
	Consent *ConsentTable
	Quiet   *offers.QuietHours
}

// SetPolicy sets the store registry, consent table and quiet hours the
// pipeline judges offers by; call it between batches. A nil policy judges
// schedules by the swipe's own offset and lets every card receive every
// channel at any hour.
func (p *Pipeline) SetPolicy(pol *Policy) { p.policy = pol }

// zone is the time zone of a store, or nil without a policy or when its
// registry does not know the store.
func (pol *Policy) zone(store string) *time.Location {
	if pol == nil {
		return nil
	}
	return pol.Stores.Zone(store)
}

// env is what the policy knows about swipe s: its store's zone (a store
// the registry does not know is counted), its card's consent and the
// quiet hours, and when the swipe arrived (its record's time; see
// SetSendExpired). It is valid until the next call.
func (p *Pipeline) env(s *loyalty.Swipe, zone *time.Location, arrived time.Time, b *batch) *offers.Env {
	if p.sendExpired {
		arrived = time.Time{}
	}
	pol := p.policy
	if pol == nil {
		if arrived.IsZero() {
			return nil
		}
		p.envBuf = offers.Env{Consent: offers.AllChannels, Arrived: arrived}
		return &p.envBuf
	}
	p.envBuf = offers.Env{Zone: zone, Consent: pol.Consent.Channels(s.CardID), Quiet: pol.Quiet, Arrived: arrived}
	if zone == nil {
		b.unknownStores++
	}
	return &p.envBuf
}
