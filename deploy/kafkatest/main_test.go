//go:build linux

package kafkatest

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// suite is what TestMain prepares for every test.
var suite struct {
	skip     string // why every test skips; "" runs them
	root     string // the repository root
	bin      string // directory holding the built offerd and swipegen
	verifier string // test binary without the race detector (verify.go)

	mu      sync.Mutex
	brokers map[*broker]bool // running brokers, for the timeout watchdog
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kafkatest:", err)
		return 1
	}
	suite.root = root
	switch {
	case os.Getenv(verifyEnv) != "":
		suite.skip = "this is a verification child"
	case testing.Short():
		suite.skip = "-short: the real-Kafka suite takes minutes"
	case os.Getenv("OFFERD_SKIP_KAFKA") == "1":
		suite.skip = "OFFERD_SKIP_KAFKA=1"
	}
	if suite.skip != "" {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "offerd-kafkatest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "kafkatest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	suite.bin = dir
	builds := [][]string{
		{"go", "build", "-o", filepath.Join(dir, "offerd"), "./cmd/offerd"},
		{"go", "build", "-o", filepath.Join(dir, "swipegen"), "./cmd/swipegen"},
	}
	if suite.verifier, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, "kafkatest:", err)
		return 1
	}
	if raceEnabled {
		suite.verifier = filepath.Join(dir, "kafkatest.test")
		builds = append(builds, []string{"go", "test", "-c", "-o", suite.verifier, "./deploy/kafkatest"})
	}
	for _, args := range builds {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "kafkatest: %s: %v\n%s", strings.Join(args, " "), err, out)
			return 1
		}
	}
	suite.brokers = map[*broker]bool{}
	defer watchdog()()
	return m.Run()
}

// watchdog stops the brokers shortly before go test's -timeout would kill
// the test binary: the broker runs in its own session and would outlive
// it. offerd and swipegen die with the test binary (Pdeathsig).
func watchdog() (stop func()) {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return func() {}
	}
	d, _ := f.Value.(flag.Getter).Get().(time.Duration)
	if d <= 0 {
		return func() {}
	}
	t := time.AfterFunc(d-min(d/10, 30*time.Second), func() {
		fmt.Fprintln(os.Stderr, "kafkatest: the test binary is about to time out: stopping the brokers")
		suite.mu.Lock()
		defer suite.mu.Unlock()
		for b := range suite.brokers {
			out, err := b.script(context.Background(), "down")
			fmt.Fprintf(os.Stderr, "kafkatest: kafka.sh down: %v\n%s", err, out)
		}
	})
	return func() { t.Stop() }
}

// repoRoot finds the module root from the working directory, which go test
// sets to the package directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module github.com/aislecast/loyalty\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of github.com/aislecast/loyalty above %s", dir)
		}
	}
}

// needKafka skips the test when the suite is switched off.
func needKafka(t *testing.T) {
	t.Helper()
	if suite.skip != "" {
		t.Skip(suite.skip)
	}
}

// broker is one single-node Kafka broker run by deploy/kafka.sh.
type broker struct {
	env  []string
	addr string // bootstrap address
}

// startBroker starts a fresh broker whose data lives in the test's
// temporary directory; it is stopped and removed when the test ends.
func startBroker(t *testing.T) *broker {
	t.Helper()
	port := brokerPort(t)
	b := &broker{env: append(os.Environ(),
		"KAFKA_PORT="+strconv.Itoa(port),
		"KAFKA_CONTROLLER_PORT="+strconv.Itoa(port+1),
		"KAFKA_DATA="+filepath.Join(t.TempDir(), "kafka"),
	)}
	suite.mu.Lock()
	suite.brokers[b] = true
	suite.mu.Unlock()
	t.Cleanup(func() {
		suite.mu.Lock()
		delete(suite.brokers, b)
		suite.mu.Unlock()
		if out, err := b.script(context.Background(), "down"); err != nil {
			t.Errorf("deploy/kafka.sh down: %v\n%s", err, out)
		}
	})
	start := time.Now()
	out, err := b.script(context.Background(), "up")
	if err != nil {
		t.Fatalf("deploy/kafka.sh up failed: %v\n%s\nkafka.sh needs Java 17+ and Maven (it installs both with apt-get when it can); on a machine without Java, set OFFERD_SKIP_KAFKA=1 to skip this suite.", err, out)
	}
	b.addr = "127.0.0.1:" + strconv.Itoa(port)
	t.Logf("broker %s up in %s", b.addr, time.Since(start).Round(100*time.Millisecond))
	return b
}

