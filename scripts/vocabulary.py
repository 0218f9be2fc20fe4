#!/usr/bin/env python3
"""Builds and checks seed/vocabulary.json, radportal's radiology vocabulary.

    python3 scripts/vocabulary.py              regenerate seed/vocabulary.json (needs pydicom)
    python3 scripts/vocabulary.py --check      validate it and report how it covers seed/datasets.json
    python3 scripts/vocabulary.py --query TEXT show the concepts recognised in a search query
    python3 scripts/vocabulary.py --value FIELD TEXT
                                               show how a stored value of FIELD normalises

Options: --verbose (with --check: every distinct raw value and its concepts), --acr-index PATH
(with --check: look the RadLex ids up in the ACR Common Anatomic Location Index's
data/body_parts.json), --vocabulary / --curated / --datasets PATH (other files than seed/).

The source of truth is seed/vocabulary-curated.json. Its concepts name DICOM codes in "dicom"
("DCM:CT", "SCT:64033007"); the build looks each one up in the DICOM PS3.16 tables shipped in pydicom
(pydicom.sr._concepts_dict), fails on a code those tables lack, adds it to the concept's "codes",
takes the display name from it where the curated entry gives none, and cites the context group it
belongs to (CID 29, 33, 4031 or 4, otherwise PS3.16 at large) in the concept's "sources". Everything
else (synonyms, hierarchy, findings, tasks, phrases, RadLex ids) is copied from the curated file.

--check needs only the standard library. With pydicom installed it also rebuilds the vocabulary in
memory and fails when seed/vocabulary.json differs from the build (run the script without --check to
regenerate). It exits non-zero on a format error or when a raw `modalities` or `body_parts` value of
the catalog maps to no concept.

Matching rules (the portal implements the same ones):

* fold(text): lower case, typographic apostrophes as ', trimmed, runs of white space as one space.
* A concept's surface forms are its key, name, synonyms and value_only forms, folded. Each belongs to
  one concept only; a phrase maps one more form to several concepts. Abbreviations are compared as
  written (case-sensitive) and must not be another concept's surface form.
* Stored value of a field (modalities, body_parts, tasks_annotations, cancer_type, ...):
  1. the whole value: an abbreviation as written, else the folded value as a surface form or phrase;
  2. otherwise cut the value at its first " (" and at its first ";", split the rest on "/" and ",",
     and look each trimmed piece up the same way; a piece that is no surface form is scanned as a
     query (below) and gives the concepts found in it;
  3. when the hits include concepts of the field's own kind (modalities: modality, body_parts:
     anatomy, tasks_annotations and annotation_objects: task, cancer_type: finding), only those are
     kept.
  Keys always match here, whatever key_is_word says.
* Query text: scanned left to right; at each word start the longest surface form or phrase that ends
  at a word end wins and the scan continues after it (a word character is a letter or digit).
  value_only forms never match; a key with key_is_word false matches only when written in upper
  case ("US", "VARIOUS"), and an abbreviation only exactly as written ("TB", "MS").
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seed"

KINDS = ("modality", "anatomy", "finding", "task", "population")
CODE_SYSTEMS = ("DCM", "SCT", "RADLEX", "NCIt")
CONCEPT_FIELDS = ("id", "kind", "key", "name", "codes", "synonyms", "broader", "sources")
OPTIONAL_FIELDS = ("key_is_word", "abbreviations", "value_only")
FIELD_KIND = {
    "modalities": "modality",
    "body_parts": "anatomy",
    "tasks_annotations": "task",
    "cancer_type": "finding",
    "annotation_objects": "task",
}
# Fields whose every distinct value must map (the others are reported).
REQUIRED_FIELDS = ("modalities", "body_parts")
# Source ids cited for a DICOM code, by the context group (CID) it belongs to, in this order.
DICOM_CID_SOURCES = ((29, "dicom-cid-29"), (33, "dicom-cid-33"), (4031, "dicom-cid-4031"), (4, "dicom-cid-4"))
DICOM_OTHER_SOURCE = "dicom-ps3.16"
# Words too common to be matched as a concept in free text. A surface form may be one of them only
# as a key with key_is_word false or as a value_only form.
COMMON_WORDS = frozenset(
    """a an and any all are as at be by for from in into is it of on or other others the to us we with
    various multiple several some many mixed general series data image images imaging scan scans study
    studies dataset datasets label labels report case cases patient patients subject subjects test echo
    film plain""".split()
)
# Titles for modality names: DICOM writes some in sentence case ("Positron emission tomography").
SMALL_WORDS = frozenset({"of", "and", "for", "en", "the", "to"})


def fold(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2019", "'").replace("\u2018", "'")).strip().lower()


def is_word_char(ch: str) -> bool:
    return ch.isalnum()


# --------------------------------------------------------------------------------------------------
# Build


def load_pydicom():
    try:
        import pydicom  # noqa: F401
        from pydicom.sr._concepts_dict import concepts
    except ImportError:
        return None
    index = {}
    for scheme, by_keyword in concepts.items():
        for entries in by_keyword.values():
            for code, (meaning, cids) in entries.items():
                index.setdefault((scheme, code), []).append((meaning, set(cids)))
    # One meaning per code: the first that a context group uses (others are SNOMED's full names).
    index = {
        key: (next((m for m, cids in found if cids), found[0][0]), set().union(*(cids for _, cids in found)))
        for key, found in index.items()
    }
    return {"version": pydicom.__version__, "dicom": getattr(pydicom, "__dicom_version__", "?"), "index": index}


def title_case(meaning: str) -> str:
    words = meaning.split(" ")
    out = []
    for i, w in enumerate(words):
        if i > 0 and w in SMALL_WORDS:
            out.append(w)
        elif w[:1].islower():
            out.append(w[:1].upper() + w[1:])
        else:
            out.append(w)
    return " ".join(out)


def build(curated: dict, pd: dict) -> dict:
    concepts = []
    for entry in curated["concepts"]:
        codes, sources, meanings = [], [], []
        for ref in entry.get("dicom", []):
            scheme, _, code = ref.partition(":")
            hit = pd["index"].get((scheme, code))
            if hit is None:
                raise SystemExit(f"{entry['id']}: {ref} is not in pydicom {pd['version']}'s DICOM tables")
            meaning, cids = hit
            meanings.append(meaning)
            codes.append({"system": scheme, "code": code})
            for cid, source in DICOM_CID_SOURCES:
                if cid in cids:
                    sources.append(source)
                    break
            else:
                sources.append(DICOM_OTHER_SOURCE)
        for code in entry.get("codes", []):
            if code not in codes:
                codes.append(code)
        for source in entry.get("sources", []):
            sources.append(source)
        name = entry.get("name")
        if not name:
            if not meanings:
                raise SystemExit(f"{entry['id']}: no name and no DICOM code to take one from")
            name = title_case(meanings[0]) if entry["kind"] == "modality" else meanings[0]
        concept = {
            "id": entry["id"],
            "kind": entry["kind"],
            "key": entry["key"],
            "name": name,
            "codes": codes,
            "synonyms": list(entry.get("synonyms", [])),
            "broader": list(entry.get("broader", [])),
            "sources": list(dict.fromkeys(sources)),
        }
        if entry["kind"] == "modality" or "key_is_word" in entry:
            concept["key_is_word"] = entry.get("key_is_word", True)
        for field in ("abbreviations", "value_only"):
            if entry.get(field):
                concept[field] = list(entry[field])
        concepts.append(concept)

    sources = []
    for source in curated["sources"]:
        source = dict(source)
        if "note" in source:
            source["note"] = source["note"].replace("{pydicom}", pd["version"]).replace("{dicom}", pd["dicom"])
        sources.append(source)
    return {
        "about": curated["about"],
        "version": curated["version"],
        "sources": sources,
        "concepts": concepts,
        "phrases": [dict(p) for p in curated.get("phrases", [])],
    }


def dumps(vocab: dict) -> str:
    """JSON with one concept, source or phrase per block or line: readable diffs."""
    c = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731
    out = ["{"]
    out.append(f'  "about": {c(vocab["about"])},')
    out.append(f'  "version": {c(vocab["version"])},')
    out.append('  "sources": [')
    out.append(",\n".join(f"    {c(s)}" for s in vocab["sources"]))
    out.append("  ],")
    out.append('  "concepts": [')
    blocks = []
    for concept in vocab["concepts"]:
        fields = ",\n".join(f"      {c(k)}: {c(v)}" for k, v in concept.items())
        blocks.append("    {\n" + fields + "\n    }")
    out.append(",\n".join(blocks))
    out.append("  ],")
    out.append('  "phrases": [')
    out.append(",\n".join(f"    {c(p)}" for p in vocab["phrases"]))
    out.append("  ]")
    out.append("}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------------
# Validation


class Vocabulary:
    """Surface-form tables for matching, built from a validated vocabulary."""

    def __init__(self, vocab: dict):
        self.concepts = {c["id"]: c for c in vocab["concepts"]}
        self.value_forms: dict[str, list[str]] = {}  # folded form -> concept ids (stored values)
        self.query_forms: dict[str, list[str]] = {}  # folded form -> concept ids (free text)
        self.exact_forms: dict[str, list[str]] = {}  # as written -> concept ids (abbreviations, non-word keys)
        for c in vocab["concepts"]:
            key_word = c.get("key_is_word", True)
            forms = [(fold(c["key"]), key_word), (fold(c["name"]), True)]
            forms += [(s, True) for s in c["synonyms"]]
            forms += [(s, False) for s in c.get("value_only", [])]
            for form, in_queries in forms:
                self.value_forms.setdefault(form, [c["id"]])
                if in_queries:
                    self.query_forms.setdefault(form, [c["id"]])
            if not key_word:
                self.exact_forms.setdefault(c["key"].upper(), [c["id"]])
            for a in c.get("abbreviations", []):
                self.exact_forms.setdefault(a, [c["id"]])
        for p in vocab.get("phrases", []):
            self.value_forms.setdefault(p["text"], list(p["concepts"]))
            self.query_forms.setdefault(p["text"], list(p["concepts"]))
        self.longest = max(len(f) for f in list(self.query_forms) + list(self.exact_forms))

    def scan(self, text: str) -> list[tuple[str, list[str]]]:
        """Concepts in free text, longest match first on word boundaries: [(matched text, ids)]."""
        text = re.sub(r"\s+", " ", text.replace("\u2019", "'").replace("\u2018", "'")).strip()
        low = text.lower()
        found, i, n = [], 0, len(text)
        while i < n:
            if not is_word_char(low[i]) or (i > 0 and is_word_char(low[i - 1])):
                i += 1
                continue
            best = None
            for length in range(min(self.longest, n - i), 0, -1):
                end = i + length
                if end < n and is_word_char(low[end]) and is_word_char(low[end - 1]):
                    continue
                ids = self.exact_forms.get(text[i:end]) or self.query_forms.get(low[i:end])
                if ids:
                    best = (text[i:end], ids)
                    break
            if best:
                found.append(best)
                i += len(best[0])
            else:
                i += 1
        return found

    def lookup(self, piece: str) -> list[str]:
        return self.exact_forms.get(piece.strip()) or self.value_forms.get(fold(piece)) or []

    def normalise(self, field: str, raw: str) -> tuple[list[str], list[str]]:
        """A stored value's concept ids, and the pieces of it that matched nothing."""
        hits = self.lookup(raw)
        unmatched = []
        if not hits:
            rest = raw.split(" (", 1)[0].split(";", 1)[0]
            hits = []
            for piece in re.split(r"[/,]", rest):
                piece = piece.strip()
                if not piece:
                    continue
                ids = self.lookup(piece) or [i for _, ids in self.scan(piece) for i in ids]
                if ids:
                    hits += ids
                else:
                    unmatched.append(piece)
        hits = list(dict.fromkeys(hits))
        kind = FIELD_KIND.get(field)
        own = [i for i in hits if self.concepts[i]["kind"] == kind]
        return (own or hits), unmatched


def validate(vocab: dict) -> list[str]:
    errors = []
    err = errors.append
    for field, kind in (("about", str), ("version", str), ("sources", list), ("concepts", list), ("phrases", list)):
        if not isinstance(vocab.get(field), kind):
            err(f"top level: {field} must be a {kind.__name__}")
    if errors:
        return errors
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", vocab["version"]):
        err("version must be a date, YYYY-MM-DD")
    extra = set(vocab) - {"about", "version", "sources", "concepts", "phrases"}
    if extra:
        err(f"top level: unknown fields {sorted(extra)}")

    source_ids = set()
    for s in vocab["sources"]:
        if not isinstance(s, dict) or not s.get("id") or not s.get("title"):
            err(f"source without id or title: {s}")
            continue
        if s["id"] in source_ids:
            err(f"source {s['id']}: duplicate id")
        source_ids.add(s["id"])
        if set(s) - {"id", "title", "url", "note"}:
            err(f"source {s['id']}: unknown fields {sorted(set(s) - {'id', 'title', 'url', 'note'})}")

    ids = {}
    for c in vocab["concepts"]:
        cid = c.get("id", "?")
        missing = [f for f in CONCEPT_FIELDS if f not in c]
        if missing:
            err(f"{cid}: missing {missing}")
            continue
        unknown = set(c) - set(CONCEPT_FIELDS) - set(OPTIONAL_FIELDS)
        if unknown:
            err(f"{cid}: unknown fields {sorted(unknown)}")
        if cid in ids:
            err(f"{cid}: duplicate id")
        ids[cid] = c
        if c["kind"] not in KINDS:
            err(f"{cid}: kind {c['kind']!r} is not one of {KINDS}")
        if cid != f"{c['kind']}:{c['key']}":
            err(f"{cid}: id must be kind:key")
        key = c["key"]
        if not isinstance(key, str) or not key:
            err(f"{cid}: empty key")
        elif c["kind"] == "modality":
            if key != key.upper() or not re.fullmatch(r"[A-Z0-9]+", key):
                err(f"{cid}: a modality key is an upper-case DICOM code")
        elif key != fold(key):
            err(f"{cid}: key must be lower case and folded")
        if not isinstance(c["name"], str) or not c["name"].strip():
            err(f"{cid}: empty name")
        for code in c["codes"]:
            if not isinstance(code, dict) or set(code) != {"system", "code"}:
                err(f"{cid}: a code is {{system, code}}: {code}")
            elif code["system"] not in CODE_SYSTEMS or not str(code["code"]).strip():
                err(f"{cid}: code {code} (systems: {CODE_SYSTEMS})")
        if len({(x.get("system"), x.get("code")) for x in c["codes"] if isinstance(x, dict)}) != len(c["codes"]):
            err(f"{cid}: duplicate code")
        for field in ("synonyms", "value_only"):
            values = c.get(field, [])
            if not isinstance(values, list):
                err(f"{cid}: {field} must be a list")
                continue
            for s in values:
                if not isinstance(s, str) or s != fold(s) or not s:
                    err(f"{cid}: {field} entry {s!r} must be lower case and folded")
            if len(set(values)) != len(values):
                err(f"{cid}: duplicate {field}")
        for a in c.get("abbreviations", []):
            if not isinstance(a, str) or a != a.upper() or len(a) < 2 or a != a.strip():
                err(f"{cid}: abbreviation {a!r} must be upper case, two letters or more")
        if "key_is_word" in c and not isinstance(c["key_is_word"], bool):
            err(f"{cid}: key_is_word must be true or false")
        if c["kind"] == "modality" and "key_is_word" not in c:
            err(f"{cid}: a modality states key_is_word")
        for s in c["sources"]:
            if s not in source_ids:
                err(f"{cid}: unknown source {s}")
        if not c["sources"]:
            err(f"{cid}: no source")
    for c in ids.values():
        for b in c["broader"]:
            if b not in ids:
                err(f"{c['id']}: broader {b} does not exist")
            elif b == c["id"]:
                err(f"{c['id']}: broader than itself")
            elif ids[b]["kind"] != c["kind"]:
                err(f"{c['id']}: broader {b} is of another kind")
        if len(set(c["broader"])) != len(c["broader"]):
            err(f"{c['id']}: duplicate broader")

    # Cycles in broader.
    state = {}

    def visit(node, path):
        state[node] = 1
        for b in ids[node]["broader"]:
            if b not in ids:
                continue
            if state.get(b) == 1:
                err(f"cycle in broader: {' -> '.join(path + [b])}")
            elif b not in state:
                visit(b, path + [b])
        state[node] = 2

    for node in ids:
        if node not in state:
            visit(node, [node])

    # Surface forms: one concept each; phrases apart; hygiene.
    owner = collections.defaultdict(set)
    for c in ids.values():
        key_word = c.get("key_is_word", True)
        forms = [(fold(c["key"]), "key", key_word), (fold(c["name"]), "name", True)]
        forms += [(s, "synonym", True) for s in c["synonyms"]]
        forms += [(s, "value_only", False) for s in c.get("value_only", [])]
        local = collections.Counter(f for f, _, _ in forms)
        for form, role, in_queries in forms:
            owner[form].add(c["id"])
            if role in ("synonym", "value_only") and (local[form] > 1):
                err(f"{c['id']}: {role} {form!r} repeats the concept's key, name or another form")
            if not in_queries:
                continue
            if form in COMMON_WORDS:
                err(f"{c['id']}: {role} {form!r} is a common word (use key_is_word false or value_only)")
            if role != "key" and len(form) < 3:
                err(f"{c['id']}: {role} {form!r} is shorter than 3 characters (use abbreviations)")
            if role != "name" and (not is_word_char(form[0]) or not is_word_char(form[-1])):
                err(f"{c['id']}: {role} {form!r} must begin and end with a letter or digit")
    for form, owners in owner.items():
        if len(owners) > 1:
            err(f"surface form {form!r} belongs to {sorted(owners)} (list it as a phrase instead)")
    abbreviations = collections.defaultdict(set)
    for c in ids.values():
        for a in c.get("abbreviations", []):
            abbreviations[a].add(c["id"])
            if fold(a) in owner and owner[fold(a)] != {c["id"]}:
                err(f"{c['id']}: abbreviation {a!r} is a surface form of {sorted(owner[fold(a)])}")
    for a, owners in abbreviations.items():
        if len(owners) > 1:
            err(f"abbreviation {a!r} belongs to {sorted(owners)}")
    seen_phrases = set()
    for p in vocab["phrases"]:
        if not isinstance(p, dict) or not {"text", "concepts"} <= set(p) <= {"text", "concepts", "match"}:
            err(f"a phrase is {{text, concepts[, match]}}: {p}")
            continue
        if p.get("match", "all") not in ("all", "any"):
            err(f"phrase {p['text']!r}: match is 'all' (the concepts together) or 'any' (one of each kind)")
        text = p["text"]
        if text != fold(text) or not text:
            err(f"phrase {text!r} must be lower case and folded")
        if text in seen_phrases:
            err(f"phrase {text!r} listed twice")
        seen_phrases.add(text)
        if text in owner:
            err(f"phrase {text!r} is also a surface form of {sorted(owner[text])}")
        if len(p["concepts"]) < 2 or len(set(p["concepts"])) != len(p["concepts"]):
            err(f"phrase {text!r} must name two or more distinct concepts")
        for i in p["concepts"]:
            if i not in ids:
                err(f"phrase {text!r}: concept {i} does not exist")
        if text in COMMON_WORDS or len(text) < 3:
            err(f"phrase {text!r} is too common or too short")
        if not is_word_char(text[0]) or not is_word_char(text[-1]):
            err(f"phrase {text!r} must begin and end with a letter or digit")
    return errors


