package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aislecast/loyalty/engine"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is the Kafka the harness measures through: bootstrap addresses,
// all on loopback, and the kind of broker for the report.
type Broker struct {
	Addrs []string
	Kind  string
}

// StartEmbedded starts franz-go's kfake, an in-process Kafka-protocol
// broker on a loopback port, as offerd --demo and the tests do. The
// returned stop closes it.
func StartEmbedded() (*Broker, func(), error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return nil, nil, fmt.Errorf("start embedded broker: %w", err)
	}
	return &Broker{Addrs: c.ListenAddrs(), Kind: "embedded kfake, in-process"}, c.Close, nil
}

// KafkaScript is deploy/kafka.sh, which runs a single-node Apache Kafka
// (KRaft) on loopback.
type KafkaScript struct {
	Path           string // the script
	Port           int    // client port on 127.0.0.1 (KAFKA_PORT)
	ControllerPort int    // controller port (KAFKA_CONTROLLER_PORT)
	Progress       *os.File
	data           string // parent of KAFKA_DATA, removed by Down
}

// FindKafkaScript returns deploy/kafka.sh of the module that holds the
// working directory, looking upwards from it.
func FindKafkaScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "deploy", "kafka.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("deploy/kafka.sh not found in the working directory or above it: run from the repository, or pass the script's path")
		}
		dir = up
	}
}

// Up starts a fresh broker with its data in a new temporary directory and
// returns it once it answers. Call Down afterwards, also when Up fails.
func (k *KafkaScript) Up(ctx context.Context) (*Broker, error) {
	dir, err := os.MkdirTemp("", "bench-kafka-")
	if err != nil {
		return nil, err
	}
	k.data = dir
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute) // the first run fetches the jars
	defer cancel()
	var out bytes.Buffer
	cmd := k.command(ctx, "up")
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s up: %w", k.Path, err)
	}
	addr := strings.TrimSpace(out.String())
	if err := checkLoopback([]string{addr}); err != nil {
		return nil, err
	}
	return &Broker{Addrs: []string{addr}, Kind: "Apache Kafka, single KRaft node (deploy/kafka.sh)"}, nil
}

// Down stops the broker and removes its data.
func (k *KafkaScript) Down() error {
	if k.data == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := k.command(ctx, "down").Run()
	if rmErr := os.RemoveAll(k.data); err == nil {
		err = rmErr
	}
	k.data = ""
	if err != nil {
		return fmt.Errorf("%s down: %w", k.Path, err)
	}
	return nil
}

func (k *KafkaScript) command(ctx context.Context, verb string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "bash", k.Path, verb)
	cmd.Env = append(os.Environ(),
		"KAFKA_PORT="+strconv.Itoa(k.Port),
		"KAFKA_CONTROLLER_PORT="+strconv.Itoa(k.ControllerPort),
		"KAFKA_DATA="+filepath.Join(k.data, "data"))
	if k.Progress != nil {
		cmd.Stderr = k.Progress
	}
	return cmd
}

// UseRunning describes a broker someone else runs. Only loopback
// addresses are accepted: the harness deletes and recreates the engine's
// topics.
func UseRunning(addrs []string) (*Broker, error) {
	if err := checkLoopback(addrs); err != nil {
		return nil, err
	}
	return &Broker{Addrs: addrs, Kind: "Kafka already running at " + strings.Join(addrs, ",")}, nil
}

func checkLoopback(addrs []string) error {
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return fmt.Errorf("broker address %q: %w (want host:port)", a, err)
		}
		if host == "localhost" {
			continue
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("broker address %q is not on loopback: the harness deletes and recreates topics, so it only runs against a broker on this machine (127.0.0.1)", a)
		}
	}
	return nil
}

// admin is a kafka.Client with a transport of its own: topics are deleted
// and recreated between runs, and a shared transport could keep serving
// metadata of the deleted ones.
type admin struct {
	*kafka.Client
	transport *kafka.Transport
}

func newAdmin(b *Broker) admin {
	t := &kafka.Transport{}
	return admin{&kafka.Client{Addr: kafka.TCP(b.Addrs...), Timeout: 10 * time.Second, Transport: t}, t}
}

func (a admin) close() { a.transport.CloseIdleConnections() }

