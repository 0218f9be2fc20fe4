#!/usr/bin/env bash
# Runs the benchmark over the bench database loaded by bench/load.sh:
#
#   a. the search page with facets  /datasets?…         (wrk, rotating through the searches of
#                                                        bench/queries.txt and bench/searches.txt)
#   b. the dataset page             /datasets/{slug}    (wrk, rotating through slugs of the bench database)
#   c. the JSON API                 /api/v1/datasets?…  (wrk, same queries; skipped when the route is 404)
#   d. the reference                pgbench -S on a scale-10 pgbench database (pgbench_ref)
#
# each at 8 concurrent connections (2 wrk threads / pgbench jobs) for DURATION seconds, after a
# WARMUP-second run that is not counted. wrk's timeout is 30 s, the server's own request timeout, so
# slow responses count in the latency figures instead of disappearing as socket timeouts. Then records
# the server's peak RSS, captures EXPLAIN (ANALYZE, BUFFERS) of every statement behind the hot requests
# (bench/plans.py, with auto_explain), and writes bench/results/latest.json and a summary on stdout.
#
#   bench/run.sh                  # 30 s per measurement
#   DURATION=15 bench/run.sh
#
# Settings (environment): DURATION (30), WARMUP (5), CONNECTIONS (8), THREADS (2), PORT (8181),
# QUIET_WAIT (120: seconds to wait for an idle machine before starting), SEARCHES (the search lists),
# BENCH_DB (radportal_bench), PGBENCH_DB (pgbench_ref), PGBENCH_SCALE (10),
# PGHOST (127.0.0.1), PGPORT (5432), PGUSER (postgres), RADPORTAL_SRC (this checkout),
# RADPORTAL_BIN ($RADPORTAL_SRC/target/release/radportal).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
DURATION="${DURATION:-30}"
WARMUP="${WARMUP:-5}"
CONNECTIONS="${CONNECTIONS:-8}"
THREADS="${THREADS:-2}"
PORT="${PORT:-8181}"
BENCH_DB="${BENCH_DB:-radportal_bench}"
PGBENCH_DB="${PGBENCH_DB:-pgbench_ref}"
PGBENCH_SCALE="${PGBENCH_SCALE:-10}"
QUIET_WAIT="${QUIET_WAIT:-120}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
# The source tree measured (another checkout may be given, e.g. a clean clone of one commit) and its binary.
RADPORTAL_SRC="${RADPORTAL_SRC:-$ROOT}"
RADPORTAL_BIN="${RADPORTAL_BIN:-$RADPORTAL_SRC/target/release/radportal}"
RESULTS="$BENCH_DIR/results"
RAW="$RESULTS/raw"
BASE="http://127.0.0.1:$PORT"

mkdir -p "$RAW"

# One bench job at a time: load.sh and run.sh share the database, the port and bench/results.
exec 9>"$RESULTS/.lock"
if ! flock -n 9; then
    echo "error: another bench job is running (it holds $RESULTS/.lock)" >&2
    exit 1