def compare_with_curated(vocab: dict, curated: dict) -> list[str]:
    """Without pydicom: the curated parts of the vocabulary must match the curated file."""
    errors = []
    by_id = {c["id"]: c for c in vocab["concepts"]}
    if [c["id"] for c in curated["concepts"]] != [c["id"] for c in vocab["concepts"]]:
        errors.append("the concepts differ from the curated file's (ids or order)")
    for entry in curated["concepts"]:
        c = by_id.get(entry["id"])
        if c is None:
            continue
        for field in ("synonyms", "broader", "abbreviations", "value_only"):
            if entry.get(field, []) != c.get(field, []):
                errors.append(f"{entry['id']}: {field} differ from the curated file's")
        if entry.get("name") and entry["name"] != c["name"]:
            errors.append(f"{entry['id']}: name differs from the curated file's")
        for code in entry.get("codes", []):
            if code not in c["codes"]:
                errors.append(f"{entry['id']}: code {code} of the curated file is missing")
    if curated.get("phrases", []) != vocab["phrases"]:
        errors.append("phrases differ from the curated file's")
    if curated["about"] != vocab["about"] or curated["version"] != vocab["version"]:
        errors.append("about or version differ from the curated file's")
    return errors


# --------------------------------------------------------------------------------------------------
# Coverage


