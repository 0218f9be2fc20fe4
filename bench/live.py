#!/usr/bin/env python3
"""Measures the live search index against two running radportal instances over the bench database.

1. Follow: a dataset's title is changed in the database (one statement), then the *second*
   instance's /metrics is read until its index version reaches the new catalog version — no search
   asks it to update. Milliseconds from commit to the second instance's index, per change.
2. Search latency at CONNECTIONS clients on the researcher mix (the paths file), on the first
   instance: idle for IDLE seconds, then while `radportal import` writes a bulk file into the same
   database; p50/p99 over the requests sent in each window.

Writes a JSON report to the file named by --out and a summary to stdout.
"""

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import threading
import time
import urllib.parse


def percentile(values, share):
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(share * len(ordered) + 0.5)) - 1))
    return ordered[index]


def metric(base, token, name):
    parsed = urllib.parse.urlparse(base)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    connection.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
    body = connection.getresponse().read().decode()
    connection.close()
    for line in body.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise SystemExit(f"{name} not in /metrics of {base}")


def psql(database, sql):
    out = subprocess.run(["psql", "-X", "-At", "-q", "-d", database, "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return out.strip()


def follow(args):
    rng = random.Random(7)
    ids = [int(x) for x in psql(args.db, "select id from datasets where status = 'published' "
                                         "order by id").split()]
    times = []
    for n in range(args.changes):
        before = metric(args.second, args.token, "radportal_search_index_version")
        dataset = rng.choice(ids)
        word = f"livebench{n}x{rng.randrange(10**6)}"
        started = time.monotonic()
        version = int(psql(args.db, f"update datasets set title = title || ' {word}' where id = {dataset}; "
                                    "select version from catalog_state"))
        while metric(args.second, args.token, "radportal_search_index_version") < version:
            if time.monotonic() - started > 30:
                raise SystemExit(f"the second instance did not follow version {version} in 30 s")
            time.sleep(0.005)
        times.append((time.monotonic() - started) * 1000)
        assert version > before
        time.sleep(0.3)
    return times


class Load:
    """CONNECTIONS threads sending the paths round-robin over keep-alive connections."""

    def __init__(self, base, paths, connections):
        self.base = urllib.parse.urlparse(base)
        self.paths = paths
        self.connections = connections
        self.records = []  # (start, seconds, status)
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def worker(self, number):
        connection = http.client.HTTPConnection(self.base.hostname, self.base.port, timeout=60)
        position = (number * 7919) % len(self.paths)
        local = []
        while not self.stop.is_set():
            path = self.paths[position]
            position = (position + 1) % len(self.paths)
            started = time.monotonic()
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(self.base.hostname, self.base.port, timeout=60)
                status = 0
            local.append((started, time.monotonic() - started, status))
        with self.lock:
            self.records.extend(local)

    def run(self, until):
        threads = [threading.Thread(target=self.worker, args=(n,)) for n in range(self.connections)]
        for thread in threads:
            thread.start()
        until()
        self.stop.set()
        for thread in threads:
            thread.join()
        return self.records


def window(records, start, end):
    inside = [r for r in records if start <= r[0] < end]
    latencies = [r[1] * 1000 for r in inside]
    errors = sum(1 for r in inside if r[2] != 200)
    seconds = max(end - start, 1e-9)
    return {
        "requests": len(inside),
        "requests_per_s": round(len(inside) / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.50) or 0, 1),
        "p99_ms": round(percentile(latencies, 0.99) or 0, 1),
        "max_ms": round(max(latencies) if latencies else 0, 1),
        "non_200": errors,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", required=True)
    parser.add_argument("--second", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--paths", required=True)
    parser.add_argument("--bulk", required=True, help="file for `radportal import` during the load")
    parser.add_argument("--bin", required=True)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--idle", type=float, default=30)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    follow_ms = follow(args)
    paths = [line.strip() for line in open(args.paths) if line.strip()]
    load = Load(args.first, paths, args.connections)
    marks = {}

    def phases():
        marks["idle_start"] = time.monotonic()
        time.sleep(args.idle)
        marks["import_start"] = time.monotonic()
        env = dict(os.environ, RADPORTAL_LOG="warn")
        result = subprocess.run([args.bin, "import", args.bulk], env=env, capture_output=True, text=True)
        marks["import_end"] = time.monotonic()
        marks["import_status"] = result.returncode
        marks["import_line"] = (result.stdout or result.stderr).strip().splitlines()[:1]
        # After the import: until the first instance has applied it.
        time.sleep(2)
        marks["after_end"] = time.monotonic()

    records = load.run(phases)
    report = {
        "follow_ms": {
            "changes": len(follow_ms),
            "median": round(statistics.median(follow_ms), 1),
            "p90": round(percentile(follow_ms, 0.9), 1),
            "max": round(max(follow_ms), 1),
            "all": [round(t, 1) for t in follow_ms],
        },
        "search_idle": window(records, marks["idle_start"], marks["import_start"]),
        "search_during_import": window(records, marks["import_start"], marks["import_end"]),
        "search_after_import": window(records, marks["import_end"], marks["after_end"]),
        "import_seconds": round(marks["import_end"] - marks["import_start"], 1),
        "import_status": marks["import_status"],
        "import_summary": marks["import_line"],
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }
    idle, busy = report["search_idle"]["p99_ms"], report["search_during_import"]["p99_ms"]
    report["p99_ratio_import_over_idle"] = round(busy / idle, 2) if idle else None
    with open(args.out, "w") as out:
        json.dump(report, out, indent=2)
    print(json.dumps({k: v for k, v in report.items() if k != "follow_ms"}, indent=2))
    print("follow (ms): median {median}, p90 {p90}, max {max} over {changes} changes".format(**report["follow_ms"]))


if __name__ == "__main__":
    main()
