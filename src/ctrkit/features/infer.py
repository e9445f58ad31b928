"""Schema inference: guess field types from a sample of rows when the user names none.

Rules, in order: a column whose name reads as an identifier (``id``, ``*_id``, ``*Id``) is
categorical; a column whose values all parse as numbers (missing spellings such as ``NA`` aside)
is numeric, unless it holds integers that are codes rather than quantities: at most
``max_categorical_numbers`` distinct values (flags), a name that reads as a code (``C14``,
``device_type``, ``banner_pos``, ``zip``, ``*_code``, ``*_category``) or values too large to be
counts (hashes, ≥ 2**31); a text column where at least a tenth of the values contain a separator
(``|``, ``^`` or ``;``), or a list column, is a sequence; any other text column is categorical. The result is printed
by the CLI so that the user can copy and correct it.

Numeric fields are cut into ``NUMERIC_BUCKETS`` quantile bins (tie-aware: a value that fills many
quantiles gets a bin of its own), what tuning found best for every model on Adult and what measured
best for inferred schemas (benchmarks/RESULTS.md, "Inferred numeric fields"); ``numeric_buckets=None``
keeps them scaled numbers.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..io.readers import open_source
from ..errors import DataError
from . import columns as C
from .spec import MISSING_VALUES, FeatureSpec, Schema

SEQUENCE_SEPARATORS = ("|", "^", ";")
_ID_NAME = re.compile(r"(^id$|_id$|[a-z]Id$|^id_)", re.IGNORECASE)
NUMERIC_BUCKETS = 32
_CODE_NAME = re.compile(r"(^C\d+$|(^|_)(type|code|pos|position|category|cat|class|group|zip|zipcode|hash|"
                        r"country|city|region|state|gender)$)", re.IGNORECASE)


def infer_schema(
    data: Any,
    label: Optional[str],
    exclude: Sequence[str] = (),
    sample_rows: int = 100_000,
    max_categorical_numbers: int = 2,
    label_map: Optional[Dict[str, float]] = None,
    task: str = "binary",
    numeric_buckets: Optional[int] = NUMERIC_BUCKETS,
    **read_options: Any,
) -> Schema:
    """A schema for every column of ``data`` except the label and ``exclude``; numeric fields cut
    into ``numeric_buckets`` quantile bins (None: scaled numbers)."""
    source = open_source(data, **read_options)
    if label is not None and label not in source.columns:
        raise DataError(f"missing label column; the data has columns {source.columns}", source=source.name,
                        column=label)
    sample = _head(source, sample_rows)
    fields: List[FeatureSpec] = []
    for name in sample.column_names:
        if name == label or name in exclude:
            continue
        guess = _guess(name, sample.column(name), max_categorical_numbers)
        if guess["type"] == "numeric" and numeric_buckets:
            guess["buckets"] = numeric_buckets
        fields.append(FeatureSpec(name=name, **guess))
    return Schema(fields=fields, label=label, label_map=label_map, task=task)


def _head(source: Any, rows: int) -> pa.Table:
    batches, seen = [], 0
    for chunk in source.chunks():
        batches.append(chunk.batch)
        seen += chunk.batch.num_rows
        if seen >= rows:
            break
    if not batches:
        raise DataError("no rows to infer a schema from", source=source.name)
    return pa.Table.from_batches(batches).slice(0, rows).combine_chunks()


def _guess(name: str, arr: pa.ChunkedArray, max_categorical_numbers: int) -> Dict[str, Any]:
    if _ID_NAME.search(name):
        return {"type": "categorical"}
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if C.is_list(arr):
        return {"type": "sequence"}
    values, bad = C.parse_numbers(arr, pc.is_valid(arr), MISSING_VALUES)
    if bad is None:
        present = values[~np.isnan(values)]
        integral = bool(np.all(present == np.round(present)))
        if integral and (len(np.unique(present)) <= max_categorical_numbers or _CODE_NAME.search(name)
                         or (len(present) and np.abs(present).max() >= 2**31)):
            return {"type": "categorical"}
        return {"type": "numeric"}
    strings = pc.drop_null(C.as_strings(arr))
    for sep in SEQUENCE_SEPARATORS:
        if len(strings) and pc.sum(pc.match_substring(strings, sep)).as_py() >= 0.1 * len(strings):
            return {"type": "sequence", "separator": sep}
    return {"type": "categorical"}
