#!/usr/bin/env bash
# deploy/kafka.sh: run a real single-node Apache Kafka broker (KRaft, combined
# broker+controller) on loopback, for the integration tests and for users.
#
# The broker jars come from Maven (org.apache.kafka:kafka_2.13, runtime scope,
# plus kafka-tools for the readiness check and a log4j2 SLF4J binding); no
# Kafka distribution tarball is needed. See DESIGN.md, "Appendix: single-node
# Apache Kafka".
#
# Usage: deploy/kafka.sh up|start|status|kill|down
#
#   up      Start a fresh broker and wait until it answers, then print the
#           bootstrap address (127.0.0.1:PORT) as the only line on stdout;
#           progress goes to stderr. Installs java (>= 17) and maven with
#           apt-get when missing, fetches the jars into the cache on first use,
#           wipes the data dir and formats it anew. Idempotent: when the broker
#           of this data dir already runs and answers, it only prints the
#           address. Fails (exit 1) when a port is held by another process or
#           the broker does not answer within KAFKA_WAIT seconds (the log tail
#           is printed and the half-started broker is stopped).
#   start   Like up, but restart the broker on its existing data dir without
#           formatting (topics, offsets and messages are kept): use after kill.
#           Fails when the data dir has never been formatted (run up).
#   status  Print "running ..." (exit 0) or "stopped"/"starting ..." (exit 1).
#   kill    SIGKILL the broker, keep its data (crash tests). Idempotent.
#   down    Stop the broker (SIGTERM, up to 30 s, then SIGKILL) and remove its
#           data dir. Idempotent.
#
# Environment:
#   KAFKA_VERSION          Kafka version from Maven (default 4.1.2; use >= 4.0.1)
#   KAFKA_PORT             client (PLAINTEXT) port on 127.0.0.1 (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port on 127.0.0.1 (default 9093)
#   KAFKA_DATA             data dir: config, log.dirs, logs, pid file
#                          (default /tmp/offerd-kafka-$KAFKA_PORT)
#   KAFKA_CACHE            jar cache (default
#                          ${XDG_CACHE_HOME:-$HOME/.cache}/offerd-kafka/$KAFKA_VERSION)
#   KAFKA_HEAP             broker max heap (default 512m)
#   KAFKA_WAIT             seconds to wait for the broker to answer (default 90)
#   KAFKA_LOG4J_VERSION    log4j2 version (BOM) for the logging jars (default 2.25.3,
#                          the one Kafka 4.1.2 ships with)
#
# Files in the data dir: server.properties, log4j2.properties (broker log to
# server.log), kafka.out (JVM stdout/stderr), kafka.pid, kraft/ (log.dirs).
# The jar cache holds pom.xml, libs/ and a marker (.complete) that records the
# pom it was fetched with; a changed pom (other version) re-fetches. Maven also
# keeps its own copy of the artifacts in ~/.m2.
#
# Several brokers can run side by side with distinct KAFKA_PORT and
# KAFKA_CONTROLLER_PORT (each gets its own default data dir). Calls for one
# data dir are serialised with a lock file next to it (KAFKA_DATA.lock), so
# parallel test packages calling "up" share one broker.
set -euo pipefail

KAFKA_VERSION=${KAFKA_VERSION:-4.1.2}
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
KAFKA_DATA=${KAFKA_DATA:-/tmp/offerd-kafka-$KAFKA_PORT}
KAFKA_CACHE=${KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/offerd-kafka/$KAFKA_VERSION}
KAFKA_HEAP=${KAFKA_HEAP:-512m}
KAFKA_WAIT=${KAFKA_WAIT:-90}
KAFKA_LOG4J_VERSION=${KAFKA_LOG4J_VERSION:-2.25.3}

readonly HOST=127.0.0.1
readonly DEP_PLUGIN=3.8.1 # maven-dependency-plugin; Maven 3.8's default (2.8) is ancient
readonly MARK=.offerd-kafka # marks a data dir this script owns (down removes only those)

LIBS=$KAFKA_CACHE/libs
PIDFILE=$KAFKA_DATA/kafka.pid
PROPS=$KAFKA_DATA/server.properties
BOOTSTRAP=$HOST:$KAFKA_PORT

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 2
}