def distinct_values(datasets: list, field: str) -> collections.Counter:
    counts = collections.Counter()
    for record in datasets:
        value = record.get(field)
        if value is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str) and v.strip():
                counts[v] += 1
    return counts


def coverage(voc: Vocabulary, datasets: list, curated: dict | None, verbose: bool) -> bool:
    reasons = {}
    for item in (curated or {}).get("known_unmapped", []):
        reasons[(item["field"], item["value"])] = item["reason"]
    ok = True
    print("coverage of seed/datasets.json:")
    summary = []
    details = []
    for field in FIELD_KIND:
        counts = distinct_values(datasets, field)
        mapped = partial = 0
        unmapped = []
        for raw in sorted(counts, key=lambda v: (v.lower(), v)):
            ids, rest = voc.normalise(field, raw)
            other = [i for i in ids if voc.concepts[i]["kind"] != FIELD_KIND[field]]
            if ids:
                mapped += 1
                if rest:
                    partial += 1
            else:
                unmapped.append(raw)
            line = f"    {counts[raw]:4d}  {raw!r} -> {', '.join(ids) if ids else 'UNMAPPED'}"
            if rest and ids:
                line += f"   (no concept for: {', '.join(repr(r) for r in rest)})"
            if other:
                line += "   (other kind)"
            if verbose or not ids or rest or other:
                details.append((field, line))
        records = sum(1 for r in datasets if r.get(field))
        summary.append(
            f"  {field:18s} {len(counts):3d} distinct values in {records:3d} records: "
            f"{mapped} mapped ({partial} with a piece left over), {len(unmapped)} unmapped"
        )
        for raw in unmapped:
            if field in REQUIRED_FIELDS:
                ok = False
                details.append((field, f"    ERROR {field} value {raw!r} maps to no concept"))
            elif (field, raw) in reasons:
                details.append((field, f"    known: {raw!r}: {reasons[(field, raw)]}"))
            else:
                details.append((field, f"    WARNING: {raw!r} maps to no concept and has no recorded reason"))
    print("\n".join(summary))
    current = None
    for field, line in details:
        if field != current:
            print(f"  {field}:" + ("" if verbose else " (values needing a look)"))
            current = field
        print(line)
    return ok


