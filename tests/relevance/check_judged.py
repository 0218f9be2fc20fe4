#!/usr/bin/env python3
"""Checks tests/relevance/judged.json, the held-out judged query set.

* every judged slug is the `id` of a record in seed/datasets.json;
* every grade is an integer from 1 to 3 (grade 0 is never written: unlisted slugs are 0);
* every query has at least one dataset graded 2 or 3;
* every query has a non-empty text, intent and a known class, and no query text occurs twice
  (compared case-insensitively, with runs of spaces collapsed);
* each class has at least its minimum number of queries.

Prints the number of queries and judgments per class; exits with status 1 on any problem.

    python3 tests/relevance/check_judged.py [path/to/judged.json]
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILE = ROOT / "tests" / "relevance" / "judged.json"
SEED = ROOT / "seed" / "datasets.json"

MINIMUMS = {
    "colloquial": 15,
    "synonym": 20,
    "abbreviation": 10,
    "british": 10,
    "anatomy": 15,
    "condition": 15,
    "task": 10,
    "name": 15,
    "doi": 5,
    "multi": 10,
}
MIN_QUERIES = 130


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    slugs = {record["id"] for record in json.loads(SEED.read_text(encoding="utf-8"))}
    problems: list[str] = []

    for key in ("description", "grades", "queries"):
        if key not in data:
            problems.append(f"missing top-level key {key!r}")
    grades_doc = data.get("grades", {})
    for grade in ("0", "1", "2", "3"):
        if not str(grades_doc.get(grade, "")).strip():
            problems.append(f"grades: no meaning given for grade {grade}")

    queries = data.get("queries", [])
    per_class = collections.Counter()
    judgments_per_class = collections.Counter()
    grade_counts = collections.Counter()
    seen: dict[str, int] = {}

    for n, query in enumerate(queries, 1):
        text = query.get("query")
        where = f"query {n} ({text!r})"
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where}: empty query text")
            continue
        key = " ".join(text.lower().split())
        if key in seen:
            problems.append(f"{where}: duplicate of query {seen[key]}")
        seen.setdefault(key, n)

        cls = query.get("class")
        if cls not in MINIMUMS:
            problems.append(f"{where}: unknown class {cls!r}")
        if not str(query.get("intent", "")).strip():
            problems.append(f"{where}: no intent")

        judgments = query.get("judgments")
        if not isinstance(judgments, dict) or not judgments:
            problems.append(f"{where}: no judgments")
            continue
        for slug, grade in judgments.items():
            if slug not in slugs:
                problems.append(f"{where}: unknown slug {slug!r}")
            if not isinstance(grade, int) or isinstance(grade, bool) or not 1 <= grade <= 3:
                problems.append(f"{where}: grade {grade!r} for {slug!r} is not 1, 2 or 3")
            else:
                grade_counts[grade] += 1
        if not any(isinstance(g, int) and g >= 2 for g in judgments.values()):
            problems.append(f"{where}: no dataset graded 2 or 3")

        per_class[cls] += 1
        judgments_per_class[cls] += len(judgments)

    if len(queries) < MIN_QUERIES:
        problems.append(f"{len(queries)} queries, fewer than {MIN_QUERIES}")
    for cls, minimum in MINIMUMS.items():
        if per_class[cls] < minimum:
            problems.append(f"class {cls!r}: {per_class[cls]} queries, fewer than {minimum}")

    print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
          f"{len(queries)} queries, {sum(judgments_per_class.values())} judgments "
          f"(grade 3: {grade_counts[3]}, 2: {grade_counts[2]}, 1: {grade_counts[1]})")
    print(f"{'class':<14}{'queries':>8}{'minimum':>9}{'judgments':>11}")
    for cls in MINIMUMS:
        print(f"{cls:<14}{per_class[cls]:>8}{MINIMUMS[cls]:>9}{judgments_per_class[cls]:>11}")
    for cls in sorted(set(per_class) - set(MINIMUMS), key=str):
        print(f"{str(cls):<14}{per_class[cls]:>8}{'-':>9}{judgments_per_class[cls]:>11}")

    if problems:
        print(f"\n{len(problems)} problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
