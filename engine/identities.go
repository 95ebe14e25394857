package engine

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/aislecast/loyalty/offers"
)

// TopicIdentities is the compacted topic of cards' consent, keyed by card
// id: {"card_id":"c1","consent":{"mobile":true,"email":false,"pos":true}};
// a tombstone forgets the card, which then gets the default.
const TopicIdentities = "identities"

// ConsentTable is every card's consent to offers, per channel, as the
// identities topic says. It is not partitioned like the swipes: every
// instance holds the whole table. A card without a record, or a channel
// its record does not name, gets the default. It is safe for concurrent
// use.
type ConsentTable struct {
	def offers.ChannelSet

	mu sync.RWMutex
	m  map[string]consent
}

// consent is what a card's record said: the channels it named, and which
// of those it allows. 8 bytes a card besides the key.
type consent struct{ named, allowed offers.ChannelSet }

// NewConsentTable returns an empty table whose cards may receive offers on
// the channels of def until their records say otherwise.
func NewConsentTable(def offers.ChannelSet) *ConsentTable {
	return &ConsentTable{def: def, m: map[string]consent{}}
}

// Channels is the set of channels the card may receive offers on. A nil
// table allows every channel.
func (t *ConsentTable) Channels(card string) offers.ChannelSet {
	if t == nil {
		return offers.AllChannels
	}
	t.mu.RLock()
	c, ok := t.m[card]
	t.mu.RUnlock()
	if !ok {
		return t.def
	}
	return c.allowed | t.def&^c.named
}

// Len is the number of cards with a record.
func (t *ConsentTable) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}

// identityRecord is the value of an identities record. Channels the
// engine does not know are ignored, so producers may add channels first.
type identityRecord struct {
	CardID  string           `json:"card_id"`
	Consent *map[string]bool `json:"consent"`
}

// set applies a record of the identities topic.
func (t *ConsentTable) set(key string, value []byte) error {
	var rec identityRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return fmt.Errorf("not an identity record: %w", err)
	}
	if rec.CardID != "" && rec.CardID != key {
		return fmt.Errorf("card_id %q differs from the key", rec.CardID)
	}
	if rec.Consent == nil {
		return fmt.Errorf(`no "consent" object`)
	}
	var c consent
	for ch, ok := range *rec.Consent {
		c.named |= offers.ChannelsOf(ch)
		if ok {
			c.allowed |= offers.ChannelsOf(ch)
		}
	}
	t.mu.Lock()
	t.m[key] = c
	t.mu.Unlock()
	return nil
}

// forget drops a card's record: it gets the default again.
func (t *ConsentTable) forget(key string) {
	t.mu.Lock()
	delete(t.m, key)
	t.mu.Unlock()
}
