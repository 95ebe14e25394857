package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/internal/backoff"
	"github.com/aislecast/loyalty/internal/groupcommit"
	"github.com/aislecast/loyalty/internal/produce"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Config is what an Engine needs. Brokers, Group and Rules are required.
type Config struct {
	Brokers []string
	Group   string
	Rules   *rules.Set
	// Partitions for topics the engine creates (default 6); an existing
	// swipes topic's count wins.
	Partitions int
	// Replication factor for created topics (default 1).
	Replication int
	// MaxBatch is the most swipes in one batch, whose offers go out in one
	// write (default 500). A batch ends sooner when the previous one is
	// published and no swipe is waiting; one commit may cover several.
	MaxBatch int
	Limits   Limits           // default DefaultLimits
	Clock    func() time.Time // default time.Now; only judges plausible event times
	Logger   *zap.Logger      // default no logs
	// CacheBytes bounds the decoded-profile cache in front of the
	// on-disk store (StoreDir; default 64 MiB; <0 disables). Profiles in
	// memory have none: their compact form is decoded on every swipe,
	// which costs less than caching them decoded (see memStore.getInto).
	CacheBytes int64
	// Transport is the kafka-go transport for writers and admin requests.
	Transport kafka.RoundTripper
	// Dialer is used by readers and the consumer group.
	Dialer *kafka.Dialer

	// StoreDir, when set, keeps profiles on disk there (Pebble) instead of
	// in memory, with the decoded-profile cache in front; for chains whose
	// profiles do not fit in memory. Empty keeps them in memory.
	StoreDir string
	// CompactOnRestore converts each profile restored into memory to the
	// compact in-memory form as it is read. By default a restore keeps the
	// changelog's records as they are, about 2.4 times the memory, and
	// a partition compacts them in the background once it serves: restores
	// take about half the time, and memory peaks at about 2.4 times the
	// profiles' own until compacted. Once the heap passes half of the
	// runtime's memory limit (GOMEMLIMIT), when one is set, a restore
	// converts as it reads anyway. No effect with StoreDir.
	CompactOnRestore bool

	// MaxOffersPerChannel is the most offers one swipe triggers on each
	// channel (default DefaultMaxOffersPerChannel); rules compete for the
	// slots by priority, then expected value, then id.
	MaxOffersPerChannel int
	// SendExpired sends the offers of swipes that arrived after the offer
	// would have expired (the swipe's ts plus the rule's expires_in, before
	// the swipe record's timestamp), which are otherwise suppressed with
	// reason "expired". A replay of history standing in for live traffic
	// (a benchmark) wants it.
	SendExpired bool

	// Stores is the store registry from a file (LoadStores); records of
	// the stores topic override its entries. Nil: the topic alone.
	Stores *StoreRegistry
	// QuietHours are the quiet hours per channel, in each store's local
	// time; nil means none.
	QuietHours *offers.QuietHours
	// ConsentOptIn are the channels a card must opt in to through the
	// identities topic: a card without a record, or whose record does not
	// name the channel, gets no offers on them. Zero: every channel is
	// opt-out, allowed until the card's record says otherwise.
	ConsentOptIn offers.ChannelSet

	// SyncRules makes the offer-rules topic the source of truth for rules
	// once it holds a record: Run publishes the RuleSeed rules the topic
	// has no record of, reads the topic to its end before it joins the
	// group (Rules stands until then, and stays while the topic is empty),
	// then follows it, swapping in a new rule set on every change.
	SyncRules bool
	// RuleSeed are the documents of Rules (see RuleDocs), for SyncRules.
	RuleSeed []RuleDoc
}

// Engine consumes swipes as a member of a consumer group and publishes
// offers. Create it with New, run it with Run.
type Engine struct {
	cfg   Config
	log   *zap.Logger
	rules atomic.Pointer[rules.Set]
	cache *ProfileCache
	disk  *DiskStore // nil: profiles in memory
	stats Stats
	// ruleStats counts the rule changes read from offer-rules.
	ruleStats ruleSyncStats
	ready     atomic.Bool
	// restoring counts assigned partitions whose profiles are still being
	// restored; the engine is not ready before they are all in memory.
	restoring atomic.Int64

	offersW    *produce.Writer
	changelogW *produce.Writer
	client     *kafka.Client
	// budgets is the spend of every rule with a budget, shared by the
	// partitions this instance owns and followed from TopicBudget.
	budgets *Budgets

	mu    sync.Mutex
	owned map[int]Store // stores of the partitions owned right now
	// compactor is held by the one partition compacting its restored
	// profiles (see compact).
	compactor chan struct{}
	// kept holds the in-memory stores of the partitions this instance let
	// go at the end of its last generation (see keep), for the next one.
	kept map[int]keptStore

	policy Policy
	tables []*table // stores and identities, read whole by every instance
}

