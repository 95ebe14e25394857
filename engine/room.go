package engine

import "github.com/aislecast/loyalty"

// profileRoom is memory a pipeline decodes one profile after another
// into, so that reading the profile a swipe changes allocates nothing.
//
// It holds one profile at a time: the next decode into the room
// overwrites the last one, lists and all. That is safe for the pipeline
// because it stores a changed profile (Store.Put, which copies its
// encoding) before it reads the next one, and keeps nothing of it after
// (see Pipeline.profile). The lists a swipe grows beyond the room's
// arrays are the profile's own, and the room's arrays keep their
// capacity for the next decode.
type profileRoom struct {
	blk    profileBlock
	cats   []loyalty.CategoryStats
	skus   []loyalty.SKUStats
	days   []loyalty.DaySpend
	offers []loyalty.OfferHistory
	sent   []int64
	// ruleIDs interns the rule ids of offer histories: a few rules have
	// a policy, and each decode would otherwise allocate its ids again.
	ruleIDs map[string]string
	id      []byte // room for reading a rule id
	// spare is room for the first day of the categories a swipe adds
	// (loyalty.Profile.SpareDays): more than most swipes add.
	spare [16]loyalty.DaySpend
}

// roomStore is a Store that can decode a profile into a pipeline's room.
type roomStore interface {
	// getInto is Get decoding into room, whose previous profile it
	// overwrites. It returns nil for an unknown card.
	getInto(card string, room *profileRoom) (*loyalty.Profile, error)
}

// fresh returns the room's profile made the empty profile of card.
func (r *profileRoom) fresh(card string) *loyalty.Profile {
	r.blk.p = loyalty.Profile{CardID: card, LastOffset: -1}
	r.blk.p.SpareDays(r.spare[:])
	return &r.blk.p
}

// ruleID returns the rule id spelled by b, interned.
func (r *profileRoom) ruleID(b []byte) string {
	if id, ok := r.ruleIDs[string(b)]; ok {
		return id
	}
	if r.ruleIDs == nil {
		r.ruleIDs = make(map[string]string)
	}
	id := string(b)
	if len(r.ruleIDs) < maxRoomRuleIDs { // a corrupt stream cannot grow it without end
		r.ruleIDs[id] = id
	}
	return id
}

// maxRoomRuleIDs bounds a room's interned rule ids: far more rules than
// any set has with a policy.
const maxRoomRuleIDs = 4096

// roomList returns a zeroed slice of n elements (and capacity at least n)
// from *buf, growing *buf when it is shorter: a list of a profile decoded
// into a room.
func roomList[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n)
	}
	s := (*buf)[:n]
	clear(s)
	return s
}
