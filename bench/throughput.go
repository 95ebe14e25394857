package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/possim"
	"github.com/aislecast/loyalty/rules"
	"github.com/segmentio/kafka-go"
)

// Traffic of every end-to-end figure: 20,000 cards, 1% bad swipes of every
// fault kind a broker can carry (values over 1 MiB are left out), with the
// simulator's late swipes and POS retries.
const (
	trafficCards = 20000
	trafficBad   = 0.01
	// maxAge is the engine's horizon for plausible event times.
	maxAge = 400 * 24 * time.Hour
)

// trafficStart is the event time of the first swipe. The engine's clock is
// set to the generator's clock after the last swipe, so every event time
// lies between the two, inside the engine's 400-day horizon as long as the
// stream spans less than that (about a million swipes at 20,000 cards).
var trafficStart = time.Date(2026, 1, 5, 8, 0, 0, 0, time.FixedZone("EST", -5*3600))

func newTraffic(seed int64) *possim.Generator {
	var faults []string
	for _, f := range possim.Faults() {
		if f != possim.FaultOversized {
			faults = append(faults, f)
		}
	}
	return possim.New(possim.Config{Seed: seed, Cards: trafficCards, BadFraction: trafficBad, Faults: faults, Start: trafficStart})
}

// checkSpan reports an error when the stream's event times do not all fit
// the engine's horizon, which would turn swipes into dead letters.
func checkSpan(clock time.Time) error {
	if span := clock.Sub(trafficStart); span >= maxAge-24*time.Hour {
		return fmt.Errorf("the simulated swipes span %.0f days, more than the engine's 400-day horizon: produce fewer swipes", span.Hours()/24)
	}
	return nil
}

// Mix counts the kinds of messages produced.
type Mix struct {
	Good, Bad, Retries, Late int
}

func (m *Mix) add(msg possim.Message) {
	switch {
	case msg.Bad != "":
		m.Bad++
	case msg.Retry:
		m.Retries++
	default:
		m.Good++
	}
	if msg.Late {
		m.Late++
	}
}

func (m Mix) String() string {
	return fmt.Sprintf("%s good, %s bad, %s POS retries, %s late", thousands(float64(m.Good)), thousands(float64(m.Bad)), thousands(float64(m.Retries)), thousands(float64(m.Late)))
}

// ThroughputConfig sets up the throughput figure. Zero values mean the
// defaults in brackets.
type ThroughputConfig struct {
	Swipes     int // swipes produced and relayed (200,000)
	Rules      int // generated rules the engine runs (100; negative for none); see Rules
	Partitions int // partitions of the topics (6)
	MaxBatch   int // most swipes per batch, engine and relay (500, the engine's default)
	Rounds     int // relay-then-engine rounds (2)
	// SkipWarmup leaves out the relay pass and the engine pass before the
	// measured runs, which warm the broker (a JVM broker's JIT for each
	// side's requests, the page cache) and are not counted.
	SkipWarmup bool
	// RunTimeout bounds one run (60 s plus 1 s per 2,000 swipes).
	RunTimeout time.Duration
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
}

