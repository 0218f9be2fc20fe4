#!/usr/bin/env python3
"""Writes a synthetic catalog of N datasets in the exchange format of seed/datasets.json.

Every distribution is derived at run time from the real catalog (seed/datasets.json by default):

* each synthetic record starts from a *template*: a real record drawn at random, which fixes the facts
  that go together (record type, publisher, access, licence, TCIA status, species, whether there is a DOI,
  an IDC view, a year, a challenge, which counts are known ...), so record types, publishers, access
  values and null rates follow the real catalog;
* modalities, anatomy (with the condition that goes with it) and tasks are taken from other real records
  or re-drawn from the real per-value frequencies, so the facets keep their real shape but combine in
  new ways;
* counts are drawn from the real non-null values of the same field and jittered (log-normal);
* summaries are real summaries and descriptions two to five real description sentences, drawn at
  random, so that the prose has the real catalog's words, lengths and frequencies;
* titles combine words of real titles, conditions, body parts, modality names, record-type nouns and a
  running number, so that full-text search has realistic selectivity; ids are `syn-<words>-<n>`.

The output is deterministic for a given --seed, N and input file.

    python3 bench/generate.py --count 100000 --seed 42 bench/data/datasets-100000.json
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import math
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEED_FILE = ROOT / "seed" / "datasets.json"

# Words a person uses for a DICOM modality code (for titles only; search maps codes itself).
MODALITY_WORDS = {
    "CT": ["CT", "Computed Tomography", "Low-Dose CT", "CECT"],
    "MR": ["MRI", "MR", "Multiparametric MRI", "DCE-MRI", "DWI", "T2-weighted MRI"],
    "PT": ["PET", "PET-CT", "FDG-PET"],
    "DX": ["X-ray", "Radiograph", "Chest X-ray", "CXR"],
    "CR": ["X-ray", "Radiography", "CR"],
    "MG": ["Mammography", "Mammogram", "DBT"],
    "US": ["Ultrasound", "Sonography", "US"],
    "NM": ["SPECT", "Scintigraphy", "Nuclear Medicine"],
    "SM": ["Histopathology", "Whole-Slide", "Pathology"],
    "XA": ["Angiography", "XA"],
    "RF": ["Fluoroscopy"],
    "OT": ["Imaging"],
    "SC": ["Imaging"],
}

# Nouns that name what a record is, by record type.
NOUNS = {
    "TCIA collection": ["Collection", "Cohort", "Archive", "Trial", "Radiomics", "Study"],
    "IDC collection": ["Collection", "Cohort", "Archive", "Study"],
    "dataset / challenge": ["Dataset", "Challenge", "Benchmark", "Database", "Atlas", "Segmentation",
                            "Detection Challenge", "Data"],
}
DEFAULT_NOUNS = ["Dataset", "Database", "Corpus"]

# Words of real titles that carry no meaning for search or are too generic to build titles from.
STOP = {"the", "and", "for", "with", "from", "data", "dataset", "datasets", "set", "all", "tasks", "task",
        "of", "on", "in", "a", "an", "by", "to", "or", "vs"}


def slugify(text: str) -> str:
    """The portal's slug rule: lower-case ASCII letters and digits joined by single hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class Weighted:
    """Draws values with the frequencies they had in the real catalog."""

    def __init__(self, values):
        counts = collections.Counter(values)
        self.values = list(counts.keys())
        self.cumulative = []
        total = 0
        for value in self.values:
            total += counts[value]
            self.cumulative.append(total)
        self.total = total

    def draw(self, rng: random.Random):
        return self.values[self._index(rng.random() * self.total)]

    def draw_distinct(self, rng: random.Random, n: int):
        out = []
        for _ in range(n * 10):
            if len(out) >= min(n, len(self.values)):
                break
            value = self.draw(rng)
            if value not in out:
                out.append(value)
        return out

    def _index(self, x: float) -> int:
        lo, hi = 0, len(self.cumulative) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.cumulative[mid] > x:
                hi = mid
            else:
                lo = mid + 1
        return lo