// New checks cfg and builds an engine. It does not contact the brokers.
func New(cfg Config) (*Engine, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("engine: no brokers given")
	}
	if cfg.Group == "" {
		return nil, errors.New("engine: no consumer group given")
	}
	if cfg.Rules == nil {
		return nil, errors.New("engine: no rule set given")
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 6
	}
	if cfg.Replication <= 0 {
		cfg.Replication = 1
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 500
	}
	if cfg.MaxOffersPerChannel <= 0 {
		cfg.MaxOffersPerChannel = DefaultMaxOffersPerChannel
	}
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = 64 << 20
	}
	if cfg.Transport == nil {
		cfg.Transport = kafka.DefaultTransport
	}
	cacheBytes := cfg.CacheBytes
	if cfg.StoreDir == "" {
		cacheBytes = 0 // only the disk store caches decoded profiles
	}
	cache, err := NewProfileCache(cacheBytes)
	if err != nil {
		return nil, fmt.Errorf("engine: profile cache: %w", err)
	}
	e := &Engine{
		cfg:       cfg,
		log:       cfg.Logger,
		cache:     cache,
		budgets:   NewBudgets(cfg.Logger),
		client:    &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: cfg.Transport},
		owned:     make(map[int]Store),
		kept:      make(map[int]keptStore),
		compactor: make(chan struct{}, 1),
	}
	e.offersW, e.changelogW = e.newOffersWriter(), e.newChangelogWriter()
	if cfg.StoreDir != "" {
		if e.disk, err = OpenDiskStore(cfg.StoreDir, cache); err != nil {
			cache.Close()
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	e.rules.Store(cfg.Rules)
	if cfg.Stores == nil {
		cfg.Stores, _ = NewStoreRegistry()
	}
	e.policy = Policy{Stores: cfg.Stores, Consent: NewConsentTable(offers.AllChannels &^ cfg.ConsentOptIn), Quiet: cfg.QuietHours}
	e.tables = []*table{
		newTable(TopicStores, e.client, cfg.Stores, e.log),
		newTable(TopicIdentities, e.client, e.policy.Consent, e.log),
	}
	return e, nil
}

// Policy returns the store registry, consent table and quiet hours the
// engine judges offers by.
func (e *Engine) Policy() *Policy { return &e.policy }

// TableStat is what the engine read from a table topic (stores,
// identities).
type TableStat struct {
	Topic     string
	Records   int64 // records read, tombstones and malformed ones included
	Malformed int64 // records that could not be read; their key got the default
	Loaded    bool  // the whole topic as it was at start has been read
}

// Tables reports on the table topics every instance reads whole.
func (e *Engine) Tables() []TableStat {
	out := make([]TableStat, len(e.tables))
	for i, t := range e.tables {
		out[i] = TableStat{Topic: t.topic, Records: t.records.Load(), Malformed: t.malformed.Load(), Loaded: isClosed(t.loaded)}
	}
	return out
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// SetClock replaces the clock that judges plausible event times. Call it
// before Run; simulations use it to run on simulated time.
func (e *Engine) SetClock(now func() time.Time) { e.cfg.Clock = now }

// Stats returns the engine's counters.
func (e *Engine) Stats() *Stats { return &e.stats }

// Ready reports whether the engine has read the stores and identities
// topics, is in its group, has restored the profiles of every partition
// it owns, and its last write to the brokers succeeded.
func (e *Engine) Ready() bool { return e.ready.Load() && e.restoring.Load() == 0 }

// SetRules swaps the rule set; every partition picks it up at its next
// batch.
func (e *Engine) SetRules(rs *rules.Set) { e.rules.Store(rs) }

// Rules returns the rule set in use.
func (e *Engine) Rules() *rules.Set { return e.rules.Load() }

// Profiles returns the number of profiles held across owned partitions.
func (e *Engine) Profiles() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, s := range e.owned {
		n += s.Len()
	}
	return n
}

// Profile returns the stored profile of a card if one of the partitions
// this instance owns holds it. It reads the last stored encoding (what the
// changelog holds), so it is safe to call while the engine runs.
func (e *Engine) Profile(card string) (*loyalty.Profile, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.owned {
		if es, ok := s.(interface {
			Encoded(string) ([]byte, bool, error)
		}); ok {
			data, ok, err := es.Encoded(card)
			if err != nil {
				return nil, false, err
			}
			if ok {
				p, err := DecodeProfile(data)
				return p, err == nil, err
			}
		}
	}
	return nil, false, nil
}

// Run creates the topics, joins the group and processes swipes until ctx
// is cancelled. On cancellation it finishes the batch in hand, publishes
// and commits it, leaves the group and returns nil.
func (e *Engine) Run(ctx context.Context) error {
	defer e.cache.Close()
	if e.disk != nil {
		defer e.disk.Close()
	}
	if err := e.ensureTopics(ctx); err != nil {
		return err
	}
	// No swipe is judged before the stores and every card's consent are
	// known: the group is joined once the tables are loaded.
	// The followers of the tables and of the budget spend run on contexts
	// of their own, stopped as Run returns (after the partitions finished
	// their batches), so that an error return does not wait for the caller
	// to cancel ctx.
	tablesCtx, stopTables := context.WithCancel(ctx)
	var tables sync.WaitGroup
	defer func() { stopTables(); tables.Wait() }()
	for _, t := range e.tables {
		tables.Add(1)
		go func() {
			defer tables.Done()
			t.run(tablesCtx)
		}()
	}
	for _, t := range e.tables {
		select {
		case <-t.loaded:
		case <-ctx.Done():
			return nil
		}
	}
	if e.cfg.SyncRules {
		syncCtx, stopSync := context.WithCancel(ctx)
		defer stopSync()
		waitSync, err := e.syncRules(syncCtx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		defer func() { stopSync(); waitSync() }()
	}
	tailCtx, stopTail := context.WithCancel(ctx)
	tailed := make(chan struct{})
	go func() { defer close(tailed); e.tailBudgets(tailCtx) }()
	defer func() { stopTail(); <-tailed }()
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                e.cfg.Group,
		Brokers:           e.cfg.Brokers,
		Dialer:            e.cfg.Dialer,
		Topics:            []string{TopicSwipes},
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    groupSessionTimeout,
		RebalanceTimeout:  groupRebalanceTimeout,
		JoinGroupBackoff:  time.Second,
		ErrorLogger:       kafka.LoggerFunc(e.log.Sugar().Named("group").Debugf),
	})
	if err != nil {
		return fmt.Errorf("join group %s: %w", e.cfg.Group, err)
	}
	var wg sync.WaitGroup
	defer func() {
		wg.Wait() // partitions finish their batch first
		e.dropKept(nil)
		cg.Close()
		e.ready.Store(false)
		e.log.Info("left group", zap.String("group", e.cfg.Group))
	}()
	for {
		gen, err := cg.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			e.ready.Store(false)
			e.log.Warn("consumer group", zap.Error(err))
			continue // kafka-go backs off between join attempts
		}
		var parts []int
		for _, a := range gen.Assignments[TopicSwipes] {
			parts = append(parts, a.ID)
		}
		e.dropKept(parts)
		// A failed commit is harmless: the next owner re-reads the swipes
		// since the last one and skips them by the profiles' applied
		// offsets.
		c := groupcommit.New(gen, TopicSwipes, func(err error) { e.log.Warn("commit", zap.Error(err)) })
		e.restoring.Add(int64(len(gen.Assignments[TopicSwipes])))
		for _, a := range gen.Assignments[TopicSwipes] {
			a := a
			wg.Add(1)
			gen.Start(func(gctx context.Context) {
				defer wg.Done()
				e.runPartition(ctx, gctx, gen, c, a)
			})
		}
		e.ready.Store(true)
		e.log.Info("assigned", zap.Int32("generation", gen.ID), zap.Ints("partitions", parts))
	}
}

