package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"time"
)

// Machine is what a figure was measured on.
type Machine struct {
	Date       time.Time
	Cores      int
	GOMAXPROCS int
	CPU        string // model name from /proc/cpuinfo
	Go         string
	KafkaGo    string // kafka-go module version
	Load       string // load averages (1, 5, 15 min) when the run started
	Broker     string
}

// ThisMachine describes the machine and process the harness runs in.
func ThisMachine(b *Broker) Machine {
	m := Machine{
		Date:       time.Now(),
		Cores:      runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		CPU:        cpuModel(),
		Go:         runtime.Version(),
		KafkaGo:    "unknown",
		Load:       "unknown",
		Broker:     b.Kind,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/segmentio/kafka-go" {
				m.KafkaGo = d.Version
			}
		}
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	return m
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func (m Machine) print(w io.Writer) {
	fmt.Fprintf(w, "date      %s\n", m.Date.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "machine   %d cores, GOMAXPROCS %d, %s, load average %s at start\n", m.Cores, m.GOMAXPROCS, m.CPU, m.Load)
	fmt.Fprintf(w, "software  %s, kafka-go %s\n", m.Go, m.KafkaGo)
	fmt.Fprintf(w, "broker    %s, loopback\n", m.Broker)
}

// GC is what the Go garbage collector did during a run, read from
// runtime/metrics. It covers the whole process: with the embedded broker
// that includes the broker's own garbage.
type GC struct {
	Cycles    uint64
	Pause     time.Duration // total stop-the-world pause, from the pause histogram
	MaxPause  time.Duration // upper bound of the longest pause's histogram bucket
	CPU       float64       // share of the process's CPU time spent on GC
	HeapInUse uint64        // bytes of heap objects (live and not yet swept) at the end
	HeapLive  uint64        // bytes of live heap marked by the latest GC
}

var gcMetrics = []string{
	"/gc/cycles/total:gc-cycles",
	"/sched/pauses/total/gc:seconds",
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/live:bytes",
}

type gcSample []metrics.Sample

func readGC() gcSample {
	s := make(gcSample, len(gcMetrics))
	for i, name := range gcMetrics {
		s[i].Name = name
	}
	metrics.Read(s)
	return s
}

// since returns what the GC did between s0 and s.
func (s gcSample) since(s0 gcSample) GC {
	var g GC
	if s[0].Value.Kind() == metrics.KindUint64 {
		g.Cycles = s[0].Value.Uint64() - s0[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindFloat64Histogram {
		h, h0 := s[1].Value.Float64Histogram(), s0[1].Value.Float64Histogram()
		var total float64
		for i, n := range h.Counts {
			n -= h0.Counts[i]
			if n == 0 {
				continue
			}
			lo, hi := h.Buckets[i], h.Buckets[i+1]
			mid := lo
			if !math.IsInf(hi, 1) && !math.IsInf(lo, -1) {
				mid = (lo + hi) / 2
			}
			total += float64(n) * mid
			if !math.IsInf(hi, 1) {
				g.MaxPause = time.Duration(hi * 1e9)
			}
		}
		g.Pause = time.Duration(total * 1e9)
	}
	if s[2].Value.Kind() == metrics.KindFloat64 && s[3].Value.Kind() == metrics.KindFloat64 {
		if all := s[3].Value.Float64() - s0[3].Value.Float64(); all > 0 {
			g.CPU = (s[2].Value.Float64() - s0[2].Value.Float64()) / all
		}
	}
	if s[4].Value.Kind() == metrics.KindUint64 {
		g.HeapInUse = s[4].Value.Uint64()
	}
	if s[5].Value.Kind() == metrics.KindUint64 {
		g.HeapLive = s[5].Value.Uint64()
	}
	return g
}

func mib(n uint64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// ms formats a duration in milliseconds with a precision that suits it.
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case f >= 100:
		return fmt.Sprintf("%.0f ms", f)
	case f >= 10:
		return fmt.Sprintf("%.1f ms", f)
	}
	return fmt.Sprintf("%.2f ms", f)
}

// thousands formats n with thousands separators.
func thousands(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