class Model:
    """The distributions of the real catalog."""

    def __init__(self, records: list[dict]):
        self.records = records
        nonnull = lambda field: [r[field] for r in records if r.get(field) is not None]
        self.modality = Weighted(m for r in records for m in (r.get("modalities") or []))
        self.modality_count = Weighted(len(r.get("modalities") or []) for r in records)
        # Anatomy and condition travel together (a breast cancer cohort images the breast).
        self.anatomy = [(r.get("body_parts"), r.get("cancer_type")) for r in records]
        self.body_part = Weighted(b for r in records for b in (r.get("body_parts") or []))
        self.task = Weighted(t for r in records for t in (r.get("tasks_annotations") or []))
        self.condition = Weighted(nonnull("cancer_type"))
        self.challenge = Weighted(nonnull("challenge"))
        self.year = Weighted(nonnull("year"))
        self.label_categories = Weighted(nonnull("num_label_categories"))
        self.counts = {f: nonnull(f) for f in ("subjects_count", "images_count", "studies_count",
                                               "cases_count")}
        self.idc_subjects = [r["idc"]["subjects_count"] for r in records
                             if r.get("idc") and r["idc"].get("subjects_count") is not None]
        dates = sorted(r["last_updated"] for r in records if r.get("last_updated"))
        self.date_range = (dt.date.fromisoformat(dates[0]), dt.date.fromisoformat(dates[-1]))
        idc_dates = sorted(r["idc"]["date_updated"] for r in records
                           if r.get("idc") and r["idc"].get("date_updated"))
        self.idc_date_range = (dt.date.fromisoformat(idc_dates[0]), dt.date.fromisoformat(idc_dates[-1]))
        # Title vocabulary: the words of real titles (weighted by use), and their acronyms.
        words, acronyms = [], []
        for r in records:
            for token in re.split(r"[\s/(),:;]+", r["name"]):
                token = token.strip("-'.")
                if len(token) < 3 or token.lower() in STOP or token.isdigit():
                    continue
                if re.fullmatch(r"[A-Z][A-Z0-9]{2,7}", token):
                    acronyms.append(token)
                words.append(token)
        self.title_word = Weighted(words)
        self.acronym = Weighted(acronyms)
        # Prose: the real summaries, and the sentences of the real descriptions.
        self.summaries = [r["summary"] for r in records if r.get("summary")]
        self.sentences = [sentence.strip() for r in records if r.get("description")
                          for sentence in re.split(r"(?<=[.!?])\s+", r["description"]) if sentence.strip()]


def jitter_count(rng: random.Random, values: list[int]) -> int:
    """A count near a real one of the same field."""
    base = rng.choice(values)
    return max(1, int(round(base * math.exp(rng.gauss(0.0, 0.5)))))


def random_date(rng: random.Random, bounds: tuple[dt.date, dt.date]) -> str:
    start, end = bounds
    return (start + dt.timedelta(days=rng.randint(0, max(0, (end - start).days)))).isoformat()


def host_of(url: str | None) -> str | None:
    match = re.match(r"https?://([^/]+)", url or "")
    return match.group(1) if match else None


def title_for(rng: random.Random, model: Model, template: dict, modalities: list[str],
              body_parts: list[str], condition: str | None, tasks: list[str], n: int) -> str:
    """A plausible title built from real vocabulary and a running number."""
    mod_word = rng.choice(MODALITY_WORDS.get(modalities[0], [modalities[0]])) if modalities else "Imaging"
    body = (body_parts[0] if body_parts else model.body_part.draw(rng)).title()
    noun = rng.choice(NOUNS.get(template["record_type"], DEFAULT_NOUNS))
    word = model.title_word.draw(rng)
    task = tasks[0].split(" (")[0].title() if tasks else "Imaging"
    pattern = rng.randrange(6)
    if pattern == 0:  # "Glioblastoma Multiforme MRI Cohort 1234"
        title = f"{condition or body} {mod_word} {noun} {n}"
    elif pattern == 1:  # TCIA style: "QIN-LUNG-CT-1234"
        title = f"{model.acronym.draw(rng)}-{slugify(body).upper()}-{modalities[0] if modalities else 'IMG'}-{n}"
    elif pattern == 2:  # "Radiomics Lung Segmentation Challenge 2023 #1234"
        year = template.get("year") or model.year.draw(rng)
        title = f"{word} {body} {task} {noun} {year} #{n}"
    elif pattern == 3:  # "PROSTATEx Prostate MRI 1234"
        title = f"{model.acronym.draw(rng)}{rng.randint(1, 30)} {body} {mod_word} {n}"
    elif pattern == 4:  # "Breast Cancer Screening Mammography Dataset 1234"
        title = f"{condition or word} {model.title_word.draw(rng)} {mod_word} {noun} {n}"
    else:  # "Head and Neck PET-CT Radiomics (Kidney 1234)"
        title = f"{body} {mod_word} {word} ({model.title_word.draw(rng)} {n})"
    return re.sub(r"\s+", " ", title).strip()[:300]


