// Package kafkatest is the integration suite that runs the real binaries,
// offerd and swipegen, against a real Apache Kafka broker and proves that
// nothing is lost or applied twice across crashes, rebalances and a broker
// restart. It has no code of its own outside its tests.
//
// The suite starts its own single-node broker through deploy/kafka.sh (one
// fresh broker per scenario, on loopback ports below the ephemeral range,
// with its data under the test's temporary directory) and stops it with
// "kafka.sh down" when the scenario ends, also when it fails. TestMain
// builds offerd and swipegen once per test binary. The scenarios:
//
//   - TestKill9: three instances in one group while swipegen produces;
//     a seeded random instance is SIGKILLed and restarted at once, six
//     times, each kill 1.5–3 s after the group is back at work.
//   - TestRebalance: the group scales 1 → 3 → 2 instances during the run;
//     the instance scaled down by SIGTERM must exit 0 promptly.
//   - TestBrokerRestart: the whole feed is produced first; two instances
//     process it and the broker is SIGKILLed and restarted a third of the
//     way through; /readyz must say 503 during the outage and 200 after.
//
// Each scenario waits until the group's committed offset equals the end
// offset on every swipes partition, stops the instances gracefully and
// then checks the topics against an oracle that reads the swipes topic
// back and computes every card's figures by itself: the last changelog
// value of every card must equal them exactly (every swipe applied exactly
// once), every offer of a crash-free replay of the swipes topic through
// engine.Pipeline must have been published and no other (re-sends only as
// exact repeats), and every rejected swipe must be in swipes.dlq. The
// check runs in a child process (TestVerify): the test binary itself, or
// under -race a copy built without the race detector, which would slow the
// oracle tenfold. Last, one instance is started alone and must serve, after
// restoring from the changelog, the same profiles on GET /profiles/{card}.
//
// The suite needs Java 17 or later (kafka.sh installs it with apt-get when
// it can) and fetches the broker jars through Maven on first use. When the
// broker cannot be started the tests fail with the script's output; set
// OFFERD_SKIP_KAFKA=1 to skip them on a machine without Java. They are also
// skipped with -short. OFFERD_KAFKATEST_PORT picks the broker's client
// port (the controller takes the next one; default: the first free pair
// from 19092).
//
// With OFFERD_BENCH_RESTORE=1, TestRestoreBench measures how long one offerd
// takes to restore 100,000 and 1,000,000 profiles from the changelog.
package kafkatest
