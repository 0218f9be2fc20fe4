#!/usr/bin/env bash
# Creates a fresh bench database and loads a synthetic catalog through the portal's own import path
# (`radportal import FILE`), timing the import; then imports the same file again, which must change
# nothing, and times that too.
#
#   bench/load.sh                      # 100,000 datasets, seed 42, database radportal_bench
#   COUNT=10000 bench/load.sh          # a smaller catalog
#   bench/load.sh path/to/catalog.json # an existing file in the exchange format
#
# Settings (environment): COUNT (100000), SEED (42), BENCH_DB (radportal_bench),
# PGHOST (127.0.0.1), PGPORT (5432), PGUSER (postgres), RADPORTAL_SRC (this checkout),
# RADPORTAL_BIN ($RADPORTAL_SRC/target/release/radportal).
# Writes bench/results/load.json, bench/results/import.log and bench/results/reimport.log.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
COUNT="${COUNT:-100000}"
SEED="${SEED:-42}"
BENCH_DB="${BENCH_DB:-radportal_bench}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
# The source tree measured (another checkout may be given, e.g. a clean clone of one commit) and its binary.
RADPORTAL_SRC="${RADPORTAL_SRC:-$ROOT}"
RADPORTAL_BIN="${RADPORTAL_BIN:-$RADPORTAL_SRC/target/release/radportal}"
RESULTS="$BENCH_DIR/results"
FILE="${1:-$BENCH_DIR/data/datasets-$COUNT-seed$SEED.json}"
export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$BENCH_DB"
export RADPORTAL_LOG="${RADPORTAL_LOG:-warn}"

mkdir -p "$RESULTS" "$(dirname "$FILE")"

# One bench job at a time: load.sh and run.sh share the database, the port and bench/results.
exec 9>"$RESULTS/.lock"
if ! flock -n 9; then
    echo "error: another bench job is running (it holds $RESULTS/.lock)" >&2
    exit 1
fi

if [[ ! -x "$RADPORTAL_BIN" ]]; then
    echo "error: $RADPORTAL_BIN is missing; run 'cargo build --release' in $RADPORTAL_SRC first" >&2
    exit 1
fi

# 1. The synthetic catalog (generated once per COUNT and SEED, then reused).
if [[ ! -s "$FILE" ]]; then
    echo "generating $COUNT synthetic datasets (seed $SEED) into $FILE"
    python3 "$BENCH_DIR/generate.py" --count "$COUNT" --seed "$SEED" "$FILE"
fi
records=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$FILE")

# 2. A fresh database: drop it (closing any session on it), then let the binary create and migrate it.
echo "recreating database $BENCH_DB"
dropdb --if-exists --force "$BENCH_DB"
"$RADPORTAL_BIN" migrate >/dev/null

# An administrator with a throw-away password, so that `serve` does not create one and print its
# password into the bench logs.
head -c 24 /dev/urandom | base64 | "$RADPORTAL_BIN" create-admin \
    --email bench-admin@radportal.local --name "Bench administrator" --password-stdin >/dev/null

# 3. The import, timed. It writes the records in batches of 2,000, each batch in one transaction.
echo "importing $records records from $FILE"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s.%N)
status=0
"$RADPORTAL_BIN" import "$FILE" >"$RESULTS/import.log" 2>&1 || status=$?
end=$(date +%s.%N)
if [[ $status -ne 0 && $status -ne 2 ]]; then
    echo "error: import failed with status $status:" >&2
    tail -n 20 "$RESULTS/import.log" >&2
    exit 1
fi
head -n 1 "$RESULTS/import.log"
if [[ $status -eq 2 ]]; then
    echo "warning: some records were rejected (see $RESULTS/import.log)" >&2
fi

# 4. The steady state autovacuum reaches some minutes after a bulk load: fresh statistics, so plans are
# stable, and no dead row versions (the single-row catalog_state counter is updated once per
# statement that changes the catalog, about a thousand times for 100,000 records; until it is
# vacuumed, every search reads its dead versions).
psql -X -q -d "$BENCH_DB" -c "vacuum (analyze)"

# 5. The same file again: every record is unchanged, nothing is written.
echo "importing the same file again"
version_before=$(psql -X -At -d "$BENCH_DB" -c "select version from catalog_state")
again_start=$(date +%s.%N)
again_status=0
"$RADPORTAL_BIN" import "$FILE" >"$RESULTS/reimport.log" 2>&1 || again_status=$?
again_end=$(date +%s.%N)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ $again_status -ne $status ]]; then
    echo "error: the second import ended with status $again_status:" >&2
    tail -n 20 "$RESULTS/reimport.log" >&2
    exit 1
fi
head -n 1 "$RESULTS/reimport.log"
version_after=$(psql -X -At -d "$BENCH_DB" -c "select version from catalog_state")
if [[ "$version_before" != "$version_after" ]]; then
    echo "warning: the second import moved the catalog version ($version_before -> $version_after)" >&2
fi

seconds=$(python3 -c "print(round($end - $start, 2))")
again_seconds=$(python3 -c "print(round($again_end - $again_start, 2))")
rate=$(python3 -c "print(round($records / ($end - $start), 1))")
published=$(psql -X -At -d "$BENCH_DB" -c "select count(*) from datasets where status = 'published'")
organizations=$(psql -X -At -d "$BENCH_DB" -c "select count(*) from organizations")
db_size=$(psql -X -At -d "$BENCH_DB" -c "select pg_size_pretty(pg_database_size(current_database()))")
table_size=$(psql -X -At -d "$BENCH_DB" -c "select pg_size_pretty(pg_total_relation_size('datasets'))")

python3 - "$RESULTS/load.json" <<EOF
import json, sys
json.dump({
    "file": "$FILE",
    "records_in_file": $records,
    "import_status": $status,
    "import_summary": open("$RESULTS/import.log").readline().strip(),
    "import_seconds": $seconds,
    "records_per_second": $rate,
    "reimport_summary": open("$RESULTS/reimport.log").readline().strip(),
    "reimport_seconds": $again_seconds,
    "reimport_moved_catalog_version": "$version_before" != "$version_after",
    "load_average_before": "$load_before",
    "load_average_after": "$load_after",
    "published_datasets": $published,
    "organizations": $organizations,
    "database_size": "$db_size",
    "datasets_table_size": "$table_size",
}, open(sys.argv[1], "w"), indent=2)
EOF

echo "import: $records records in ${seconds} s = ${rate} records/s; again: ${again_seconds} s"
echo "load average before: $load_before; after: $load_after"
echo "database $BENCH_DB: $published published datasets, $organizations organizations, $db_size (datasets: $table_size)"