// CheckEmpty returns an error if any of the engine's topics already holds
// messages, so that the harness never deletes data it did not write.
func CheckEmpty(ctx context.Context, b *Broker) error {
	a := newAdmin(b)
	defer a.close()
	ends, err := endOffsets(ctx, a, topicNames(engine.Topics(1)))
	if err != nil {
		return err
	}
	for topic, n := range ends {
		if n > 0 {
			return fmt.Errorf("topic %s on %s already holds %d messages; the harness deletes and recreates the engine's topics, so point it at a broker whose data you do not need, or delete the topics yourself", topic, strings.Join(b.Addrs, ","), n)
		}
	}
	return nil
}

func topicNames(specs []engine.TopicSpec) []string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return names
}

// endOffsets returns the number of messages up to the end of each existing
// topic of names (the sum of the partitions' end offsets).
func endOffsets(ctx context.Context, a admin, names []string) (map[string]int64, error) {
	parts, err := partitions(ctx, a)
	if err != nil {
		return nil, err
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, name := range names {
		for _, p := range parts[name] {
			req.Topics[name] = append(req.Topics[name], kafka.LastOffsetOf(p))
		}
	}
	out := make(map[string]int64)
	if len(req.Topics) == 0 {
		return out, nil
	}
	resp, err := a.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	for topic, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("list offsets of %s[%d]: %w", topic, p.Partition, p.Error)
			}
			out[topic] += p.LastOffset
		}
	}
	return out, nil
}

// partitions returns the partition ids of every topic that has a leader
// for each partition.
func partitions(ctx context.Context, a admin) (map[string][]int, error) {
	meta, err := a.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return nil, fmt.Errorf("read metadata: %w", err)
	}
	out := make(map[string][]int)
	for _, t := range meta.Topics {
		if t.Error != nil {
			continue
		}
		ok := true
		var ids []int
		for _, p := range t.Partitions {
			ok = ok && p.Error == nil && p.Leader.Host != ""
			ids = append(ids, p.ID)
		}
		if ok {
			out[t.Name] = ids
		}
	}
	return out, nil
}

// resetTopics deletes the named engine topics and creates them again,
// empty, with the given partition count, and waits until every engine
// topic is there with a leader for each partition and the named ones hold
// no messages.
func resetTopics(ctx context.Context, b *Broker, names []string, nparts int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, step := range []func(context.Context, admin) error{
		func(ctx context.Context, a admin) error { return deleteTopics(ctx, a, names) },
		func(ctx context.Context, a admin) error { return createTopics(ctx, a, names, nparts) },
	} {
		for attempt := 1; ; attempt++ {
			a := newAdmin(b)
			err := step(ctx, a)
			a.close()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("reset topics %s: %w", strings.Join(names, ", "), err)
			}
			// A new topic's partitions answer "not leader" for a moment.
			time.Sleep(min(time.Duration(attempt)*50*time.Millisecond, time.Second))
		}
	}
	return nil
}

// deleteTopics deletes those of names that exist; it succeeds once none
// of them is left.
func deleteTopics(ctx context.Context, a admin, names []string) error {
	meta, err := a.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return fmt.Errorf("read metadata: %w", err)
	}
	var del []string
	for _, t := range meta.Topics {
		if t.Error == nil && slices.Contains(names, t.Name) {
			del = append(del, t.Name)
		}
	}
	if len(del) == 0 {
		return nil
	}
	resp, err := a.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: del})
	if err != nil {
		return err
	}
	for name, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
			return fmt.Errorf("delete topic %s: %w", name, err)
		}
	}
	return fmt.Errorf("deleting %s", strings.Join(del, ", "))
}

// createTopics creates the missing engine topics; it succeeds once every
// one has a leader for each of its partitions and the named ones are empty.
func createTopics(ctx context.Context, a admin, names []string, nparts int) error {
	specs := engine.Topics(nparts)
	if err := engine.EnsureTopics(ctx, a.Client, specs, 1); err != nil {
		return err
	}
	have, err := partitions(ctx, a)
	if err != nil {
		return err
	}
	for _, s := range specs {
		if len(have[s.Name]) != s.Partitions {
			return fmt.Errorf("topic %s has %d partitions with a leader, want %d", s.Name, len(have[s.Name]), s.Partitions)
		}
	}
	ends, err := endOffsets(ctx, a, names)
	if err != nil {
		return err
	}
	for _, n := range names {
		if ends[n] != 0 {
			return fmt.Errorf("topic %s still holds %d messages", n, ends[n])
		}
	}
	return nil
}
