#!/usr/bin/env python3
"""Turns the raw output of bench/run.sh (wrk, pgbench, /proc, plans) into bench/results/latest.json and a
human-readable summary on stdout, checking the figures against the targets of bench/README.md."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

# The targets (bench/README.md).
SEARCH_P99_MS = 50.0
DATASET_VS_PGBENCH = 0.5
RSS_MB = 100.0

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", value).groups()
    return round(float(number) * UNITS_MS[unit], 3)


def parse_wrk(path: Path) -> dict | None:
    if not path.exists():
        return None
    text = path.read_text()
    out = {}
    for pct in ("50", "75", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+([0-9.]+(?:us|ms|s|m))\s*$", text, re.M)
        out[f"p{pct}_ms"] = to_ms(match.group(1)) if match else None
    match = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    out["requests_per_second"] = float(match.group(1)) if match else None
    match = re.search(r"(\d+) requests in", text)
    out["requests"] = int(match.group(1)) if match else None
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(match.group(1)) if match else 0
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                    map(int, match.groups()))) if match else None
    return out


def parse_pgbench(path: Path) -> dict | None:
    if not path.exists():
        return None
    text = path.read_text()
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", text)
    latency = re.search(r"latency average = ([0-9.]+) ms", text)
    return {"tps": float(match.group(1)) if match else None,
            "latency_average_ms": float(latency.group(1)) if latency else None}


def parse_rss(path: Path) -> dict:
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, value = line.split(":", 1)
            out[key.strip()] = round(int(value.split()[0]) / 1024, 1)  # kB -> MB
    return {"peak_rss_mb": out.get("VmHWM"), "rss_after_load_mb": out.get("VmRSS"),
            "rss_idle_mb": out.get("VmRSS_idle"), "rss_after_first_search_mb": out.get("VmRSS_first_search")}


def command(*args: str) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def code_info(root: Path, binary: Path) -> dict:
    """Which code is measured: the commit, whether the tree has uncommitted changes, and whether the
    binary is older than the sources (then it holds older code than the tree)."""
    return {
        "source_tree": str(root),
        "binary": str(binary),
        "commit": command("git", "-C", str(root), "rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(command("git", "-C", str(root), "status", "--porcelain", "--", ".",
                                            ":(exclude)bench")),
        "binary_built": dt.datetime.fromtimestamp(binary.stat().st_mtime, dt.timezone.utc)
        .isoformat(timespec="seconds") if binary.exists() else None,
        "binary_older_than_sources": binary_is_stale(root, binary),
    }


def binary_is_stale(root: Path, binary: Path) -> bool:
    """Whether a source file changed after the binary was built (the run then measured older code than
    the tree holds)."""
    if not binary.exists():
        return True
    built = binary.stat().st_mtime
    sources = [root / "Cargo.toml", root / "Cargo.lock"]
    for folder in ("src", "migrations", "templates", "static", "seed"):
        sources += [p for p in (root / folder).rglob("*") if p.is_file()]
    return any(p.stat().st_mtime > built for p in sources if p.exists())


def machine(db: str) -> dict:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    settings = {}
    for name in ("shared_buffers", "work_mem", "effective_cache_size", "max_connections",
                 "random_page_cost", "jit"):
        settings[name] = command("psql", "-X", "-At", "-d", db, "-c", f"show {name}")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": command("sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"),
        "postgresql": command("psql", "-X", "-At", "-d", db, "-c", "show server_version"),
        "postgresql_settings": settings,
        "wrk": command("sh", "-c", "wrk --version 2>&1 | head -n 1"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--code-info", action="store_true",
                        help="only print the code state as JSON (run.sh records it before the run)")
    parser.add_argument("--raw")
    parser.add_argument("--load")
    parser.add_argument("--out")
    parser.add_argument("--db")
    parser.add_argument("--duration", type=int)
    parser.add_argument("--connections", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--pgbench-db")
    parser.add_argument("--pgbench-scale", type=int)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent),
                        help="the source tree measured")
    parser.add_argument("--bin", help="the binary measured (default ROOT/target/release/radportal)")
    args = parser.parse_args()
    binary = Path(args.bin) if args.bin else Path(args.root) / "target" / "release" / "radportal"
    if args.code_info:
        print(json.dumps(code_info(Path(args.root), binary), indent=2))
        return 0
    raw = Path(args.raw)
    code = (json.loads((raw / "code.json").read_text()) if (raw / "code.json").exists()
            else code_info(Path(args.root), binary))

    load = json.loads(Path(args.load).read_text()) if Path(args.load).exists() else None
    search = parse_wrk(raw / "search.txt")
    dataset = parse_wrk(raw / "dataset.txt")
    api = parse_wrk(raw / "api.txt")
    api_skipped = (raw / "api-skipped.txt").read_text().strip() if (raw / "api-skipped.txt").exists() else None
    pgbench = parse_pgbench(raw / "pgbench.txt")
    memory = parse_rss(raw / "rss.txt")
    plans = json.loads((raw / "plans.json").read_text()) if (raw / "plans.json").exists() else []
    # /proc/loadavg at points of the run: the 1-minute load above the number of CPUs means other work
    # competed with the benchmark for the CPUs.
    loadavg = {}
    if (raw / "loadavg.txt").exists():
        for line in (raw / "loadavg.txt").read_text().splitlines():
            point, one, five, fifteen = line.split()[:4]
            loadavg[point] = {"1min": float(one), "5min": float(five), "15min": float(fifteen)}
    per_query = []
    if (raw / "per-query.tsv").exists():
        for line in (raw / "per-query.tsv").read_text().splitlines():
            path, status, seconds = line.split("\t")
            per_query.append({"path": path, "status": int(status), "median_ms": round(float(seconds) * 1000, 1)})

    # "request :: statement (custom, generic plan)": statements with a Seq Scan on datasets.
    flagged: dict[str, list[str]] = {}
    for p in plans:
        if p["seq_scan_on_datasets"]:
            flagged.setdefault(f"{p['request']} :: {p['statement'][:120]}", []).append(p["plan_mode"])
    seq_scan_queries = [f"{name} ({', '.join(modes)} plan)" for name, modes in flagged.items()]
    slowest_statements = sorted((p for p in plans if p["duration_ms"] is not None),
                                key=lambda p: -p["duration_ms"])[:8]

    ratio = None
    if dataset and pgbench and dataset["requests_per_second"] and pgbench["tps"]:
        ratio = round(dataset["requests_per_second"] / pgbench["tps"], 3)

    def verdict(ok: bool | None) -> str:
        return "unknown" if ok is None else ("met" if ok else "MISSED")

    search_p99 = search["p99_ms"] if search else None
    peak = memory["peak_rss_mb"]
    targets = {
        "search_p99_ms": {"target": f"<= {SEARCH_P99_MS}", "measured": search_p99,
                          "verdict": verdict(None if search_p99 is None else search_p99 <= SEARCH_P99_MS)},
        "dataset_rps_vs_pgbench_tps": {"target": f">= {DATASET_VS_PGBENCH}", "measured": ratio,
                                       "verdict": verdict(None if ratio is None else ratio >= DATASET_VS_PGBENCH)},
        "server_peak_rss_mb": {"target": f"<= {RSS_MB}", "measured": peak,
                               "verdict": verdict(None if peak is None else peak <= RSS_MB)},
        "seq_scans_on_datasets_in_hot_queries": {"target": "0", "measured": len(seq_scan_queries),
                                                 "verdict": verdict(None if not plans else not seq_scan_queries)},
    }

    summary = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "code": code,
        "machine": machine(args.db),
        "load": load,
        "settings": {"duration_s": args.duration, "connections": args.connections, "threads": args.threads,
                     "pgbench_db": args.pgbench_db, "pgbench_scale": args.pgbench_scale,
                     "server_db_pool": int(os.environ.get("RADPORTAL_DB_MAX_CONNECTIONS", "10"))},
        "search_page": search,
        "dataset_page": dataset,
        "api": api if api else {"measured": False, "reason": f"/api/v1/datasets answered {api_skipped}"},
        "pgbench_select_only": pgbench,
        "memory": memory,
        "loadavg": loadavg,
        "targets": targets,
        "seq_scans_on_datasets": seq_scan_queries,
        "slowest_statements": [{k: p[k] for k in ("request", "plan_mode", "duration_ms", "statement")}
                               for p in slowest_statements],
        "per_query_unloaded": per_query,
        "plans": plans,
    }
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")

    # The human-readable summary.
    def line(name: str, result: dict | None) -> str:
        if not result:
            return f"  {name:<28} not measured"
        timeouts = (result["socket_errors"] or {}).get("timeout", 0)
        return (f"  {name:<28} {result['requests_per_second']:>9.1f} req/s   p50 {result['p50_ms']:>8.2f} ms"
                f"   p99 {result['p99_ms']:>8.2f} ms   non-2xx {result['non_2xx']}   timeouts {timeouts}")

    m = summary["machine"]
    code = summary["code"]
    print(f"radportal bench, {summary['date']}, commit {code['commit']}"
          + (" with uncommitted changes" if code["uncommitted_changes"] else "")
          + f", binary built {code['binary_built']}")
    if code["binary_older_than_sources"]:
        print("  WARNING: the binary is older than the sources in the tree; it measured older code")
    print(f"  machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gb']} GB RAM, PostgreSQL {m['postgresql']}")
    if load:
        print(f"  catalog: {load['published_datasets']} datasets, {load['organizations']} organizations, "
              f"{load['database_size']}; import {load['records_per_second']} records/s "
              f"({load['import_seconds']} s)")
    print(f"  load: {args.connections} connections, {args.threads} threads, {args.duration} s each")
    if loadavg:
        print("  machine load (1-min average): " + ", ".join(f"{k} {v['1min']}" for k, v in loadavg.items()))
        start = loadavg.get("start", {}).get("1min", 0.0)
        if start > (os.cpu_count() or 1) * 0.5:
            print(f"  WARNING: the machine was busy before the run (load {start}); figures are pessimistic")
    print(line("search page (/datasets?…)", search))
    print(line("dataset page", dataset))
    if api:
        print(line("JSON API (/api/v1/datasets?…)", api))
    else:
        print(f"  {'JSON API (/api/v1/datasets?…)':<28} not measured (answered {api_skipped})")
    if pgbench:
        print(f"  {'pgbench -S (reference)':<28} {pgbench['tps']:>9.1f} tps")
    print(f"  server peak RSS {peak} MB (RSS idle {memory['rss_idle_mb']} MB, after the first search "
          f"{memory['rss_after_first_search_mb']} MB, after the load {memory['rss_after_load_mb']} MB)")
    print("targets:")
    for name, t in targets.items():
        print(f"  {name:<40} target {t['target']:<8} measured {t['measured']!s:<10} {t['verdict']}")
    if seq_scan_queries:
        print("Seq Scan on datasets in:")
        for q in seq_scan_queries:
            print(f"  - {q}")
    if slowest_statements:
        print("slowest SQL statements in the captured plans:")
        for p in slowest_statements[:5]:
            print(f"  {p['duration_ms']:>8.1f} ms  {p['plan_mode']:<7} {p['request']}  {p['statement'][:70]}")
    slow = sorted(per_query, key=lambda q: -q["median_ms"])[:5]
    if slow:
        print("slowest searches, one request at a time (median of 3):")
        for q in slow:
            print(f"  {q['median_ms']:>8.1f} ms  {q['status']}  {q['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
