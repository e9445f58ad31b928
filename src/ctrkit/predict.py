"""Batch prediction into files: the input's columns plus ``probability``, chunk by chunk."""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from .data.readers import open_source
from .data.store import EncodedArrays
from .experiment import load_run
from .export import output_name


def predict_file(run_folder: str, input_path: str, output_path: str, engine: str = "auto", **read_options: Any) -> int:
    """Write ``output_path`` (CSV, or Parquet by extension) with a ``probability`` column
    (``prediction`` for regression); returns the number of rows. Memory stays bounded by the
    reader's chunk size. ``engine``: see ``ctrkit.export.predictor``."""
    run = load_run(run_folder, engine)
    source = open_source(input_path, **read_options)
    column = output_name(run.model)
    parquet = output_path.endswith((".parquet", ".pq"))
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    writer, rows = None, 0
    try:
        for chunk, block in run.processor.iter_encoded(source, ignore_label=True):
            encoded = EncodedArrays(block["cat"], block["num"], block["seq"], None)
            p = run.predict(encoded)
            table = pa.Table.from_batches([chunk.batch]).append_column(column, pa.array(p.astype(np.float64)))
            if writer is None:
                writer = (pq.ParquetWriter(output_path, table.schema) if parquet
                          else pa_csv.CSVWriter(output_path, table.schema))
            writer.write_table(table)
            rows += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows
