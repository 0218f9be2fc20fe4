"""Parses Prometheus text exposition with the Prometheus project's own Python parser.

Usage: parse.py < metrics.txt
Prints one JSON object: each metric family's name, with its type, help and samples
([sample name, labels, value]). A text the parser refuses ends the script with an error.
"""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def value(number):
    # JSON has no infinities or NaN; the tests only compare finite values.
    return number if math.isfinite(number) else str(number)


families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    if family.name in families:
        raise SystemExit(f"metric family {family.name} appears twice")
    families[family.name] = {
        "type": family.type,
        "help": family.documentation,
        "samples": [[s.name, s.labels, value(s.value)] for s in family.samples],
    }
json.dump(families, sys.stdout)