fi
rm -f "$RAW"/*

for tool in wrk pgbench psql curl python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 1; }
done
if [[ ! -x "$RADPORTAL_BIN" ]]; then
    echo "error: $RADPORTAL_BIN is missing; run 'cargo build --release' in $RADPORTAL_SRC first" >&2
    exit 1
fi
if ! datasets=$(psql -X -At -d "$BENCH_DB" -c "select count(*) from datasets where status = 'published'" 2>/dev/null) \
    || [[ "$datasets" -eq 0 ]]; then
    echo "error: database $BENCH_DB has no datasets; run bench/load.sh first" >&2
    exit 1
fi
if curl -s -o /dev/null "$BASE/healthz"; then
    echo "error: something already listens on port $PORT" >&2
    exit 1
fi

# Which code is measured (commit, uncommitted changes, whether the binary is older than the sources).
python3 "$BENCH_DIR/summarize.py" --code-info --root "$RADPORTAL_SRC" --bin "$RADPORTAL_BIN" >"$RAW/code.json"
# Other work on the machine skews every figure: wait up to QUIET_WAIT seconds for the 1-minute load
# average to fall below half the CPUs, then record it (the summary warns when it stayed high).
cpus=$(nproc)
for _ in $(seq 1 $((QUIET_WAIT / 5))); do
    if python3 -c "import os, sys; sys.exit(0 if os.getloadavg()[0] < $cpus / 2 else 1)"; then break; fi
    sleep 5
done
echo "start $(cat /proc/loadavg)" >"$RAW/loadavg.txt"

# --- the server -----------------------------------------------------------------------------------
SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM

echo "starting radportal on $BASE over $BENCH_DB ($datasets datasets)"
DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$BENCH_DB" \
RADPORTAL_LISTEN="127.0.0.1:$PORT" \
RADPORTAL_BASE_URL="$BASE" \
RADPORTAL_SEED_CATALOG=false \
RADPORTAL_EXAMPLE_DATA=false \
RADPORTAL_LOG=warn \
    "$RADPORTAL_BIN" serve >"$RESULTS/server.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 120); do
    if curl -fs -o /dev/null "$BASE/readyz"; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "error: the server exited; its log:" >&2
        cat "$RESULTS/server.log" >&2
        exit 1
    fi
    sleep 0.5
done
curl -fs -o /dev/null "$BASE/readyz" || { echo "error: /readyz never answered 200" >&2; exit 1; }
# Memory before any page was asked for, and after the first search (which may build in-process state).
grep -E '^VmRSS:' "/proc/$SERVER_PID/status" | sed 's/^VmRSS/VmRSS_idle/' >"$RAW/rss.txt"
curl -s -o /dev/null "$BASE/datasets"
grep -E '^VmRSS:' "/proc/$SERVER_PID/status" | sed 's/^VmRSS/VmRSS_first_search/' >>"$RAW/rss.txt"

# --- the request lists ----------------------------------------------------------------------------
# Search and API paths from the search lists ("-" is the bare page): queries.txt (filters, sorts,
# pages and short texts) and searches.txt (what researchers type). SEARCHES names other files.
SEARCHES="${SEARCHES:-$BENCH_DIR/queries.txt $BENCH_DIR/searches.txt}"
# shellcheck disable=SC2086
cat $SEARCHES | grep -v -e '^#' -e '^$' | while read -r query; do
    if [[ "$query" == "-" ]]; then echo "/datasets"; else echo "/datasets?$query"; fi
done >"$RAW/search-paths.txt"
sed 's#^/datasets#/api/v1/datasets#' "$RAW/search-paths.txt" >"$RAW/api-paths.txt"

# 5,000 slugs of published datasets, drawn at random but the same ones on every run.
psql -X -At -d "$BENCH_DB" -c "select setseed(0.42)" \
    -c "select '/datasets/' || slug from datasets where status = 'published' order by random() limit 5000" \
    | grep '^/datasets/' >"$RAW/dataset-paths.txt"

# --- one request per search, one at a time: status and latency per query --------------------------
# Three runs per URL, the median kept; shows which searches are slow on their own.
echo "timing each search alone (unloaded, median of 3)"
while read -r path; do
    times=()
    code=""
    for _ in 1 2 3; do
        out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$BASE$path")
        code="${out% *}"
        times+=("${out#* }")
    done
    median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
    printf '%s\t%s\t%s\n' "$path" "$code" "$median"
done <"$RAW/search-paths.txt" >"$RAW/per-query.tsv"

# --- the load runs --------------------------------------------------------------------------------
# run_wrk NAME PATHS_FILE: a warm-up run (discarded), then the measured run into raw/NAME.txt.
run_wrk() {
    local name="$1" paths="$2"
    echo "wrk: $name ($(wc -l <"$paths") paths, $CONNECTIONS connections, $THREADS threads, ${DURATION}s)"
    if [[ "$WARMUP" -gt 0 ]]; then
        BENCH_PATHS="$paths" wrk -t "$THREADS" -c "$CONNECTIONS" -d "${WARMUP}s" --timeout 30s \
            -s "$BENCH_DIR/rotate.lua" "$BASE/" >/dev/null
    fi
    BENCH_PATHS="$paths" wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --timeout 30s --latency \
        -s "$BENCH_DIR/rotate.lua" "$BASE/" >"$RAW/$name.txt"
    grep -E 'Requests/sec|99%|Non-2xx|Socket errors' "$RAW/$name.txt" | sed 's/^/    /'
}

run_wrk search "$RAW/search-paths.txt"
run_wrk dataset "$RAW/dataset-paths.txt"

api_status=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/datasets?q=lung")
if [[ "$api_status" == "200" ]]; then
    run_wrk api "$RAW/api-paths.txt"
else
    echo "wrk: api not measured: /api/v1/datasets answered $api_status"
    echo "$api_status" >"$RAW/api-skipped.txt"
fi

echo "after-http-load $(cat /proc/loadavg)" >>"$RAW/loadavg.txt"

# --- the server's memory after the load -----------------------------------------------------------
grep -E '^(VmHWM|VmRSS):' "/proc/$SERVER_PID/status" >>"$RAW/rss.txt"
grep -E '^(VmHWM|VmRSS):' "$RAW/rss.txt" | sed 's/^/    /'
stop_server

# --- the reference: pgbench select-only on the same PostgreSQL ------------------------------------
branches=$(psql -X -At -d "$PGBENCH_DB" -c "select count(*) from pgbench_branches" 2>/dev/null || echo 0)
if [[ "$branches" != "$PGBENCH_SCALE" ]]; then
    echo "initialising $PGBENCH_DB at scale $PGBENCH_SCALE"
    dropdb --if-exists --force "$PGBENCH_DB"
    createdb "$PGBENCH_DB"
    pgbench -i -s "$PGBENCH_SCALE" -q "$PGBENCH_DB" >"$RAW/pgbench-init.txt" 2>&1
fi
echo "pgbench -S -c $CONNECTIONS -j $THREADS -T $DURATION $PGBENCH_DB"
if [[ "$WARMUP" -gt 0 ]]; then
    pgbench -S -c "$CONNECTIONS" -j "$THREADS" -T "$WARMUP" "$PGBENCH_DB" >/dev/null 2>&1
fi
pgbench -S -c "$CONNECTIONS" -j "$THREADS" -T "$DURATION" "$PGBENCH_DB" >"$RAW/pgbench.txt" 2>&1
grep -E '^tps' "$RAW/pgbench.txt" | sed 's/^/    /'
echo "after-pgbench $(cat /proc/loadavg)" >>"$RAW/loadavg.txt"

# --- plans of the hot queries ---------------------------------------------------------------------
echo "capturing EXPLAIN (ANALYZE, BUFFERS) into $RESULTS/plans.txt"
python3 "$BENCH_DIR/plans.py" --db "$BENCH_DB" --bin "$RADPORTAL_BIN" --port "$((PORT + 1))" \
    --out "$RESULTS/plans.txt" --json "$RAW/plans.json"

# --- the summary ----------------------------------------------------------------------------------
echo
python3 "$BENCH_DIR/summarize.py" --raw "$RAW" --load "$RESULTS/load.json" --out "$RESULTS/latest.json" \
    --db "$BENCH_DB" --duration "$DURATION" --connections "$CONNECTIONS" --threads "$THREADS" \
    --pgbench-db "$PGBENCH_DB" --pgbench-scale "$PGBENCH_SCALE" --root "$RADPORTAL_SRC" --bin "$RADPORTAL_BIN"
