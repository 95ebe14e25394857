package engine

import (
	"testing"
	"time"

	"go.uber.org/zap"
)

// A kept store is used again only for its own partition, while young, and
// only if the group's committed offset is still the one its owner
// committed; stores of partitions assigned elsewhere are dropped.
func TestKeptStores(t *testing.T) {
	e := &Engine{log: zap.NewNop(), kept: make(map[int]keptStore)}
	s := newMemStore(&ProfileCache{})
	now := time.Now()
	e.kept[1] = keptStore{store: s, end: 40, committed: 100, at: now}
	e.kept[2] = keptStore{store: s, end: 41, committed: 200, at: now}
	e.kept[3] = keptStore{store: s, end: 42, committed: 300, at: now.Add(-keptFor - time.Second)}
	e.kept[4] = keptStore{store: s, end: 43, committed: 400, at: now}
	e.dropKept([]int{1, 2, 3})
	if _, ok := e.kept[4]; ok {
		t.Error("the store of a partition assigned elsewhere was kept")
	}
	if k, ok := e.takeKept(1, 100); !ok || k.end != 40 || k.store != s {
		t.Errorf("takeKept(1, 100) = %+v, %v; want the kept store", k, ok)
	}
	if _, ok := e.takeKept(2, 250); ok {
		t.Error("a store was used although another member committed since")
	}
	if _, ok := e.takeKept(3, 300); ok {
		t.Error("a store kept longer than keptFor was used")
	}
	if len(e.kept) != 0 {
		t.Errorf("%d stores still kept after being taken", len(e.kept))
	}
	if _, ok := e.takeKept(1, 100); ok {
		t.Error("a store was used twice")
	}
}
