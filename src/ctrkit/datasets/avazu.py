"""Avazu CTR prediction (Kaggle 2014/15) in its original CSV layout.

Columns ``id, click, hour, C1, banner_pos, site_*, app_*, device_*, C14..C21``; label ``click``.
``id`` is dropped; ``hour`` (YYMMDDHH) becomes ``hour_of_day`` and ``weekday``. Every other
column is categorical. Files without a header (the shared dev/test samples) are detected.
Not redistributable: point ``train`` (and optionally ``valid``/``test``) at your copy.
"""
from __future__ import annotations

import io
from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc

from ..features.spec import FeatureSpec, Schema
from ..io.readers import CsvSource, MappedSource
from .base import RawDataset, file_splits

COLUMNS = ["id", "click", "hour", "C1", "banner_pos", "site_id", "site_domain", "site_category", "app_id",
           "app_domain", "app_category", "device_id", "device_ip", "device_model", "device_type",
           "device_conn_type", "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21"]
FEATURES = [c for c in COLUMNS if c not in ("id", "click", "hour")] + ["hour_of_day", "weekday"]


def schema(min_count: int = 1) -> Schema:
    return Schema(fields=[FeatureSpec(name=c, type="categorical", min_count=min_count) for c in FEATURES],
                  label="click")


def _derive_time(batch: pa.RecordBatch) -> pa.RecordBatch:
    hour = batch.column("hour")
    stamp = pc.strptime(pc.binary_join_element_wise("20", hour, ""), format="%Y%m%d%H", unit="s", error_is_null=True)
    extra = {"hour_of_day": pc.cast(pc.hour(stamp), pa.string()),
             "weekday": pc.cast(pc.day_of_week(stamp), pa.string())}
    arrays = list(batch.columns) + list(extra.values())
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names + list(extra))


def open_file(path: str, on_bad_rows: str = "error") -> MappedSource:
    """A source over one Avazu file (with or without its header), plus ``hour_of_day`` and ``weekday``."""
    with pa.input_stream(path, compression="detect") as stream:
        first = io.TextIOWrapper(stream, encoding="utf-8", errors="replace").readline()
    header = first.startswith("id,")
    raw = CsvSource(path, header=False, skip_lines=int(header), column_names=COLUMNS, on_bad_rows=on_bad_rows)
    return MappedSource(raw, _derive_time, COLUMNS + ["hour_of_day", "weekday"])


def load(train: str, valid: Optional[str] = None, test: Optional[str] = None, min_count: int = 1,
         seed: int = 0) -> RawDataset:
    """Splits from the given files; with only ``train``, it is split 80/10/10 at random."""
    return RawDataset(name="avazu", schema=schema(min_count), splits=file_splits(open_file, train, valid, test, seed),
                      info={"label": "click", "files": [p for p in (train, valid, test) if p]})
