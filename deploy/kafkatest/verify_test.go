//go:build linux

package kafkatest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// verifyEnv names the request file of a verification run. The oracle
// decodes and replays 200,000 swipes, which the race detector would slow
// tenfold, so a scenario runs it in a child process: the test binary
// itself, or under -race a copy built without it (see TestMain).
const verifyEnv = "OFFERD_KAFKATEST_VERIFY"

type verifyRequest struct {
	Broker  string
	Samples int    // profiles to return for the restore check
	Seed    uint64 // picks them
	Report  string // file to write the verifyReport to
}

type verifyReport struct {
	Swipes, Rejected, Retries, Cards int
	Offers, OffersExpected           int
	OfferRepeats                     int
	DeadLetters, DeadLetterRepeats   int
	ChangelogRecords, ChangelogBytes int64
	Profiles                         int               // cards in the changelog
	Sampled                          map[string][]byte // card → last changelog value
	OracleTook, CheckTook            time.Duration
}

// TestVerify is the verification child: it builds the oracle from the
// swipes topic, checks the changelog, offer and dead-letter topics against
// it, and writes what it found to the report file. Failures are its test
// failures.
func TestVerify(t *testing.T) {
	path := os.Getenv(verifyEnv)
	if path == "" {
		t.Skip("the verification child of the scenarios")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var req verifyRequest
	if err := json.Unmarshal(data, &req); err != nil {
		t.Fatal(err)
	}
	c := &kafka.Client{Addr: kafka.TCP(req.Broker), Timeout: 30 * time.Second}
	began := time.Now()
	o := buildOracle(t, c)
	rep := verifyReport{Swipes: o.swipes, Rejected: len(o.bad), Retries: o.retries, Cards: len(o.cards),
		OffersExpected: len(o.offers), OracleTook: time.Since(began)}
	began = time.Now()
	r := o.check(t, c)
	rep.CheckTook = time.Since(began)
	rep.Offers, rep.OfferRepeats = r.offers, r.offerRepeats
	rep.DeadLetters, rep.DeadLetterRepeats = r.deadLetters, r.deadLetterRepeats
	rep.ChangelogRecords, rep.ChangelogBytes = r.changelogRecords, r.changelogBytes
	rep.Profiles = len(r.profiles)
	rep.Sampled = map[string][]byte{}
	for _, card := range o.sampleCards(req.Samples, req.Seed) {
		rep.Sampled[card] = r.profiles[card]
	}
	if data, err = json.Marshal(&rep); err == nil {
		err = os.WriteFile(req.Report, data, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// verify runs the verification child against the scenario's broker. It
// returns nil, having failed the test, when the topics do not hold what
// they must.
func (s *scenario) verify() *verifyReport {
	t := s.t
	t.Helper()
	req := verifyRequest{Broker: s.broker.addr, Samples: restoreSamples, Seed: uint64(s.seed),
		Report: filepath.Join(s.dir, "verify-report.json")}
	reqFile := filepath.Join(s.dir, "verify-request.json")
	data, _ := json.Marshal(&req)
	if err := os.WriteFile(reqFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(suite.verifier, "-test.run=^TestVerify$", "-test.v", "-test.timeout=15m")
	cmd.Env = append(os.Environ(), verifyEnv+"="+reqFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("verification failed (%v):\n%s", err, childLog(out))
		return nil
	}
	var rep verifyReport
	if data, err = os.ReadFile(req.Report); err == nil {
		err = json.Unmarshal(data, &rep)
	}
	if err != nil {
		t.Fatalf("verification report: %v\n%s", err, childLog(out))
	}
	return &rep
}

// childLog drops go test's framing lines from a child's output.
func childLog(out []byte) string {
	var keep []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case strings.HasPrefix(line, "=== RUN"), strings.HasPrefix(line, "--- PASS"), line == "PASS", line == "FAIL":
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}
