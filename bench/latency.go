package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aislecast/loyalty"
	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/internal/backoff"
	"github.com/aislecast/loyalty/possim"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
)

// probeRule fires on every good swipe that is not a POS retry, so that
// every such swipe gets an offer on offers.mobile whose trigger_swipe_id
// names it. Its priority is above any generated rule's, so it wins the
// arbitration that lets one swipe send only so many offers per channel.
const probeRule = `
---
id: latency-probe
priority: 1000000
when: swipe.kind in ["purchase", "checkin", "scan", "return"]
channels: [mobile]
offer:
  title: "probe"
`

const probeID = "latency-probe"

// LatencyConfig sets up the latency figure. Zero values mean the defaults
// in brackets.
type LatencyConfig struct {
	Rate     float64       // swipes per second (1,000)
	Duration time.Duration // measured stream (20 s)
	Warmup   time.Duration // stream before it, not counted (2 s)
	// Drain is how long to wait for the last offers after the stream
	// ends (10 s).
	Drain      time.Duration
	Rules      int // generated rules besides the probe (100; negative for none)
	Partitions int // partitions of the topics (6)
	MaxBatch   int // most swipes per batch, engine and relay (500)
	Progress   io.Writer
}

func (c *LatencyConfig) defaults() {
	if c.Rate <= 0 {
		c.Rate = 1000
	}
	if c.Duration <= 0 {
		c.Duration = 20 * time.Second
	}
	if c.Warmup < 0 {
		c.Warmup = 0
	} else if c.Warmup == 0 {
		c.Warmup = 2 * time.Second
	}
	if c.Drain <= 0 {
		c.Drain = 10 * time.Second
	}
	if c.Rules < 0 {
		c.Rules = 0
	} else if c.Rules == 0 {
		c.Rules = 100
	}
	if c.Partitions <= 0 {
		c.Partitions = 6
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 500
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// Latencies is one side's swipe-to-output latency.
type Latencies struct {
	Side     string
	Rate     float64 // swipes per second the paced producer achieved
	Counted  int     // swipes whose output was waited for
	Received int     // of those, outputs that arrived
	P50, P90 time.Duration
	P99, Max time.Duration
	Failed   int // messages the producer could not write
	GC       GC  // during the stream
}

// LatencyResult is the latency figure.
type LatencyResult struct {
	Config        LatencyConfig
	Machine       Machine
	Mix           Mix
	Relay, Engine Latencies
	// Broker is the floor: the same stream read straight from swipes,
	// no relay, so its latency is the producer's, the broker's and the
	// reader's alone.
	Broker Latencies
}

// Latency measures swipe-to-offer latency at a steady rate. A paced
// producer writes the same simulated stream five times, through the raw
// relay and through the engine to warm the broker (not measured), to
// nothing (the broker side: the swipes read back from swipes itself, the
// floor under both), through the relay again and then through the engine,
// each on freshly created topics, and records when it handed each swipe
// to the writer. A reader of offers.mobile (swipes for the broker side),
// from its end, records when the output of each swipe arrives: the
// relayed swipe itself, or the engine's offer of the probe rule (matched
// by trigger_swipe_id). Only good swipes sent after the warm-up count; a
// POS retry counts as its first send.
func Latency(ctx context.Context, b *Broker, cfg LatencyConfig) (*LatencyResult, error) {
	cfg.defaults()
	res := &LatencyResult{Config: cfg, Machine: ThisMachine(b)}
	set, err := compileRules(cfg.Rules, probeRule)
	if err != nil {
		return nil, err
	}
	n := int(cfg.Rate * (cfg.Warmup + cfg.Duration).Seconds())
	warm := int(cfg.Rate * cfg.Warmup.Seconds())
	g := newTraffic(2)
	msgs := make([]possim.Message, n)
	slot := make([]int, n) // index into the tracked swipes, or -1
	ids := make(map[string]int)
	var counted []bool
	for i := range msgs {
		m := g.Next()
		msgs[i] = m
		res.Mix.add(m)
		slot[i] = -1
		if m.Swipe == nil {
			continue
		}
		k, ok := ids[m.Swipe.SwipeID]
		if !ok {
			k = len(counted)
			ids[m.Swipe.SwipeID] = k
			counted = append(counted, i >= warm && !m.Retry)
		}
		slot[i] = k
	}
	clock := g.Clock()
	if err := checkSpan(clock); err != nil {
		return nil, err
	}
	stamp := time.Now().UnixNano()
	// A side would otherwise run on a broker cold for its requests: a JVM
	// broker just started falls seconds behind 1,000 swipes/s until its
	// JIT has compiled the request path (relay p50 1.3–4.5 s on a fresh
	// broker, 10–16 ms on the same broker one pass later). The engine's
	// requests (a compacted changelog, several topics per produce
	// request, decision events) take other paths than the relay's: on a
	// broker warmed by the relay alone, its first seconds ran at p99 0.4–
	// 0.7 s, which was the whole of its p99 (27.5 ms on the same broker
	// one engine pass later). One unmeasured pass of each warms it.
	sides := []struct{ name, side string }{
		{"warm-up relay", "relay"}, {"warm-up engine", "engine"},
		{"broker", "broker"}, {"relay", "relay"}, {"engine", "engine"},
	}
	for i, sd := range sides {
		fmt.Fprintf(cfg.Progress, "latency: %s, %d swipes at %.0f/s\n", sd.name, n, cfg.Rate)
		p := &phase{cfg: cfg, b: b, side: sd.side, msgs: msgs, slot: slot, ids: ids, counted: counted,
			group: fmt.Sprintf("bench-latency-%d-%d-%s", stamp, i, sd.side)}
		start := p.startRelay
		switch sd.side {
		case "broker":
			start = func(context.Context) (func() error, error) { return func() error { return nil }, nil }
		case "engine":
			start = func(ctx context.Context) (func() error, error) { return p.startEngine(ctx, set, clock) }
		}
		l, err := p.run(ctx, start)
		if err != nil {
			return nil, fmt.Errorf("latency through the %s: %w", sd.name, err)
		}
		fmt.Fprintf(cfg.Progress, "latency: %s: p50 %v p99 %v, %d of %d received\n", sd.name, l.P50, l.P99, l.Received, l.Counted)
		switch sd.name {
		case "broker":
			res.Broker = l
		case "relay":
			res.Relay = l
		case "engine":
			res.Engine = l
		}
	}
	return res, nil
}

// phase is one side's latency run.
type phase struct {
	cfg     LatencyConfig
	b       *Broker
	side    string
	group   string
	msgs    []possim.Message
	slot    []int
	ids     map[string]int
	counted []bool
	sent    []atomic.Int64 // Unix nanoseconds of the first send, per tracked swipe
	recv    []atomic.Int64 // of the first output's arrival
}

func (p *phase) run(ctx context.Context, start func(context.Context) (func() error, error)) (Latencies, error) {
	l := Latencies{Side: p.side}
	p.sent = make([]atomic.Int64, len(p.counted))
	p.recv = make([]atomic.Int64, len(p.counted))
	if err := resetTopics(ctx, p.b, topicNames(engine.Topics(p.cfg.Partitions)), p.cfg.Partitions); err != nil {
		return l, err
	}
	runtime.GC()
	stop, err := start(ctx)
	if err != nil {
		return l, err
	}
	defer stop()
	// Let the partitions' readers start: the warm-up absorbs the rest.
	if !backoff.Sleep(ctx, time.Second) {
		return l, ctx.Err()
	}
	rctx, cancelReaders := context.WithCancel(ctx)
	readers, err := p.readOutputs(rctx)
	if err != nil {
		cancelReaders()
		return l, err
	}
	defer func() {
		cancelReaders()
		readers.Wait()
	}()

	g0 := readGC()
	took, failed, err := p.produce(ctx)
	if err != nil {
		return l, err
	}
	l.Rate, l.Failed = float64(len(p.msgs))/took.Seconds(), failed
	want := 0
	for _, c := range p.counted {
		if c {
			want++
		}
	}
	deadline := time.Now().Add(p.cfg.Drain)
	for p.received() < want && time.Now().Before(deadline) && backoff.Sleep(ctx, 10*time.Millisecond) {
	}
	l.GC = readGC().since(g0)
	if ctx.Err() != nil {
		return l, ctx.Err()
	}
	var lat []time.Duration
	var missing []string
	for k, c := range p.counted {
		if !c {
			continue
		}
		l.Counted++
		if r, s := p.recv[k].Load(), p.sent[k].Load(); r != 0 && s != 0 {
			lat = append(lat, time.Duration(r-s))
		} else if len(missing) < 5 {
			missing = append(missing, p.describe(k))
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(p.cfg.Progress, "latency: %s: no output for %d swipes after %v, among them %s\n", p.side, l.Counted-len(lat), p.cfg.Drain, strings.Join(missing, "; "))
	}
	l.Received = len(lat)
	if len(lat) == 0 {
		return l, errors.New("no output arrived")
	}
	slices.Sort(lat)
	rank := func(q float64) time.Duration { return lat[max(0, int(q*float64(len(lat))+0.999999)-1)] }
	l.P50, l.P90, l.P99, l.Max = rank(0.50), rank(0.90), rank(0.99), lat[len(lat)-1]
	return l, nil
}

// describe names tracked swipe k for a report.
func (p *phase) describe(k int) string {
	for i, m := range p.msgs {
		if p.slot[i] == k {
			return fmt.Sprintf("message %d: %s (late %v)", i, m.Value, m.Late)
		}
	}
	return "?"
}

func (p *phase) received() int {
	n := 0
	for k := range p.recv {
		if p.counted[k] && p.recv[k].Load() != 0 {
			n++
		}
	}
	return n
}

// startRelay starts the relay and waits until it has its partitions.
func (p *phase) startRelay(ctx context.Context) (func() error, error) {
	r := newRelay(p.b, p.group, p.cfg.MaxBatch)
	return startAndWait(ctx, r.run, r.assigned.Load)
}

// startEngine starts the engine and waits until it has its partitions.
func (p *phase) startEngine(ctx context.Context, set *rules.Set, clock time.Time) (func() error, error) {
	t := &kafka.Transport{}
	e, err := engine.New(engine.Config{Brokers: p.b.Addrs, Group: p.group, Rules: set, Partitions: p.cfg.Partitions,
		MaxBatch: p.cfg.MaxBatch, Clock: func() time.Time { return clock }, Transport: t,
		// The stream's event times are the generator's, not the wall
		// clock's: its offers, the probe's included, must not count as
		// expired on arrival.
		SendExpired: true})
	if err != nil {
		return nil, err
	}
	stop, err := startAndWait(ctx, e.Run, e.Ready)
	if err != nil {
		return nil, err
	}
	return func() error {
		defer t.CloseIdleConnections()
		return stop()
	}, nil
}

// startAndWait runs run in a goroutine until ready reports true; the stop
// it returns cancels run and waits for it.
func startAndWait(ctx context.Context, run func(context.Context) error, ready func() bool) (func() error, error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	stop := func() error {
		cancel()
		return <-done
	}
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			stop()
			return nil, errors.New("no partitions assigned within 30 s")
		}
		select {
		case err := <-done:
			cancel()
			return nil, fmt.Errorf("stopped before partitions were assigned: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return stop, nil
}

// produce writes the stream at the configured rate and records when each
// tracked swipe was handed to the writer. It returns how long that took
// and how many messages the writer failed to deliver.
func (p *phase) produce(ctx context.Context) (time.Duration, int, error) {
	t := &kafka.Transport{}
	defer t.CloseIdleConnections()
	var failed atomic.Int64
	w := &kafka.Writer{Addr: kafka.TCP(p.b.Addrs...), Topic: engine.TopicSwipes, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchBytes: 16 << 20, Transport: t,
		Async: true, Completion: func(msgs []kafka.Message, err error) {
			if err != nil {
				failed.Add(int64(len(msgs)))
			}
		}}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	batch := make([]kafka.Message, 0, 64)
	for sent := 0; sent < len(p.msgs); {
		select {
		case <-ctx.Done():
			w.Close()
			return 0, 0, ctx.Err()
		case <-tick.C:
		}
		due := min(int(p.cfg.Rate*time.Since(start).Seconds()), len(p.msgs))
		if due <= sent {
			continue
		}
		batch = batch[:0]
		now := time.Now().UnixNano()
		for i := sent; i < due; i++ {
			m := &p.msgs[i]
			batch = append(batch, kafka.Message{Key: m.Key, Value: m.Value})
			if k := p.slot[i]; k >= 0 {
				p.sent[k].CompareAndSwap(0, now)
			}
		}
		if err := w.WriteMessages(ctx, batch...); err != nil {
			w.Close()
			return 0, 0, fmt.Errorf("produce: %w", err)
		}
		sent = due
	}
	took := time.Since(start)
	if err := w.Close(); err != nil {
		return 0, 0, fmt.Errorf("produce: %w", err)
	}
	return took, int(failed.Load()), nil
}

// readOutputs reads offers.mobile (swipes on the broker side) from its
// current end, one reader per partition, and records the arrival of each
// tracked swipe's output.
func (p *phase) readOutputs(ctx context.Context) (*sync.WaitGroup, error) {
	a := newAdmin(p.b)
	defer a.close()
	topic := loyalty.OfferTopic(loyalty.ChannelMobile)
	if p.side == "broker" {
		topic = engine.TopicSwipes
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for i := 0; i < p.cfg.Partitions; i++ {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(i))
	}
	resp, err := a.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	var wg sync.WaitGroup
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s[%d]: %w", topic, po.Partition, po.Error)
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: p.b.Addrs, Topic: topic, Partition: po.Partition,
			// MaxWait below 250 ms makes kafka-go reconnect in a loop
			// (see DESIGN.md); with MinBytes 1 a fetch returns as soon
			// as anything arrives, so a long wait costs no latency.
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 500 * time.Millisecond,
		})
		if err := r.SetOffset(po.LastOffset); err != nil {
			r.Close()
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			p.read(ctx, r)
		}()
	}
	return &wg, nil
}

func (p *phase) read(ctx context.Context, r *kafka.Reader) {
	var v struct {
		SwipeID string `json:"swipe_id"`
		Trigger string `json:"trigger_swipe_id"`
		Rule    string `json:"rule_id"`
	}
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			if !backoff.Sleep(ctx, 10*time.Millisecond) {
				return
			}
			continue
		}
		now := time.Now().UnixNano()
		v.SwipeID, v.Trigger, v.Rule = "", "", ""
		if json.Unmarshal(m.Value, &v) != nil {
			continue // a relayed malformed swipe
		}
		id := v.SwipeID // relayed swipe
		if p.side == "engine" {
			if v.Rule != probeID {
				continue
			}
			id = v.Trigger
		}
		if k, ok := p.ids[id]; ok {
			p.recv[k].CompareAndSwap(0, now)
		}
	}
}