func (c *ThroughputConfig) defaults() {
	if c.Swipes <= 0 {
		c.Swipes = 200000
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
	if c.Rounds <= 0 {
		c.Rounds = 2
	}
	if c.RunTimeout <= 0 {
		c.RunTimeout = time.Minute + time.Duration(c.Swipes/2000)*time.Second
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// Run is one measured run of one side.
type Run struct {
	Side    string // "relay" or "engine"
	Elapsed time.Duration
	Swipes  int64 // swipes processed and committed
	Out     int64 // messages written: relayed swipes, or the engine's offers
	DLQ     int64 // dead letters (engine)
	GC      GC
}

// Rate is the run's swipes per second.
func (r Run) Rate() float64 { return float64(r.Swipes) / r.Elapsed.Seconds() }

// ThroughputResult is the throughput figure.
type ThroughputResult struct {
	Config  ThroughputConfig
	Machine Machine
	Mix     Mix
	Warmup  []Run // the unmeasured passes, relay then engine, unless skipped
	Runs    []Run // relay, engine, relay, engine, ...
}

// Ratios returns engine/relay swipes per second for each round.
func (r *ThroughputResult) Ratios() []float64 {
	var out []float64
	for i := 0; i+1 < len(r.Runs); i += 2 {
		out = append(out, r.Runs[i+1].Rate()/r.Runs[i].Rate())
	}
	return out
}

// MedianRatio is the median of Ratios: the figure.
func (r *ThroughputResult) MedianRatio() float64 { return median(r.Ratios()) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Throughput measures end-to-end swipes per second of the engine against
// the raw relay, on one swipes topic in the same run. It produces the
// swipes once, then runs the relay and the engine alternately, each as a
// fresh consumer group reading the whole topic, each timed from its start
// (group join included) until it has processed and committed every swipe.
// Before each engine run the changelog is emptied, so that every engine
// run starts without profiles, as the first one does.
func Throughput(ctx context.Context, b *Broker, cfg ThroughputConfig) (*ThroughputResult, error) {
	cfg.defaults()
	res := &ThroughputResult{Config: cfg, Machine: ThisMachine(b)}
	set, err := compileRules(cfg.Rules, "")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Progress, "throughput: creating topics and producing %d swipes\n", cfg.Swipes)
	if err := resetTopics(ctx, b, topicNames(engine.Topics(cfg.Partitions)), cfg.Partitions); err != nil {
		return nil, err
	}
	clock, err := produceAll(ctx, b, cfg.Swipes, &res.Mix)
	if err != nil {
		return nil, err
	}
	if err := checkSpan(clock); err != nil {
		return nil, err
	}
	stamp := time.Now().UnixNano()
	if !cfg.SkipWarmup {
		// The engine's requests (a compacted changelog, several topics
		// per produce request) take other paths in a JVM broker than the
		// relay's: a relay pass alone leaves the first engine run on a
		// broker cold for them.
		run, err := relayRun(ctx, b, cfg, fmt.Sprintf("bench-%d-warmup-relay", stamp))
		if err == nil {
			fmt.Fprintf(cfg.Progress, "throughput: warm-up relay: %d swipes in %v\n", run.Swipes, run.Elapsed.Round(time.Millisecond))
			res.Warmup = append(res.Warmup, run)
			run, err = engineRun(ctx, b, cfg, fmt.Sprintf("bench-%d-warmup-engine", stamp), set, clock)
		}
		if err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		fmt.Fprintf(cfg.Progress, "throughput: warm-up engine: %d swipes in %v\n", run.Swipes, run.Elapsed.Round(time.Millisecond))
		res.Warmup = append(res.Warmup, run)
	}
	for i := 0; i < 2*cfg.Rounds; i++ {
		var run Run
		var err error
		group := fmt.Sprintf("bench-%d-%d", stamp, i)
		if i%2 == 0 {
			run, err = relayRun(ctx, b, cfg, group)
		} else {
			run, err = engineRun(ctx, b, cfg, group, set, clock)
		}
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(cfg.Progress, "throughput: run %d %s: %d swipes in %v, %.0f swipes/s\n", i+1, run.Side, run.Swipes, run.Elapsed.Round(time.Millisecond), run.Rate())
		res.Runs = append(res.Runs, run)
	}
	return res, nil
}

// compileRules compiles n generated rules, plus extra (YAML) when given.
func compileRules(n int, extra string) (*rules.Set, error) {
	doc := Rules(n, 1) + extra
	if doc == "" {
		return rules.NewSet(nil)
	}
	rs, err := rules.Parse("generated.yaml", []byte(doc))
	if err != nil {
		return nil, fmt.Errorf("generated rules: %w", err)
	}
	return rules.NewSet(rs)
}

// produceAll writes n swipes to the swipes topic as fast as the broker
// takes them and returns the generator's clock after the last one.
func produceAll(ctx context.Context, b *Broker, n int, mix *Mix) (time.Time, error) {
	t := &kafka.Transport{}
	defer t.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs...), Topic: engine.TopicSwipes, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchSize: possim.MaxBatch, BatchBytes: 16 << 20, Transport: t}
	defer w.Close()
	g := newTraffic(1)
	if _, err := possim.Produce(ctx, w, g, n, 0, mix.add); err != nil {
		return time.Time{}, err
	}
	return g.Clock(), nil
}

func relayRun(ctx context.Context, b *Broker, cfg ThroughputConfig, group string) (Run, error) {
	runtime.GC()
	r := newRelay(b, group, cfg.MaxBatch)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g0 := readGC()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- r.run(ctx) }()
	err := waitCount(ctx, cfg.RunTimeout, r.committed.Load, int64(cfg.Swipes), done)
	run := Run{Side: "relay", Elapsed: time.Since(start), GC: readGC().since(g0)}
	run.Swipes = r.committed.Load()
	run.Out = run.Swipes
	cancel()
	if runErr := <-done; err == nil && runErr != nil {
		err = runErr
	}
	if err != nil {
		return run, fmt.Errorf("relay: %w", err)
	}
	return run, nil
}

