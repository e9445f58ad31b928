"""Parsing a chunk of raw rows once: numeric fields (log applied, NaN = missing) and the label, with
every bad value named by its line or row and column (or its row skipped and counted)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataError
from ..io.readers import Chunk, Source
from ..io.threads import map_threads
from . import columns as C
from .spec import FeatureSpec, Schema

ON_BAD_ROWS = ("error", "skip")


@dataclass
class ParsedChunk:
    """A chunk's rows (bad ones dropped when skipping), its numeric fields, its label and the rows
    skipped by kind (``bad value in column 'x'``, ``bad label``)."""

    batch: pa.RecordBatch
    numeric: Dict[str, np.ndarray]
    label: Optional[np.ndarray]
    skipped: Counter


def signed_log(values: np.ndarray) -> np.ndarray:
    """sign(x) * log(1 + |x|), defined for negative counts too."""
    out = np.log1p(np.abs(values))
    return np.copysign(out, values, out=out if np.ndim(out) else None)


def check_columns(schema: Schema, source: Source, require_label: bool) -> bool:
    """Raise on a missing feature (or label) column; return whether the label is present."""
    available = set(source.columns)
    for f in schema.fields:
        if f.column not in available:
            raise DataError(f"missing column for field {f.name!r}; the data has columns {sorted(available)}",
                            source=source.name, column=f.column)
    label = schema.label
    if label is None:
        return False
    if label not in available:
        if require_label:
            raise DataError(f"missing label column; the data has columns {sorted(available)}",
                            source=source.name, column=label)
        return False
    return True


def label_values(schema: Schema, batch: pa.RecordBatch) -> Tuple[np.ndarray, np.ndarray, str]:
    """Targets (float64), a mask of values that are not valid labels, and what was expected."""
    arr = batch.column(schema.label)
    label_map = schema.label_map
    if label_map:
        index = pc.index_in(C.as_strings(arr), value_set=pa.array(list(label_map), pa.string()))
        targets = np.asarray(list(label_map.values()) + [np.nan])
        values = targets[pc.fill_null(index, len(label_map)).to_numpy(zero_copy_only=False)]
        return values, np.isnan(values), f"one of {sorted(label_map)} (label_map)"
    values, bad = C.parse_numbers(arr, pc.is_valid(arr))
    bad = np.isnan(values) if bad is None else (bad | np.isnan(values))
    if schema.task == "binary":
        bad |= ~np.isin(values, (0.0, 1.0))
        return values, bad, "0 or 1 (give label_map to map other values)"
    return values, bad, "a number"


def parse_chunk(schema: Schema, chunk: Chunk, source: Source, on_bad_rows: str, with_label: bool) -> ParsedChunk:
    """Parse the numeric fields and the label of a chunk, once.

    A value that is not a number (or not a valid label) raises a ``DataError`` naming its line or
    row and column, or with ``on_bad_rows='skip'`` drops its row, counted."""
    if on_bad_rows not in ON_BAD_ROWS:
        raise ValueError(f"on_bad_rows must be 'error' or 'skip', got {on_bad_rows!r}")
    batch, drop = chunk.batch, None
    numeric: Dict[str, np.ndarray] = {}
    checks = []

    def parse(f: FeatureSpec) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        arr = batch.column(f.column)
        values, bad = C.parse_numbers(arr, C.present(arr, f.missing), schema.missing_values)
        return (signed_log(values) if f.log else values), bad

    numeric_fields = [f for f in schema.fields if f.type == "numeric"]
    for f, (values, bad) in zip(numeric_fields, map_threads(parse, numeric_fields, batch.num_rows)):
        numeric[f.name] = values
        checks.append((f.column, batch.column(f.column), bad, f"a number (field {f.name!r})"))
    label = None
    if with_label:
        label, bad, expected = label_values(schema, batch)
        checks.append((schema.label, batch.column(schema.label), bad if bad.any() else None, f"label {expected}"))
    skipped: Counter = Counter()
    for column, arr, bad, expected in checks:
        if bad is None:
            continue
        if on_bad_rows == "error":
            i = int(np.argmax(bad))
            raise DataError(f"expected {expected}, got {arr[i].as_py()!r}", source=chunk.source or source.name,
                            column=column, **chunk.locate(i))
        kind = "bad label" if column == schema.label and expected.startswith("label") else f"bad value in column {column!r}"
        skipped[kind] += int((bad if drop is None else bad & ~drop).sum())
        drop = bad if drop is None else drop | bad
    if drop is None:
        return ParsedChunk(batch, numeric, label, skipped)
    keep = ~drop
    return ParsedChunk(batch.filter(pa.array(keep)), {k: v[keep] for k, v in numeric.items()},
                       None if label is None else label[keep], skipped)


RAGGED = "line with the wrong number of fields"


def skip_info(source: Source, skipped: Counter) -> Dict[str, object]:
    """``skipped`` (rows skipped in all) and ``skipped_by`` (per kind) for a split's info, with the
    lines the reader skipped (``RAGGED``) counted too."""
    return skipped_counts(Counter({RAGGED: source.skipped}) + skipped)


def skipped_counts(by: Counter) -> Dict[str, object]:
    """``skipped`` (rows skipped in all) and ``skipped_by`` (the kinds with any) of a split's info."""
    by = +by
    return {"skipped": sum(by.values()), "skipped_by": dict(by)}