// Print writes the figure as a table.
func (r *LatencyResult) Print(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "figure    swipe-to-offer latency at a steady rate, engine vs raw kafka-go relay (same stream, same run)\n")
	r.Machine.print(w)
	fmt.Fprintf(w, "workload  %.0f swipes/s for %v after a %v warm-up (%s), %s cards, %d partitions; engine: probe rule + %d generated rules; max batch %d\n\n",
		c.Rate, c.Duration, c.Warmup, r.Mix, thousands(trafficCards), c.Partitions, c.Rules, c.MaxBatch)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "side\tswipes/s\tcounted\treceived\tp50\tp90\tp99\tmax\tGC cycles\tGC pause\tmax pause\tGC CPU\theap at end\t\n")
	for _, l := range []Latencies{r.Broker, r.Relay, r.Engine} {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%.1f%%\t%s\t\n", l.Side, l.Rate, thousands(float64(l.Counted)), thousands(float64(l.Received)),
			ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max), l.GC.Cycles, ms(l.GC.Pause), ms(l.GC.MaxPause), 100*l.GC.CPU, mib(l.GC.HeapInUse))
	}
	ratio := func(a, b time.Duration) float64 { return float64(a) / float64(b) }
	fmt.Fprintf(tw, "engine/relay\t\t\t\t%.2f\t%.2f\t%.2f\t%.2f\t\t\t\t\t\t\n", ratio(r.Engine.P50, r.Relay.P50), ratio(r.Engine.P90, r.Relay.P90),
		ratio(r.Engine.P99, r.Relay.P99), ratio(r.Engine.Max, r.Relay.Max))
	tw.Flush()
	fmt.Fprintf(w, "\nlatency: from handing the swipe to an async kafka-go writer (1 ms batch timeout, all acks) to reading its output from offers.mobile:\n")
	fmt.Fprintf(w, "the relayed swipe, or the engine's probe-rule offer. Counted: good swipes after the warm-up; received: their outputs that arrived.\n")
	fmt.Fprintf(w, "broker: the swipe itself read back from swipes, nothing in between: the floor under relay and engine.\n")
	if r.Broker.Failed+r.Relay.Failed+r.Engine.Failed > 0 {
		fmt.Fprintf(w, "producer write failures: broker %d, relay %d, engine %d\n", r.Broker.Failed, r.Relay.Failed, r.Engine.Failed)
	}
	fmt.Fprintf(w, "GC figures cover the stream, process-wide (runtime/metrics)%s; pause total is estimated from the pause histogram.\n", embeddedNote(r.Machine))
}
