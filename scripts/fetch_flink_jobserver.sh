#!/usr/bin/env bash
# Fetch (once) Beam's Flink job server into .cache/flink/ and print the jar path on stdout.
#
# Usage:  JAR=$(scripts/fetch_flink_jobserver.sh)
#         python pipeline.py --runner=FlinkRunner --flink_job_server_jar="$JAR" \
#             --flink_master='[local]' --environment_type=LOOPBACK
#
# Everything comes from Maven Central through `mvn`. Two ways, tried in order:
#   1. the official shaded job server jar (JOBSERVER_ARTIFACT) via dependency:copy;
#   2. if the registry does not serve it (the case here for every Beam version):
#      the Flink runner library of the same Beam version (beam-runners-flink-X.Y)
#      plus its dependencies via dependency:copy-dependencies into lib/, and a
#      small launcher jar whose manifest has Main-Class FlinkJobServerDriver and
#      a Class-Path pointing at lib/*.jar (the same trick Beam's Python SDK uses
#      in JavaJarServer.make_classpath_jar). Keep the jar next to its lib/.
#
# Idempotent: a finished cache is reused without calling mvn. Logs go to stderr,
# mvn output to .cache/flink/<name>/mvn.log. Exits non-zero with a message on failure.
set -euo pipefail

# --- the pin (Beam version and Flink minor in one place) ---------------------
# Beam 2.77.0 (the project's Python SDK) is NOT served for any Flink runner
# artifact by the registry reachable here; 2.62.0 is the newest Beam version
# whose Flink runner AND all its Beam dependencies are served.
JOBSERVER_ARTIFACT="${JOBSERVER_ARTIFACT:-org.apache.beam:beam-runners-flink-1.19-job-server:2.62.0}"
# -----------------------------------------------------------------------------

MVN="${MVN:-mvn}"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
SLF4J_SIMPLE="org.slf4j:slf4j-simple:1.7.30"   # log binding (the shaded jar bundles one too)
MAIN_CLASS="org.apache.beam.runners.flink.FlinkJobServerDriver"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${FLINK_CACHE_DIR:-$ROOT/.cache/flink}"

die() { echo "fetch_flink_jobserver: ERROR: $*" >&2; exit 1; }
log() { echo "fetch_flink_jobserver: $*" >&2; }

IFS=: read -r GROUP ARTIFACT VERSION <<<"$JOBSERVER_ARTIFACT"
[[ -n "$GROUP" && -n "$ARTIFACT" && -n "$VERSION" ]] \
  || die "JOBSERVER_ARTIFACT must be group:artifact:version, got '$JOBSERVER_ARTIFACT'"
[[ "$ARTIFACT" == *-job-server ]] || die "artifact '$ARTIFACT' should end in -job-server"
RUNNER_ARTIFACT="${ARTIFACT%-job-server}"          # beam-runners-flink-1.19
NAME="$ARTIFACT-$VERSION"
DEST="$CACHE_DIR/$NAME"
JAR="$DEST/$NAME.jar"

if [[ -f "$DEST/.complete" && -f "$JAR" ]]; then
  echo "$JAR"
  exit 0
fi

command -v "$MVN" >/dev/null 2>&1 || die "'$MVN' not found; install Maven (apt-get install maven)"
command -v java >/dev/null 2>&1 || die "'java' not found; install a JDK 11/17"
command -v python3 >/dev/null 2>&1 || die "'python3' not found (needed to write the launcher jar)"
mkdir -p "$CACHE_DIR"
# Serialise concurrent callers (e.g. pytest-xdist workers), then re-check the cache.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_DIR/.lock"
  flock 9
  if [[ -f "$DEST/.complete" && -f "$JAR" ]]; then echo "$JAR"; exit 0; fi
fi
TMP="$(mktemp -d "$CACHE_DIR/.tmp.$NAME.XXXXXX")"
chmod 755 "$TMP"
trap 'rm -rf "$TMP"' EXIT
MVNLOG="$TMP/mvn.log"
FAILLOG="$CACHE_DIR/$NAME.mvn.log"
rm -f "$FAILLOG"

# 1. the official shaded jar
log "trying $JOBSERVER_ARTIFACT:jar ..."
# -U: re-ask the registry instead of trusting a cached "not found".
if "$MVN" -B -q -U "$DEP_PLUGIN:copy" -Dartifact="$JOBSERVER_ARTIFACT:jar" \
      -DoutputDirectory="$TMP" -Dmdep.stripVersion=false >"$MVNLOG" 2>&1 \
   && [[ -f "$TMP/$NAME.jar" ]]; then
  : # got it
else
  # 2. assemble from the runner library + dependencies
  log "not served; assembling from $GROUP:$RUNNER_ARTIFACT:$VERSION and its dependencies ..."
  cat >"$TMP/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.newsbeam</groupId><artifactId>flink-job-server-classpath</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>$GROUP</groupId><artifactId>$RUNNER_ARTIFACT</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>${SLF4J_SIMPLE%%:*}</groupId><artifactId>$(cut -d: -f2 <<<"$SLF4J_SIMPLE")</artifactId><version>${SLF4J_SIMPLE##*:}</version><scope>runtime</scope></dependency>
  </dependencies>
</project>
POM
  echo "----- copy-dependencies of $GROUP:$RUNNER_ARTIFACT:$VERSION -----" >>"$MVNLOG"
  if ! "$MVN" -B -q -U -f "$TMP/pom.xml" "$DEP_PLUGIN:copy-dependencies" \
        -DincludeScope=runtime -DoutputDirectory="$TMP/lib" >>"$TMP/deps.log" 2>&1; then
    cat "$TMP/deps.log" >>"$MVNLOG"; cp "$MVNLOG" "$FAILLOG" 2>/dev/null || true
    grep -m1 -E 'ERROR\] Failed' "$TMP/deps.log" | sed 's/\x1b\[[0-9;]*m//g' >&2 || true
    die "Maven serves neither $JOBSERVER_ARTIFACT nor $GROUP:$RUNNER_ARTIFACT:$VERSION (with all its dependencies); full log: $FAILLOG"
  fi
  cat "$TMP/deps.log" >>"$MVNLOG"; rm -f "$TMP/deps.log"
  [[ -f "$TMP/lib/$RUNNER_ARTIFACT-$VERSION.jar" ]] || die "runner jar missing after mvn (see $MVNLOG)"
  # Manifest: Class-Path continuation lines ("  lib/x.jar") keep every line < 72 bytes.
  {
    echo "Manifest-Version: 1.0"
    echo "Main-Class: $MAIN_CLASS"
    first=1
    for f in "$TMP"/lib/*.jar; do
      rel="lib/$(basename "$f")"
      if ((first)); then echo "Class-Path: $rel"; first=0; else echo "  $rel"; fi
    done
  } >"$TMP/MANIFEST.MF"
  python3 - "$TMP/MANIFEST.MF" "$TMP/$NAME.jar" <<'PY' || die "could not write launcher jar"
import sys, zipfile
manifest, jar = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("META-INF/MANIFEST.MF", open(manifest).read().replace("\n", "\r\n"))
PY
fi

cp "$MVNLOG" "$TMP/mvn.log.keep" 2>/dev/null || true
touch "$TMP/.complete"
rm -rf "$DEST"
mv "$TMP" "$DEST"
trap - EXIT
mv "$DEST/mvn.log.keep" "$DEST/mvn.log" 2>/dev/null || true
rm -f "$DEST/MANIFEST.MF"
log "ready: $JAR ($(du -sh "$DEST" | cut -f1) with lib/)"
echo "$JAR"
