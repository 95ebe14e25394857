package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRetryDoublesWaitsUpToMost(t *testing.T) {
	var waits []time.Duration
	calls := 0
	err := Retry(context.Background(), time.Microsecond, 4*time.Microsecond, func() error {
		if calls++; calls < 5 {
			return errors.New("not yet")
		}
		return nil
	}, func(_ error, wait time.Duration) { waits = append(waits, wait) })
	if err != nil {
		t.Fatalf("Retry = %v, want nil after the fifth call", err)
	}
	want := []time.Duration{time.Microsecond, 2 * time.Microsecond, 4 * time.Microsecond, 4 * time.Microsecond}
	if len(waits) != len(want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
}

func TestRetryReturnsLastErrorWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	boom := errors.New("broker down")
	calls := 0
	err := Retry(ctx, time.Hour, time.Hour, func() error {
		calls++
		return boom
	}, func(error, time.Duration) { cancel() })
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("Retry = %v after %d calls, want %v after 1", err, calls, boom)
	}
}

func TestSleepReportsCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on a cancelled context reported that the hour passed")
	}
	if !Sleep(context.Background(), time.Nanosecond) {
		t.Fatal("Sleep(1ns) reported cancellation")
	}
}
