#!/usr/bin/env python3
"""Captures EXPLAIN (ANALYZE, BUFFERS) of every SQL statement the portal runs for its hot requests.

The plans are taken from the server's point of view: PostgreSQL's auto_explain module explains each
statement as the server sends it (its own SQL, its bind parameters, sqlx's prepared statements), so the
capture follows the code as it changes and nothing here has to mirror src/catalog/search.rs or db.rs.

How: a login role used only for this (radportal_bench_explain, created for the capture and dropped
after it) carries, in the bench database only, `session_preload_libraries = auto_explain` with analyze, buffers and timing on and
`auto_explain.log_level = notice`, so every plan is sent back to the client as a NOTICE. A second server
instance is started over the bench database as that role, with sqlx's notice log turned on
(`RADPORTAL_LOG=warn,sqlx::postgres::notice=info`, JSON lines). Requests are sent one at a time, each
twice; the plans logged while the second (warm) one was answered are kept.

sqlx runs every query as a prepared statement, and PostgreSQL may switch a prepared statement from
per-value (custom) plans to one generic plan after five executions on a connection, so the capture runs
twice: with plan_cache_mode = force_custom_plan and with force_generic_plan (a setting of the role).

Writes the plans as text (--out) and a JSON list (--json) of {request, plan_mode, statement,
duration_ms, seq_scan_on_datasets, seq_scans}. A "Seq Scan on datasets" node in a plan is flagged.

    python3 bench/plans.py --db radportal_bench --out bench/results/plans.txt --json bench/results/raw/plans.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROLE = "radportal_bench_explain"

# The requests whose statements are explained (dataset pages and the API are added at run time).
SEARCHES = [
    "/datasets",
    "/datasets?q=lung+cancer",
    "/datasets?q=segmentation&modality=CT&access=open",
    "/datasets?modality=MR&body_part=brain&sort=newest",
    "/datasets?org=tcia&kind=imaging_archive&page=2",
]

ROLE_SETTINGS = {
    "session_preload_libraries": "auto_explain",
    "auto_explain.log_min_duration": "0",
    "auto_explain.log_analyze": "on",
    "auto_explain.log_buffers": "on",
    "auto_explain.log_timing": "on",
    "auto_explain.log_nested_statements": "on",
    "auto_explain.log_level": "notice",
    "auto_explain.log_format": "text",
}


def psql(db: str, sql: str) -> str:
    result = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"psql failed: {result.stderr.strip()}\n{sql}")
    return result.stdout.strip()


def configure_role(db: str, plan_mode: str | None) -> None:
    """Sets (or with plan_mode None, removes) the role's settings in the bench database."""
    if plan_mode is None:
        psql(db, f"alter role {ROLE} in database {db} reset all")
        # The role is only needed while capturing; it owns nothing unless a migration ran under it.
        subprocess.run(["psql", "-X", "-q", "-d", db, "-c", f"drop role if exists {ROLE}"],
                       capture_output=True, text=True)
        return
    psql(db, f"do $$ begin if not exists (select from pg_roles where rolname = '{ROLE}') then "
             f"create role {ROLE} login superuser; end if; end $$")
    for name, value in {**ROLE_SETTINGS, "plan_cache_mode": plan_mode}.items():
        psql(db, f"alter role {ROLE} in database {db} set {name} = '{value}'")


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError):
        return 0


class Server:
    """A radportal instance over the bench database as the explaining role, logging plans as JSON."""

    def __init__(self, binary: str, db: str, port: int, log: Path):
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        pg = {k: os.environ.get(k, d) for k, d in (("PGHOST", "127.0.0.1"), ("PGPORT", "5432"))}
        env = dict(os.environ,
                   DATABASE_URL=f"postgres://{ROLE}@{pg['PGHOST']}:{pg['PGPORT']}/{db}",
                   RADPORTAL_LISTEN=f"127.0.0.1:{port}", RADPORTAL_BASE_URL=self.base,
                   RADPORTAL_SEED_CATALOG="false", RADPORTAL_LOG="warn,sqlx::postgres::notice=info",
                   RADPORTAL_LOG_FORMAT="json", RADPORTAL_DB_MAX_CONNECTIONS="2")
        self.handle = open(log, "w")
        self.process = subprocess.Popen([binary, "serve"], env=env, stdout=self.handle, stderr=self.handle)
        for _ in range(240):
            if get(self.base + "/readyz") == 200:
                return
            if self.process.poll() is not None:
                raise SystemExit(f"the explaining server exited; see {log}")
            time.sleep(0.5)
        raise SystemExit("the explaining server never became ready")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.handle.close()