def synthesise(rng: random.Random, model: Model, n: int) -> dict:
    template = rng.choice(model.records)

    # Modalities: half the time the template's own, else another real record's set or a fresh draw.
    roll = rng.random()
    if roll < 0.5:
        modalities = list(template.get("modalities") or [])
    elif roll < 0.8:
        modalities = list(rng.choice(model.records).get("modalities") or [])
    else:
        modalities = model.modality.draw_distinct(rng, model.modality_count.draw(rng))

    # Anatomy and condition from one real record; now and then an extra body part.
    body_parts, condition = rng.choice(model.anatomy)
    body_parts = list(body_parts) if body_parts is not None else None
    if body_parts is not None and rng.random() < 0.1:
        extra = model.body_part.draw(rng)
        if extra not in body_parts:
            body_parts.append(extra)

    # Tasks: the template's, or another real record's.
    tasks_source = template if rng.random() < 0.6 else rng.choice(model.records)
    tasks = tasks_source.get("tasks_annotations")
    tasks = list(tasks) if tasks is not None else None

    title = title_for(rng, model, template, modalities, body_parts or [], condition, tasks or [], n)
    # Up to five words of the title (without the running number) and the number, which keeps ids unique.
    words = [w for w in slugify(title).split("-") if w and w != str(n)]
    slug_words = "-".join(words[:5]) or "dataset"
    slug = f"syn-{slug_words}-{n}"[:120].strip("-")

    aliases = []
    if template.get("aliases"):
        aliases.append(slugify(title).replace("-", "_")[:80])
        if len(template["aliases"]) > 1:
            aliases.append(f"{model.acronym.draw(rng)}-{n}")

    host = host_of(template.get("url"))
    url = f"https://{host}/datasets/{slug}" if host else None
    alt_urls = [f"https://{host_of(u) or 'mirror.example.org'}/mirror/{slug}/{i}"
                for i, u in enumerate(template.get("alt_urls") or [])]
    doi = None
    if template.get("doi"):
        registrant = template["doi"].split("/")[0]
        doi = f"{registrant}/SYN.{n:07d}"

    modality_raw = template.get("modality_raw")
    if modality_raw is not None:
        prefix = modality_raw.split(":")[0] if ":" in modality_raw else "Image types"
        modality_raw = f"{prefix}: {', '.join(modalities)}" if modalities else modality_raw

    counts = {field: (jitter_count(rng, model.counts[field]) if template.get(field) is not None else None)
              for field in model.counts}

    idc = None
    if template.get("idc"):
        idc = dict(template["idc"])
        idc["collection_id"] = slug.replace("-", "_")
        if idc.get("subjects_count") is not None:
            idc["subjects_count"] = jitter_count(rng, model.idc_subjects)
        if modalities:
            idc["image_types"] = ", ".join(modalities)
        if idc.get("date_updated"):
            idc["date_updated"] = random_date(rng, model.idc_date_range)

    # A real summary, and a description of two to five real sentences from different records.
    summary = rng.choice(model.summaries) if model.summaries and rng.random() < 0.9 else None
    description = (" ".join(rng.choice(model.sentences) for _ in range(rng.randint(2, 5)))
                   if model.sentences and rng.random() < 0.9 else None)

    return {
        "id": slug,
        "name": title,
        "summary": summary,
        "description": description,
        "aliases": aliases,
        "record_type": template["record_type"],
        "url": url,
        "alt_urls": alt_urls,
        "doi": doi,
        "publisher_host": template["publisher_host"],
        "modalities": modalities,
        "modality_raw": modality_raw,
        "annotation_objects": template.get("annotation_objects"),
        "body_parts": body_parts,
        "tasks_annotations": tasks,
        "subjects_count": counts["subjects_count"],
        "images_count": counts["images_count"],
        "studies_count": counts["studies_count"],
        "cases_count": counts["cases_count"],
        "num_label_categories": (model.label_categories.draw(rng)
                                 if template.get("num_label_categories") is not None else None),
        "dimensionality": template.get("dimensionality"),
        "count_notes": template.get("count_notes"),
        "access": template.get("access"),
        "access_raw": template.get("access_raw"),
        "license": template.get("license"),
        "license_raw": template.get("license_raw"),
        "year": model.year.draw(rng) if template.get("year") is not None else None,
        "release_date_raw": template.get("release_date_raw"),
        "challenge": model.challenge.draw(rng) if template.get("challenge") is not None else None,
        "notes": template.get("notes"),
        "cancer_type": condition,
        "species": template.get("species"),
        "supporting_data": template.get("supporting_data"),
        "tcia_status": template.get("tcia_status"),
        "last_updated": random_date(rng, model.date_range) if template.get("last_updated") else None,
        "idc": idc,
        "source_of_fact": list(template.get("source_of_fact") or [])
        + [f"synthetic benchmark record modelled on '{template['id']}'"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="where to write the JSON array ('-' for standard output)")
    parser.add_argument("--count", "-n", type=int, default=100_000, help="number of datasets (100000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (42)")
    parser.add_argument("--from", dest="source", default=str(DEFAULT_SEED_FILE),
                        help="the real catalog to model (seed/datasets.json)")
    args = parser.parse_args()

    records = json.loads(Path(args.source).read_text())
    model = Model(records)
    rng = random.Random(args.seed)
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    try:
        # Streamed one record per line, so memory stays flat for any N.
        out.write("[\n")
        for n in range(1, args.count + 1):
            if n > 1:
                out.write(",\n")
            out.write(json.dumps(synthesise(rng, model, n), ensure_ascii=False))
        out.write("\n]\n")
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"wrote {args.count} synthetic datasets (seed {args.seed}) to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