check_config() {
	local v
	for v in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_WAIT"; do
		[[ $v =~ ^[0-9]+$ ]] || die "not a number: $v"
	done
	[[ $KAFKA_PORT != "$KAFKA_CONTROLLER_PORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"
	[[ $KAFKA_DATA == /* && $KAFKA_DATA != / ]] || die "KAFKA_DATA must be an absolute path other than /: $KAFKA_DATA"
}

# ---------------------------------------------------------------- toolchain

java_major() {
	local v
	v=$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)
	v=${v#1.} # 1.8.0 -> 8.0
	printf '%s\n' "${v%%[.+-]*}"
}

java_ok() {
	command -v java >/dev/null 2>&1 || return 1
	local m
	m=$(java_major)
	[[ $m =~ ^[0-9]+$ ]] && ((m >= 17))
}

apt_install() {
	local sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to apt-get install $*; install them yourself"
		sudo=(sudo)
	fi
	command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* yourself"
	log "installing $* with apt-get"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >&2
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >&2
}

ensure_java() {
	java_ok && return 0
	apt_install default-jdk-headless
	hash -r
	java_ok || die "java >= 17 is required (found: $(java -version 2>&1 | head -n1))"
}

ensure_mvn() {
	command -v mvn >/dev/null 2>&1 && return 0
	apt_install maven
	hash -r
	command -v mvn >/dev/null 2>&1 || die "mvn not found after installing maven"
}

# ---------------------------------------------------------------- jars

write_pom() {
	cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- written by deploy/kafka.sh: the jars of a single-node Kafka broker -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.offerd</groupId>
  <artifactId>offerd-kafka-broker</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencyManagement>
    <dependencies>
      <!-- one log4j2 version for api, core and the SLF4J binding -->
      <dependency>
        <groupId>org.apache.logging.log4j</groupId>
        <artifactId>log4j-bom</artifactId>
        <version>$KAFKA_LOG4J_VERSION</version>
        <type>pom</type>
        <scope>import</scope>
      </dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <!-- BrokerApiVersionsCommand (readiness check); Connect is not needed -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$KAFKA_VERSION</version>
      <exclusions>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion>
        <exclusion><groupId>com.fasterxml.jackson.jakarta.rs</groupId><artifactId>jackson-jakarta-rs-json-provider</artifactId></exclusion>
      </exclusions>
    </dependency>
    <!-- Kafka logs through SLF4J 1.7 and log4j2; this binds the two -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
    </dependency>
  </dependencies>
  <build>
    <pluginManagement>
      <plugins>
        <plugin>
          <groupId>org.apache.maven.plugins</groupId>
          <artifactId>maven-dependency-plugin</artifactId>
          <version>$DEP_PLUGIN</version>
        </plugin>
      </plugins>
    </pluginManagement>
  </build>
</project>
EOF
}

ensure_jars() {
	mkdir -p "$KAFKA_CACHE"
	local pom sum
	pom=$(write_pom)
	sum=$(printf '%s\n' "$pom" | sha256sum | cut -d' ' -f1)
	# Serialise fetches into one cache (parallel "up" for several ports).
	exec 8>"$KAFKA_CACHE/.lock"
	flock 8
	if [[ -f $KAFKA_CACHE/.complete && $(<"$KAFKA_CACHE/.complete") == "$sum" ]] &&
		compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; then
		exec 8>&-
		return 0
	fi
	ensure_mvn
	log "fetching Kafka $KAFKA_VERSION jars with Maven into $KAFKA_CACHE (first time: a minute or two)"
	rm -rf "$LIBS" "$KAFKA_CACHE/.complete"
	printf '%s\n' "$pom" >"$KAFKA_CACHE/pom.xml"
	if ! (cd "$KAFKA_CACHE" && mvn -B -q -Dstyle.color=never dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory=libs >&2); then
		die "mvn could not fetch the Kafka $KAFKA_VERSION jars (see above)"
	fi
	compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null || die "no kafka_2.13 jar in $LIBS after mvn"
	printf '%s\n' "$sum" >"$KAFKA_CACHE/.complete"
	exec 8>&-
}

# ---------------------------------------------------------------- process

# broker_pid prints the pid of this data dir's broker if it is alive.
broker_pid() {
	[[ -f $PIDFILE ]] || return 1
	local pid
	pid=$(<"$PIDFILE")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	alive "$pid" || return 1
	# Guard against pid reuse: it must be kafka.Kafka on our server.properties.
	local cmd
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $cmd == *kafka.Kafka* && $cmd == *"$PROPS"* ]] || return 1
	printf '%s\n' "$pid"
}

port_open() {
	# shellcheck disable=SC2016 # $1/$2 expand in the inner bash
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$HOST" "$1" 2>/dev/null
}

# java_tool CLASS ARGS...: run a Kafka command-line tool (quick-starting JVM,
# log4j warnings to stderr), at most 60 s.
java_tool() {
	timeout 60 java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -Xmx256m \
		-Dlog4j2.configurationFile="$KAFKA_DATA/tools-log4j2.properties" \
		-cp "$LIBS/*" "$@"
}

# answers: the client port accepts connections and the broker answers an
# ApiVersions request (the port opens only once the broker is ready anyway).
answers() {
	port_open "$KAFKA_PORT" || return 1
	java_tool org.apache.kafka.tools.BrokerApiVersionsCommand \
		--bootstrap-server "$BOOTSTRAP" >/dev/null 2>&1
}

# alive PID: the process exists and is not a zombie (our own dead child).
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	[[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

wait_gone() { # wait_gone PID SECONDS
	local pid=$1 deadline=$((SECONDS + $2))
	while alive "$pid"; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

stop_broker() { # stop_broker: SIGTERM, up to 30 s, then SIGKILL
	local pid
	pid=$(broker_pid) || {
		rm -f "$PIDFILE"
		return 0
	}
	log "stopping broker (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" 30; then
		log "broker did not stop within 30 s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		wait_gone "$pid" 10 || die "broker pid $pid survives SIGKILL"
	fi
	rm -f "$PIDFILE"
}

kill_broker() {
	local pid
	pid=$(broker_pid) || {
		rm -f "$PIDFILE"
		log "no broker running for $KAFKA_DATA"
		return 0
	}
	log "killing broker (pid $pid) with SIGKILL; data kept in $KAFKA_DATA"
	kill -KILL "$pid" 2>/dev/null || true
	wait_gone "$pid" 10 || die "broker pid $pid survives SIGKILL"
	rm -f "$PIDFILE"
}

port_owner() {
	command -v ss >/dev/null 2>&1 || return 0
	ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/ (held by \1, pid \2)/p' | head -n1
}

check_ports_free() {
	local p
	for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
		if port_open "$p"; then
			die "$HOST:$p is already in use by another process$(port_owner "$p"), not by the broker of $KAFKA_DATA; stop it or choose other ports (KAFKA_PORT, KAFKA_CONTROLLER_PORT)"
		fi
	done
}

# ---------------------------------------------------------------- config

write_config() {
	mkdir -p "$KAFKA_DATA"
	: >"$KAFKA_DATA/$MARK"
	cat >"$PROPS" <<EOF
# written by deploy/kafka.sh: one combined KRaft node on loopback
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DATA/kraft
num.partitions=6
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
log.cleaner.dedupe.buffer.size=2097152
EOF
	# Broker log: everything to server.log in the data dir.
	cat >"$KAFKA_DATA/log4j2.properties" <<'EOF'
# written by deploy/kafka.sh
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
	# Command-line tools: warnings and errors only, to stderr.
	cat >"$KAFKA_DATA/tools-log4j2.properties" <<'EOF'
# written by deploy/kafka.sh
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
}

formatted() { [[ -f $KAFKA_DATA/kraft/meta.properties ]]; }

format_storage() {
	local id
	id=$(java_tool kafka.tools.StorageTool random-uuid) || die "StorageTool random-uuid failed"
	log "formatting $KAFKA_DATA/kraft (cluster id $id)"
	java_tool kafka.tools.StorageTool format --standalone -t "$id" -c "$PROPS" >&2 ||
		die "StorageTool format failed"
}

# remove_data deletes the data dir, but only one this script created.
remove_data() {
	[[ -e $KAFKA_DATA ]] || return 0
	if [[ ! -f $KAFKA_DATA/$MARK ]] && [[ -n $(ls -A "$KAFKA_DATA") ]]; then
		die "$KAFKA_DATA is not empty and was not created by deploy/kafka.sh: not removing it"
	fi
	rm -rf "$KAFKA_DATA"
}

# ---------------------------------------------------------------- start

show_logs() {
	local f
	for f in "$KAFKA_DATA/kafka.out" "$KAFKA_DATA/server.log"; do
		[[ -s $f ]] || continue
		printf '%s\n' "---- last lines of $f" >&2
		tail -n 40 "$f" >&2
	done
}

launch() {
	local pid
	log "starting Kafka $KAFKA_VERSION on $BOOTSTRAP (controller $HOST:$KAFKA_CONTROLLER_PORT, data $KAFKA_DATA)"
	# setsid: own session, so the broker outlives the caller's terminal and
	# process group; all output to files so "$(kafka.sh up)" returns.
	setsid nohup java "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
		-Dkafka.logs.dir="$KAFKA_DATA" \
		-Dlog4j2.configurationFile="$KAFKA_DATA/log4j2.properties" \
		-cp "$LIBS/*" kafka.Kafka "$PROPS" \
		</dev/null >"$KAFKA_DATA/kafka.out" 2>&1 8>&- 9>&- &
	pid=$!
	printf '%s\n' "$pid" >"$PIDFILE"

	local start=$SECONDS deadline=$((SECONDS + KAFKA_WAIT))
	while :; do
		if ! alive "$pid"; then
			show_logs
			rm -f "$PIDFILE"
			die "broker exited during start-up (logs above; data in $KAFKA_DATA)"
		fi
		if answers; then
			log "broker ready after $((SECONDS - start)) s (pid $pid)"
			return 0
		fi
		if ((SECONDS >= deadline)); then
			show_logs
			kill -KILL "$pid" 2>/dev/null || true
			rm -f "$PIDFILE"
			die "broker did not answer on $BOOTSTRAP within $KAFKA_WAIT s (logs above; stopped it)"
		fi
		sleep 0.5
	done
}

# already_up: the broker of this data dir runs; wait for it to answer.
already_up() {
	local pid deadline=$((SECONDS + KAFKA_WAIT))
	pid=$(broker_pid) || return 1
	until answers; do
		((SECONDS < deadline)) || die "broker pid $pid of $KAFKA_DATA runs but does not answer on $BOOTSTRAP"
		alive "$pid" || return 1
		sleep 0.5
	done
	log "broker already running (pid $pid)"
}

lock_data() {
	mkdir -p "$(dirname "$KAFKA_DATA")"
	exec 9>"$KAFKA_DATA.lock"
	flock 9
}

cmd_up() {
	lock_data
	ensure_java
	ensure_jars
	if already_up; then
		printf '%s\n' "$BOOTSTRAP"
		return 0
	fi
	rm -f "$PIDFILE"
	check_ports_free
	remove_data
	write_config
	format_storage
	launch
	printf '%s\n' "$BOOTSTRAP"
}

cmd_start() {
	lock_data
	ensure_java
	ensure_jars
	if already_up; then
		printf '%s\n' "$BOOTSTRAP"
		return 0
	fi
	formatted || die "no formatted broker data in $KAFKA_DATA: run 'deploy/kafka.sh up' first"
	rm -f "$PIDFILE"
	check_ports_free
	write_config
	launch
	printf '%s\n' "$BOOTSTRAP"
}

cmd_status() {
	local pid
	if pid=$(broker_pid); then
		if port_open "$KAFKA_PORT"; then
			echo "running (pid $pid, $BOOTSTRAP, data $KAFKA_DATA)"
			return 0
		fi
		echo "starting (pid $pid, $BOOTSTRAP not answering yet)"
		return 1
	fi
	echo "stopped"
	return 1
}

cmd_kill() {
	lock_data
	kill_broker
}

cmd_down() {
	lock_data
	stop_broker
	remove_data
	log "broker of $KAFKA_DATA is down, data removed"
}

main() {
	(($# == 1)) || usage
	check_config
	case $1 in
	up) cmd_up ;;
	start) cmd_start ;;
	status) cmd_status ;;
	kill) cmd_kill ;;
	down) cmd_down ;;
	-h | --help | help) usage ;;
	*) usage ;;
	esac
}

main "$@"
