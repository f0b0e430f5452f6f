#!/usr/bin/env bash
# A real Flink 1.19 session cluster on this machine: one JobManager and one TaskManager,
# each its own JVM, bound to 127.0.0.1 only, started from the Flink jars that
# scripts/fetch_flink_jobserver.sh already downloads (the job server's lib/), so the
# cluster and the job server's Flink client are the same Flink version (1.19.0) and the
# TaskManager has Beam's runner classes on its classpath.
#
# Usage:  scripts/flink_cluster.sh start    # prints 127.0.0.1:REST_PORT once the REST API
#                                           # answers and the TaskManager's slots are registered
#         scripts/flink_cluster.sh stop     # stops both JVMs by their PIDs (TERM, then KILL)
#         scripts/flink_cluster.sh status   # prints the address and exits 0 when it is up
#
#   newsbeam run ... --runner FlinkRunner --flink_master "$(scripts/flink_cluster.sh start)" \
#       --flink_job_server_jar "$(scripts/fetch_flink_jobserver.sh)" --environment_type LOOPBACK
#
# Everything lives under $FLINK_CLUSTER_DIR (default .cache/flink-cluster/): conf/, the
# PID files, the JVMs' logs (jobmanager.log, taskmanager.log) and Flink's io/tmp dirs.
# Settings: FLINK_REST_PORT (default: a free port), FLINK_TASK_SLOTS (2),
# FLINK_START_TIMEOUT (120 s), FLINK_CLUSTER_OWNER_PID (a PID: a watcher stops the
# cluster as soon as that process is gone, however it died; pytest's fixture sets it).
# `start` on a running cluster prints its address again.
# A start that fails stops whatever it started and shows the logs' tails; `stop` never
# leaves a JVM behind and only ever signals the PIDs it recorded, after checking that
# each still runs this cluster's entrypoint with this cluster's config dir.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${FLINK_CLUSTER_DIR:-$ROOT/.cache/flink-cluster}"
CONF="$DIR/conf"
SLOTS="${FLINK_TASK_SLOTS:-2}"
START_TIMEOUT="${FLINK_START_TIMEOUT:-120}"
JM_CLASS="org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint"
TM_CLASS="org.apache.flink.runtime.taskexecutor.TaskManagerRunner"

die() { echo "flink_cluster: ERROR: $*" >&2; exit 1; }
log() { echo "flink_cluster: $*" >&2; }

# --- memory (MB). A JobManager takes about 0.35 GB, a TaskManager 0.5 to 1.5 GB. ---------
JM_HEAP=384
JM_OFF_HEAP=64
JM_METASPACE=192
# TaskManager components, given explicitly: TaskManagerRunner started without Flink's
# bin/ scripts (which derive them with BashJavaUtils) fails in
# calculateTotalFlinkMemoryFromComponents otherwise. The Python work runs in the SDK
# workers (LOOPBACK: the submitting process), so the Java side needs little heap, except
# for one leak: Beam 2.62's portable Flink runner registers a new keyed state for every
# self-checkpoint of a splittable DoFn (apache/beam#27648, fixed by apache/beam#39191 in a
# later runner), and newsbeam's polling source checkpoints itself all the time: a stream's
# TaskManager heap grows by about 10 MB/s. 768 MB of task heap gives a stream about a
# minute and a half; enough for tests, not for a long-running stream (see README).
# Network: a batch job deploys its ~90 tasks at once; 64 MB of buffers (2,048) was too few.
# Task off-heap: Beam's data plane to the SDK workers (vendored gRPC/Netty) takes direct
# buffers; with none, 10,000 bench articles ran out of direct memory in the write stage.
TM_FRAMEWORK_HEAP=128
TM_TASK_HEAP=768
TM_FRAMEWORK_OFF_HEAP=128
TM_TASK_OFF_HEAP=256
TM_NETWORK=256
TM_MANAGED=128
TM_METASPACE=256
TM_OVERHEAD=192

# Java 17: the --add-opens/--add-exports list of Flink 1.19's default configuration
# (env.java.opts.all in flink-dist's config.yaml).
JAVA17_OPTS=(
  --add-exports=java.base/sun.net.util=ALL-UNNAMED --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED --add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED --add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
  --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.text=ALL-UNNAMED --add-opens=java.base/java.time=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
)

pid_file() { echo "$DIR/$1.pid"; }

# 0 while process $1 runs (a zombie, gone but not yet reaped by its parent, does not).
running() {
  local state
  state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z* ]]
}

# The PID recorded for role $1 when that process is alive and is still ours.
live_pid() {
  local file pid class
  file="$(pid_file "$1")"
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ "$1" == jobmanager ]] && class="$JM_CLASS" || class="$TM_CLASS"
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$class --configDir $CONF" || return 1
  echo "$pid"
}

