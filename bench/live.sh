#!/usr/bin/env bash
# The live search index at scale, over the bench database loaded by bench/load.sh: two instances of
# the portal on the same database; how long a committed change takes to reach the second instance's
# index on its own, and search latency (8 clients, the researcher mix) idle and during a bulk import
# of BULK records (bench/live.py does the measuring).
#
#   bench/live.sh                  # 20 changes, 30 s idle, a 10,000-record import
#
# Settings (environment): BULK (10000), BULK_SEED (a new one per run), CHANGES (20), IDLE (30), CONNECTIONS (8), PORT (8181, and the
# next one for the second instance), BENCH_DB (radportal_bench), PGHOST/PGPORT/PGUSER, RADPORTAL_SRC,
# RADPORTAL_BIN. Writes bench/results/live.json.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
BULK="${BULK:-10000}"
# New records on every run (a run adds them to the bench database).
BULK_SEED="${BULK_SEED:-$(date +%s)}"
CHANGES="${CHANGES:-20}"
IDLE="${IDLE:-30}"
CONNECTIONS="${CONNECTIONS:-8}"
PORT="${PORT:-8181}"
SECOND_PORT=$((PORT + 1))
BENCH_DB="${BENCH_DB:-radportal_bench}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
RADPORTAL_SRC="${RADPORTAL_SRC:-$ROOT}"
RADPORTAL_BIN="${RADPORTAL_BIN:-$RADPORTAL_SRC/target/release/radportal}"
RESULTS="$BENCH_DIR/results"
RAW="$RESULTS/raw"
TOKEN="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$BENCH_DB"
mkdir -p "$RAW" "$BENCH_DIR/data"

exec 9>"$RESULTS/.lock"
flock -n 9 || { echo "error: another bench job is running (it holds $RESULTS/.lock)" >&2; exit 1; }
[[ -x "$RADPORTAL_BIN" ]] || { echo "error: $RADPORTAL_BIN is missing; cargo build --release" >&2; exit 1; }

# The bulk file: new datasets (their own ids and DOIs).
BULK_FILE="$BENCH_DIR/data/bulk-$BULK-seed$BULK_SEED.json"
if [[ ! -s "$BULK_FILE" ]]; then
    python3 "$BENCH_DIR/generate.py" --count "$BULK" --seed "$BULK_SEED" - | BULK_SEED="$BULK_SEED" python3 -c '
import json, os, sys
records = json.load(sys.stdin)
seed = os.environ["BULK_SEED"]
for n, record in enumerate(records):
    record["id"] = f"bulk{seed}-{n:06d}-" + record["id"]
    if record.get("doi"):
        record["doi"] = record["doi"].replace("/SYN.", f"/BULK{seed}.")
json.dump(records, open(sys.argv[1], "w"))' "$BULK_FILE"
fi

PIDS=()
stop() { for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; }
trap stop EXIT
for port in "$PORT" "$SECOND_PORT"; do
    RADPORTAL_LISTEN="127.0.0.1:$port" RADPORTAL_BASE_URL="http://127.0.0.1:$port" \
    RADPORTAL_SEED_CATALOG=false RADPORTAL_EXAMPLE_DATA=false RADPORTAL_METRICS_TOKEN="$TOKEN" \
    RADPORTAL_LOG="${RADPORTAL_LOG:-warn,radportal::catalog::index=debug}" \
        "$RADPORTAL_BIN" serve >"$RESULTS/live-server-$port.log" 2>&1 &
    PIDS+=($!)
done
for port in "$PORT" "$SECOND_PORT"; do
    for _ in $(seq 1 240); do curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" && break; sleep 0.5; done
    # The first search reads the whole catalog.
    curl -fs -o /dev/null "http://127.0.0.1:$port/datasets?q=lung"
done

grep -v -e '^#' -e '^$' "$BENCH_DIR/queries.txt" "$BENCH_DIR/searches.txt" -h | while read -r query; do
    if [[ "$query" == "-" ]]; then echo "/datasets"; else echo "/datasets?$query"; fi
done >"$RAW/live-paths.txt"

python3 "$BENCH_DIR/live.py" --first "http://127.0.0.1:$PORT" --second "http://127.0.0.1:$SECOND_PORT" \
    --token "$TOKEN" --db "$BENCH_DB" --paths "$RAW/live-paths.txt" --bulk "$BULK_FILE" \
    --bin "$RADPORTAL_BIN" --changes "$CHANGES" --idle "$IDLE" --connections "$CONNECTIONS" \
    --out "$RESULTS/live.json"
for pid in "${PIDS[@]}"; do grep -E '^VmHWM' "/proc/$pid/status" || true; done
grep -h "search index updated" "$RESULTS"/live-server-*.log | tail -n 5 || true
