package backtest

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestFileSource(t *testing.T) {
	swipe := `{"v":1,"swipe_id":"s1","card_id":"c-1","kind":"checkin","store_id":"s","ts":"2026-11-02T10:00:00-05:00","total_cents":0}`
	withValue := strings.Replace(swipe, `"total_cents":0`, `"total_cents":0,"value":{"tier":"gold"}`, 1)
	lines := strings.Join([]string{
		`{"topic":"swipes","partition":2,"offset":9,"time":"2026-11-02T15:00:07Z","key":"c-1","value":` + swipe + `}`, // offerctl tail
		``, // blank: skipped
		`{"topic":"swipes","partition":0,"offset":0,"time":"2026-11-02T15:00:08Z","key":"c-2","value":"{\"v\":1,"}`, // not JSON: kept as a string
		`{"topic":"swipes","partition":0,"offset":1,"time":"0001-01-01T00:00:00Z","key":"c-3","value":""}`,          // empty value
		"  " + swipe + "  ", // a bare swipe: keyed by its card, sent at its ts
		withValue,           // a bare swipe with a field of its own named value
		`not json at all`,
	}, "\n")
	want := []struct {
		key, value string
		time       time.Time
	}{
		{"c-1", swipe, time.Date(2026, 11, 2, 15, 0, 7, 0, time.UTC)},
		{"c-2", `{"v":1,`, time.Date(2026, 11, 2, 15, 0, 8, 0, time.UTC)},
		{"c-3", ``, time.Time{}},
		{"c-1", swipe, time.Time{}},
		{"c-1", withValue, time.Time{}},
		{"", `not json at all`, time.Time{}},
	}
	src := NewFileSource(strings.NewReader(lines))
	for i, w := range want {
		m, err := src.Next(context.Background())
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(m.Key) != w.key || string(m.Value) != w.value || !m.Time.Equal(w.time) || m.Offset != int64(i) {
			t.Errorf("message %d: key %q value %q time %s offset %d; want %q %q %s %d", i, m.Key, m.Value, m.Time, m.Offset, w.key, w.value, w.time, i)
		}
	}
	if _, err := src.Next(context.Background()); !errors.Is(err, io.EOF) {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
}

func TestSentAt(t *testing.T) {
	prev := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sent := time.Date(2026, 11, 2, 15, 0, 7, 0, time.UTC)
	tests := []struct {
		name string
		m    kafka.Message
		want time.Time
	}{
		{"Kafka timestamp first", kafka.Message{Time: sent, Value: []byte(`{"ts":"2020-01-01T00:00:00Z"}`)}, sent},
		{"else the event time", kafka.Message{Value: []byte(`{"ts":"2026-11-02T10:00:07-05:00"}`)}, sent},
		{"else the previous clock", kafka.Message{Value: []byte(`{"ts":"2026-11-02T10:00:07"}`)}, prev},
	}
	for _, tt := range tests {
		if got := SentAt(&tt.m, prev); !got.Equal(tt.want) {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