rest_port() { sed -n 's/^rest\.port: *\([0-9]*\)$/\1/p' "$CONF/config.yaml" 2>/dev/null; }

# 0 when the REST API answers and at least one TaskManager with all its slots is registered.
cluster_ready() {
  local port="$1"
  python3 - "$port" "$SLOTS" <<'PY'
import json, sys, urllib.request
port, slots = sys.argv[1], int(sys.argv[2])
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/overview", timeout=2) as r:
        overview = json.load(r)
except Exception:
    sys.exit(1)
sys.exit(0 if overview.get("taskmanagers", 0) >= 1 and overview.get("slots-total", 0) >= slots else 1)
PY
}

stop_role() {
  local role="$1" pid waited=0
  if ! pid="$(live_pid "$role")"; then
    rm -f "$(pid_file "$role")"
    return 0
  fi
  log "stopping $role (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  while running "$pid" && ((waited < 150)); do sleep 0.2; waited=$((waited + 1)); done
  if running "$pid"; then
    log "$role (pid $pid) still running after 30 s: KILL"
    kill -KILL "$pid" 2>/dev/null || true
    while running "$pid"; do sleep 0.1; done
  fi
  rm -f "$(pid_file "$role")"
}

# The watcher of FLINK_CLUSTER_OWNER_PID, when it is alive and ours (and not this process).
watcher_pid() {
  local file="$DIR/watcher.pid" pid
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file")"
  [[ "$pid" =~ ^[0-9]+$ && "$pid" != "$$" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "flink-cluster-watcher $DIR " || return 1
  echo "$pid"
}

start_watcher() {
  local owner="$1"
  [[ "$owner" =~ ^[0-9]+$ ]] || die "FLINK_CLUSTER_OWNER_PID must be a PID, got '$owner'"
  # Its own session, so that a signal to the owner's process group leaves it to clean up.
  setsid bash -c 'while s="$(ps -o stat= -p "$2")" && [[ "$s" != Z* ]]; do sleep 1; done
                  echo "owner $2 is gone: stopping the cluster"; exec bash "$3" stop' \
    flink-cluster-watcher "$DIR" "$owner" "$ROOT/scripts/flink_cluster.sh" </dev/null >>"$DIR/watcher.log" 2>&1 &
  echo $! >"$DIR/watcher.pid"
}

stop_cluster() {
  local pid
  if pid="$(watcher_pid)"; then kill -TERM "$pid" 2>/dev/null || true; fi
  rm -f "$DIR/watcher.pid"
  stop_role taskmanager
  stop_role jobmanager
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

write_config() {
  local port="$1"
  mkdir -p "$CONF" "$DIR/tmp" "$DIR/web"
  # config.yaml (Flink 1.19's standard YAML; flat keys are allowed). Everything on
  # 127.0.0.1: nothing of the cluster listens on another interface.
  cat >"$CONF/config.yaml" <<YAML
jobmanager.rpc.address: 127.0.0.1
jobmanager.rpc.port: $(free_port)
jobmanager.bind-host: 127.0.0.1
taskmanager.host: 127.0.0.1
taskmanager.bind-host: 127.0.0.1
taskmanager.rpc.port: 0
taskmanager.data.port: 0
rest.address: 127.0.0.1
rest.bind-address: 127.0.0.1
rest.port: $port
blob.server.port: 0
taskmanager.numberOfTaskSlots: $SLOTS
parallelism.default: 1
jobmanager.execution.failover-strategy: region
# Every job brings the job server's whole classpath (Beam's classpath detection follows the
# launcher jar's Class-Path); the cluster has the same jars on its own classpath, so load
# them from there: child-first would load Beam and its vendored gRPC again for every job.
classloader.resolve-order: parent-first
io.tmp.dirs: $DIR/tmp
web.tmpdir: $DIR/web
web.upload.dir: $DIR/web
state.checkpoints.dir: file://$DIR/checkpoints
state.savepoints.dir: file://$DIR/savepoints
YAML
}

start_cluster() {
  local port jar lib jm_pid tm_pid started waited
  if jm_pid="$(live_pid jobmanager)" && tm_pid="$(live_pid taskmanager)"; then
    port="$(rest_port)"
    if cluster_ready "$port"; then echo "127.0.0.1:$port"; return 0; fi
  fi
  stop_cluster   # a half-started or stale cluster: start afresh

  command -v java >/dev/null 2>&1 || die "'java' not found; install a JDK 11/17"
  jar="$(bash "$ROOT/scripts/fetch_flink_jobserver.sh")" || die "no Flink job server (scripts/fetch_flink_jobserver.sh failed)"
  lib="$(dirname "$jar")/lib"
  ls "$lib"/flink-runtime-*.jar >/dev/null 2>&1 || die "no flink-runtime jar in $lib"

  port="${FLINK_REST_PORT:-$(free_port)}"
  rm -rf "$DIR/tmp" "$DIR/web"
  write_config "$port"
  started=$(date +%s.%N)

  # JobManager: standalone session entrypoint.
  (exec java "${JAVA17_OPTS[@]}" -Xms${JM_HEAP}m -Xmx${JM_HEAP}m -XX:MaxDirectMemorySize=${JM_OFF_HEAP}m \
      -XX:MaxMetaspaceSize=${JM_METASPACE}m -XX:+UseSerialGC -Djava.io.tmpdir="$DIR/tmp" \
      -cp "$lib/*" "$JM_CLASS" --configDir "$CONF" \
      -D jobmanager.memory.heap.size=${JM_HEAP}m -D jobmanager.memory.off-heap.size=${JM_OFF_HEAP}m \
      -D jobmanager.memory.jvm-metaspace.size=${JM_METASPACE}m \
      </dev/null >"$DIR/jobmanager.log" 2>&1) &
  echo $! >"$(pid_file jobmanager)"

  # TaskManager: every memory component explicit, and the JVM limits that follow from them.
  local tm_heap=$((TM_FRAMEWORK_HEAP + TM_TASK_HEAP))
  local tm_direct=$((TM_FRAMEWORK_OFF_HEAP + TM_TASK_OFF_HEAP + TM_NETWORK))
  (exec java "${JAVA17_OPTS[@]}" -Xms${tm_heap}m -Xmx${tm_heap}m -XX:MaxDirectMemorySize=${tm_direct}m \
      -XX:MaxMetaspaceSize=${TM_METASPACE}m -XX:+UseSerialGC -Djava.io.tmpdir="$DIR/tmp" \
      -cp "$lib/*" "$TM_CLASS" --configDir "$CONF" \
      -D taskmanager.memory.framework.heap.size=${TM_FRAMEWORK_HEAP}m \
      -D taskmanager.memory.framework.off-heap.size=${TM_FRAMEWORK_OFF_HEAP}m \
      -D taskmanager.memory.task.heap.size=${TM_TASK_HEAP}m \
      -D taskmanager.memory.task.off-heap.size=${TM_TASK_OFF_HEAP}m \
      -D taskmanager.memory.network.min=${TM_NETWORK}m -D taskmanager.memory.network.max=${TM_NETWORK}m \
      -D taskmanager.memory.managed.size=${TM_MANAGED}m \
      -D taskmanager.memory.jvm-metaspace.size=${TM_METASPACE}m \
      -D taskmanager.memory.jvm-overhead.min=${TM_OVERHEAD}m -D taskmanager.memory.jvm-overhead.max=${TM_OVERHEAD}m \
      -D taskmanager.cpu.cores=$SLOTS \
      </dev/null >"$DIR/taskmanager.log" 2>&1) &
  echo $! >"$(pid_file taskmanager)"
  if [[ -n "${FLINK_CLUSTER_OWNER_PID:-}" ]]; then start_watcher "$FLINK_CLUSTER_OWNER_PID"; fi

  waited=0
  until cluster_ready "$port"; do
    local role
    for role in jobmanager taskmanager; do
      if ! live_pid "$role" >/dev/null; then
        log "$role exited during start; last lines of $DIR/$role.log:"
        tail -n 30 "$DIR/$role.log" >&2 || true
        stop_cluster
        die "the cluster did not start"
      fi
    done
    if ((waited >= START_TIMEOUT * 2)); then
      log "no answer from http://127.0.0.1:$port/overview within ${START_TIMEOUT}s; logs:"
      tail -n 15 "$DIR/jobmanager.log" "$DIR/taskmanager.log" >&2 || true
      stop_cluster
      die "the cluster did not start"
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
  log "up in $(python3 -c "import time; print(round(time.time() - $started, 1))") s: REST http://127.0.0.1:$port," \
      "JobManager pid $(cat "$(pid_file jobmanager)"), TaskManager pid $(cat "$(pid_file taskmanager)"), logs in $DIR"
  echo "127.0.0.1:$port"
}

case "${1:-}" in
  start) start_cluster ;;
  stop) stop_cluster ;;
  status)
    if live_pid jobmanager >/dev/null && live_pid taskmanager >/dev/null && cluster_ready "$(rest_port)"; then
      echo "127.0.0.1:$(rest_port)"
    else
      echo "flink_cluster: not running" >&2; exit 1
    fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
