package engine

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/aislecast/loyalty/offers"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
)

// tableBroker starts an embedded broker with the engine's topics and
// returns a client and a function that writes records (nil value: a
// tombstone) to a topic.
func tableBroker(t *testing.T) (*kafka.Client, func(topic string, kv ...[]byte)) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	client := &kafka.Client{Addr: kafka.TCP(c.ListenAddrs()...), Timeout: 10 * time.Second}
	if err := EnsureTopics(context.Background(), client, Topics(3), 1); err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(c.ListenAddrs()...), Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	t.Cleanup(func() { w.Close() })
	write := func(topic string, kv ...[]byte) {
		t.Helper()
		var msgs []kafka.Message
		for i := 0; i+1 < len(kv); i += 2 {
			msgs = append(msgs, kafka.Message{Topic: topic, Key: kv[i], Value: kv[i+1]})
		}
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			t.Fatal(err)
		}
	}
	return client, write
}

// follow runs a table until the test ends and waits for it to load.
func follow(t *testing.T, tb *table) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tb.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-tb.Loaded():
	case <-time.After(30 * time.Second):
		t.Fatalf("table %s not loaded", tb.topic)
	}
}

// eventually polls cond, for a tail that applies records asynchronously.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

// TestConsentTable: the identities topic read whole, then tailed. A card's
// record allows or denies the channels it names; other channels and
// cards without a record get the default (here e-mail is opt-in); a
// tombstone or a malformed record makes the card fall back to the default.
func TestConsentTable(t *testing.T) {
	client, write := tableBroker(t)
	b := func(s string) []byte { return []byte(s) }
	write(TopicIdentities,
		b("c-all"), b(`{"card_id":"c-all","consent":{"mobile":true,"pos":true,"email":true}}`),
		b("c-no-mobile"), b(`{"card_id":"c-no-mobile","consent":{"mobile":false}}`),
		b("c-none"), b(`{"consent":{"mobile":false,"pos":false,"email":false,"sms":true}}`),
		b("c-forgotten"), b(`{"consent":{"mobile":false,"pos":false}}`),
		b("c-forgotten"), nil,
		b("c-garbled"), b(`{"consent":{"mobile":false,"pos":false}}`),
		b("c-garbled"), b(`{"consent":{"mobile":"no"}}`),
		b("c-other"), b(`{"card_id":"c-someone-else","consent":{"mobile":false}}`),
		b("c-empty"), b(`{"card_id":"c-empty"}`),
		nil, b(`{"consent":{"mobile":false}}`),
	)
	consent := NewConsentTable(offers.AllChannels &^ offers.ChannelsOf("email"))
	tb := newTable(TopicIdentities, client, consent, zap.NewNop())
	follow(t, tb)

	tests := []struct{ card, want string }{
		{"c-all", "mobile, pos, email"},
		{"c-no-mobile", "pos"}, // e-mail not named: the default, opt-in
		{"c-none", "none"},     // unknown channels are ignored
		{"c-forgotten", "mobile, pos"},
		{"c-garbled", "mobile, pos"},
		{"c-other", "mobile, pos"},
		{"c-empty", "mobile, pos"},
		{"c-never-seen", "mobile, pos"},
	}
	for _, tt := range tests {
		if got := consent.Channels(tt.card).String(); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.card, got, tt.want)
		}
	}
	if n, bad := tb.records.Load(), tb.malformed.Load(); n != 10 || bad != 4 {
		t.Errorf("%d records, %d malformed; want 10 and 4 (c-garbled, c-other, c-empty, no key)", n, bad)
	}
	if consent.Len() != 3 {
		t.Errorf("%d cards held, want 3", consent.Len())
	}

	// Records written after the load are applied too.
	write(TopicIdentities, b("c-all"), b(`{"consent":{"mobile":false}}`), b("c-no-mobile"), nil)
	eventually(t, "c-all's opt-out applied", func() bool { return consent.Channels("c-all") == offers.ChannelsOf("pos") })
	eventually(t, "c-no-mobile forgotten", func() bool { return consent.Channels("c-no-mobile") == offers.ChannelsOf("mobile", "pos") })
}

// TestStoreTable: records of the stores topic override the file's, and a
// tombstone or malformed record brings the file's back.
func TestStoreTable(t *testing.T) {
	client, write := tableBroker(t)
	b := func(s string) []byte { return []byte(s) }
	write(TopicStores,
		b("s1"), b(`{"store_id":"s1","name":"Moved","time_zone":"Europe/Berlin"}`),
		b("s2"), b(`{"time_zone":"Mars/Olympus"}`),
		b("s3"), b(`{"time_zone":"Asia/Tokyo"}`),
	)
	stores, err := NewStoreRegistry(StoreRecord{ID: "s1", TimeZone: "America/New_York"}, StoreRecord{ID: "s2", TimeZone: "America/Chicago"})
	if err != nil {
		t.Fatal(err)
	}
	tb := newTable(TopicStores, client, stores, zap.NewNop())
	follow(t, tb)
	zones := func() string {
		var out string
		for _, id := range []string{"s1", "s2", "s3", "s4"} {
			out += id + "=" + stores.Zone(id).String() + " "
		}
		return out
	}
	if got, want := zones(), "s1=Europe/Berlin s2=America/Chicago s3=Asia/Tokyo s4=UTC "; got != want {
		t.Errorf("zones %s, want %s", got, want) // a nil *time.Location prints as UTC
	}
	if stores.Zone("s4") != nil || stores.Len() != 3 || tb.malformed.Load() != 1 {
		t.Errorf("s4 zone %v, %d stores, %d malformed; want nil, 3, 1", stores.Zone("s4"), stores.Len(), tb.malformed.Load())
	}
	write(TopicStores, b("s1"), nil)
	eventually(t, "s1 back to the file's zone", func() bool { return stores.Zone("s1").String() == "America/New_York" })
}

// BenchmarkConsentChannels looks up cards in a table of a million records,
// as the pipeline does once per swipe with rule hits (keys spread over the
// table, so mostly cache misses), and reports the table's heap per card.
func BenchmarkConsentChannels(b *testing.B) {
	const n = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t := NewConsentTable(offers.AllChannels)
	for i := range n {
		if err := t.set(fmt.Sprintf("card-%07d", i), []byte(`{"consent":{"mobile":false}}`)); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perCard := float64(after.HeapAlloc-before.HeapAlloc) / n
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("card-%07d", i*977)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		t.Channels(keys[i&1023])
	}
	b.ReportMetric(perCard, "heapB/card")
}
