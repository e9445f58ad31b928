"""UCI Adult (Census Income), bundled with ctrkit (CC BY 4.0; see files/LICENSE-adult.txt).

Train = adult.data split 80/20 into train/valid, stratified by label, with a fixed seed;
test = adult.test (its first line is a comment; its labels end with '.'). Label: income >50K.
8 categorical and 6 numeric fields ('?' marks a missing value); the numeric fields are cut into 32
quantile bins by default (``buckets``), what tuning found best for every model.
"""
from __future__ import annotations

import os
from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc

from ..features.spec import FeatureSpec, Schema
from ..io.readers import CsvSource, MappedSource
from .base import RawDataset, split_table

FILES = os.path.join(os.path.dirname(__file__), "files")
COLUMNS = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
           "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
           "income"]
CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "relationship", "race", "sex",
               "native_country"]
NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]


BUCKETS = 32   # every model's tuned best on Adult cut the numeric fields into bins (configs/adult_*.yaml)


def schema(buckets: Optional[int] = BUCKETS) -> Schema:
    """Adult's fields; ``buckets``: numeric fields cut into at most that many quantile bins (each
    bin an id with its own embedding; None: scaled values times a learned vector)."""
    fields = [FeatureSpec(name=c, type="categorical", missing=["?"]) for c in CATEGORICAL]
    fields += [FeatureSpec(name=c, type="numeric", log=c.startswith("capital"), buckets=buckets) for c in NUMERIC]
    return Schema(fields=fields, label="income", label_map={">50K": 1, "<=50K": 0})


def _clean(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Strip the blank after each comma, and the '.' that ends adult.test's labels."""
    columns = [pc.utf8_trim_whitespace(col) for col in batch.columns]
    columns[-1] = pc.utf8_rtrim(columns[-1], characters=".")
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _source(path: str, skip_lines: int, on_bad_rows: str = "error") -> MappedSource:
    raw = CsvSource(path, header=False, column_names=COLUMNS, skip_lines=skip_lines, on_bad_rows=on_bad_rows)
    return MappedSource(raw, _clean, COLUMNS)


def open_file(path: str, on_bad_rows: str = "error") -> MappedSource:
    """A source over a file in Adult's layout (adult.data, or adult.test with its comment line)."""
    with pa.input_stream(path, compression="detect") as stream:
        first = stream.read(1)
    return _source(path, int(first == b"|"), on_bad_rows)


def load(path: Optional[str] = None, seed: int = 0, valid_fraction: float = 0.2,
         buckets: Optional[int] = BUCKETS) -> RawDataset:
    """The Adult splits, from the bundled copy or from a folder with adult.data and adult.test;
    ``buckets`` as in ``schema``."""
    def find(name: str) -> str:
        if path is None:
            return os.path.join(FILES, name + ".gz")
        plain = os.path.join(path, name)
        return plain if os.path.exists(plain) else plain + ".gz"

    train_file = find("adult.data")
    table, lines = _source(train_file, 0).read_all_with_lines()
    parts = split_table(table, {"train": 1 - valid_fraction, "valid": valid_fraction}, seed,
                        name=os.path.basename(train_file), stratify="income", lines=lines)
    return RawDataset(
        name="adult", schema=schema(buckets),
        splits={**parts, "test": _source(find("adult.test"), 1)},
        info={"label": "income >50K", "source": "UCI Adult, CC BY 4.0", "seed": seed},
    )