func engineRun(ctx context.Context, b *Broker, cfg ThroughputConfig, group string, set *rules.Set, clock time.Time) (Run, error) {
	if err := resetTopics(ctx, b, []string{engine.TopicChangelog}, cfg.Partitions); err != nil {
		return Run{}, err
	}
	t := &kafka.Transport{}
	defer t.CloseIdleConnections()
	e, err := engine.New(engine.Config{Brokers: b.Addrs, Group: group, Rules: set, Partitions: cfg.Partitions,
		MaxBatch: cfg.MaxBatch, Clock: func() time.Time { return clock }, Transport: t,
		// The stream is history written now; it stands in for live
		// traffic, whose offers are not expired on arrival.
		SendExpired: true})
	if err != nil {
		return Run{}, err
	}
	runtime.GC()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g0 := readGC()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	err = waitCount(ctx, cfg.RunTimeout, e.Stats().Swipes.Load, int64(cfg.Swipes), done)
	run := Run{Side: "engine", Elapsed: time.Since(start), GC: readGC().since(g0)}
	st := e.Stats()
	run.Swipes, run.Out, run.DLQ = st.Swipes.Load(), st.Offers.Load(), st.DLQ.Load()
	cancel()
	if runErr := <-done; err == nil && runErr != nil {
		err = runErr
	}
	if err != nil {
		return run, fmt.Errorf("engine: %w", err)
	}
	return run, nil
}

// waitCount waits until count() reaches want, checking every millisecond.
// It fails when the run ends first, ctx is done or timeout passes.
func waitCount(ctx context.Context, timeout time.Duration, count func() int64, want int64, done <-chan error) error {
	deadline := time.Now().Add(timeout)
	for {
		n := count()
		if n >= want {
			return nil
		}
		select {
		case err := <-done:
			if err == nil {
				err = errors.New("stopped")
			}
			return fmt.Errorf("ended after %d of %d swipes: %w", n, want, err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d swipes after %v", n, want, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// Print writes the figure as a table.
func (r *ThroughputResult) Print(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "figure    end-to-end throughput, engine vs raw kafka-go relay (same swipes topic, same run)\n")
	r.Machine.print(w)
	fmt.Fprintf(w, "workload  %s swipes on %d partitions (%s), %s cards; engine: %d generated rules; max batch %d\n\n",
		thousands(float64(c.Swipes)), c.Partitions, r.Mix, thousands(trafficCards), c.Rules, c.MaxBatch)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "run\tside\tseconds\tswipes/s\tmessages out\tdead letters\tGC cycles\tGC pause\tmax pause\tGC CPU\theap at end\t\n")
	rows := append(slices.Clone(r.Warmup), r.Runs...)
	for i, run := range rows {
		dlq := "-"
		if run.Side == "engine" {
			dlq = thousands(float64(run.DLQ))
		}
		name := "warm-up"
		if i >= len(r.Warmup) {
			name = strconv.Itoa(i - len(r.Warmup) + 1)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.3f\t%s\t%s\t%s\t%d\t%s\t%s\t%.1f%%\t%s\t\n", name, run.Side, run.Elapsed.Seconds(),
			thousands(run.Rate()), thousands(float64(run.Out)), dlq, run.GC.Cycles, ms(run.GC.Pause), ms(run.GC.MaxPause), 100*run.GC.CPU, mib(run.GC.HeapInUse))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nengine/relay swipes/s:")
	for i, x := range r.Ratios() {
		fmt.Fprintf(w, " round %d %.2f;", i+1, x)
	}
	fmt.Fprintf(w, " median %.2f\n", r.MedianRatio())
	fmt.Fprintf(w, "messages out: the relay writes every swipe to offers.mobile; the engine writes its offers (plus dead letters and the changelog).\n")
	fmt.Fprintf(w, "GC figures are process-wide (runtime/metrics)%s; pause total is estimated from the pause histogram.\n", embeddedNote(r.Machine))
}

func embeddedNote(m Machine) string {
	if m.Broker == "embedded kfake, in-process" {
		return " and include the in-process broker's garbage"
	}
	return ""
}
