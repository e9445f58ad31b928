"""Readers: every input becomes a ``Source`` that yields Arrow record batches in chunks.

CSV/TSV (with or without a header, optionally compressed: ``text``), Parquet (``parquet``), several
files as one (``parts``), pandas
and polars DataFrames (``table``), libsvm/libFM lines (``libsvm``) and derived sources (``mapped``).
"""
from __future__ import annotations

import os
from typing import Any

from ...errors import DataError
from .base import DEFAULT_BLOCK_BYTES, DEFAULT_CHUNK_ROWS, Chunk, Source
from .libsvm import LibsvmSource
from .mapped import MappedSource
from .parquet import ParquetSource
from .parts import PartsSource, parts_source
from .table import TableSource, to_arrow_table
from .text import CsvSource


def open_source(data: Any, **options: Any) -> Source:
    """A ``Source`` for a path (by extension: .csv, .tsv, .txt, .parquet, .libsvm, .libfm; .gz/.bz2
    allowed), a glob pattern or a list of paths (files with the same columns read as one:
    ``PartsSource``), an Arrow table, a pandas or polars DataFrame, or an existing ``Source``.
    ``on_bad_rows`` ('error' or 'skip') applies to malformed lines of text files."""
    if isinstance(data, Source):
        return data
    paths = isinstance(data, (list, tuple)) and bool(data) and all(isinstance(p, (str, os.PathLike)) for p in data)
    if paths or (isinstance(data, (str, os.PathLike)) and not os.path.exists(data)
                 and any(c in os.fspath(data) for c in "*?[")):
        return parts_source(data, lambda path: open_source(path, **options), options.get("on_bad_rows", "error"))
    on_bad_rows = options.pop("on_bad_rows", "error")
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if os.path.isdir(path):
            raise DataError("is a folder; expected a data file (CSV, TSV, Parquet or libsvm, optionally .gz or .bz2)",
                            source=path)
        stem = path[:-3] if path.endswith(".gz") else path[:-4] if path.endswith(".bz2") else path
        ext = os.path.splitext(stem)[1].lower()
        if ext in (".parquet", ".pq"):
            return ParquetSource(path, **options)
        if ext in (".libsvm", ".libfm", ".svm"):
            return LibsvmSource(path, on_bad_rows=on_bad_rows, **options)
        if ext == ".tsv" and "sep" not in options:
            options = {**options, "sep": "\t"}
        return CsvSource(path, on_bad_rows=on_bad_rows, **options)
    return TableSource(data, **options)


__all__ = ["DEFAULT_BLOCK_BYTES", "DEFAULT_CHUNK_ROWS", "Chunk", "CsvSource", "LibsvmSource", "MappedSource",
           "ParquetSource", "PartsSource", "Source", "TableSource", "open_source", "to_arrow_table"]
