"""Criteo Display Advertising Challenge (Kaggle 2014) in its original layout.

Tab-separated, no header: ``label, I1..I13, C1..C26``; an empty field is missing. Files with a
header (``Label``/``label`` first, optionally after ``Id``) and comma-separated copies are read too.
Integer counts are log-transformed (sign(x)·log(1+|x|)) before standard scaling unless
``log=False``; with ``buckets=N`` they are cut into N quantile bins and embedded instead.
Not redistributable: point ``train`` (and optionally ``valid``/``test``) at your copy.
"""
from __future__ import annotations

import io
from typing import Optional

import pyarrow as pa

from ..features.spec import FeatureSpec, Schema
from ..io.readers import CsvSource
from .base import RawDataset, file_splits

NUMERIC = [f"I{i}" for i in range(1, 14)]
CATEGORICAL = [f"C{i}" for i in range(1, 27)]
COLUMNS = ["label"] + NUMERIC + CATEGORICAL


def schema(log: bool = True, buckets: Optional[int] = None, min_count: int = 1) -> Schema:
    fields = [FeatureSpec(name=c, type="numeric", log=log, buckets=buckets) for c in NUMERIC]
    fields += [FeatureSpec(name=c, type="categorical", min_count=min_count) for c in CATEGORICAL]
    return Schema(fields=fields, label="label")


def open_file(path: str, on_bad_rows: str = "error") -> CsvSource:
    """A source over one Criteo file, detecting the separator and an optional header."""
    with pa.input_stream(path, compression="detect") as stream:
        first = io.TextIOWrapper(stream, encoding="utf-8", errors="replace").readline().rstrip("\r\n")
    sep = "\t" if "\t" in first else ","
    head = first.split(sep)[0].strip().lower()
    if head in ("label", "id"):
        names = [n.strip() for n in first.split(sep)]
        renamed = {"Label": "label"}
        source = CsvSource(path, sep=sep, header=False, skip_lines=1, on_bad_rows=on_bad_rows,
                           column_names=[renamed.get(n, n) for n in names])
    else:
        source = CsvSource(path, sep=sep, header=False, column_names=COLUMNS, on_bad_rows=on_bad_rows)
    return source


def load(train: str, valid: Optional[str] = None, test: Optional[str] = None, log: bool = True,
         buckets: Optional[int] = None, min_count: int = 1, seed: int = 0) -> RawDataset:
    """Splits from the given files; with only ``train``, it is split 80/10/10 at random."""
    return RawDataset(name="criteo", schema=schema(log, buckets, min_count),
                      splits=file_splits(open_file, train, valid, test, seed),
                      info={"label": "clicked", "files": [p for p in (train, valid, test) if p]})