# --------------------------------------------------------------------------------------------------


def check_acr(vocab: dict, path: Path) -> list[str]:
    data = json.loads(path.read_text())
    by_rid = {b["radlexId"]: b for b in data.get("bodyParts", [])}
    problems = []
    for c in vocab["concepts"]:
        for code in c["codes"]:
            if code["system"] == "RADLEX":
                b = by_rid.get(code["code"])
                if b is None:
                    problems.append(f"{c['id']}: {code['code']} is not in the ACR index")
                else:
                    print(f"  {c['id']:40s} {code['code']:10s} ACR: {b['description']}")
    return problems


def summary_counts(vocab: dict) -> str:
    kinds = collections.Counter(c["kind"] for c in vocab["concepts"])
    coded = collections.Counter(c["kind"] for c in vocab["concepts"] if c["codes"])
    forms = sum(1 + len(c["synonyms"]) for c in vocab["concepts"])
    parts = [f"{kinds[k]} {k} ({coded[k]} with codes)" for k in KINDS]
    return (
        f"{len(vocab['concepts'])} concepts: {', '.join(parts)}; "
        f"{forms} keys and synonyms; {len(vocab['phrases'])} phrases"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--query")
    ap.add_argument("--value", nargs=2, metavar=("FIELD", "TEXT"))
    ap.add_argument("--acr-index", type=Path)
    ap.add_argument("--vocabulary", type=Path, default=SEED / "vocabulary.json")
    ap.add_argument("--curated", type=Path, default=SEED / "vocabulary-curated.json")
    ap.add_argument("--datasets", type=Path, default=SEED / "datasets.json")
    args = ap.parse_args()

    if not (args.check or args.query or args.value):
        pd = load_pydicom()
        if pd is None:
            print("building needs pydicom (pip install pydicom==3.0.2); --check works without it", file=sys.stderr)
            return 2
        curated = json.loads(args.curated.read_text())
        vocab = build(curated, pd)
        errors = validate(vocab)
        for e in errors:
            print("ERROR", e, file=sys.stderr)
        if errors:
            return 1
        args.vocabulary.write_text(dumps(vocab))
        print(f"wrote {args.vocabulary.relative_to(ROOT) if args.vocabulary.is_relative_to(ROOT) else args.vocabulary}")
        print(f"built with pydicom {pd['version']} (DICOM {pd['dicom']}): {summary_counts(vocab)}")
        return 0

    vocab = json.loads(args.vocabulary.read_text())
    errors = validate(vocab)
    if errors:
        for e in errors:
            print("ERROR", e)
        return 1
    voc = Vocabulary(vocab)

    if args.query:
        for text, ids in voc.scan(args.query):
            print(f"{text!r} -> {', '.join(ids)}")
        return 0
    if args.value:
        ids, rest = voc.normalise(args.value[0], args.value[1])
        print(f"{', '.join(ids) or 'UNMAPPED'}" + (f"   (no concept for: {rest})" if rest else ""))
        return 0

    ok = True
    print(f"{args.vocabulary.name}: format valid; {summary_counts(vocab)}")
    curated = json.loads(args.curated.read_text()) if args.curated.exists() else None
    if curated is not None:
        pd = load_pydicom()
        if pd is not None:
            expected = dumps(build(curated, pd))
            recorded = re.search(r"pydicom (\d[\w.]*)", json.dumps(vocab["sources"]))
            if expected != dumps(vocab):
                if recorded and recorded.group(1) != pd["version"]:
                    print(f"WARNING: built with pydicom {recorded.group(1)}, and a build with {pd['version']} differs")
                else:
                    print(f"ERROR: {args.vocabulary.name} is not the build of {args.curated.name}; run scripts/vocabulary.py")
                    ok = False
            else:
                print(f"up to date with {args.curated.name} (rebuilt with pydicom {pd['version']})")
        else:
            problems = compare_with_curated(vocab, curated)
            for p in problems:
                print("ERROR", p)
            ok = ok and not problems
            print(f"pydicom not installed: compared the curated parts only ({'match' if not problems else 'differ'})")
    if args.acr_index:
        problems = check_acr(vocab, args.acr_index)
        for p in problems:
            print("ERROR", p)
        ok = ok and not problems
    datasets = json.loads(args.datasets.read_text())
    ok = coverage(voc, datasets, curated, args.verbose) and ok
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