func (e *Engine) ensureTopics(ctx context.Context) error {
	return e.untilReachable(ctx, "create topics", func() error {
		err := EnsureTopics(ctx, e.client, Topics(e.cfg.Partitions), e.cfg.Replication)
		if err == nil && e.cfg.SyncRules {
			err = EnsureRulesTopic(ctx, e.client, e.cfg.Replication)
		}
		return err
	})
}

// untilReachable runs do until it succeeds, fails for another reason than
// unreachable brokers, or ctx ends, backing off up to 5 s in between.
func (e *Engine) untilReachable(ctx context.Context, what string, do func() error) error {
	wait := 250 * time.Millisecond
	for {
		err := do()
		if err == nil || ctx.Err() != nil || !retriable(err) {
			return err
		}
		e.log.Warn("brokers not reachable yet; retrying", zap.String("doing", what), zap.Strings("brokers", e.cfg.Brokers), zap.Error(err))
		if !backoff.Sleep(ctx, wait) {
			return ctx.Err()
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// retriable reports whether err looks like a broker that is not reachable
// (yet), as opposed to a configuration error worth stopping for.
func retriable(err error) bool {
	var ke kafka.Error
	if errors.As(err, &ke) {
		return ke.Temporary()
	}
	return !errors.Is(err, ErrTopicMismatch)
}