// script runs deploy/kafka.sh with a command; the output is stdout and
// stderr together, for error messages.
func (b *broker) script(ctx context.Context, command string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute) // first use: apt-get and Maven
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(suite.root, "deploy", "kafka.sh"), command)
	cmd.Env = b.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// brokerPort returns a client port p such that p and p+1 are free. The
// ports lie below Linux's ephemeral range (32768 and up), so an outgoing
// connection cannot take one while the broker is down for a restart.
func brokerPort(t *testing.T) int {
	t.Helper()
	if s := os.Getenv("OFFERD_KAFKATEST_PORT"); s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p < 1 || p > 65534 {
			t.Fatalf("OFFERD_KAFKATEST_PORT=%q is not a port number", s)
		}
		return p
	}
	for p := 19092; p < 19292; p += 2 {
		if portFree(p) && portFree(p+1) {
			return p
		}
	}
	t.Fatal("no free pair of ports in 19092-19291 for the broker; set OFFERD_KAFKATEST_PORT")
	return 0
}

func portFree(p int) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// freeAddr returns a loopback address with a port that was free just now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a started offerd or swipegen process.
type proc struct {
	name  string
	admin string // offerd's admin address, "" for swipegen
	log   string // file holding its stdout and stderr
	cmd   *exec.Cmd
	done  chan struct{} // closed when it has exited
}

// startProc starts a built binary with args; its output goes to a file in
// dir. It dies with the test binary.
func startProc(t *testing.T, dir, name, binary string, args ...string) *proc {
	t.Helper()
	logf := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "==== %s %s %s\n", time.Now().Format(time.RFC3339Nano), binary, strings.Join(args, " "))
	cmd := exec.Command(filepath.Join(suite.bin, binary), args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, log: logf, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill9 SIGKILLs the process and waits until it is gone.
func (p *proc) kill9() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// wait waits up to timeout for the process to exit and returns an error
// unless it exited with status 0. On timeout it is killed.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.kill9()
		return fmt.Errorf("%s did not exit within %s (killed it)", p.name, timeout)
	}
	if st := p.cmd.ProcessState; !st.Success() {
		return fmt.Errorf("%s: %s", p.name, st)
	}
	return nil
}

// term sends SIGTERM and waits like wait.
func (p *proc) term(timeout time.Duration) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	return p.wait(timeout)
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	f, err := os.Open(p.log)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 2*n {
			lines = append(lines[:0], lines[len(lines)-n:]...)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var httpClient = &http.Client{Timeout: 3 * time.Second}

// get fetches an admin endpoint of an offerd.
func (p *proc) get(path string) (int, []byte, error) {
	resp, err := httpClient.Get("http://" + p.admin + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// waitMetrics polls p's metrics until done accepts them, failing the test
// if p exits or deadline passes first.
func waitMetrics(t *testing.T, p *proc, deadline time.Time, what string, done func(map[string]float64) bool) map[string]float64 {
	t.Helper()
	for {
		m, err := p.metrics()
		if err == nil && done(m) {
			return m
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("%s waiting for %s (%v)\n%s", p.name, what, err, p.tail(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metrics returns offerd's Prometheus samples, summed over labels.
func (p *proc) metrics() (map[string]float64, error) {
	code, body, err := p.get("/metrics")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("%s /metrics: HTTP %d", p.name, code)
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			m[name] += v
		}
	}
	return m, nil
}

// ready reports whether /readyz answers 200 (false on 503), or an error
// when the admin server does not answer.
func (p *proc) ready() (bool, error) {
	code, _, err := p.get("/readyz")
	if err != nil {
		return false, err
	}
	switch code {
	case http.StatusOK:
		return true, nil
	case http.StatusServiceUnavailable:
		return false, nil
	}
	return false, fmt.Errorf("%s /readyz: HTTP %d", p.name, code)
}