def plans_since(log: Path, offset: int) -> list[str]:
    """The auto_explain messages logged after byte `offset` of the log (requests are sent one at a time,
    so these are the statements of the request just answered)."""
    out = []
    with open(log, "rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode("utf-8", errors="replace").splitlines()
    for line in lines:
        try:
            message = (json.loads(line).get("fields") or {}).get("message", "")
        except (json.JSONDecodeError, AttributeError):
            continue
        if "plan:" in message:
            out.append(message)
    return out


def describe(message: str) -> dict:
    """Duration, statement text and scans of one auto_explain message."""
    duration = re.search(r"duration: ([0-9.]+) ms", message)
    text = re.search(r"Query Text: (.*)", message)
    seq_scans = sorted(set(re.findall(r"Seq Scan on (\w+)", message)))
    return {"duration_ms": float(duration.group(1)) if duration else None,
            "statement": (text.group(1).strip() if text else "")[:300],
            "seq_scan_on_datasets": "datasets" in seq_scans, "seq_scans": seq_scans}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="radportal_bench")
    parser.add_argument("--bin", default=str(ROOT / "target" / "release" / "radportal"))
    parser.add_argument("--port", type=int, default=8182)
    parser.add_argument("--out", required=True, help="plans as text")
    parser.add_argument("--json", required=True, help="per-statement summary as JSON")
    args = parser.parse_args()

    # Dataset pages: a record of the most common anatomy (chest), one of a rare anatomy (thyroid), and a
    # chest record without a modality (few records share its anatomy and modality, so the page looks
    # further for related datasets).
    requests = list(SEARCHES)
    for condition in ("body_parts[1] = 'chest'", "body_parts[1] = 'thyroid'",
                      "body_parts[1] = 'chest' and cardinality(modalities) = 0"):
        slug = psql(args.db, f"select slug from datasets where status = 'published' and {condition} "
                             "order by id limit 1")
        if slug:
            requests.append(f"/datasets/{slug}")
    requests.append("/api/v1/datasets?q=lung+cancer")

    log = Path(args.out).with_suffix(".server.log")
    summary = []
    text = ["EXPLAIN (ANALYZE, BUFFERS) of every statement the server ran for each request, captured with",
            "auto_explain (see bench/plans.py). Each request was sent twice; the plans of the second are shown.",
            ""]
    server = None

    def stop(*_):
        raise SystemExit(130)

    signal.signal(signal.SIGTERM, stop)
    try:
        for mode, label in (("force_custom_plan", "custom"), ("force_generic_plan", "generic")):
            configure_role(args.db, mode)
            server = Server(args.bin, args.db, args.port, log)
            for path in requests:
                get(server.base + path)  # warm-up: caches, statement cache, in-process state
                time.sleep(0.3)
                offset = log.stat().st_size
                status = get(server.base + path)
                time.sleep(0.3)
                messages = plans_since(log, offset)
                text += ["=" * 100, f"== {path}  ({label} plans, HTTP {status}, {len(messages)} statements)", ""]
                if status == 404 and path.startswith("/api/"):
                    text += ["(route not present: not captured)", ""]
                for message in messages:
                    info = describe(message)
                    summary.append({"request": path, "plan_mode": label, "http_status": status, **info})
                    flag = "  ** FLAG: Seq Scan on datasets **" if info["seq_scan_on_datasets"] else ""
                    text += [f"-- statement ({info['duration_ms']} ms){flag}", message.rstrip(), ""]
            server.stop()
            server = None
    finally:
        if server is not None:
            server.stop()
        configure_role(args.db, None)

    Path(args.out).write_text("\n".join(text) + "\n")
    Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    flagged = [s for s in summary if s["seq_scan_on_datasets"]]
    print(f"{len(summary)} statement plans captured over {len(requests)} requests; "
          f"{len(flagged)} with a Seq Scan on datasets", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
