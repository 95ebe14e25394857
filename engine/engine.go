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
	// CacheBytes bounds the decoded-profile cache (default 64 MiB; <0 disables).
	CacheBytes int64
	// Transport is the kafka-go transport for writers and admin requests.
	Transport kafka.RoundTripper
	// Dialer is used by readers and the consumer group.
	Dialer *kafka.Dialer

	// MaxOffersPerChannel is the most offers one swipe triggers on each
	// channel (default DefaultMaxOffersPerChannel); rules compete for the
	// slots by priority, then expected value, then id.
	MaxOffersPerChannel int
}

// Engine consumes swipes as a member of a consumer group and publishes
// offers. Create it with New, run it with Run.
type Engine struct {
	cfg   Config
	log   *zap.Logger
	rules atomic.Pointer[rules.Set]
	cache *ProfileCache
	stats Stats
	ready atomic.Bool
	// restoring counts assigned partitions whose profiles are still being
	// restored; the engine is not ready before they are all in memory.
	restoring atomic.Int64

	offersW    *kafka.Writer
	changelogW *kafka.Writer
	client     *kafka.Client

	mu    sync.Mutex
	owned map[int]Store // stores of the partitions owned right now
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
	cache, err := NewProfileCache(cfg.CacheBytes)
	if err != nil {
		return nil, fmt.Errorf("engine: profile cache: %w", err)
	}
	e := &Engine{
		cfg:        cfg,
		log:        cfg.Logger,
		cache:      cache,
		offersW:    newOffersWriter(cfg),
		changelogW: newChangelogWriter(cfg),
		client:     &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: cfg.Transport},
		owned:      make(map[int]Store),
	}
	e.rules.Store(cfg.Rules)
	return e, nil
}

// SetClock replaces the clock that judges plausible event times. Call it
// before Run; simulations use it to run on simulated time.
func (e *Engine) SetClock(now func() time.Time) { e.cfg.Clock = now }

// Stats returns the engine's counters.
func (e *Engine) Stats() *Stats { return &e.stats }

// Ready reports whether the engine is in its group, has restored the
// profiles of every partition it owns, and its last write to the brokers
// succeeded.
func (e *Engine) Ready() bool { return e.ready.Load() && e.restoring.Load() == 0 }

// SetRules swaps the rule set; every partition picks it up at its next
// batch.
func (e *Engine) SetRules(rs *rules.Set) { e.rules.Store(rs) }

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
		if es, ok := s.(interface{ Encoded(string) ([]byte, bool) }); ok {
			if data, ok := es.Encoded(card); ok {
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
	defer e.offersW.Close()
	defer e.changelogW.Close()
	if err := e.ensureTopics(ctx); err != nil {
		return err
	}
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                e.cfg.Group,
		Brokers:           e.cfg.Brokers,
		Dialer:            e.cfg.Dialer,
		Topics:            []string{TopicSwipes},
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  time.Second,
		ErrorLogger:       kafka.LoggerFunc(e.log.Sugar().Named("group").Debugf),
	})
	if err != nil {
		return fmt.Errorf("join group %s: %w", e.cfg.Group, err)
	}
	var wg sync.WaitGroup
	defer func() {
		wg.Wait() // partitions finish their batch first
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
		c := groupcommit.New(gen, TopicSwipes)
		e.restoring.Add(int64(len(gen.Assignments[TopicSwipes])))
		for _, a := range gen.Assignments[TopicSwipes] {
			parts = append(parts, a.ID)
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
	wait := 250 * time.Millisecond
	for {
		err := EnsureTopics(ctx, e.client, Topics(e.cfg.Partitions), e.cfg.Replication)
		if err == nil || ctx.Err() != nil || !retriable(err) {
			return err
		}
		e.log.Warn("brokers not reachable yet; retrying", zap.Strings("brokers", e.cfg.Brokers), zap.Error(err))
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
