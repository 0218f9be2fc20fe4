#!/usr/bin/env python3
"""Validate tests/relevance/fresh.json, the second held-out relevance set.

Checks: structure; every judged slug exists in seed/datasets.json; grades are
1, 2 or 3 (0 is omitted); every query has at least one grade of 2 or more; no
slug is judged twice in one query; no query appears twice (ignoring case and
spacing); class names and per-class counts match the plan.

Usage: python3 tests/relevance/check_fresh.py [path/to/fresh.json]
Exit status 0 when valid, 1 otherwise.
"""
import json
import pathlib
import sys
from collections import Counter

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "tests" / "relevance" / "fresh.json"
CATALOG = ROOT / "seed" / "datasets.json"

EXPECTED_CLASSES = {
    "colloquial": 12,
    "synonym": 12,
    "abbreviation": 8,
    "british": 6,
    "anatomy": 10,
    "condition": 12,
    "task": 8,
    "name": 6,
    "multi": 6,
}
EXPECTED_TOTAL = sum(EXPECTED_CLASSES.values())
GRADES = {1, 2, 3}


def no_duplicate_keys(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def main(argv):
    path = pathlib.Path(argv[1]) if len(argv) > 1 else DEFAULT
    errors = []
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=no_duplicate_keys)
    except ValueError as exc:
        print(f"{path}: {exc}")
        return 1
    slugs = {record["id"] for record in json.loads(CATALOG.read_text(encoding="utf-8"))}

    for key in ("description", "grades", "queries"):
        if key not in data:
            errors.append(f"missing top-level key {key!r}")
    if not isinstance(data.get("description"), str) or not data.get("description", "").strip():
        errors.append("description must be a non-empty string")
    grades = data.get("grades", {})
    if set(grades) != {"1", "2", "3"} or not all(isinstance(v, str) and v.strip() for v in grades.values()):
        errors.append("grades must describe exactly 3, 2 and 1")

    queries = data.get("queries", [])
    if not isinstance(queries, list):
        errors.append("queries must be a list")
        queries = []
    classes = Counter()
    seen_queries = {}
    grade_counts = Counter()
    for n, entry in enumerate(queries, 1):
        where = f"query {n}"
        if not isinstance(entry, dict):
            errors.append(f"{where}: not an object")
            continue
        extra = set(entry) - {"query", "class", "intent", "judgments"}
        if extra:
            errors.append(f"{where}: unexpected keys {sorted(extra)}")
        text = entry.get("query")
        if not isinstance(text, str) or not text.strip():
            errors.append(f"{where}: empty query")
            continue
        where = f"query {n} ({text!r})"
        norm = " ".join(text.lower().split())
        if norm in seen_queries:
            errors.append(f"{where}: duplicate of query {seen_queries[norm]}")
        seen_queries[norm] = n
        cls = entry.get("class")
        if cls not in EXPECTED_CLASSES:
            errors.append(f"{where}: unknown class {cls!r}")
        classes[cls] += 1
        if not isinstance(entry.get("intent"), str) or not entry["intent"].strip():
            errors.append(f"{where}: empty intent")
        judgments = entry.get("judgments")
        if not isinstance(judgments, dict) or not judgments:
            errors.append(f"{where}: no judgments")
            continue
        for slug, grade in judgments.items():
            if slug not in slugs:
                errors.append(f"{where}: unknown slug {slug!r}")
            if isinstance(grade, bool) or grade not in GRADES:
                errors.append(f"{where}: {slug!r} has grade {grade!r} (use 1, 2 or 3; omit 0)")
            else:
                grade_counts[grade] += 1
        if not any(g in (2, 3) for g in judgments.values() if not isinstance(g, bool)):
            errors.append(f"{where}: needs at least one grade of 2 or more")

    if len(queries) != EXPECTED_TOTAL:
        errors.append(f"{len(queries)} queries, expected {EXPECTED_TOTAL}")
    for cls, want in EXPECTED_CLASSES.items():
        if classes[cls] != want:
            errors.append(f"class {cls!r}: {classes[cls]} queries, expected {want}")

    if errors:
        for error in errors:
            print(error)
        print(f"{len(errors)} problem(s) in {path}")
        return 1
    total = sum(grade_counts.values())
    print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {len(queries)} queries, {total} judgments "
          f"(grade 3: {grade_counts[3]}, grade 2: {grade_counts[2]}, grade 1: {grade_counts[1]})")
    print("classes: " + ", ".join(f"{cls} {classes[cls]}" for cls in EXPECTED_CLASSES))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
