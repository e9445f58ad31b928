"""Frappe (Baltrunas et al. 2015) in the libFM layout of the NFM/AFM papers.

Each line: ``label idx:1`` × 10 fields (user, item, daytime, weekday, isweekend, homework, cost,
weather, country, city); labels are 1 (used) and -1 (sampled negative). Point ``path`` at a
folder with ``frappe.{train,validation,test}.libfm`` (``.gz`` allowed). Without the train file,
the validation file is split 80/20 into train and valid. Not redistributable.
"""
from __future__ import annotations

import os
from typing import Dict, Optional

from ..features.spec import FeatureSpec, Schema
from ..io.readers import LibsvmSource, Source
from .base import RawDataset, split_table

FIELDS = ["user", "item", "daytime", "weekday", "isweekend", "homework", "cost", "weather", "country", "city"]


def schema() -> Schema:
    return Schema(fields=[FeatureSpec(name=f, type="categorical") for f in FIELDS], label="label",
                  label_map={"1": 1, "-1": 0, "0": 0})


def open_file(path: str, on_bad_rows: str = "error") -> LibsvmSource:
    """A source over one Frappe libFM file (``label idx:1`` × 10 fields)."""
    return LibsvmSource(path, field_names=FIELDS, on_bad_rows=on_bad_rows)


def _find(folder: str, part: str) -> Optional[str]:
    for name in (f"frappe.{part}.libfm", f"frappe.{part}.libfm.gz"):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None


def load(path: str, seed: int = 0) -> RawDataset:
    files = {part: _find(path, part) for part in ("train", "validation", "test")}
    if not files["validation"] and not files["train"]:
        raise FileNotFoundError(f"{path}: expected frappe.train.libfm or frappe.validation.libfm (.gz allowed)")
    sources: Dict[str, Source] = {}
    if files["train"]:
        sources["train"] = open_file(files["train"])
        if files["validation"]:
            sources["valid"] = open_file(files["validation"])
    else:
        table, lines = open_file(files["validation"]).read_all_with_lines()
        sources.update(split_table(table, {"train": 0.8, "valid": 0.2}, seed, name=files["validation"],
                                   stratify="label", lines=lines))
    if files["test"]:
        sources["test"] = open_file(files["test"])
    return RawDataset(name="frappe", schema=schema(), splits=sources,
                      info={"label": "app used (1) vs sampled negative (-1)",
                            "files": {k: v for k, v in files.items() if v}})
